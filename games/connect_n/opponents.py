"""Scripted connect_n opponents: styles a good player beats in different ways.

Every style sees only its egocentric planes (plane 0 its stones, plane 1 the
other side's) and its action mask, exactly what a human in the seat sees.
Ties between equally preferred moves are broken with the opponent's seeded rng.

How each style is exploited:

- ``random``: any sound play wins; punish loose moves.
- ``centre`` / ``edge``: fixed spatial priors, blind to threats; build a line
  where the style never looks (the rim against ``centre``, the middle against ``edge``).
- ``first_legal``: always the lowest-numbered column/cell; its next move is known.
- ``greedy``: wins or blocks one move ahead, otherwise random; beaten by double threats.
- ``mirror``: answers with the reflection of the opponent's last move; lure it
  into reflections that complete nothing for it and block nothing for you.
- ``search_d1`` .. ``search_d3``: negamax on a line-count heuristic; deeper is
  stronger but still short-sighted beyond its horizon.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from games.connect_n.search import SearchConfig, action_values, immediate_wins
from games.opponents.base import Opponent, first_legal, random_legal
from games.spec import GameSpec

_CHUNK = 64
"""Games searched together: bounds the memory of a depth-3 expansion."""


class ConnectNOpponent(Opponent):
    """Shared helpers: the board geometry and a seeded choice among the best moves."""

    def __init__(self, spec: GameSpec, seed: int | None = None):
        super().__init__(spec, seed)
        self.rows = int(spec.param("rows"))
        self.cols = int(spec.param("cols"))
        self.k = int(spec.param("k"))
        self.gravity = bool(spec.param("gravity"))

    def signed_boards(self, obs: np.ndarray) -> np.ndarray:
        """(B, rows, cols) int8 from the observation planes: +1 mine, -1 theirs, 0 empty."""
        obs = np.asarray(obs)
        return (obs[:, 0] > 0.5).astype(np.int8) - (obs[:, 1] > 0.5).astype(np.int8)

    def best(self, scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The legal action with the highest score per row, ties broken at random."""
        mask = np.asarray(mask, dtype=bool)
        scores = np.where(mask, scores, -np.inf)
        top = scores.max(axis=1, keepdims=True)
        return random_legal(mask & (scores >= top), self.rng)

    def action_distance(self) -> np.ndarray:
        """(num_actions,) distance of each action's place from the board centre."""
        if self.gravity:
            return np.abs(np.arange(self.cols) - (self.cols - 1) / 2)
        rows, cols = np.divmod(np.arange(self.rows * self.cols), self.cols)
        return np.hypot(rows - (self.rows - 1) / 2, cols - (self.cols - 1) / 2)


class RandomOpponent(ConnectNOpponent):
    name = "random"
    description = "Uniformly random legal moves."

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return random_legal(np.asarray(mask, dtype=bool), self.rng)


class CentreOpponent(ConnectNOpponent):
    name = "centre"
    description = "Plays the legal move closest to the centre of the board; ignores threats."

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.best(np.broadcast_to(-self.action_distance(), np.shape(mask)), mask)


class EdgeOpponent(ConnectNOpponent):
    name = "edge"
    description = "Plays the legal move farthest from the centre (rim and corners first)."

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.best(np.broadcast_to(self.action_distance(), np.shape(mask)), mask)


class FirstLegalOpponent(ConnectNOpponent):
    name = "first_legal"
    description = "Always the lowest-numbered legal column (or cell)."

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return first_legal(np.asarray(mask, dtype=bool))


class GreedyOpponent(ConnectNOpponent):
    name = "greedy"
    description = "Wins at once if it can, else blocks the opponent's immediate win, else random."

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        boards = self.signed_boards(obs)
        wins = immediate_wins(boards, mask, 1, self.k, self.gravity)
        blocks = immediate_wins(boards, mask, -1, self.k, self.gravity)
        return self.best(2.0 * wins + blocks, mask)


class MirrorOpponent(ConnectNOpponent):
    """Remembers the other side's stones per game to find its last move."""

    name = "mirror"
    description = "Reflects the opponent's last move through the board centre; random otherwise."

    def __init__(self, spec: GameSpec, seed: int | None = None):
        super().__init__(spec, seed)
        self._seen = np.zeros((0, self.rows, self.cols), dtype=bool)
        """Per game: the other side's stones when this opponent last moved there."""

    def reset_where(self, which: np.ndarray) -> None:
        which = np.asarray(which, dtype=bool)
        if len(self._seen) != len(which):
            self._seen = np.zeros((len(which), self.rows, self.cols), dtype=bool)
        self._seen[which] = False

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        theirs = np.asarray(obs)[:, 1] > 0.5
        if len(self._seen) != len(mask):
            self.reset(len(mask))
        new = (theirs & ~self._seen).reshape(len(mask), self.rows * self.cols)
        moved = new.any(axis=1)
        last_row, last_col = np.divmod(new.argmax(axis=1), self.cols)
        if self.gravity:
            target = self.cols - 1 - last_col
        else:
            target = (self.rows - 1 - last_row) * self.cols + (self.cols - 1 - last_col)
        scores = np.zeros(mask.shape)
        scores[np.arange(len(mask)), target] = moved
        acting = mask.any(axis=1)
        self._seen[acting] = theirs[acting]
        return self.best(scores, mask)


class SearchOpponent(ConnectNOpponent):
    """Depth-limited negamax with a line-count heuristic (see games.connect_n.search)."""

    def __init__(self, spec: GameSpec, seed: int | None = None, depth: int = 1):
        super().__init__(spec, seed)
        self.config = SearchConfig(k=self.k, gravity=self.gravity, depth=depth)
        self.name = f"search_d{depth}"
        self.description = f"Negamax {depth} plies deep on a line-count heuristic."

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        boards = self.signed_boards(obs)
        scores = np.full(mask.shape, -np.inf)
        live = np.flatnonzero(mask.any(axis=1))
        for start in range(0, len(live), _CHUNK):
            rows = live[start : start + _CHUNK]
            scores[rows] = action_values(boards[rows], self.config)
        return self.best(scores, mask)


def search_factory(depth: int) -> Callable[..., SearchOpponent]:
    """A registry factory ``factory(spec, seed=None)`` for a search of ``depth`` plies."""

    def factory(spec: GameSpec, seed: int | None = None) -> SearchOpponent:
        return SearchOpponent(spec, seed=seed, depth=depth)

    factory.description = f"Negamax {depth} plies deep on a line-count heuristic."
    return factory


OPPONENTS: dict[str, Callable[..., Opponent]] = {
    RandomOpponent.name: RandomOpponent,
    CentreOpponent.name: CentreOpponent,
    EdgeOpponent.name: EdgeOpponent,
    FirstLegalOpponent.name: FirstLegalOpponent,
    GreedyOpponent.name: GreedyOpponent,
    MirrorOpponent.name: MirrorOpponent,
    "search_d1": search_factory(1),
    "search_d2": search_factory(2),
    "search_d3": search_factory(3),
}
