"""The MAML learner: config checks, per-player adaptation through the Learner protocol, training."""

import numpy as np
import pytest
import torch

from game_agent.errors import ConfigError, StateError
from game_agent.learner import EpisodeOutcome, Learner
from game_agent.learners import maml_state
from game_agent.learners.maml import MAMLConfig, MAMLLearner
from game_agent.learners.maml_trials import AdaptingPolicy, split_trials
from game_agent.policies import layout_for
from game_agent.rollout import LocalSampler, SamplerConfig
from game_agent.state import AdaptationState
from game_agent.tasks import TaskDistribution
from games import make_kernel, parse_spec

SPEC = parse_spec("matrix(name=rps,rounds=6)")
SMALL = {"hidden_size": 16, "num_lanes": 4, "update_epochs": 2, "num_minibatches": 2}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks on a shared 2-core machine: extra intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def learner(**overrides) -> MAMLLearner:
    # gamma = 0: in the constructed bandit each move's return is its own reward.
    settings = {**SMALL, "inner_lr": 1.0, "inner_steps": 2, "gamma": 0.0, **overrides}
    return MAMLLearner(layout_for([SPEC]), MAMLConfig(**settings), seed=3)


def start() -> tuple[np.ndarray, np.ndarray]:
    """The learner seat's first observation and mask of an rps match."""
    step = make_kernel(SPEC).reset(1, seed=0)
    return step.obs[0, 0], step.action_mask[0, 0]


def play_bandit_episode(agent: MAMLLearner, state, rewarded: int, moves: int = 30):
    """One episode at a fixed observation, paying 1 whenever the agent plays ``rewarded``."""
    obs, mask = start()
    for _ in range(moves):
        decision, [state] = agent.act([state], obs[None], mask[None])
        paid = float(decision.actions[0] == rewarded)
        [state] = agent.observe([state], np.array([paid]), np.array([False]))
    [state] = agent.observe([state], np.array([0.0]), np.array([True]))
    return agent.end_episode(state, EpisodeOutcome(0.0, 0, moves))


def probs(agent: MAMLLearner, state) -> np.ndarray:
    obs, mask = start()
    decision, _ = agent.act([state], obs[None], mask[None], greedy=True)
    return decision.probs[0]


def test_config_rejects_adaptations_that_training_never_sees():
    with pytest.raises(ConfigError, match="episodes_per_trial"):
        MAMLConfig(episodes_per_trial=3, episodes_per_adaptation=3, max_adaptations=1)
    with pytest.raises(ConfigError, match="inner_steps"):
        MAMLConfig(inner_steps=0)
    with pytest.raises(ConfigError, match="unknown"):
        MAMLConfig.from_dict({"inner_rate": 0.1})
    config = MAMLConfig.from_dict({"inner_lr": 1, "first_order": True, "max_adaptations": 1})
    assert config.inner_lr == 1.0 and config.first_order
    assert MAMLConfig.from_dict(config.to_dict()) == config


def test_maml_implements_the_learner_protocol():
    agent = learner()
    assert isinstance(agent, Learner)
    assert agent.supports(SPEC) and not agent.supports("connect_n")
    state = agent.initial_state(SPEC)
    assert state.learner == "maml" and state.spec == SPEC.name


def test_adaptation_moves_a_player_toward_the_rewarded_action():
    agent = learner()
    fresh = agent.initial_state(SPEC)
    before = probs(agent, fresh)
    for arm in (0, 2):
        state = play_bandit_episode(agent, fresh, arm)
        assert state.meta["adaptations"] == 1
        after = probs(agent, state)
        assert after[arm] > before[arm] + 0.05
        # The learner itself never changes: a fresh player still gets the meta-policy.
        np.testing.assert_allclose(probs(agent, agent.initial_state(SPEC)), before)


def test_adaptation_stops_after_max_adaptations_and_pending_data_stops_growing():
    agent = learner(max_adaptations=1, episodes_per_trial=2)
    state = play_bandit_episode(agent, agent.initial_state(SPEC), 1)
    delta = state.arrays["delta.actor.weight"].copy()
    state = play_bandit_episode(agent, state, 1)
    assert state.meta["adaptations"] == 1 and state.meta["episodes"] == 2
    assert len(state.arrays["pending.action"]) == 0
    np.testing.assert_array_equal(state.arrays["delta.actor.weight"], delta)


def test_adapt_after_every_two_episodes():
    agent = learner(episodes_per_adaptation=2, max_adaptations=1)
    state = play_bandit_episode(agent, agent.initial_state(SPEC), 1)
    assert state.meta["adaptations"] == 0 and len(state.arrays["pending.action"]) == 30
    assert state.arrays["pending.end"].tolist() == [False] * 29 + [True]
    state = play_bandit_episode(agent, state, 1)
    assert state.meta["adaptations"] == 1 and len(state.arrays["pending.action"]) == 0


def test_players_with_different_weights_share_one_batched_act():
    agent = learner()
    fresh = agent.initial_state(SPEC)
    players = [play_bandit_episode(agent, fresh, arm) for arm in (0, 1, 2)] + [fresh]
    obs, mask = start()
    together, _ = agent.act(players, np.repeat(obs[None], 4, 0), np.repeat(mask[None], 4, 0))
    for b, player in enumerate(players):
        alone, _ = agent.act([player], obs[None], mask[None])
        np.testing.assert_allclose(together.probs[b], alone.probs[0], atol=1e-6)
        np.testing.assert_allclose(together.values[b], alone.values[0], atol=1e-6)
    assert np.abs(together.probs[0] - together.probs[2]).max() > 0.05


def test_masks_hold_after_adaptation():
    agent = learner(inner_lr=20.0)
    state = play_bandit_episode(agent, agent.initial_state(SPEC), 2)
    obs, mask = start()
    assert probs(agent, state)[2] > 0.9  # adapted hard toward action 2
    mask = mask.copy()
    mask[2] = False
    n = 500
    decision, _ = agent.act([state] * n, np.repeat(obs[None], n, 0), np.repeat(mask[None], n, 0))
    assert mask[decision.actions].all()
    assert (decision.probs[:, ~mask] == 0).all()
    np.testing.assert_allclose(decision.probs.sum(1), 1.0, atol=1e-5)


def test_state_round_trips_through_bytes_mid_episode_and_after_adaptation():
    agent = learner()
    state = play_bandit_episode(agent, agent.initial_state(SPEC), 1)
    obs, mask = start()
    _, [state] = agent.act([state], obs[None], mask[None])
    [state] = agent.observe([state], np.array([0.5]), np.array([False]))
    restored = AdaptationState.from_bytes(state.to_bytes(), learner="maml", spec=SPEC.name)
    assert restored.meta == state.meta
    assert restored.arrays.keys() == state.arrays.keys()
    for name, array in state.arrays.items():
        np.testing.assert_array_equal(restored.arrays[name], array)
        assert restored.arrays[name].dtype == array.dtype
    a, _ = agent.act([state], obs[None], mask[None], greedy=True)
    b, _ = agent.act([restored], obs[None], mask[None], greedy=True)
    np.testing.assert_array_equal(a.probs, b.probs)


def test_states_that_do_not_fit_are_rejected():
    agent = learner()
    state = play_bandit_episode(agent, agent.initial_state(SPEC), 1)
    obs, mask = start()
    broken = state.copy()
    broken.arrays["delta.actor.weight"] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(StateError, match=r"delta\.actor\.weight"):
        agent.act([broken], obs[None], mask[None])
    broken = state.copy()
    broken.arrays["pending.action"] = np.array([7], dtype=np.int64)
    with pytest.raises(StateError):
        agent.act([broken], obs[None], mask[None])
    other = learner(hidden_size=8)
    with pytest.raises(StateError):
        other.act([state], obs[None], mask[None])


@pytest.mark.parametrize("first_order", [False, True])
def test_training_a_few_hundred_decisions_on_matrix(first_order: bool):
    dist = TaskDistribution(
        "matrix",
        variants=["matrix(name=rps,rounds=10)", "matrix(name=biased_rps,bias=2.0,rounds=10)"],
        opponents=["rock_heavy", "paper_heavy", "cycle_up"],
        seed=0,
    )
    agent = MAMLLearner(
        layout_for(dist.specs), MAMLConfig(**SMALL, first_order=first_order), seed=1
    )
    before = {k: v.detach().clone() for k, v in agent.policy.named_parameters()}
    sampler = agent.make_sampler(dist, seed=2)
    decisions = 0
    while decisions < 300:
        stats = agent.train_iteration(sampler)
        decisions += stats.decisions
        assert stats.losses["adaptations_per_trial"] == 2.0
        assert all(np.isfinite(v) for k, v in stats.losses.items() if k != "explained_variance")
        assert len(stats.return_by_episode) == 3
    moved = [not torch.equal(before[k], v) for k, v in agent.policy.named_parameters()]
    assert all(moved)


def test_served_adaptation_reproduces_the_adaptation_played_in_training():
    """end_episode on a player's recorded episode gives the weights the sampler adapted to."""
    dist = TaskDistribution("matrix", variants=[SPEC.name], opponents=["rock_heavy"], seed=0)
    agent = learner(gamma=0.9, inner_lr=0.5)
    config = agent.maml_config
    policy = AdaptingPolicy(
        agent.policy, dict(agent.policy.named_parameters()), config.inner_loop, config.schedule
    )
    sampler = LocalSampler(dist, SamplerConfig(3, config.episodes_per_trial), seed=0)
    batch = split_trials(sampler.collect(policy).groups[0], config.schedule)
    for trial in range(batch.num_trials):
        state = agent.initial_state(SPEC)
        for t in range(int(batch.valid[:, trial].sum())):
            obs, mask = batch.obs[t, trial].numpy(), batch.mask[t, trial].numpy()
            decision, _ = agent.act([state], obs[None], mask[None])
            played = int(batch.actions[t, trial])
            served = np.log(decision.probs[0, played])
            assert served == pytest.approx(float(batch.logprobs[t, trial]), abs=1e-4)
            keep = state.meta["adaptations"] < config.max_adaptations
            state = maml_state.record_decision(state, obs, mask, played, keep)
            [state] = agent.observe(
                [state], np.array([batch.inner_rewards[t, trial]]), np.array([False])
            )
            if batch.ends[t, trial]:
                state = agent.end_episode(state, EpisodeOutcome(0.0, 0, 0))
        assert state.meta["adaptations"] == 2
