"""The generic adapter replays PettingZoo's own envs exactly, and names bad env paths."""

import numpy as np
import pytest
from pettingzoo.classic import tictactoe_v3

import games
from games.errors import SpecError
from games.opponents.base import random_legal

TICTACTOE = "pettingzoo(env=pettingzoo.classic.tictactoe_v3:env)"


def _play_reference(actions_by_turn: list[int]) -> tuple[list[list[float]], int]:
    """Replay moves in tictactoe_v3 directly; per-move rewards of both seats and the length."""
    env = tictactoe_v3.env()
    env.reset()
    rewards = []
    for action in actions_by_turn:
        env.step(action)
        rewards.append([env.rewards[a] for a in env.possible_agents])
        if all(env.terminations.values()):
            break
    return rewards, len(rewards)


def test_adapter_matches_tictactoe_move_for_move():
    kernel = games.make_kernel(TICTACTOE)
    rng = np.random.default_rng(0)
    n = 16
    step = kernel.reset(n, seed=1)
    moves: list[list[int]] = [[] for _ in range(n)]
    rewards: list[list[list[float]]] = [[] for _ in range(n)]
    finished = np.zeros(n, dtype=bool)
    while not finished.all():
        actions = np.stack([random_legal(step.action_mask[:, s], rng) for s in range(2)], axis=1)
        for b in np.flatnonzero(~finished):
            moves[b].append(int(actions[b, step.acting[b].argmax()]))
        step = kernel.step(actions)
        for b in np.flatnonzero(~finished):
            rewards[b].append(step.rewards[b].tolist())
        finished |= step.done
    for b in range(n):
        expected, length = _play_reference(moves[b])
        assert length == len(moves[b])
        assert rewards[b] == expected


def test_parallel_env_without_masks_is_adapted_with_every_action_legal():
    spec = games.parse_spec("pettingzoo(env=tests.games.tiny_parallel_env:env)")
    assert (spec.num_actions, spec.obs_shape) == (2, (1,))
    kernel = games.make_kernel(spec)
    step = kernel.reset(2, seed=0)
    totals = np.zeros((2, 2))
    for _ in range(6):  # 3 rounds, each two AEC turns
        assert step.action_mask[step.acting].all()
        actions = np.array([[0, 0], [0, 1]])  # game 0 always matches, game 1 never does
        step = kernel.step(actions)
        totals += step.rewards
        if step.done.all():
            break
    assert step.terminated.all()
    np.testing.assert_array_equal(totals, [[3, -3], [-3, 3]])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("nocolon", "package.module:env_fn"),
        ("no_such_module_xyz:env", "cannot import module"),
        ("pettingzoo.classic.tictactoe_v3:nothing_here", "no callable"),
    ],
)
def test_bad_env_paths_are_named(env: str, message: str):
    with pytest.raises(SpecError, match=message):
        games.parse_spec(f"pettingzoo(env={env})")


def test_generic_opponents_are_legal():
    spec = games.parse_spec(TICTACTOE)
    kernel = games.make_kernel(spec)
    step = kernel.reset(8, seed=3)
    for name in games.list_opponents("pettingzoo"):
        opponent = games.make_opponent(spec, name, seed=0)
        opponent.reset(8)
        actions = opponent.act(step.obs[:, 0], step.action_mask[:, 0])
        rows = step.acting[:, 0]
        assert step.action_mask[rows, 0][np.arange(rows.sum()), actions[rows]].all()
