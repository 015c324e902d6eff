"""GAE and the PPO loss against hand-worked numbers."""

import math

import pytest
import torch

from game_agent.ppo import (
    compute_gae,
    compute_gae_sequence,
    explained_variance,
    normalize_advantages,
    ppo_loss,
)

GAMMA, LAM = 0.9, 0.8


def column(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64).reshape(-1, 1)


def flags(*xs: bool) -> torch.Tensor:
    return torch.tensor(xs).reshape(-1, 1)


def test_gae_terminal_episode_matches_hand_computation():
    # deltas: t2 = 2 - 1.5 = 0.5; t1 = 0 + .9*1.5 - 1 = 0.35; t0 = 1 + .9*1 - .5 = 1.4
    # adv: 0.5; 0.35 + .72*0.5 = 0.71; 1.4 + .72*0.71 = 1.9112
    out = compute_gae_sequence(
        column(1, 0, 2),
        column(0.5, 1.0, 1.5),
        flags(False, False, True),
        torch.tensor([123.0]),  # ignored: the episode ended
        GAMMA,
        LAM,
    )
    assert out.advantages[:, 0].tolist() == pytest.approx([1.9112, 0.71, 0.5])
    assert out.returns[:, 0].tolist() == pytest.approx([2.4112, 1.71, 2.0])


def test_gae_bootstraps_an_unfinished_episode():
    # delta2 = 2 + .9*2 - 1.5 = 2.3; adv1 = .35 + .72*2.3 = 2.006; adv0 = 1.4 + .72*2.006
    out = compute_gae_sequence(
        column(1, 0, 2),
        column(0.5, 1.0, 1.5),
        flags(False, False, False),
        torch.tensor([2.0]),
        GAMMA,
        LAM,
    )
    assert out.advantages[:, 0].tolist() == pytest.approx([2.84432, 2.006, 2.3])


def test_gae_with_lambda_one_gives_discounted_returns():
    out = compute_gae_sequence(
        column(1, 0, 2),
        column(0.5, 1.0, 1.5),
        flags(False, False, False),
        torch.tensor([2.0]),
        GAMMA,
        1.0,
    )
    assert float(out.returns[0, 0]) == pytest.approx(1 + 0.81 * 2 + 0.729 * 2.0)


def test_gae_cut_at_trial_boundary_but_not_at_episode_boundary():
    # Four decisions: an episode ends after t=0 and the trial ends after t=1.
    rewards, values = column(0, 1, 0, 1), column(0.2, 0.4, 0.6, 0.8)
    episode_end = flags(True, True, False, False)
    trial_end = flags(False, True, False, False)
    last = torch.tensor([1.0])
    across = compute_gae_sequence(rewards, values, trial_end, last, GAMMA, LAM)
    # t3: 1 + .9 - .8 = 1.1; t2: .9*.8 - .6 = .12 + .72*1.1 = .912
    # t1: 1 - .4 = .6 (trial end: no bootstrap); t0: .9*.4 - .2 = .16 + .72*.6 = .592
    assert across.advantages[:, 0].tolist() == pytest.approx([0.592, 0.6, 0.912, 1.1])
    per_episode = compute_gae_sequence(rewards, values, episode_end, last, GAMMA, LAM)
    assert float(per_episode.advantages[0, 0]) == pytest.approx(-0.2)


def test_padded_lanes_match_separate_computation():
    # Lane 0 has three decisions, lane 1 two (padded with a zero step that ends).
    rewards = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, 0.0]])
    values = torch.tensor([[0.5, 0.1], [1.0, 0.3], [1.5, 0.0]])
    ends = torch.tensor([[False, False], [False, True], [True, True]])
    next_values = torch.tensor([[1.0, 0.3], [1.5, 0.0], [0.0, 0.0]])
    out = compute_gae(rewards, values, next_values, ends, GAMMA, LAM)
    lane0 = compute_gae_sequence(
        column(1, 0, 2), column(0.5, 1.0, 1.5), flags(0, 0, 1), torch.zeros(1), GAMMA, LAM
    )
    lane1 = compute_gae_sequence(
        column(0.5, 1.0), column(0.1, 0.3), flags(0, 1), torch.zeros(1), GAMMA, LAM
    )
    assert out.advantages[:, 0].tolist() == pytest.approx(lane0.advantages[:, 0].tolist())
    assert out.advantages[:2, 1].tolist() == pytest.approx(lane1.advantages[:, 0].tolist())
    assert float(out.advantages[2, 1]) == 0.0


def test_gae_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="share one shape"):
        compute_gae(
            torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 1), torch.zeros(3, 2), 1, 1
        )


def _loss_with_ratios(ratios, advantages, clip=0.2):
    new_logprobs = torch.tensor([math.log(r) for r in ratios], requires_grad=True)
    n = len(ratios)
    zeros = torch.zeros(n)
    loss = ppo_loss(
        new_logprobs,
        zeros,
        torch.tensor(advantages),
        zeros,
        zeros,
        zeros,
        zeros,
        torch.ones(n),
        clip_coef=clip,
        vf_coef=0.0,
        ent_coef=0.0,
    )
    loss.total.backward()
    return loss, new_logprobs.grad


def test_clip_zeroes_gradient_only_past_the_clip_in_the_favoured_direction():
    ratios = [1.5, 0.5, 0.5, 1.5, 1.1]
    advantages = [1.0, 1.0, -1.0, -1.0, 1.0]
    loss, grad = _loss_with_ratios(ratios, advantages)
    # d/dlogp of -A*r is -A*r, averaged over 5 samples; clipped entries give exactly 0.
    assert grad.tolist() == pytest.approx([0.0, -0.5 / 5, 0.0, 1.5 / 5, -1.1 / 5])
    # loss = mean(max(-A r, -A clip(r))) = mean(-1.2, -0.5, 0.8, 1.5, -1.1)
    assert float(loss.policy.detach()) == pytest.approx((-1.2 - 0.5 + 0.8 + 1.5 - 1.1) / 5)
    assert float(loss.clip_fraction) == pytest.approx(4 / 5)


def test_value_clipping_takes_the_pessimistic_error():
    new_values = torch.tensor([1.0, 0.0])
    old_values = torch.tensor([0.0, 0.0])
    returns = torch.tensor([0.0, 1.0])
    zeros, ones = torch.zeros(2), torch.ones(2)
    args = (zeros, zeros, zeros, new_values, old_values, returns, zeros, ones)
    clipped = ppo_loss(*args, clip_coef=0.2, vf_coef=1.0, ent_coef=0.0)
    plain = ppo_loss(*args, clip_coef=0.2, vf_coef=1.0, ent_coef=0.0, clip_value=False)
    # sample 0: max((1-0)^2, (0.2-0)^2) = 1; sample 1: max(1, (0-1)^2) = 1
    assert float(clipped.value) == pytest.approx(0.5 * (1 + 1) / 2)
    assert float(plain.value) == pytest.approx(0.5 * (1 + 1) / 2)
    returns = torch.tensor([2.0, 1.0])
    args = (zeros, zeros, zeros, new_values, old_values, returns, zeros, ones)
    clipped = ppo_loss(*args, clip_coef=0.2, vf_coef=1.0, ent_coef=0.0)
    # sample 0: max((1-2)^2, (0.2-2)^2 = 3.24)
    assert float(clipped.value) == pytest.approx(0.5 * (3.24 + 1) / 2)


def test_weights_exclude_padding_from_every_term():
    ones = torch.ones(3)
    weights = torch.tensor([1.0, 1.0, 0.0])
    entropy = torch.tensor([1.0, 3.0, 100.0])
    loss = ppo_loss(
        torch.zeros(3),
        torch.zeros(3),
        torch.tensor([1.0, 1.0, 50.0]),
        ones,
        ones,
        ones,
        entropy,
        weights,
        clip_coef=0.2,
        vf_coef=0.5,
        ent_coef=0.1,
    )
    assert float(loss.policy.detach()) == pytest.approx(-1.0)
    assert float(loss.entropy) == pytest.approx(2.0)
    assert float(loss.total) == pytest.approx(-1.0 - 0.2)


def test_normalize_advantages_ignores_padding():
    adv = torch.tensor([1.0, 3.0, 1000.0])
    out = normalize_advantages(adv, torch.tensor([1.0, 1.0, 0.0]))
    assert out[:2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-6)


def test_explained_variance():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    ones = torch.ones(4)
    assert explained_variance(target, target, ones) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(4), target, ones) == pytest.approx(0.0)
    assert math.isnan(explained_variance(target, torch.ones(4), ones))
