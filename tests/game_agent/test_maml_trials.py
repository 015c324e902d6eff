"""MAML trials through the shared sampler: phases, and replay that reproduces play."""

import copy
import functools

import numpy as np
import pytest
import torch

from game_agent.learners.maml_inner import InnerLoop
from game_agent.learners.maml_trials import (
    AdaptationSchedule,
    AdaptingPolicy,
    replay,
    split_trials,
)
from game_agent.policies import ActorCritic, layout_for
from game_agent.rollout import LocalSampler, SamplerConfig
from game_agent.tasks import TaskDistribution

ROUNDS = 4


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks on a shared 2-core machine: extra intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def distribution(family: str) -> TaskDistribution:
    if family == "matrix":
        return TaskDistribution(
            "matrix",
            variants=[f"matrix(name=rps,rounds={ROUNDS})", f"matrix(name=rpsls,rounds={ROUNDS})"],
            opponents=["rock_heavy", "copy_last"],
            seed=0,
        )
    return TaskDistribution(
        "connect_n",
        variants=["connect_n(rows=3,cols=3,k=3,gravity=false)", "connect_n(rows=4,cols=5,k=3)"],
        opponents=["random", "centre"],
        seed=0,
    )


def inner_loop(lr: float) -> InnerLoop:
    return InnerLoop(
        steps=2, lr=lr, first_order=True, gamma=0.9, gae_lambda=1.0, normalize_advantages=True
    )


@functools.cache
def played(family: str, episodes: int, per_adaptation: int, adaptations: int):
    dist = distribution(family)
    torch.manual_seed(0)
    model = ActorCritic(layout_for(dist.specs), recurrent=False, hidden_size=16, conv_channels=8)
    schedule = AdaptationSchedule(per_adaptation, adaptations)
    params = dict(model.named_parameters())
    policy = AdaptingPolicy(model, params, inner_loop(1.0), schedule)
    config = SamplerConfig(num_lanes=5, episodes_per_trial=episodes, trials_per_rollout=2)
    rollout = LocalSampler(dist, config, seed=4).collect(policy)
    return model, schedule, policy, rollout


@pytest.mark.parametrize("family", ["matrix", "connect_n"])
def test_replay_reproduces_what_the_adapting_policy_played(family):
    model, schedule, policy, rollout = played(family, 3, 1, 2)
    params = {k: v.detach() for k, v in model.named_parameters()}
    assert policy.adaptations == [2] * 10  # 5 lanes x 2 trials, adapted after episodes 1 and 2
    changed = 0
    for group in rollout.groups:
        batch = split_trials(group, schedule)
        log_probs, values = replay(model, params, batch, inner_loop(1.0), create_graph=False)
        taken = log_probs.gather(-1, batch.actions[..., None])[..., 0]
        valid = batch.valid.bool()
        assert torch.allclose(taken[valid], batch.logprobs[valid], atol=1e-4)
        assert torch.allclose(values[valid], batch.values[valid], atol=1e-4)
        unadapted, _ = replay(model, params, batch, inner_loop(0.0), create_graph=False)
        plain = unadapted.gather(-1, batch.actions[..., None])[..., 0]
        adapted = valid & (batch.phase > 0)
        assert torch.allclose(plain[valid & (batch.phase == 0)], taken[valid & (batch.phase == 0)])
        changed += int(((plain - taken).abs() > 1e-3)[adapted].sum())
    assert changed > 0  # the adaptation really changed the policy that played


def test_matrix_trials_are_split_and_phased_by_episode():
    _, schedule, _, rollout = played("matrix", 3, 1, 2)
    for group in rollout.groups:
        batch = split_trials(group, schedule)
        assert batch.num_trials == 2 * group.valid.shape[1]
        # Matrix episodes are ROUNDS decisions long: phase = episode index, capped at 2.
        expected = np.minimum(np.arange(3 * ROUNDS) // ROUNDS, 2)
        assert (batch.phase.numpy() == expected[:, None]).all()
        assert (batch.valid.numpy() == 1).all()
        assert batch.ends.numpy().sum(axis=0).tolist() == [3] * batch.num_trials
        # The inner loop sees the reward that followed each decision, as the lane played it.
        np.testing.assert_allclose(batch.inner_rewards[:-1], batch.rewards[:-1], atol=1e-6)


def test_adaptation_after_every_two_episodes_stops_at_the_cap():
    _, schedule, policy, rollout = played("matrix", 5, 2, 1)
    assert policy.adaptations == [1] * 10
    for group in rollout.groups:
        batch = split_trials(group, schedule)
        episode = np.arange(5 * ROUNDS) // ROUNDS
        assert (batch.phase.numpy() == (episode >= 2)[:, None]).all()


def test_connect_n_trials_have_uneven_lengths_and_padding():
    _, schedule, _, rollout = played("connect_n", 3, 1, 2)
    for group in rollout.groups:
        batch = split_trials(group, schedule)
        valid = batch.valid.bool()
        episodes = (batch.ends & valid).sum(dim=0)
        assert episodes.tolist() == [3] * batch.num_trials
        assert (batch.phase[valid] <= 2).all()
        assert batch.phase[~valid].numel() == 0 or (batch.rewards[~valid] == 0).all()
        total = sum(int(group.valid.sum()) for _ in [0])
        assert int(valid.sum()) == total


def second_order_loop(first_order: bool) -> InnerLoop:
    return InnerLoop(
        steps=2,
        lr=1.0,
        first_order=first_order,
        gamma=0.9,
        gae_lambda=1.0,
        normalize_advantages=True,
    )


def test_meta_gradient_through_a_whole_trial_matches_finite_differences():
    """d/d theta of the adapted episodes' log-likelihood, through both adaptations of a trial.

    The critic is zeroed (and never perturbed), so the inner baseline is 0 whatever
    theta is and the finite differences see exactly the function autograd differentiates.
    """
    model, schedule, _, rollout = played("matrix", 3, 1, 2)
    model = copy.deepcopy(model).double()
    with torch.no_grad():
        model.critic.weight.zero_()
        model.critic.bias.zero_()
    group = rollout.groups[0]
    batch = split_trials(group, schedule).columns(torch.arange(3))
    batch = batch._replace(obs=batch.obs.double(), valid=batch.valid.double())
    names = [name for name, _ in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    frozen = torch.cat(
        [
            torch.full((p.numel(),), name.startswith("critic"))
            for name, p in model.named_parameters()
        ]
    )

    def objective(vector: torch.Tensor, first_order: bool = False) -> torch.Tensor:
        params, start = {}, 0
        for name, p in zip(names, model.parameters(), strict=True):
            params[name] = vector[start : start + p.numel()].reshape(p.shape)
            start += p.numel()
        log_probs, _ = replay(
            model, params, batch, second_order_loop(first_order), create_graph=True
        )
        taken = log_probs.gather(-1, batch.actions[..., None])[..., 0]
        return (taken * batch.valid * (batch.phase > 0)).sum()

    point = theta.clone().requires_grad_()
    (second,) = torch.autograd.grad(objective(point), point)
    point = theta.clone().requires_grad_()
    (first,) = torch.autograd.grad(objective(point, first_order=True), point)
    assert (first - second).norm() > 1e-2 * second.norm()
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        direction = torch.randn(len(theta), generator=g, dtype=torch.float64) * ~frozen
        eps = 1e-5
        with torch.no_grad():
            numeric = (objective(theta + eps * direction) - objective(theta - eps * direction)) / (
                2 * eps
            )
        assert float(second @ direction) == pytest.approx(float(numeric), rel=1e-5, abs=1e-6)
