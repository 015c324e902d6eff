"""Checkpoints: exact save/load, bit-identical resume, and clear errors for bad files."""

import json

import numpy as np
import pytest
import torch

import game_agent
from game_agent.checkpoint import load_checkpoint
from game_agent.config import TrainConfig
from game_agent.errors import CheckpointError, ConfigError
from game_agent.train import TrainOptions, build_run, train
from games import make_kernel, parse_spec

SPEC = "matrix(name=rps,rounds=4)"


def config(algo: str, steps: int) -> TrainConfig:
    return TrainConfig(
        game="matrix",
        algo=algo,
        variants=(SPEC, "matrix(name=rpsls,rounds=3)"),
        opponents=("rock_heavy", "copy_last"),
        seed=7,
        steps=steps,
        learner={"num_lanes": 6, "episodes_per_trial": 2, "hidden_size": 16, "num_minibatches": 2},
    )


def quiet(steps: int, out_dir=None) -> TrainOptions:
    return TrainOptions(
        steps=steps, out_dir=out_dir, tensorboard=False, progress_bar=False, handle_sigint=False
    )


def weights(learner) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.policy.state_dict().items()}


@pytest.mark.parametrize("algo", ["rl2", "multitask"])
def test_resume_continues_training_bit_for_bit(tmp_path, algo):
    # One rollout is 6 lanes x 2 episodes x 3 or 4 rounds: 36 to 48 decisions.
    straight = build_run(config(algo, 6 * 42))
    train(straight, quiet(6 * 42))

    first = build_run(config(algo, 3 * 42))
    result = train(first, quiet(3 * 42, tmp_path / "run"))
    assert result.progress.iterations == 3
    resumed = build_run(config(algo, 6 * 42), resume=tmp_path / "run")
    assert resumed.progress.decisions == result.progress.decisions
    train(resumed, quiet(6 * 42))

    assert resumed.progress == straight.progress
    a, b = weights(straight.learner), weights(resumed.learner)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa = straight.learner.optimizer.state_dict()["state"]
    sb = resumed.learner.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_loaded_learner_plays_the_same_next_actions(tmp_path):
    run = build_run(config("rl2", 42))
    result = train(run, quiet(42, tmp_path / "run"))
    loaded = game_agent.load(result.checkpoint)
    assert loaded.describe() == run.learner.describe()
    spec = parse_spec(SPEC)
    step = make_kernel(spec).reset(8, seed=0)
    obs, mask = step.obs[:, 0], step.action_mask[:, 0]
    states = [run.learner.initial_state(spec) for _ in range(8)]
    for greedy in (True, False):
        a, sa = run.learner.act(states, obs, mask, greedy=greedy)
        b, sb = loaded.act(states, obs, mask, greedy=greedy)
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.probs, b.probs)
        np.testing.assert_array_equal(sa[3].arrays["memory"], sb[3].arrays["memory"])


def test_checkpoint_files_are_safetensors_and_json(tmp_path):
    result = train(build_run(config("multitask", 42)), quiet(42, tmp_path / "run"))
    files = sorted(p.name for p in result.checkpoint.iterdir())
    assert files == ["meta.json", "model.safetensors", "optimizer.safetensors"]
    meta = json.loads((result.checkpoint / "meta.json").read_text())
    assert meta["learner"] == "multitask"
    assert meta["family"] == "matrix"
    assert meta["distribution"]["opponents"] == ["rock_heavy", "copy_last"]
    assert meta["progress"]["decisions"] == result.progress.decisions >= 42
    assert set(meta["versions"]) >= {"torch", "numpy", "game_agent"}
    assert meta["spaces"][parse_spec(SPEC).name]["num_actions"] == 5
    assert (tmp_path / "run" / "checkpoints" / "latest" / "meta.json").is_file()


@pytest.fixture
def saved(tmp_path):
    return train(build_run(config("rl2", 42)), quiet(42, tmp_path / "run")).checkpoint


def test_corrupt_weights_name_the_file(saved):
    path = saved / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*corrupt"):
        load_checkpoint(saved)


def test_missing_optimizer_names_the_file(saved):
    (saved / "optimizer.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"optimizer\.safetensors.*missing"):
        load_checkpoint(saved)


def test_garbage_metadata_names_the_file(saved):
    (saved / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"meta\.json.*not valid JSON"):
        game_agent.load(saved)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        game_agent.load(tmp_path / "nowhere")


def test_resume_refuses_another_learner_or_game(saved):
    run_dir = saved.parent.parent
    with pytest.raises(ConfigError, match="holds a rl2 learner"):
        build_run(config("multitask", 84), resume=run_dir)
    other = TrainConfig(game="connect_n", algo="rl2")
    with pytest.raises(ConfigError, match="trained on matrix"):
        build_run(other, resume=run_dir)


def test_a_learner_loaded_to_act_builds_no_optimiser_until_it_needs_one(saved, monkeypatch):
    """``load`` (serving, play, evaluation) skips torch's optimiser, whose first build in a
    process costs over a second; built later, it holds exactly the saved state."""
    eager = load_checkpoint(saved).learner.optimizer.state_dict()
    built = []
    adam = torch.optim.Adam

    def counted(*args, **kwargs):
        built.append(1)
        return adam(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", counted)
    learner = game_agent.load(saved, safety=False)
    spec = parse_spec(SPEC)
    step = make_kernel(spec).reset(2, seed=0)
    learner.act([learner.initial_state(spec)] * 2, step.obs[:, 0], step.action_mask[:, 0])
    assert built == []
    lazy = learner.optimizer.state_dict()
    assert learner.optimizer is learner.optimizer and built == [1]  # built once, on demand
    assert lazy["param_groups"] == eager["param_groups"]
    assert lazy["state"].keys() == eager["state"].keys()
    for index, values in eager["state"].items():
        for key, value in values.items():
            assert torch.equal(torch.as_tensor(lazy["state"][index][key]), torch.as_tensor(value))


def test_two_learners_loaded_to_act_share_no_optimiser_tensors(saved):
    a, b = (game_agent.load(saved, safety=False) for _ in range(2))
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa and all(sa[i]["exp_avg"] is not sb[i]["exp_avg"] for i in sa)
    sa[0]["exp_avg"].add_(1.0)
    assert not torch.equal(sa[0]["exp_avg"], sb[0]["exp_avg"])


def test_an_optimiser_state_that_does_not_fit_names_the_file(saved):
    """A state the network's optimiser refuses (a parameter group of another size): the
    eager load refuses it at once, an acting learner when its optimiser is first built."""
    meta_file = saved / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["optimizer"]["param_groups"][0]["params"].pop()
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"optimizer\.safetensors does not fit"):
        load_checkpoint(saved)
    learner = game_agent.load(saved, safety=False)
    for _ in range(2):  # and again: nothing half-built was kept
        with pytest.raises(CheckpointError, match=r"optimizer\.safetensors does not fit"):
            learner.optimizer.state_dict()
