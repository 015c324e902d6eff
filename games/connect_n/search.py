"""Depth-limited negamax over many connect_n boards at once.

Boards here are signed int8 arrays (M, rows, cols) seen from the side to move:
+1 its stones, -1 the other side's, 0 empty. Instead of alpha-beta (which is
sequential by nature) every level expands all candidate moves of all boards
in one array, so one numpy call evaluates a whole ply of the whole batch.
On boards with many empty cells only the ``width`` most promising moves are
expanded (wins, blocks, cells next to stones, then the centre), which keeps a
depth-3 search of a 15x15 board affordable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from games.connect_n.lines import completes_line, landing_cells, legal_actions, line_score

WIN = 1e6
"""Value of a won position; larger than any line_score, so a win beats any heuristic."""


@dataclass(frozen=True)
class SearchConfig:
    """What a search sees of the variant and how far it looks."""

    k: int
    """Stones in a row that win."""
    gravity: bool
    """Whether actions are columns (stones fall) or cells."""
    depth: int
    """Plies searched: 1 scores each own move, 2 adds the replies, 3 the answers to those."""
    width: int = 8
    """Most moves expanded per board at each ply (all when fewer are legal)."""


def immediate_wins(
    boards: np.ndarray, legal: np.ndarray, piece: int, k: int, gravity: bool
) -> np.ndarray:
    """(M, N) bool: playing that action with ``piece`` completes a line at once."""
    index, actions = np.nonzero(legal)
    rows, cols = landing_cells(boards, index, actions, gravity)
    wins = np.zeros(legal.shape, dtype=bool)
    wins[index, actions] = completes_line(boards, index, rows, cols, piece, k)
    return wins


def action_values(boards: np.ndarray, config: SearchConfig, depth: int | None = None) -> np.ndarray:
    """(M, N) negamax value of every action for the side to move; -inf where not searched.

    A win found with ``d`` plies of search left is worth ``WIN * d``, so a
    quicker win (and a later loss) is preferred. Leaves are scored with the
    line-count heuristic from the side that just moved.
    """
    depth = config.depth if depth is None else depth
    legal = legal_actions(boards, config.gravity)
    wins = immediate_wins(boards, legal, 1, config.k, config.gravity)
    candidates = _candidates(boards, legal, wins, config)
    index, actions = np.nonzero(candidates)
    rows, cols = landing_cells(boards, index, actions, config.gravity)
    children = boards[index]
    children[np.arange(len(index)), rows, cols] = 1
    won = wins[index, actions]
    full = ~(children == 0).any(axis=(1, 2))
    value = np.zeros(len(index))
    value[won] = WIN * depth
    going_on = ~won & ~full
    if depth == 1:
        value[going_on] = line_score(children[going_on], config.k)
    elif going_on.any():
        replies = action_values(-children[going_on], config, depth - 1)
        value[going_on] = -replies.max(axis=1)
    values = np.full(legal.shape, -np.inf)
    values[index, actions] = value
    return values


def _candidates(
    boards: np.ndarray, legal: np.ndarray, wins: np.ndarray, config: SearchConfig
) -> np.ndarray:
    """The legal actions worth expanding: all of them, or the ``width`` best by a quick priority."""
    if legal.sum(axis=1).max(initial=0) <= config.width:
        return legal
    priority = _priority(boards, legal, wins, config)
    top = np.argsort(-priority, axis=1, kind="stable")[:, : config.width]
    chosen = np.zeros_like(legal)
    np.put_along_axis(chosen, top, True, axis=1)
    return chosen & legal


def _priority(
    boards: np.ndarray, legal: np.ndarray, wins: np.ndarray, config: SearchConfig
) -> np.ndarray:
    """Move ordering: own wins, then blocks, then cells touching stones, then the centre."""
    height, width = boards.shape[1:]
    index, actions = np.nonzero(legal)
    rows, cols = landing_cells(boards, index, actions, config.gravity)
    stones = np.pad(boards != 0, ((0, 0), (1, 1), (1, 1))).astype(np.int8)
    touching = sum(
        stones[:, 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
    )
    distance = np.hypot(rows - (height - 1) / 2, cols - (width - 1) / 2)
    priority = np.full(legal.shape, -np.inf)
    priority[index, actions] = touching[index, rows, cols] - distance / (height + width)
    priority += 1000.0 * wins
    priority += 100.0 * immediate_wins(boards, legal, -1, config.k, config.gravity)
    return priority
