"""The PPO core shared by every learner: GAE and the clipped surrogate loss.

Everything here is a pure function on tensors, so RL2 (recurrent, trial-long
segments), the multi-task baseline (feed-forward, episode-long segments) and
MAML (inner-loop policy gradients) share one tested implementation and differ
only in what they feed it. Tensors are laid out time-major, ``(T, N)``: T
consecutive decisions of N independent lanes.

A *segment end* (``ends[t]``) means the transition at ``t`` is the last of its
segment: no value is bootstrapped from ``t + 1``. RL2 ends segments at trial
ends (episodes inside a trial bootstrap into each other, since the trial is the
RL2 episode); the multi-task baseline ends them at episode ends.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Advantages(NamedTuple):
    """GAE output, both ``(T, N)``."""

    advantages: Tensor
    returns: Tensor
    """``advantages + values``: the regression target of the value head."""


class PPOLoss(NamedTuple):
    """The PPO objective and its diagnostics (all scalars)."""

    total: Tensor
    """What the optimiser minimises: policy + vf_coef * value - ent_coef * entropy."""
    policy: Tensor
    value: Tensor
    entropy: Tensor
    approx_kl: Tensor
    """The ``(ratio - 1) - log ratio`` estimator of KL(old || new) (Schulman's k3)."""
    clip_fraction: Tensor
    """Share of samples whose ratio left ``[1 - clip, 1 + clip]``."""


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    ends: Tensor,
    gamma: float,
    lam: float,
) -> Advantages:
    """Generalised advantage estimation over ``(T, N)`` decisions.

    ``next_values[t]`` is the value of the state after decision ``t`` (its
    successor decision in the same lane, or a bootstrap estimate at the end of
    the data); it is ignored where ``ends[t]`` is true. Taking successors
    explicitly lets lanes of different lengths share one padded tensor: a
    padded step with zero reward, zero value and ``ends=True`` contributes
    nothing and stops the recursion.
    """
    _check_same_shape(rewards=rewards, values=values, next_values=next_values, ends=ends)
    if rewards.dim() != 2:
        raise ValueError(f"GAE expects (T, N) tensors, got shape {tuple(rewards.shape)}")
    keep = 1.0 - ends.to(values.dtype)
    deltas = rewards + gamma * next_values * keep - values
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(values[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * keep[t] * running
        advantages[t] = running
    return Advantages(advantages, advantages + values)


def compute_gae_sequence(
    rewards: Tensor,
    values: Tensor,
    ends: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
) -> Advantages:
    """GAE when every lane's successor of step ``t`` is step ``t + 1``.

    ``last_value`` (N,) bootstraps the final step unless it ends a segment.
    """
    next_values = torch.cat([values[1:], last_value.reshape(1, -1).to(values.dtype)], dim=0)
    return compute_gae(rewards, values, next_values, ends, gamma, lam)


def normalize_advantages(advantages: Tensor, weights: Tensor, eps: float = 1e-8) -> Tensor:
    """Zero-mean, unit-variance advantages over the entries where ``weights`` is 1."""
    count = weights.sum().clamp_min(1.0)
    mean = (advantages * weights).sum() / count
    var = (((advantages - mean) ** 2) * weights).sum() / count
    return (advantages - mean) / (var.sqrt() + eps)


def ppo_loss(
    new_logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    new_values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    entropy: Tensor,
    weights: Tensor,
    *,
    clip_coef: float,
    vf_coef: float,
    ent_coef: float,
    clip_value: bool = True,
) -> PPOLoss:
    """The clipped surrogate, the (optionally clipped) value loss and the entropy bonus.

    All inputs share one shape; ``weights`` is 1 on real decisions and 0 on
    padding, so padded sequences cost nothing. The pessimistic ``max`` of the
    two surrogate losses is what makes the gradient vanish once the ratio has
    moved past the clip in the direction the advantage favours.
    """
    _check_same_shape(
        new_logprobs=new_logprobs,
        old_logprobs=old_logprobs,
        advantages=advantages,
        new_values=new_values,
        old_values=old_values,
        returns=returns,
        entropy=entropy,
        weights=weights,
    )
    count = weights.sum().clamp_min(1.0)

    def mean(x: Tensor) -> Tensor:
        return (x * weights).sum() / count

    log_ratio = new_logprobs - old_logprobs
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef)
    policy = mean(torch.maximum(unclipped, clipped))

    value_error = (new_values - returns) ** 2
    if clip_value:
        limited = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
        value_error = torch.maximum(value_error, (limited - returns) ** 2)
    value = 0.5 * mean(value_error)

    entropy_mean = mean(entropy)
    total = policy + vf_coef * value - ent_coef * entropy_mean
    with torch.no_grad():
        approx_kl = mean((ratio - 1.0) - log_ratio)
        clip_fraction = mean(((ratio - 1.0).abs() > clip_coef).to(ratio.dtype))
    return PPOLoss(total, policy, value, entropy_mean, approx_kl, clip_fraction)


def explained_variance(predicted: Tensor, target: Tensor, weights: Tensor) -> float:
    """1 - Var(target - predicted) / Var(target) over weighted entries (nan if Var(target)=0)."""
    count = weights.sum().clamp_min(1.0)

    def var(x: Tensor) -> Tensor:
        m = (x * weights).sum() / count
        return (((x - m) ** 2) * weights).sum() / count

    target_var = var(target)
    if float(target_var) == 0.0:
        return float("nan")
    return float(1.0 - var(target - predicted) / target_var)


def _check_same_shape(**tensors: Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"tensors must share one shape, got {shapes}")
