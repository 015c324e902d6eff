"""The connect_n kernel: hand-worked games, a brute-force referee, batching, the step contract."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games.connect_n.kernel import ConnectNKernel
from games.opponents.base import random_legal

VARIANTS = (
    "connect_n(rows=6,cols=7,k=4,gravity=true)",
    "connect_n(rows=3,cols=3,k=3,gravity=false)",
    "connect_n(rows=5,cols=6,k=3,gravity=false)",
    "connect_n(rows=9,cols=9,k=5,gravity=false)",
    "connect_n(rows=4,cols=4,k=3,gravity=true)",
    "connect_n(rows=2,cols=7,k=5,gravity=true)",
    "connect_n(rows=7,cols=1,k=2,gravity=false)",
)


def kernel_for(variant: str) -> ConnectNKernel:
    kernel = games.make_kernel(variant)
    assert isinstance(kernel, ConnectNKernel)
    return kernel


def play(kernel: ConnectNKernel, moves: list[int]) -> games.Step:
    """Play ``moves`` alternately from a fresh single game, checking each one is the mover's."""
    step = kernel.reset(1)
    for action in moves:
        seat = int(np.flatnonzero(step.acting[0])[0])
        actions = np.zeros((1, 2), dtype=np.int64)
        actions[0, seat] = action
        step = kernel.step(actions)
    return step


def has_line(board: np.ndarray, piece: int, k: int) -> bool:
    """Brute-force referee: scan every cell and direction for k stones of ``piece``."""
    rows, cols = board.shape
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + dr * i, c + dc * i) for i in range(k)]
                if all(0 <= y < rows and 0 <= x < cols and board[y, x] == piece for y, x in cells):
                    return True
    return False


@pytest.mark.parametrize(
    ("moves", "winner", "length"),
    [
        ([0, 1, 0, 1, 0, 1, 0], 0, 7),  # vertical in column 0
        ([0, 0, 1, 1, 2, 2, 3], 0, 7),  # horizontal along the bottom row
        ([0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3], 0, 11),  # rising diagonal
        ([6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3], 0, 11),  # falling (anti-)diagonal
        ([6, 0, 1, 0, 1, 0, 1, 0], 1, 8),  # player_1 wins vertically
    ],
)
def test_connect_four_hand_worked_wins(moves, winner, length):
    kernel = kernel_for("connect_n")
    step = play(kernel, moves)
    assert len(moves) == length
    assert step.terminated[0] and not step.truncated[0]
    expected = np.array([-1.0, -1.0], dtype=np.float32)
    expected[winner] = 1.0
    np.testing.assert_array_equal(step.rewards[0], expected)
    assert not step.acting.any() and not step.action_mask.any()


def test_connect_four_one_move_short_is_not_a_win():
    step = play(kernel_for("connect_n"), [0, 1, 0, 1, 0, 1])
    assert not step.done[0]
    np.testing.assert_array_equal(step.rewards[0], [0.0, 0.0])


def test_tictactoe_draw_on_full_board():
    # X O X / X O O / O X X : no line for either side after nine moves.
    moves = [0, 1, 2, 4, 3, 5, 7, 6, 8]
    step = play(kernel_for("connect_n(rows=3,cols=3,k=3,gravity=false)"), moves)
    assert step.terminated[0]
    np.testing.assert_array_equal(step.rewards[0], [0.0, 0.0])


def test_gravity_stacks_stones_from_the_bottom_and_closes_full_columns():
    kernel = kernel_for("connect_n(rows=3,cols=4,k=3,gravity=true)")
    step = play(kernel, [2, 2, 2])
    board = kernel.boards()[0]
    np.testing.assert_array_equal(board[:, 2], [1, 2, 1])  # row 0 is the top
    assert kernel.last_cells()[0] == 0 * 4 + 2
    np.testing.assert_array_equal(step.action_mask[0, 1], [True, True, False, True])
    np.testing.assert_array_equal(step.action_mask[0, 0], [False] * 4)


def test_observations_are_egocentric_planes():
    kernel = kernel_for("connect_n(rows=3,cols=3,k=3,gravity=false)")
    step = play(kernel, [4, 0])
    obs = step.obs[0]
    assert obs.dtype == np.float32 and obs.shape == (2, 2, 3, 3)
    mine0, theirs0 = obs[0, 0].ravel(), obs[0, 1].ravel()
    assert mine0[4] == 1 and mine0.sum() == 1 and theirs0[0] == 1 and theirs0.sum() == 1
    np.testing.assert_array_equal(obs[1, 0], obs[0, 1])
    np.testing.assert_array_equal(obs[1, 1], obs[0, 0])


def test_illegal_actions_raise_naming_the_game_and_seat():
    kernel = kernel_for("connect_n(rows=2,cols=3,k=2,gravity=true)")
    step = play(kernel, [0, 0])
    assert not step.action_mask[0, 0, 0]
    with pytest.raises(games.IllegalActionError, match=r"illegal action 0 for seat 0"):
        kernel.step(np.array([[0, 0]]))
    with pytest.raises(games.IllegalActionError, match="legal actions: \\[1, 2\\]"):
        kernel.step(np.array([[7, 0]]))
    with pytest.raises(games.IllegalActionError, match="shape"):
        kernel.step(np.zeros((2, 2), dtype=np.int64))


def test_finished_games_stay_unchanged_until_reset_where():
    kernel = kernel_for("connect_n")
    won = kernel.reset(2)
    for action in [0, 1, 0, 1, 0, 1, 0]:
        seat = int(np.flatnonzero(won.acting[0])[0])
        actions = np.zeros((2, 2), dtype=np.int64)
        actions[:, seat] = action
        won = kernel.step(actions)
    assert won.terminated.all()
    board = kernel.boards()
    again = kernel.step(np.zeros((2, 2), dtype=np.int64))
    np.testing.assert_array_equal(kernel.boards(), board)
    assert again.terminated.all() and not again.rewards.any()
    fresh = kernel.reset_where(np.array([True, False]))
    assert not fresh.terminated[0] and fresh.terminated[1]
    np.testing.assert_array_equal(fresh.acting[0], [True, False])
    assert not fresh.obs[0].any() and fresh.obs[1].any()
    np.testing.assert_array_equal(fresh.rewards[0], [0.0, 0.0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_kernel_agrees_with_brute_force_referee(variant):
    """Random games: after every move, win/draw flags equal a full scan of the board."""
    kernel = kernel_for(variant)
    rng = np.random.default_rng(3)
    batch = 24
    step = kernel.reset(batch)
    boards_before = kernel.boards()
    outcomes = set()
    for _ in range(kernel.spec.max_steps):
        live = ~step.done
        actions = random_legal(step.action_mask.reshape(batch * 2, -1), rng).reshape(batch, 2)
        movers = step.acting.argmax(axis=1)
        step = kernel.step(actions)
        boards = kernel.boards()
        for b in np.flatnonzero(live):
            piece = movers[b] + 1
            assert (boards[b] != boards_before[b]).sum() == 1
            won = has_line(boards[b], piece, kernel.k)
            full = not (boards[b] == 0).any()
            assert step.terminated[b] == (won or full)
            assert step.rewards[b, movers[b]] == (1.0 if won else 0.0)
            assert step.rewards[b].sum() == 0.0
            assert not has_line(boards[b], 3 - piece, kernel.k)
            if step.terminated[b]:
                outcomes.add("win" if won else "draw")
        boards_before = boards
        if step.done.all():
            break
    assert step.done.all()
    assert "win" in outcomes


@pytest.mark.parametrize("variant", VARIANTS[:4])
def test_batched_games_equal_games_played_one_at_a_time(variant):
    """300 random games stepped together give the same trajectories as each one alone."""
    batch, rng = 300, np.random.default_rng(9)
    kernel = kernel_for(variant)
    step = kernel.reset(batch)
    trajectory = [step]
    moves = []
    while not step.done.all():
        actions = random_legal(step.action_mask.reshape(batch * 2, -1), rng).reshape(batch, 2)
        moves.append(actions)
        step = kernel.step(actions)
        trajectory.append(step)
    single = kernel_for(variant)
    for b in range(0, batch, 7):
        alone = single.reset(1)
        for t, actions in enumerate(moves):
            for field, batched in zip(alone, trajectory[t].row(b), strict=True):
                np.testing.assert_array_equal(field, batched)
            alone = single.step(actions[b : b + 1])
        for field, batched in zip(alone, trajectory[-1].row(b), strict=True):
            np.testing.assert_array_equal(field, batched)


def test_auto_reset_keeps_playing_and_returns_fresh_games():
    kernel = kernel_for("connect_n(rows=3,cols=3,k=3,gravity=false)")
    rng = np.random.default_rng(0)
    step = kernel.reset(32)
    finished = 0
    for _ in range(200):
        actions = random_legal(step.action_mask.reshape(64, -1), rng).reshape(32, 2)
        step = kernel.step(actions)
        if step.done.any():
            finished += int(step.done.sum())
            step = kernel.reset_where(step.done)
            assert not step.done.any()
        assert step.acting.sum(axis=1).tolist() == [1] * 32
    assert finished > 100


def test_reset_where_needs_one_flag_per_game():
    kernel = kernel_for("connect_n")
    kernel.reset(3)
    with pytest.raises(games.GameError, match=r"reset_where needs a \(3,\) mask"):
        kernel.reset_where(np.ones(2, dtype=bool))


def test_reset_needs_a_game():
    with pytest.raises(ValueError, match="at least one game"):
        kernel_for("connect_n").reset(0)
