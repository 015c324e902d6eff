"""The local sampler: trials, reward bookkeeping, and replay consistency."""

import functools

import numpy as np
import pytest
import torch

from game_agent.policies import ActorCritic, PolicyInput, layout_for
from game_agent.rollout import LocalSampler, SamplerConfig
from game_agent.tasks import TaskDistribution

CONFIG = SamplerConfig(num_lanes=6, episodes_per_trial=2, trials_per_rollout=2)


def distribution(family: str) -> TaskDistribution:
    if family == "matrix":
        return TaskDistribution(
            "matrix",
            variants=["matrix(name=rps,rounds=5)", "matrix(name=rpsls,rounds=4)"],
            opponents=["rock_heavy", "copy_last"],
            seed=0,
        )
    return TaskDistribution(
        "connect_n",
        variants=["connect_n(rows=3,cols=3,k=3,gravity=false)", "connect_n(rows=4,cols=5,k=3)"],
        opponents=["random", "centre"],
        seed=0,
    )


@functools.cache
def collect(family: str, recurrent: bool = True, seed: int = 3):
    dist = distribution(family)
    net = ActorCritic(layout_for(dist.specs), recurrent=recurrent, hidden_size=16, conv_channels=8)
    return net, LocalSampler(dist, CONFIG, seed=seed).collect(net)


@pytest.mark.parametrize("family", ["matrix", "connect_n"])
def test_every_lane_completes_its_trials(family):
    _, rollout = collect(family)
    lanes = sum(group.valid.shape[1] for group in rollout.groups)
    assert lanes == CONFIG.num_lanes
    episodes = rollout.episodes
    assert len(episodes.total_reward) == lanes * 2 * 2
    assert sorted(set(episodes.index_in_trial.tolist())) == [0, 1]
    for group in rollout.groups:
        trial_ends = (group.trial_end & group.valid).sum(axis=0)
        assert trial_ends.tolist() == [2] * group.valid.shape[1]
        starts = (group.trial_start & group.valid).sum(axis=0)
        assert starts.tolist() == [2] * group.valid.shape[1]
        # Every lane's decisions are a prefix: padding only at the end.
        counts = group.valid.sum(axis=0)
        assert (group.valid == (np.arange(len(group.valid))[:, None] < counts)).all()


@pytest.mark.parametrize("family", ["matrix", "connect_n"])
def test_rewards_are_all_credited_to_decisions(family):
    _, rollout = collect(family)
    stored = sum(float((g.rewards + g.rewards_after)[g.valid].sum()) for g in rollout.groups)
    assert stored == pytest.approx(float(rollout.episodes.total_reward.sum()))
    decisions = sum(g.num_decisions for g in rollout.groups)
    assert decisions == rollout.episodes.decisions.sum() == rollout.num_decisions


@pytest.mark.parametrize("family", ["matrix", "connect_n"])
def test_previous_action_and_reward_follow_the_trial(family):
    _, rollout = collect(family)
    for g in rollout.groups:
        for lane in range(g.valid.shape[1]):
            n = int(g.valid[:, lane].sum())
            for t in range(n):
                if g.trial_start[t, lane]:
                    assert g.prev_action[t, lane] == -1
                    assert t == 0 or g.trial_end[t - 1, lane]
                    continue
                assert g.prev_action[t, lane] == g.actions[t - 1, lane]
                got = g.rewards[t - 1, lane] + g.rewards_after[t - 1, lane]
                assert g.prev_reward[t, lane] == pytest.approx(got)
                assert bool(g.prev_done[t, lane]) == bool(g.episode_end[t - 1, lane])


@pytest.mark.parametrize("family", ["matrix", "connect_n"])
def test_replaying_stored_sequences_reproduces_acting(family):
    """Hidden state carried across episodes, reset between trials, exactly as replayed."""
    net, rollout = collect(family)
    for g in rollout.groups:
        inputs = PolicyInput(
            *(
                torch.from_numpy(x)
                for x in (g.obs, g.mask, g.prev_action, g.prev_reward, g.prev_done, g.trial_start)
            )
        )
        with torch.no_grad():
            out = net(g.spec, inputs, net.initial_memory(g.valid.shape[1]))
            logprobs = out.dist.log_prob(torch.from_numpy(g.actions)).numpy()
        valid = g.valid
        np.testing.assert_allclose(logprobs[valid], g.logprobs[valid], atol=1e-5)
        np.testing.assert_allclose(out.values.numpy()[valid], g.values[valid], atol=1e-5)
        # Stepping again one decision at a time, the memory fed to each decision is the
        # previous decision's output (across episode ends), and zero at trial starts.
        memory = net.initial_memory(g.valid.shape[1])
        for t in range(len(g.valid)):
            carried = np.where(g.trial_start[t][:, None], 0.0, memory.numpy())
            np.testing.assert_allclose(g.memory_in[t][valid[t]], carried[valid[t]], atol=1e-5)
            with torch.no_grad():
                memory = net(g.spec, PolicyInput(*(x[t : t + 1] for x in inputs)), memory).memory
        norms = np.abs(g.memory_in).sum(-1)
        assert (norms[g.trial_start & valid] == 0).all()
        crossed = np.zeros_like(valid)
        crossed[1:] = g.episode_end[:-1] & ~g.trial_end[:-1]
        assert (norms[crossed & valid] > 0).all()


def test_same_seed_same_rollout_and_state_round_trip():
    dist = distribution("matrix")
    net = ActorCritic(layout_for(dist.specs), recurrent=False, hidden_size=16)
    a = LocalSampler(dist, CONFIG, seed=11)
    saved = a.state_dict()
    first = a.collect(net)
    b = LocalSampler(dist, CONFIG, seed=999)
    b.load_state_dict(saved)
    second = b.collect(net)
    for x, y in zip(first.groups, second.groups, strict=True):
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.rewards, y.rewards)
    assert a.collect(net).groups[0].actions.tolist() != first.groups[0].actions.tolist()


def test_every_trial_meets_fresh_opponents(monkeypatch):
    """Styles that learn across games must not carry one player's memory into another trial."""
    import game_agent.rollout.sampler as sampler_module

    created = []
    real = sampler_module.make_opponent

    class Recording:
        def __init__(self, spec, name, seed):
            self.inner = real(spec, name, seed=seed)
            self.acted_rows: set[int] = set()
            self.rows = 0
            self.resets = 0
            self.observed = 0
            created.append(self)

        def reset(self, n):
            self.resets += 1
            self.rows = n
            self.inner.reset(n)

        def reset_where(self, which):
            self.inner.reset_where(which)

        def observe(self, obs):
            self.observed += 1
            self.inner.observe(obs)

        def act(self, obs, mask):
            self.acted_rows |= set(np.flatnonzero(mask.any(axis=1)).tolist())
            return self.inner.act(obs, mask)

    monkeypatch.setattr(sampler_module, "make_opponent", Recording)
    dist = TaskDistribution(
        "connect_n",
        variants=["connect_n(rows=3,cols=3,k=3,gravity=false)"],
        opponents=["random", "centre"],
        seed=0,
    )
    net = ActorCritic(layout_for(dist.specs), recurrent=True, hidden_size=8, conv_channels=4)
    config = SamplerConfig(num_lanes=5, episodes_per_trial=1, trials_per_rollout=3)
    LocalSampler(dist, config, seed=0).collect(net)
    assert all(o.resets == 1 and o.observed > 0 for o in created)
    # Objects are sized to the lanes that start a trial together and play every one of those
    # rows: the 5 lanes x 3 trials were each played by a fresh row of a fresh object.
    assert all(o.acted_rows == set(range(o.rows)) for o in created)
    assert sum(o.rows for o in created) == 5 * 3
