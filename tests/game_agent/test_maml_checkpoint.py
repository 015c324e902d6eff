"""MAML through the shared training loop and checkpoints: resume, load, identical play."""

from pathlib import Path

import numpy as np
import pytest
import torch

import game_agent
from game_agent.config import TrainConfig, load_train_config
from game_agent.learner import EpisodeOutcome
from game_agent.learners.maml import MAMLConfig, MAMLLearner
from game_agent.train import TrainOptions, build_run, train
from games import make_kernel, parse_spec

SPEC = "matrix(name=rps,rounds=4)"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks on a shared 2-core machine: extra intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(steps: int, **learner) -> TrainConfig:
    return TrainConfig(
        game="matrix",
        algo="maml",
        variants=(SPEC, "matrix(name=rpsls,rounds=3)"),
        opponents=("rock_heavy", "copy_last"),
        seed=7,
        steps=steps,
        learner={
            "num_lanes": 4,
            "episodes_per_trial": 3,
            "hidden_size": 16,
            "num_minibatches": 2,
            "update_epochs": 2,
            **learner,
        },
    )


def quiet(steps: int, out_dir=None) -> TrainOptions:
    return TrainOptions(
        steps=steps, out_dir=out_dir, tensorboard=False, progress_bar=False, handle_sigint=False
    )


def weights(learner) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.policy.state_dict().items()}


@pytest.mark.parametrize("first_order", [False, True])
def test_resume_continues_meta_training_bit_for_bit(tmp_path, first_order):
    # One rollout is 4 lanes x 3 episodes x 3 or 4 rounds: 36 to 48 decisions.
    straight = build_run(config(4 * 42, first_order=first_order))
    train(straight, quiet(4 * 42))

    first = build_run(config(2 * 42, first_order=first_order))
    result = train(first, quiet(2 * 42, tmp_path / "run"))
    assert result.progress.iterations == 2
    resumed = build_run(config(4 * 42, first_order=first_order), resume=tmp_path / "run")
    assert isinstance(resumed.learner, MAMLLearner)
    assert resumed.learner.config == straight.learner.config
    train(resumed, quiet(4 * 42))

    assert resumed.progress == straight.progress
    a, b = weights(straight.learner), weights(resumed.learner)
    assert all(torch.equal(a[k], b[k]) for k in a)


def adapted_states(agent, spec, n: int):
    """``n`` players, each adapted on one episode of its own random-ish play."""
    kernel = make_kernel(spec)
    step = kernel.reset(n, seed=1)
    states = [agent.initial_state(spec) for _ in range(n)]
    for _ in range(spec.max_steps):
        decision, states = agent.act(states, step.obs[:, 0], step.action_mask[:, 0])
        actions = np.stack([decision.actions, (decision.actions + 1) % 3], axis=1)
        step = kernel.step(actions)
        states = agent.observe(states, step.rewards[:, 0], step.done)
    return [agent.end_episode(s, EpisodeOutcome(0.0, 0, spec.max_steps)) for s in states]


def test_loaded_maml_learner_plays_the_same_next_actions(tmp_path):
    run = build_run(config(42))
    result = train(run, quiet(42, tmp_path / "run"))
    loaded = game_agent.load(result.checkpoint)
    assert isinstance(loaded, MAMLLearner)
    assert loaded.describe() == run.learner.describe()
    spec = parse_spec(SPEC)
    # Same act generator state on both sides, so the adapted states are identical too.
    states = adapted_states(run.learner, spec, 6)
    again = adapted_states(loaded, spec, 6)
    for s, t in zip(states, again, strict=True):
        assert s.meta["adaptations"] == 1
        for name, array in s.arrays.items():
            np.testing.assert_array_equal(t.arrays[name], array)
    step = make_kernel(spec).reset(6, seed=2)
    obs, mask = step.obs[:, 0], step.action_mask[:, 0]
    players = states[:3] + [run.learner.initial_state(spec)] * 3
    for greedy in (True, False):
        a, _ = run.learner.act(players, obs, mask, greedy=greedy)
        b, _ = loaded.act(players, obs, mask, greedy=greedy)
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.probs, b.probs)
        np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize(
    "name", ["matrix_maml.toml", "connect_n_maml.toml", "poker_maml.toml", "pong_maml.toml"]
)
def test_shipped_maml_configs_build_a_maml_run(name):
    config = load_train_config(CONFIGS / name)
    assert config.algo == "maml"
    run = build_run(config)
    assert isinstance(run.learner, MAMLLearner)
    assert isinstance(run.learner.config, MAMLConfig)
    for key, value in config.learner.items():
        assert getattr(run.learner.config, key) == value
