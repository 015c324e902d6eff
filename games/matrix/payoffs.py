"""Stage-game payoff tables and the family-wide observation layout.

Every variant is padded to :data:`NUM_ACTIONS` = 5 actions (the size of RPSLS)
so that one network plays them all. Each seat has its *own* payoff matrix,
indexed ``[my action, opponent's action]``; symmetric games give both seats the
same matrix, matching pennies does not (player_0 wants to match, player_1 to
differ). Raw tables are divided by their largest absolute entry (over both
seats), so rewards and the matrices in the observation lie in [-1, 1].

The rules table with the numbers lives in :mod:`games.matrix.env`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from games.errors import SpecError

NUM_ACTIONS = 5
"""Family-wide action count; variants with fewer actions mask the spare ones."""

ONE_ROUND = 2 * NUM_ACTIONS
"""Observation entries per remembered round: my one-hot action, then the opponent's."""

MATRIX_SIZE = NUM_ACTIONS * NUM_ACTIONS
"""Entries of one padded payoff matrix in the observation."""

GAME_NAMES = (
    "rps",
    "rpsls",
    "matching_pennies",
    "prisoners_dilemma",
    "chicken",
    "stag_hunt",
    "biased_rps",
)
"""Every ``name`` the family accepts."""

DEFAULT_BIAS = 2.0
"""biased_rps: payoff of a win with rock, relative to the other wins' 1."""


@dataclass(frozen=True)
class StageGame:
    """One normal-form game: action names and each seat's normalised payoffs."""

    name: str
    actions: tuple[str, ...]
    payoffs: np.ndarray
    """(2, 5, 5) float32: ``payoffs[seat, mine, theirs]``, scaled into [-1, 1], zero-padded."""
    scale: float
    """What the raw table was divided by (its largest absolute entry)."""

    @property
    def num_legal(self) -> int:
        return len(self.actions)

    @property
    def zero_sum(self) -> bool:
        """True when the seats' payoffs cancel in every cell."""
        return bool(np.allclose(self.payoffs[0] + self.payoffs[1].T, 0.0))


def beats(n: int) -> np.ndarray:
    """(n, n) bool: ``beats(n)[a, b]`` is True when action a beats b in n-action RPS.

    This is PettingZoo rps_v2's rule: a beats b exactly when (a - b) mod n is odd
    (for n = 5: rock, paper, scissors, spock, lizard).
    """
    diff = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
    return diff % 2 == 1


def _rps_like(n: int) -> np.ndarray:
    win = beats(n)
    return win.astype(np.float64) - win.T.astype(np.float64)


def _biased_rps(bias: float) -> np.ndarray:
    table = _rps_like(3)
    table[0, 2], table[2, 0] = bias, -bias
    return table


def _raw_tables(name: str, bias: float) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(action names, seat-0 table, seat-1 table) before scaling, each [mine, theirs]."""
    if name == "rps":
        return ("rock", "paper", "scissors"), _rps_like(3), _rps_like(3)
    if name == "rpsls":
        names = ("rock", "paper", "scissors", "spock", "lizard")
        return names, _rps_like(5), _rps_like(5)
    if name == "biased_rps":
        return ("rock", "paper", "scissors"), _biased_rps(bias), _biased_rps(bias)
    if name == "matching_pennies":
        match = np.array([[1.0, -1.0], [-1.0, 1.0]])
        return ("heads", "tails"), match, -match
    general = {
        "prisoners_dilemma": (("cooperate", "defect"), [[3.0, 0.0], [5.0, 1.0]]),
        "chicken": (("swerve", "straight"), [[0.0, -1.0], [1.0, -10.0]]),
        "stag_hunt": (("stag", "hare"), [[4.0, 0.0], [3.0, 3.0]]),
    }
    if name not in general:
        raise SpecError(f"matrix: unknown game {name!r}; known games: {', '.join(GAME_NAMES)}")
    names, table = general[name]
    return names, np.array(table), np.array(table)


def stage_game(name: str, bias: float = DEFAULT_BIAS) -> StageGame:
    """The normalised, padded :class:`StageGame` called ``name``."""
    actions, seat0, seat1 = _raw_tables(name, bias)
    scale = float(max(np.abs(seat0).max(), np.abs(seat1).max()))
    n = len(actions)
    payoffs = np.zeros((2, NUM_ACTIONS, NUM_ACTIONS), dtype=np.float32)
    payoffs[0, :n, :n] = seat0 / scale
    payoffs[1, :n, :n] = seat1 / scale
    payoffs.setflags(write=False)
    return StageGame(name=name, actions=actions, payoffs=payoffs, scale=scale)


@dataclass(frozen=True)
class ObsLayout:
    """Where each part of a seat's observation vector lives (see the rules table)."""

    history: int

    @property
    def rounds_slice(self) -> slice:
        return slice(0, ONE_ROUND * self.history)

    @property
    def clock_index(self) -> int:
        return ONE_ROUND * self.history

    @property
    def my_matrix_slice(self) -> slice:
        start = self.clock_index + 1
        return slice(start, start + MATRIX_SIZE)

    @property
    def their_matrix_slice(self) -> slice:
        start = self.clock_index + 1 + MATRIX_SIZE
        return slice(start, start + MATRIX_SIZE)

    @property
    def size(self) -> int:
        return ONE_ROUND * self.history + 1 + 2 * MATRIX_SIZE

    def recent_rounds(self, obs: np.ndarray) -> np.ndarray:
        """(B, h, 2) int: (my action, their action) per shown round, newest first; -1 if none."""
        onehots = obs[:, self.rounds_slice].reshape(len(obs), self.history, 2, NUM_ACTIONS)
        shown = onehots.max(axis=-1) > 0.5
        return np.where(shown, onehots.argmax(axis=-1), -1)

    def rounds_played(self, obs: np.ndarray, rounds: int) -> np.ndarray:
        """(B,) int: how many rounds of the match are over, decoded from the clock entry."""
        return np.rint(obs[:, self.clock_index].astype(np.float64) * rounds).astype(np.int64)

    def matrices(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 5, 5) twice: my payoffs [mine, theirs], their payoffs [theirs, mine]."""
        mine = obs[:, self.my_matrix_slice].reshape(len(obs), NUM_ACTIONS, NUM_ACTIONS)
        theirs = obs[:, self.their_matrix_slice].reshape(len(obs), NUM_ACTIONS, NUM_ACTIONS)
        return mine.astype(np.float64), theirs.astype(np.float64)
