"""The MAML inner loop against finite differences and an independent per-lane reference."""

import pytest
import torch
from torch.func import functional_call

from game_agent.learners.maml_inner import (
    EpisodeBatch,
    InnerLoop,
    adapt,
    evaluate,
    inner_advantages,
    stack_params,
)
from game_agent.policies import ActorCritic, PolicyInput, layout_for
from games.spec import GameSpec

SPEC = GameSpec(
    family="toy",
    params=(),
    agents=("a", "b"),
    obs_shape=(3,),
    num_actions=3,
    turn_based=False,
    max_steps=8,
)
GAMMA = 0.9


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks on a shared 2-core machine: extra intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def loop(lr: float = 0.5, steps: int = 1, first_order: bool = False) -> InnerLoop:
    return InnerLoop(
        steps=steps,
        lr=lr,
        first_order=first_order,
        gamma=GAMMA,
        gae_lambda=1.0,
        normalize_advantages=False,
    )


def tiny_model(seed: int = 0) -> ActorCritic:
    torch.manual_seed(seed)
    model = ActorCritic(layout_for([SPEC]), recurrent=False, hidden_size=4).double()
    with torch.no_grad():  # larger-than-default heads, so curvature is not negligible
        model.actor.weight.normal_(0.0, 1.0)  # type: ignore[union-attr]
        model.critic.weight.normal_(0.0, 1.0)
    return model


def base_params(model: ActorCritic) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def two_lane_batch(seed: int = 1) -> EpisodeBatch:
    """Lane 0: two episodes (3 + 2 decisions); lane 1: one episode of 4, then padding."""
    g = torch.Generator().manual_seed(seed)
    steps, lanes = 5, 2
    mask = torch.rand(steps, lanes, 3, generator=g) < 0.7
    mask[..., 1] = True
    actions = torch.tensor([[0, 1], [1, 1], [2, 0], [1, 2], [0, 0]])
    actions = torch.where(mask.gather(-1, actions[..., None])[..., 0], actions, 1)
    ends = torch.tensor([[0, 0], [0, 0], [1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    weights = torch.tensor([[1, 1], [1, 1], [1, 1], [1, 1], [1, 0]], dtype=torch.float64)
    rewards = torch.tensor([[1.0, 0.0], [0.0, -1.0], [2.0, 0.5], [-1.0, 1.0], [0.5, 0.0]])
    return EpisodeBatch(
        obs=torch.rand(steps, lanes, 3, generator=g, dtype=torch.float64),
        mask=mask,
        actions=actions,
        rewards=rewards.double() * weights,
        ends=ends,
        weights=weights,
    )


def lane_forward(model, params, batch: EpisodeBatch, lane: int, steps: int):
    """Plain (non-vmapped) forward of one lane's real decisions: log-probs (T, A), values (T,)."""
    zeros = torch.zeros(steps, 1, dtype=torch.float64)
    inputs = PolicyInput(
        obs=batch.obs[:steps, lane : lane + 1],
        mask=batch.mask[:steps, lane : lane + 1],
        prev_action=torch.full((steps, 1), -1),
        prev_reward=zeros,
        prev_done=zeros,
        trial_start=torch.zeros(steps, 1, dtype=torch.bool),
    )
    out = functional_call(model, params, (SPEC, inputs, torch.zeros(1, 0, dtype=torch.float64)))
    return out.dist.log_probs[:, 0], out.values[:, 0]


def lane_lengths(batch: EpisodeBatch) -> list[int]:
    return [int(n) for n in batch.weights.sum(dim=0)]


def reference_advantages(model, params, batch: EpisodeBatch) -> list[torch.Tensor]:
    """Discounted return within each episode minus the value at the decision (lambda = 1)."""
    out = []
    for lane, steps in enumerate(lane_lengths(batch)):
        _, values = lane_forward(model, params, batch, lane, steps)
        returns, running = [], 0.0
        for t in reversed(range(steps)):
            if batch.ends[t, lane]:
                running = 0.0
            running = float(batch.rewards[t, lane]) + GAMMA * running
            returns.append(running)
        out.append(torch.tensor(returns[::-1], dtype=torch.float64) - values.detach())
    return out


def reference_inner_loss(model, params, batch, advantages, lane: int) -> torch.Tensor:
    steps = lane_lengths(batch)[lane]
    log_probs, _ = lane_forward(model, params, batch, lane, steps)
    taken = log_probs.gather(1, batch.actions[:steps, lane : lane + 1])[:, 0]
    return -(taken * advantages[lane]).mean()


def reference_adapt(model, params, batch, advantages, lane: int, lr: float, steps: int):
    """Plain gradient descent on one lane's reference inner loss (advantages held fixed)."""
    current = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    for _ in range(steps):
        loss = reference_inner_loss(model, current, batch, advantages, lane)
        grads = torch.autograd.grad(
            loss, list(current.values()), create_graph=True, allow_unused=True
        )
        current = {
            k: v if g is None else v - lr * g
            for (k, v), g in zip(current.items(), grads, strict=True)
        }
    return current


def outer_loss_of_lane(model, params, batch: EpisodeBatch, lane: int) -> torch.Tensor:
    """Any smooth function of the adapted policy: here log-prob of fixed actions plus value."""
    steps = lane_lengths(batch)[lane]
    log_probs, values = lane_forward(model, params, batch, lane, steps)
    target = (batch.actions[:steps, lane] + 1) % 3
    legal = batch.mask[torch.arange(steps), lane, target]
    picked = log_probs.gather(1, target[:, None])[:, 0]
    return -torch.where(legal, picked, 0.0).sum() + (values**2).sum()


def flat(params: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflat(vector: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for k, v in like.items():
        out[k] = vector[start : start + v.numel()].reshape(v.shape)
        start += v.numel()
    return out


def test_advantages_match_discounted_returns_minus_values():
    model, batch = tiny_model(), two_lane_batch()
    params = base_params(model)
    _, values = evaluate(model, SPEC, stack_params(params, 2), batch.obs, batch.mask)
    got = inner_advantages(values, batch, loop())
    for lane, expected in enumerate(reference_advantages(model, params, batch)):
        n = len(expected)
        assert torch.allclose(got[:n, lane], expected, atol=1e-12)
        assert (got[n:, lane] == 0).all()


def test_inner_gradient_matches_central_finite_differences():
    model, batch = tiny_model(), two_lane_batch()
    params = base_params(model)
    advantages = reference_advantages(model, params, batch)
    lr = 0.25
    adapted = adapt(model, SPEC, stack_params(params, 2), batch, loop(lr), create_graph=False)
    theta = flat(params)
    for lane in range(2):
        autograd = (theta - flat({k: v[lane] for k, v in adapted.items()})) / lr

        def loss_at(vector, lane=lane):
            return reference_inner_loss(model, unflat(vector, params), batch, advantages, lane)

        eps = 1e-6
        numeric = torch.stack(
            [
                (loss_at(theta + eps * e) - loss_at(theta - eps * e)) / (2 * eps)
                for e in torch.eye(len(theta), dtype=torch.float64)
            ]
        )
        assert numeric.abs().max() > 1e-3  # the check is not vacuous
        assert torch.allclose(autograd, numeric, atol=1e-7, rtol=1e-6)


def meta_gradient(model, params, batch, inner: InnerLoop, lane: int) -> torch.Tensor:
    theta = {k: v.clone().requires_grad_() for k, v in params.items()}
    adapted = adapt(model, SPEC, stack_params(theta, 2), batch, inner, create_graph=True)
    lane_params = {k: v[lane] for k, v in adapted.items()}
    loss = outer_loss_of_lane(model, lane_params, batch, lane)
    return flat(dict(zip(theta, torch.autograd.grad(loss, list(theta.values())), strict=True)))


@pytest.mark.parametrize("steps", [1, 2])
def test_second_order_meta_gradient_matches_finite_differences(steps: int):
    model, batch = tiny_model(), two_lane_batch()
    params = base_params(model)
    advantages = reference_advantages(model, params, batch)
    lr = 0.5
    theta = flat(params)
    g = torch.Generator().manual_seed(7)
    for lane in range(2):
        grad = meta_gradient(model, params, batch, loop(lr, steps), lane)

        def post_adaptation(vector, lane=lane):
            adapted = reference_adapt(
                model, unflat(vector, params), batch, advantages, lane, lr, steps
            )
            return outer_loss_of_lane(model, adapted, batch, lane).detach()

        for _ in range(4):
            direction = torch.randn(len(theta), generator=g, dtype=torch.float64)
            eps = 1e-5
            numeric = (
                post_adaptation(theta + eps * direction) - post_adaptation(theta - eps * direction)
            ) / (2 * eps)
            assert float(grad @ direction) == pytest.approx(float(numeric), rel=1e-6, abs=1e-7)


def test_first_order_meta_gradient_is_the_gradient_at_the_adapted_weights():
    model, batch = tiny_model(), two_lane_batch()
    params = base_params(model)
    advantages = reference_advantages(model, params, batch)
    lr, lane = 0.5, 1
    first = meta_gradient(model, params, batch, loop(lr, first_order=True), lane)
    second = meta_gradient(model, params, batch, loop(lr, first_order=False), lane)
    adapted = reference_adapt(model, params, batch, advantages, lane, lr, 1)
    at_adapted = {k: v.detach().requires_grad_() for k, v in adapted.items()}
    loss = outer_loss_of_lane(model, at_adapted, batch, lane)
    grads = torch.autograd.grad(loss, list(at_adapted.values()))
    expected = flat(dict(zip(at_adapted, grads, strict=True)))
    assert torch.allclose(first, expected, atol=1e-10)
    # The Hessian term is not small here: first and second order must really differ.
    assert (first - second).norm() > 1e-2 * second.norm()


def test_orders_agree_when_the_inner_step_is_zero():
    model, batch = tiny_model(), two_lane_batch()
    params = base_params(model)
    first = meta_gradient(model, params, batch, loop(0.0, first_order=True), 0)
    second = meta_gradient(model, params, batch, loop(0.0, first_order=False), 0)
    assert torch.allclose(first, second, atol=1e-12)


def test_orders_agree_when_every_advantage_is_zero():
    # Zero rewards and a zero critic give zero advantages: the inner loss and its
    # Hessian vanish, so second order has nothing to add.
    model, batch = tiny_model(), two_lane_batch()
    with torch.no_grad():
        model.critic.weight.zero_()
        model.critic.bias.zero_()
    batch = batch._replace(rewards=torch.zeros_like(batch.rewards))
    params = base_params(model)
    first = meta_gradient(model, params, batch, loop(0.5, first_order=True), 0)
    second = meta_gradient(model, params, batch, loop(0.5, first_order=False), 0)
    assert first.abs().max() > 1e-3
    assert torch.allclose(first, second, atol=1e-12)


def bandit_batch(rewarded: list[int], pulls: int = 6) -> EpisodeBatch:
    """One-step episodes with a constant observation; each lane pulls every arm in turn."""
    lanes = len(rewarded)
    actions = torch.arange(pulls)[:, None].repeat(1, lanes) % 3
    rewards = (actions == torch.tensor(rewarded)[None, :]).double()
    return EpisodeBatch(
        obs=torch.full((pulls, lanes, 3), 0.5, dtype=torch.float64),
        mask=torch.ones(pulls, lanes, 3, dtype=torch.bool),
        actions=actions,
        rewards=rewards,
        ends=torch.ones(pulls, lanes, dtype=torch.bool),
        weights=torch.ones(pulls, lanes, dtype=torch.float64),
    )


@pytest.mark.parametrize("normalize", [False, True])
def test_adaptation_moves_each_lane_toward_its_own_rewarded_arm(normalize: bool):
    model = tiny_model(3)
    params = base_params(model)
    batch = bandit_batch([0, 2])
    inner = InnerLoop(3, 1.0, True, GAMMA, 1.0, normalize)
    stacked = stack_params(params, 2)
    before, _ = evaluate(model, SPEC, stacked, batch.obs, batch.mask)
    adapted = adapt(model, SPEC, stacked, batch, inner, create_graph=False)
    after, _ = evaluate(model, SPEC, adapted, batch.obs, batch.mask)
    before, after = before[0].exp(), after[0].exp()  # (lanes, actions) at the one observation
    for lane, arm in enumerate([0, 2]):
        assert after[lane, arm] > before[lane, arm] + 0.05
        assert after[lane].argmax() == arm
