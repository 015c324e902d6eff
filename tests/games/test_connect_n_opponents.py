"""connect_n opponents: always legal, each style does what it says, search values are exact."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games.connect_n import FAMILY
from games.connect_n.lines import line_score
from games.connect_n.search import WIN, SearchConfig, action_values, immediate_wins
from games.opponents.base import Opponent, random_legal

STYLES = sorted(FAMILY.opponents)
VARIANTS = (
    "connect_n(rows=6,cols=7,k=4,gravity=true)",
    "connect_n(rows=3,cols=3,k=3,gravity=false)",
    "connect_n(rows=9,cols=9,k=5,gravity=false)",
    "connect_n(rows=4,cols=4,k=3,gravity=false)",
    "connect_n(rows=5,cols=6,k=4,gravity=true)",
)


def test_every_style_has_a_description_and_builds():
    assert len(STYLES) >= 9
    for style in STYLES:
        opponent = games.make_opponent("connect_n", style, seed=0)
        assert isinstance(opponent, Opponent)
        assert opponent.description and "\n" not in opponent.description
        assert opponent.name == style


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_style_returns_legal_actions_in_random_positions(variant):
    rng = np.random.default_rng(1)
    kernel = games.make_kernel(variant)
    count = 48 if kernel.spec.num_actions <= 16 else 12  # depth-3 search is slow on 9x9
    opponents = {
        style: games.make_opponent(variant, style, seed=i) for i, style in enumerate(STYLES)
    }
    for opponent in opponents.values():
        opponent.reset(count)
    step = kernel.reset(count)
    checked = 0
    while not step.done.all():
        for seat in (0, 1):
            mask = step.action_mask[:, seat]
            for style, opponent in opponents.items():
                actions = opponent.act(step.obs[:, seat], mask)
                assert actions.shape == (count,) and actions.dtype == np.int64, style
                acting = mask.any(axis=1)
                assert mask[acting, actions[acting]].all(), f"{style} played an illegal move"
                assert (actions[~acting] == 0).all(), style
                checked += int(acting.sum())
        actions = random_legal(step.action_mask.reshape(count * 2, -1), rng).reshape(count, 2)
        step = kernel.step(actions)
    assert checked >= count * len(STYLES) * 5


def first_move(variant: str, style: str, seed: int) -> int:
    step = games.make_kernel(variant).reset(1)
    opponent = games.make_opponent(variant, style, seed=seed)
    opponent.reset(1)
    return int(opponent.act(step.obs[:, 0], step.action_mask[:, 0])[0])


def test_centre_and_edge_prefer_opposite_places():
    connect_four = "connect_n(rows=6,cols=7,k=4,gravity=true)"
    tictactoe = "connect_n(rows=3,cols=3,k=3,gravity=false)"
    assert {first_move(connect_four, "centre", s) for s in range(10)} == {3}
    assert {first_move(connect_four, "edge", s) for s in range(20)} == {0, 6}
    assert {first_move(tictactoe, "centre", s) for s in range(10)} == {4}
    assert {first_move(tictactoe, "edge", s) for s in range(30)} == {0, 2, 6, 8}
    # An even number of columns has two centre columns: ties are broken at random.
    assert {first_move("connect_n(rows=5,cols=6,k=4)", "centre", s) for s in range(20)} == {2, 3}


def board_obs(rows: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Planes (1, 2, R, C) from a picture: 'x' mine, 'o' theirs, '.' empty."""
    picture = np.array([list(r) for r in rows])
    planes = np.stack([picture == "x", picture == "o"]).astype(np.float32)
    return planes[None], picture


def act(variant: str, style: str, rows: list[str], seed: int = 0) -> int:
    obs, picture = board_obs(rows)
    spec = games.parse_spec(variant)
    mask = picture[0] == "." if spec.param("gravity") else (picture == ".").ravel()
    opponent = games.make_opponent(spec, style, seed=seed)
    opponent.reset(1)
    return int(opponent.act(obs, mask[None])[0])


CONNECT_FOUR = "connect_n(rows=6,cols=7,k=4,gravity=true)"
EMPTY_ROWS = ["......."] * 3


def test_first_legal_plays_the_lowest_open_column():
    full_first = ["x......", "o......", "x......", "o......", "x......", "o......"]
    assert act(CONNECT_FOUR, "first_legal", full_first) == 1


@pytest.mark.parametrize("style", ["greedy", "search_d1", "search_d2", "search_d3"])
def test_winning_styles_take_an_immediate_win(style):
    rows = [*EMPTY_ROWS, ".......", "o.o....", "oxxx..."]
    for seed in range(5):
        assert act(CONNECT_FOUR, style, rows, seed) == 4


@pytest.mark.parametrize("style", ["greedy", "search_d2", "search_d3"])
def test_defending_styles_block_an_immediate_loss(style):
    rows = [*EMPTY_ROWS, ".......", "x......", "xooo..x"]
    for seed in range(5):
        assert act(CONNECT_FOUR, style, rows, seed) == 4


def test_greedy_plays_at_random_without_wins_or_threats():
    moves = {act(CONNECT_FOUR, "greedy", [*EMPTY_ROWS, *EMPTY_ROWS], seed) for seed in range(30)}
    assert len(moves) >= 4


def test_search_d3_sees_a_double_threat_that_shallower_searches_cannot_prove():
    rows = [*EMPTY_ROWS, ".......", "..oo...", "..xx..."]
    obs, _ = board_obs(rows)
    boards = (obs[:, 0] - obs[:, 1]).astype(np.int8)
    deep = action_values(boards, SearchConfig(k=4, gravity=True, depth=3))[0]
    shallow = action_values(boards, SearchConfig(k=4, gravity=True, depth=2))[0]
    # Columns 1 and 4 make an open three on the bottom row: a forced win in three plies.
    np.testing.assert_array_equal(np.flatnonzero(deep == WIN), [1, 4])
    assert (shallow < WIN).all()
    assert act(CONNECT_FOUR, "search_d3", rows) in (1, 4)


def test_mirror_reflects_the_last_move_through_the_centre():
    variant = "connect_n(rows=3,cols=3,k=3,gravity=false)"
    kernel = games.make_kernel(variant)
    mirror = games.make_opponent(variant, "mirror", seed=0)
    step = kernel.reset(2)
    mirror.reset(2)
    for mover_move, expected in ((0, 8), (1, 7)):
        step = kernel.step(np.array([[mover_move, 0], [mover_move, 0]]))
        reply = mirror.act(step.obs[:, 1], step.action_mask[:, 1])
        np.testing.assert_array_equal(reply, [expected, expected])
        step = kernel.step(np.stack([np.zeros(2, dtype=np.int64), reply], axis=1))
    # A fresh game in row 0 only: the mirror must forget row 0's stones, not row 1's.
    step = kernel.reset_where(np.array([True, False]))
    mirror.reset_where(np.array([True, False]))
    step = kernel.step(np.array([[2, 0], [5, 0]]))
    reply = mirror.act(step.obs[:, 1], step.action_mask[:, 1])
    np.testing.assert_array_equal(reply, [6, 3])


def mirror_game(variant: str, moves: list[int], seed: int) -> list[int]:
    """The mirror's replies (as player_1) to ``moves`` of player_0."""
    kernel = games.make_kernel(variant)
    mirror = games.make_opponent(variant, "mirror", seed=seed)
    kernel.reset(1)
    mirror.reset(1)
    replies = []
    for move in moves:
        step = kernel.step(np.array([[move, 0]]))
        reply = int(mirror.act(step.obs[:, 1], step.action_mask[:, 1])[0])
        replies.append(reply)
        kernel.step(np.array([[0, reply]]))
    return replies


def test_mirror_under_gravity_reflects_columns():
    variant = "connect_n(rows=3,cols=5,k=3,gravity=true)"
    assert mirror_game(variant, [1, 2, 4], seed=0) == [3, 2, 0]
    # Moving first there is nothing to mirror: any legal column.
    assert act(variant, "mirror", ["....."] * 3) in range(5)


def test_mirror_falls_back_to_a_random_legal_move_when_the_reflection_is_taken():
    # The centre reflects onto itself, so the centre move leaves the mirror to improvise.
    replies = {
        mirror_game("connect_n(rows=3,cols=3,k=3,gravity=false)", [4], s)[0] for s in range(12)
    }
    assert replies <= {0, 1, 2, 3, 5, 6, 7, 8} and len(replies) >= 3
    # Under gravity: the centre column mirrored once, then filled by the opponent.
    replies = set()
    for seed in range(12):
        replies.add(mirror_game("connect_n(rows=3,cols=5,k=3,gravity=true)", [2, 2], seed)[1])
    assert replies <= {0, 1, 3, 4} and len(replies) >= 2


def test_seeded_opponents_repeat_themselves():
    step = games.make_kernel(CONNECT_FOUR).reset(16)
    for style in STYLES:
        a = games.make_opponent(CONNECT_FOUR, style, seed=7)
        b = games.make_opponent(CONNECT_FOUR, style, seed=7)
        a.reset(16)
        b.reset(16)
        np.testing.assert_array_equal(
            a.act(step.obs[:, 0], step.action_mask[:, 0]),
            b.act(step.obs[:, 0], step.action_mask[:, 0]),
        )


# ---- numbers against brute force ------------------------------------------------------


def brute_has_line(board: np.ndarray, piece: int, k: int) -> bool:
    rows, cols = board.shape
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + dr * i, c + dc * i) for i in range(k)]
                if all(0 <= y < rows and 0 <= x < cols and board[y, x] == piece for y, x in cells):
                    return True
    return False


def brute_line_score(board: np.ndarray, k: int) -> float:
    """Every k-window listed cell by cell; one side's windows count 4**(stones-1)."""
    rows, cols = board.shape
    score = 0.0
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + dr * i, c + dc * i) for i in range(k)]
                if not all(0 <= y < rows and 0 <= x < cols for y, x in cells):
                    continue
                values = [board[y, x] for y, x in cells]
                mine, theirs = values.count(1), values.count(-1)
                if mine and not theirs:
                    score += 4.0 ** (mine - 1)
                elif theirs and not mine:
                    score -= 4.0 ** (theirs - 1)
    return score


def brute_moves(board: np.ndarray, gravity: bool) -> list[tuple[int, int, int]]:
    rows, cols = board.shape
    moves = []
    for action in range(cols if gravity else rows * cols):
        if gravity:
            empty = np.flatnonzero(board[:, action] == 0)
            if len(empty):
                moves.append((action, int(empty[-1]), action))
        elif board.flat[action] == 0:
            moves.append((action, action // cols, action % cols))
    return moves


def brute_negamax(board: np.ndarray, depth: int, k: int, gravity: bool) -> dict[int, float]:
    """Plain recursive negamax over every legal move, one board at a time."""
    values = {}
    for action, r, c in brute_moves(board, gravity):
        child = board.copy()
        child[r, c] = 1
        if brute_has_line(child, 1, k):
            values[action] = WIN * depth
        elif not (child == 0).any():
            values[action] = 0.0
        elif depth == 1:
            values[action] = brute_line_score(child, k)
        else:
            values[action] = -max(brute_negamax(-child, depth - 1, k, gravity).values())
    return values


SMALL = (
    ("connect_n(rows=3,cols=3,k=3,gravity=false)", 3),
    ("connect_n(rows=4,cols=4,k=3,gravity=true)", 3),
    ("connect_n(rows=3,cols=5,k=3,gravity=true)", 2),
    ("connect_n(rows=5,cols=5,k=4,gravity=true)", 2),
)


def signed_positions(variant: str, count: int, seed: int) -> np.ndarray:
    """Live positions from random play, as signed boards from the side to move."""
    rng = np.random.default_rng(seed)
    kernel = games.make_kernel(variant)
    step = kernel.reset(count)
    found = []
    for _ in range(kernel.spec.max_steps):
        for b in np.flatnonzero(~step.done):
            seat = int(step.acting[b].argmax())
            found.append((step.obs[b, seat, 0] - step.obs[b, seat, 1]).astype(np.int8))
        actions = random_legal(step.action_mask.reshape(count * 2, -1), rng).reshape(count, 2)
        step = kernel.step(actions)
        if step.done.all():
            break
    picks = rng.choice(len(found), size=min(40, len(found)), replace=False)
    return np.stack([found[i] for i in picks])


@pytest.mark.parametrize(("variant", "depth"), SMALL)
def test_batched_negamax_equals_plain_negamax(variant, depth):
    spec = games.parse_spec(variant)
    k, gravity = spec.param("k"), spec.param("gravity")
    boards = signed_positions(variant, 12, seed=depth)
    # Full-width search whenever at most 8 moves are legal (the default width).
    config = SearchConfig(k=k, gravity=gravity, depth=depth, width=spec.num_actions)
    values = action_values(boards, config)
    for board, row in zip(boards, values, strict=True):
        expected = brute_negamax(board, depth, k, gravity)
        np.testing.assert_array_equal(np.flatnonzero(np.isfinite(row)), sorted(expected))
        np.testing.assert_allclose(
            [row[a] for a in sorted(expected)], [expected[a] for a in sorted(expected)]
        )


@pytest.mark.parametrize(("variant", "_depth"), SMALL)
def test_line_score_and_immediate_wins_equal_brute_force(variant, _depth):
    spec = games.parse_spec(variant)
    k, gravity = spec.param("k"), spec.param("gravity")
    boards = signed_positions(variant, 12, seed=7)
    np.testing.assert_array_equal(line_score(boards, k), [brute_line_score(b, k) for b in boards])
    legal = np.stack(
        [
            np.isin(np.arange(spec.num_actions), [m[0] for m in brute_moves(b, gravity)])
            for b in boards
        ]
    )
    for piece in (1, -1):
        wins = immediate_wins(boards, legal, piece, k, gravity)
        for board, row in zip(boards, wins, strict=True):
            expected = []
            for action, r, c in brute_moves(board, gravity):
                child = board.copy()
                child[r, c] = piece
                if brute_has_line(child, piece, k):
                    expected.append(action)
            assert np.flatnonzero(row).tolist() == expected


def test_search_width_prunes_but_keeps_wins_and_blocks():
    # 9x9 five in a row: many legal cells, only `width` expanded, the winning cell among them.
    rows = ["........."] * 9
    rows[4] = "..xxxx..."
    rows[5] = "..oooo..."
    obs, _ = board_obs(rows)
    boards = (obs[:, 0] - obs[:, 1]).astype(np.int8)
    values = action_values(boards, SearchConfig(k=5, gravity=False, depth=2, width=6))[0]
    assert np.isfinite(values).sum() == 6
    assert values.argmax() in (4 * 9 + 1, 4 * 9 + 6)
    assert values.max() == 2 * WIN


def test_search_beats_random_and_deeper_beats_shallower_at_connect_four():
    """A sign error in the heuristic or the negation would lose these matches."""
    assert match(CONNECT_FOUR, "search_d2", "random") > 0.9
    assert match(CONNECT_FOUR, "random", "search_d2") < -0.9
    assert match(CONNECT_FOUR, "search_d3", "search_d1") > 0.5
    assert match(CONNECT_FOUR, "greedy", "random") > 0.5


def match(variant: str, first: str, second: str, games_played: int = 32) -> float:
    """Mean reward of the first seat over a batch of games between two styles."""
    kernel = games.make_kernel(variant)
    step = kernel.reset(games_played)
    players = [games.make_opponent(variant, s, seed=i) for i, s in enumerate((first, second))]
    for player in players:
        player.reset(games_played)
    total = np.zeros(games_played)
    while not step.done.all():
        actions = np.stack(
            [p.act(step.obs[:, i], step.action_mask[:, i]) for i, p in enumerate(players)], axis=1
        )
        step = kernel.step(actions)
        total += step.rewards[:, 0]
    return float(total.mean())
