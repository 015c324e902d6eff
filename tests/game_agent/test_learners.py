"""RL2 and multi-task learners through the Learner protocol (what the server calls)."""

import numpy as np
import pytest
import torch

from game_agent.errors import ConfigError, IncompatibleGameError, StateError
from game_agent.learner import EpisodeOutcome, Learner
from game_agent.learners import get_learner_class, list_learners
from game_agent.learners.multitask import MultitaskConfig, MultitaskLearner
from game_agent.learners.rl2 import RL2Config, RL2Learner
from game_agent.policies import PolicyInput, layout_for
from game_agent.state import AdaptationState
from games import make_kernel, parse_spec
from games.errors import IllegalActionError

RPS = parse_spec("matrix(name=rps,rounds=6)")
SMALL = {"hidden_size": 16, "num_lanes": 4, "episodes_per_trial": 2}


def rl2() -> RL2Learner:
    return RL2Learner(layout_for([RPS]), RL2Config(**SMALL), seed=0)


def multitask() -> MultitaskLearner:
    return MultitaskLearner(layout_for([RPS]), MultitaskConfig(**SMALL), seed=0)


def play(learner, steps: int, n: int = 3, seed: int = 0):
    """Drive the protocol over a kernel: act, observe; return states and what was fed."""
    kernel = make_kernel(RPS)
    step = kernel.reset(n, seed=seed)
    states = [learner.initial_state(RPS) for _ in range(n)]
    rng = np.random.default_rng(seed)
    fed = []
    for _ in range(steps):
        decision, states = learner.act(states, step.obs[:, 0], step.action_mask[:, 0])
        actions = np.stack([decision.actions, rng.integers(3, size=n)], axis=1)
        fed.append((step.obs[:, 0].copy(), step.action_mask[:, 0].copy(), decision))
        step = kernel.step(actions)
        states = learner.observe(states, step.rewards[:, 0], step.done)
        if step.done.all():
            states = [learner.end_episode(s, EpisodeOutcome(0.0, 0, 6)) for s in states]
            step = kernel.reset_where(step.done)
    return states, fed


@pytest.mark.parametrize("make", [rl2, multitask])
def test_learners_implement_the_protocol(make):
    learner = make()
    assert isinstance(learner, Learner)
    assert learner.supports(RPS)
    assert learner.supports("matrix(name=rpsls)")
    assert not learner.supports("connect_n")
    assert not learner.supports("no_such_game")


def test_registry_knows_both_learners():
    assert {"rl2", "multitask"} <= set(list_learners())
    assert get_learner_class("rl2") is RL2Learner
    with pytest.raises(ConfigError, match="unknown learner"):
        get_learner_class("dqn")


def test_served_memory_is_exactly_the_training_forward_pass():
    """Stepping through act/observe equals replaying the same inputs as one sequence."""
    learner = rl2()
    states, fed = play(learner, steps=9, n=2)  # crosses an episode boundary (6 rounds)
    obs = torch.from_numpy(np.stack([f[0] for f in fed]))
    mask = torch.from_numpy(np.stack([f[1] for f in fed]))
    actions = np.stack([f[2].actions for f in fed])
    prev_action = np.vstack([np.full((1, 2), -1), actions[:-1]])
    kernel = make_kernel(RPS)
    kernel.reset(2, seed=0)
    # Rewards since the previous decision are what observe() accumulated: recompute them.
    rewards, dones = [], []
    rng = np.random.default_rng(0)
    for t in range(len(fed)):
        step = kernel.step(np.stack([actions[t], rng.integers(3, size=2)], axis=1))
        rewards.append(step.rewards[:, 0])
        dones.append(step.done.astype(np.float32))
        if step.done.all():
            kernel.reset_where(step.done)
    prev_reward = np.vstack([np.zeros((1, 2)), np.stack(rewards)[:-1]]).astype(np.float32)
    prev_done = np.vstack([np.zeros((1, 2)), np.stack(dones)[:-1]]).astype(np.float32)
    inputs = PolicyInput(
        obs,
        mask,
        torch.from_numpy(prev_action),
        torch.from_numpy(prev_reward),
        torch.from_numpy(prev_done),
        torch.zeros(len(fed), 2, dtype=torch.bool),
    )
    with torch.no_grad():
        out = learner.policy(RPS, inputs, learner.policy.initial_memory(2))
    for t, (_, _, decision) in enumerate(fed):
        np.testing.assert_allclose(decision.probs, out.dist.probs[t].numpy(), atol=1e-6)
        np.testing.assert_allclose(decision.values, out.values[t].numpy(), atol=1e-6)
    final = np.stack([s.arrays["memory"] for s in states])
    np.testing.assert_allclose(final, out.memory.numpy(), atol=1e-6)


def test_rl2_memory_survives_episode_end_and_is_fresh_for_a_new_player():
    learner = rl2()
    states, _ = play(learner, steps=6, n=1)  # exactly one episode, then end_episode
    assert states[0].meta["episodes"] == 1
    assert np.abs(states[0].arrays["memory"]).sum() > 0
    assert states[0].arrays["prev_done"][0] == 1.0
    fresh = learner.initial_state(RPS)
    assert np.abs(fresh.arrays["memory"]).sum() == 0
    obs = np.zeros((2, *RPS.obs_shape), dtype=np.float32)
    mask = np.ones((2, 5), dtype=bool)
    mask[:, 3:] = False
    decision, _ = learner.act([states[0], fresh], obs, mask, greedy=True)
    assert not np.allclose(decision.probs[0], decision.probs[1])


@pytest.mark.parametrize("make", [rl2, multitask])
def test_adaptation_state_round_trips_through_bytes(make):
    learner = make()
    states, _ = play(learner, steps=4)
    restored = [AdaptationState.from_bytes(s.to_bytes(), learner=learner.name) for s in states]
    obs = np.random.default_rng(1).random((3, *RPS.obs_shape)).astype(np.float32)
    mask = np.ones((3, 5), dtype=bool)
    mask[:, 3:] = False
    a, _ = learner.act(states, obs, mask, greedy=True)
    b, _ = learner.act(restored, obs, mask, greedy=True)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.probs, b.probs)
    assert restored[0].meta == states[0].meta


def test_multitask_state_is_only_bookkeeping():
    learner = multitask()
    states, _ = play(learner, steps=3)
    assert states[0].arrays == {}
    assert states[0].meta["decisions"] == 3


def test_act_leaves_inputs_untouched_and_never_plays_masked_actions():
    learner = rl2()
    state = learner.initial_state(RPS)
    before = state.copy()
    obs = np.zeros((200, *RPS.obs_shape), dtype=np.float32)
    mask = np.zeros((200, 5), dtype=bool)
    mask[:, 2] = True
    decision, new = learner.act([state] * 200, obs, mask)
    assert state.meta == before.meta
    assert state.arrays.keys() == before.arrays.keys()
    assert all(np.array_equal(state.arrays[k], before.arrays[k]) for k in state.arrays)
    assert (decision.actions == 2).all()
    assert (decision.probs[:, [0, 1, 3, 4]] == 0).all()
    assert new[0] is not state


def test_bad_requests_raise_clear_errors():
    learner = rl2()
    state = learner.initial_state(RPS)
    obs = np.zeros((1, *RPS.obs_shape), dtype=np.float32)
    mask = np.ones((1, 5), dtype=bool)
    with pytest.raises(IncompatibleGameError, match="shape"):
        learner.act([state], obs[:, :10], mask)
    with pytest.raises(IllegalActionError, match="no legal action"):
        learner.act([state], obs, np.zeros((1, 5), dtype=bool))
    with pytest.raises(StateError, match="multitask"):
        learner.act([multitask().initial_state(RPS)], obs, mask)
    other = learner.initial_state("matrix(name=rpsls,rounds=6)")
    with pytest.raises(StateError, match="one game variant"):
        learner.act([state, other], np.zeros((2, *RPS.obs_shape)), np.ones((2, 5), bool))
    with pytest.raises(IncompatibleGameError):
        learner.initial_state("connect_n")
    broken = state.copy()
    broken.arrays["memory"] = np.zeros(3, dtype=np.float32)
    with pytest.raises(StateError, match="memory"):
        learner.act([broken], obs, mask)
    with pytest.raises(StateError, match="rewards"):
        learner.observe([state], np.array([1.0, 2.0]), np.array([False]))


def test_config_from_dict_names_bad_keys_and_types():
    assert RL2Config.from_dict({"learning_rate": 1, "bptt_len": 8}).learning_rate == 1.0
    with pytest.raises(ConfigError, match="unknown RL2Config setting"):
        RL2Config.from_dict({"learning_rat": 0.1})
    with pytest.raises(ConfigError, match="must be a int"):
        RL2Config.from_dict({"num_lanes": "8"})
    with pytest.raises(ConfigError, match="gamma"):
        RL2Config(gamma=1.5)
    with pytest.raises(ConfigError, match="bptt_len"):
        RL2Config(bptt_len=-1)
