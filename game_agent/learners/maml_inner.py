"""The MAML inner loop: policy-gradient steps on a parameters dict, one copy per task.

MAML keeps the network's weights outside the module, as a dict of tensors, and
runs the module with :func:`torch.func.functional_call`. Every task (a lane in
training, a player at play time) owns a copy of that dict, stacked along a
leading dimension, and :func:`torch.func.vmap` runs the N copies over their N
lanes in one call. The inner loss is a sum of per-task losses, and task ``i``'s
loss depends only on copy ``i``, so one :func:`torch.autograd.grad` of the sum
gives every task its own gradient.

One adaptation step on a task's episodes ``D`` is plain REINFORCE with a
baseline::

    theta' = theta - lr * grad_theta( -mean_t[ log pi_theta(a_t | s_t) * A_t ] )

where ``A_t`` is GAE over ``D`` computed from the value head at the weights
being adapted (``lam = 1`` gives return minus baseline) and is a constant
(no gradient flows through the baseline). With ``create_graph=True`` the step
stays differentiable, so an outer loss at ``theta'`` back-propagates into
``theta`` through the Hessian term (second-order MAML); otherwise the gradient
is detached and the outer gradient passes through the identity only
(first-order MAML). As in Finn et al. (2017), the dependence of the sampled
episodes on ``theta`` is not differentiated.

The same functions serve training (N tasks at once) and play (one player's
``end_episode``, or B players acting with their own weights), so a served
player's adapted weights come from exactly the code that meta-training replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from game_agent.policies import PolicyInput
from game_agent.ppo import compute_gae_sequence
from games.spec import GameSpec

Params = dict[str, Tensor]
"""Parameter name -> tensor; "stacked" params carry a leading task dimension N."""


class EpisodeBatch(NamedTuple):
    """One task's decisions per lane, time-major ``(T, N)``, right-padded.

    A lane may hold several consecutive episodes; ``ends`` marks the last
    decision of each (and every padded row), so returns never cross episodes.
    """

    obs: Tensor
    """(T, N, *obs_shape) float."""
    mask: Tensor
    """(T, N, num_actions) bool legal actions."""
    actions: Tensor
    """(T, N) int64."""
    rewards: Tensor
    """(T, N) float: rewards that followed the decision within its episode."""
    ends: Tensor
    """(T, N) bool: last decision of an episode, or padding."""
    weights: Tensor
    """(T, N) float: 1 for real decisions, 0 for padding."""


@dataclass(frozen=True)
class InnerLoop:
    """How one adaptation runs (a view of the learner's MAMLConfig)."""

    steps: int
    """Gradient steps per adaptation."""
    lr: float
    """Step size of each inner gradient step."""
    first_order: bool
    """Detach inner gradients (first-order MAML) instead of differentiating through them."""
    gamma: float
    """Discount of the inner-loop returns."""
    gae_lambda: float
    """GAE lambda of the inner-loop advantages (1.0: discounted return minus baseline)."""
    normalize_advantages: bool
    """Scale each task's advantages to zero mean and unit variance before the step."""


def stack_params(params: Params, n: int) -> Params:
    """``n`` copies of ``params`` along a new leading dim (views: gradients flow back)."""
    return {name: p.unsqueeze(0).expand(n, *p.shape) for name, p in params.items()}


def evaluate(
    model: nn.Module, spec: GameSpec, params: Params, obs: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """Log-probabilities (T, N, A) and values (T, N) of N lanes, lane i under params[i].

    ``obs`` is (T, N, *obs_shape) and ``mask`` (T, N, A); illegal actions get
    log-probability ``-inf`` whatever the weights, adapted or not.
    """

    def one_lane(lane_params: Params, obs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        steps = mask.shape[0]
        zeros = torch.zeros(steps, 1, dtype=obs.dtype)
        inputs = PolicyInput(
            obs=obs.unsqueeze(1),
            mask=mask.unsqueeze(1),
            prev_action=torch.full((steps, 1), -1, dtype=torch.int64),
            prev_reward=zeros,
            prev_done=zeros,
            trial_start=torch.zeros(steps, 1, dtype=torch.bool),
        )
        memory = torch.zeros(1, 0, dtype=obs.dtype)
        out = functional_call(model, lane_params, (spec, inputs, memory))
        return out.dist.log_probs[:, 0], out.values[:, 0]

    log_probs, values = vmap(one_lane, in_dims=(0, 1, 1), out_dims=(1, 1))(params, obs, mask)
    return log_probs, values


def inner_advantages(values: Tensor, batch: EpisodeBatch, loop: InnerLoop) -> Tensor:
    """GAE (T, N) of the lanes' episodes against the (detached) value baseline."""
    values = values.detach() * batch.weights
    last = torch.zeros(values.shape[1], dtype=values.dtype)
    rewards = batch.rewards.to(values.dtype) * batch.weights
    advantages = compute_gae_sequence(
        rewards, values, batch.ends, last, loop.gamma, loop.gae_lambda
    ).advantages
    if loop.normalize_advantages:
        advantages = _normalize_per_lane(advantages, batch.weights)
    return advantages * batch.weights


def inner_loss(log_probs: Tensor, actions: Tensor, advantages: Tensor, weights: Tensor) -> Tensor:
    """Sum over lanes of each lane's mean policy-gradient loss ``-log pi(a) * A``."""
    taken = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    per_lane = -(taken * advantages * weights).sum(dim=0) / weights.sum(dim=0).clamp_min(1.0)
    return per_lane.sum()


def adapt(
    model: nn.Module,
    spec: GameSpec,
    params: Params,
    batch: EpisodeBatch,
    loop: InnerLoop,
    *,
    create_graph: bool,
) -> Params:
    """``loop.steps`` policy-gradient steps of every lane's params on its own episodes.

    ``params`` are stacked (leading dim N). With ``create_graph`` and not
    ``loop.first_order`` the result is a differentiable function of ``params``
    (second order); otherwise each step's gradient is a constant. Params that
    do not require grad (play time) are adapted too: they become fresh leaves.
    """
    second_order = create_graph and not loop.first_order
    current = dict(params)
    advantages: Tensor | None = None
    with torch.enable_grad():  # the sampler and the server call this under no_grad
        for _ in range(loop.steps):
            current = {
                name: p if p.requires_grad else p.detach().requires_grad_()
                for name, p in current.items()
            }
            log_probs, values = evaluate(model, spec, current, batch.obs, batch.mask)
            if advantages is None:
                advantages = inner_advantages(values, batch, loop)
            loss = inner_loss(log_probs, batch.actions, advantages, batch.weights)
            names = list(current)
            grads = torch.autograd.grad(
                loss, [current[n] for n in names], create_graph=second_order, allow_unused=True
            )
            current = {
                name: _step(current[name], grad, loop.lr, second_order)
                for name, grad in zip(names, grads, strict=True)
            }
    return current


def _step(param: Tensor, grad: Tensor | None, lr: float, second_order: bool) -> Tensor:
    if grad is None:  # a head this game does not use (e.g. per-cell logits of a column game)
        return param
    if not second_order:
        grad = grad.detach()
    return param - lr * grad


def _normalize_per_lane(advantages: Tensor, weights: Tensor, eps: float = 1e-8) -> Tensor:
    count = weights.sum(dim=0).clamp_min(1.0)
    mean = (advantages * weights).sum(dim=0) / count
    var = (((advantages - mean) ** 2) * weights).sum(dim=0) / count
    return (advantages - mean) / (var.sqrt() + eps)
