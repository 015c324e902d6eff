"""Policy networks: masks are absolute, board weights are shared across sizes."""

import numpy as np
import pytest
import torch

from game_agent.errors import IncompatibleGameError
from game_agent.policies import ActorCritic, MaskedCategorical, PolicyInput, layout_for
from game_agent.policies.encoders import previous_action_plane
from games.spec import GameSpec


def board_spec(rows: int, cols: int, gravity: bool) -> GameSpec:
    return GameSpec(
        family="connect_n",
        params=(("cols", cols), ("gravity", gravity), ("k", 3), ("rows", rows)),
        agents=("player_0", "player_1"),
        obs_shape=(2, rows, cols),
        num_actions=cols if gravity else rows * cols,
        turn_based=True,
        max_steps=rows * cols,
        info=(("action_kind", "column" if gravity else "cell"),),
    )


def vector_spec(size: int = 6, actions: int = 4) -> GameSpec:
    return GameSpec(
        family="toy",
        params=(),
        agents=("a", "b"),
        obs_shape=(size,),
        num_actions=actions,
        turn_based=False,
        max_steps=10,
    )


def inputs(spec: GameSpec, steps: int, lanes: int, seed: int = 0) -> PolicyInput:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(steps, lanes, spec.num_actions, generator=g) < 0.6
    mask[..., 0] = True
    return PolicyInput(
        obs=(torch.rand(steps, lanes, *spec.obs_shape, generator=g) < 0.3).float(),
        mask=mask,
        prev_action=torch.randint(-1, spec.num_actions, (steps, lanes), generator=g),
        prev_reward=torch.randn(steps, lanes, generator=g),
        prev_done=(torch.rand(steps, lanes, generator=g) < 0.2).float(),
        trial_start=torch.zeros(steps, lanes, dtype=torch.bool),
    )


def test_masked_sampling_never_picks_an_illegal_action():
    g = torch.Generator().manual_seed(1)
    rows, actions = 100_000, 7
    # Illegal actions get huge logits: only the mask may keep them out.
    mask = torch.rand(rows, actions, generator=g) < 0.3
    mask[torch.arange(rows), torch.randint(0, actions, (rows,), generator=g)] = True
    logits = torch.where(
        mask,
        torch.randn(rows, actions, generator=g),
        torch.full_like(mask, 50.0, dtype=torch.float32),
    )
    dist = MaskedCategorical(logits, mask)
    sampled = dist.sample(g)
    assert mask[torch.arange(rows), sampled].all()
    assert mask[torch.arange(rows), dist.greedy()].all()
    assert (dist.probs[~mask] == 0).all()
    assert torch.allclose(dist.probs.sum(-1), torch.ones(rows))


def test_entropy_and_log_prob_of_a_masked_distribution():
    logits = torch.tensor([[0.0, 0.0, 5.0, 0.0]])
    mask = torch.tensor([[True, True, False, False]])
    dist = MaskedCategorical(logits, mask)
    assert dist.entropy().item() == pytest.approx(np.log(2))
    assert dist.log_prob(torch.tensor([1])).item() == pytest.approx(np.log(0.5))


def test_rows_without_legal_actions_keep_gradients_finite():
    logits = torch.randn(2, 3, requires_grad=True)
    dist = MaskedCategorical(logits, torch.tensor([[False] * 3, [True, False, False]]))
    loss = dist.log_prob(torch.tensor([2, 0])).sum() + dist.entropy().sum()
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("recurrent", [False, True])
def test_board_network_plays_every_size_with_one_set_of_weights(recurrent):
    specs = [board_spec(3, 3, False), board_spec(6, 7, True), board_spec(9, 9, False)]
    net = ActorCritic(layout_for(specs), recurrent=recurrent, hidden_size=16, conv_channels=8)
    for spec in specs:
        out = net(spec, inputs(spec, 2, 3), net.initial_memory(3))
        assert out.dist.probs.shape == (2, 3, spec.num_actions)
        assert out.values.shape == (2, 3)
        assert out.memory.shape == (3, net.memory_size)


def test_previous_action_plane_marks_the_column_or_the_cell():
    column = previous_action_plane(torch.tensor([2, -1]), 3, 4, "column", torch.float32)
    assert column[0, 0].tolist() == [[0, 0, 1, 0]] * 3
    assert column[1].sum() == 0
    cell = previous_action_plane(torch.tensor([5]), 3, 4, "cell", torch.float32)
    expected = torch.zeros(3, 4)
    expected[1, 1] = 1
    assert torch.equal(cell[0, 0], expected)


def test_recurrent_memory_resets_at_trial_start_only():
    spec = vector_spec()
    net = ActorCritic(layout_for([spec]), recurrent=True, hidden_size=8)
    seq = inputs(spec, 4, 2)
    start = torch.zeros(4, 2, dtype=torch.bool)
    start[2, 0] = True
    seq = seq._replace(trial_start=start)
    whole = net(spec, seq, torch.randn(2, 8))
    # Lane 0 from step 2 on must equal a fresh run from zero memory.
    tail = PolicyInput(*(x[2:, :1] for x in seq))
    fresh = net(spec, tail, net.initial_memory(1))
    assert torch.allclose(whole.values[2:, 0], fresh.values[:, 0])
    # Lane 1 never restarts, so its tail depends on the memory it carried.
    tail1 = PolicyInput(*(x[2:, 1:] for x in seq))
    assert not torch.allclose(
        whole.values[2:, 1], net(spec, tail1, net.initial_memory(1)).values[:, 0]
    )


def test_stepwise_acting_matches_sequence_replay():
    spec = board_spec(4, 5, True)
    net = ActorCritic(layout_for([spec]), recurrent=True, hidden_size=8, conv_channels=4)
    seq = inputs(spec, 5, 3)
    replay = net(spec, seq, net.initial_memory(3))
    memory = net.initial_memory(3)
    for t in range(5):
        step = net(spec, PolicyInput(*(x[t : t + 1] for x in seq)), memory)
        memory = step.memory
        assert torch.allclose(step.dist.log_probs[0], replay.dist.log_probs[t], atol=1e-6)
    assert torch.allclose(memory, replay.memory, atol=1e-6)


def test_layout_rejects_mixed_vector_shapes():
    with pytest.raises(IncompatibleGameError, match="observation entries"):
        layout_for([vector_spec(6, 4), vector_spec(7, 4)])
    layout = layout_for([vector_spec()])
    assert not layout.supports(vector_spec(6, 5))
    assert not layout.supports(board_spec(3, 3, False))


def test_networks_are_small():
    spec = board_spec(6, 7, True)
    net = ActorCritic(layout_for([spec]), recurrent=True)
    size_mb = sum(p.numel() for p in net.parameters()) * 4 / 1e6
    assert size_mb < 5
