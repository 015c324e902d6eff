"""Line geometry of k-in-a-row boards, vectorised over many boards at once.

The kernel and the search opponents share these helpers, so a "win" means the
same thing to the rules and to the players. Boards are integer arrays
(M, rows, cols); a piece is whatever code marks a player's stones on them
(1/2 in the kernel, +1/-1 in the opponents' own-side view).
"""

from __future__ import annotations

import numpy as np

_DIRECTIONS = np.array([(0, 1), (1, 0), (1, 1), (1, -1)], dtype=np.int64)
"""Row/col steps of the four line directions: horizontal, vertical, diagonal, anti-diagonal."""
_RAYS = np.concatenate([_DIRECTIONS, -_DIRECTIONS])
"""Eight rays out of a cell: rays i and i + 4 together make line direction i."""


def completes_line(
    boards: np.ndarray,
    index: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    piece: np.ndarray | int,
    k: int,
) -> np.ndarray:
    """Whether a stone of ``piece`` at (rows, cols) of ``boards[index]`` makes k in a row.

    Only the lines through that one cell are read (the last move is the only
    one that can have made a new line), and the cell itself counts as
    ``piece`` whatever it holds, so a move can be tested before it is played.
    All of ``index``, ``rows``, ``cols`` (and ``piece`` if an array) are (M,).
    Pads a copy of the boards; the kernel keeps its boards padded and calls
    :func:`completes_line_flat` directly.
    """
    border = k - 1
    padded = np.pad(boards, ((0, 0), (border, border), (border, border)))
    height, width = padded.shape[1:]
    cells = (index * height + rows + border) * width + cols + border
    pieces = np.broadcast_to(np.asarray(piece, dtype=boards.dtype), cells.shape)
    return completes_line_flat(padded.reshape(-1), cells, pieces, ray_offsets(width, k), k)


def ray_offsets(padded_width: int, k: int) -> np.ndarray:
    """Flat-index steps along the eight rays, (8 * (k - 1),), for :func:`completes_line_flat`."""
    steps = np.arange(1, k, dtype=np.int64)
    return (_RAYS[:, 0, None] * steps * padded_width + _RAYS[:, 1, None] * steps).ravel()


def completes_line_flat(
    flat_boards: np.ndarray, cells: np.ndarray, piece: np.ndarray, offsets: np.ndarray, k: int
) -> np.ndarray:
    """:func:`completes_line` for boards padded by ``k - 1`` empty cells on every side.

    The kernel's fast path: with the padding every ray stays inside its own
    board, so one gather at ``cells[:, None] + offsets`` (flat indices into
    ``flat_boards``) reads every neighbour with no bounds checks.
    """
    same = (flat_boards[cells[:, None] + offsets] == piece[:, None]).reshape(len(cells), 8, k - 1)
    # Run lengths step by step: k - 2 cheap (M, 8) operations beat one accumulate over
    # a short last axis by several times at batch sizes in the thousands.
    unbroken = same[:, :, 0].copy()
    run = unbroken.astype(np.int8)
    for step in range(1, k - 1):
        unbroken &= same[:, :, step]
        run += unbroken
    return ((run[:, :4] + run[:, 4:] + 1) >= k).any(axis=1)


def window_counts(stones: np.ndarray, k: int) -> list[np.ndarray]:
    """Stones counted in every k-long window, one array per line direction that fits.

    ``stones`` is (M, rows, cols) of 0/1; each result is (M, windows) int. Sums
    of k shifted slices: no convolution, no Python loop over boards.
    """
    height, width = stones.shape[1:]
    data = stones.astype(np.int16, copy=False)
    counts = []
    if width >= k:
        counts.append(sum(data[:, :, i : width - k + 1 + i] for i in range(k)))
    if height >= k:
        counts.append(sum(data[:, i : height - k + 1 + i, :] for i in range(k)))
    if height >= k and width >= k:
        counts.append(sum(data[:, i : height - k + 1 + i, i : width - k + 1 + i] for i in range(k)))
        counts.append(sum(data[:, i : height - k + 1 + i, k - 1 - i : width - i] for i in range(k)))
    return [c.reshape(c.shape[0], c.shape[1] * c.shape[2]) for c in counts]


def line_score(boards: np.ndarray, k: int) -> np.ndarray:
    """Line-count heuristic of signed boards (+1 mine, -1 theirs), from +1's side.

    Every window that only one side occupies is worth 4**(stones - 1) to that
    side: open lines count, blocked ones count nothing. Returns (M,) float64.
    """
    weights = np.zeros(k + 1)
    weights[1:] = 4.0 ** np.arange(k)
    score = np.zeros(len(boards))
    mine_all = window_counts(boards == 1, k)
    theirs_all = window_counts(boards == -1, k)
    for mine, theirs in zip(mine_all, theirs_all, strict=True):
        score += (weights[mine] * (theirs == 0)).sum(axis=1)
        score -= (weights[theirs] * (mine == 0)).sum(axis=1)
    return score


def landing_cells(
    boards: np.ndarray, index: np.ndarray, actions: np.ndarray, gravity: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) where ``actions`` place a stone on ``boards[index]`` (0 marks empty).

    Under gravity an action is a column and the stone lands on its lowest
    empty cell (row ``rows - 1`` is the bottom); otherwise it is ``row * cols + col``.
    """
    width = boards.shape[2]
    if not gravity:
        return actions // width, actions % width
    empty_in_column = (boards[index, :, actions] == 0).sum(axis=1)
    return empty_in_column - 1, actions


def legal_actions(boards: np.ndarray, gravity: bool) -> np.ndarray:
    """(M, num_actions) bool: open columns under gravity, empty cells otherwise."""
    if gravity:
        return boards[:, 0, :] == 0
    return boards.reshape(len(boards), boards.shape[1] * boards.shape[2]) == 0
