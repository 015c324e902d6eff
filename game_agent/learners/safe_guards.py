"""The fallback policy and reference value of each family :class:`SafeLearner` protects.

A guard answers, for one game variant, the three questions the safety wrapper
asks (see :mod:`game_agent.learners.safe` for how they are used):

- ``value``: v, the reward per unit (a matrix round, a poker hand) that the
  fallback policy is *guaranteed* in expectation against any opponent;
- ``fallback``: the fallback policy's move, read from the seat's own observation;
- ``max_loss``: Delta, the most one unit can fall short of v, whatever is played.

Each guard also says whether it ``protects`` its variant at all, a constant of the
variant. The wrapper asks these questions on every turn of every player, so the
answers that depend only on the game (stage-game solutions, seat values) are
computed once per guard, and each turn reads just the entries of the observation
it needs.

Matrix games: the fallback is the maximin (security) mixture of the seat's own
payoff matrix, read from the observation. In zero-sum variants (rps, biased
rps, rpsls, matching pennies) it is exactly the family's ``nash`` style and v
is the game value; in general-sum variants the ``nash`` style's mixed
equilibrium guarantees less than the security level (in stag hunt it can be
caught hunting stag alone), so the maximin mixture is the safe choice there.

Poker: the fallback is the family's ``equilibrium`` style. In Kuhn variants it
is an equilibrium (Kuhn's closed form, or CFR+ within 1e-3), so it earns at
least the seat's equilibrium value v against anyone. Leduc has no computed
equilibrium, hence no guarantee to fall back on: its variants are unprotected
(the wrapper plays the adaptive policy unchanged and says so in its counters).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np

from games import equilibrium_value, make_opponent
from games.matrix.equilibrium import solve_zero_sum
from games.matrix.payoffs import NUM_ACTIONS, ObsLayout
from games.poker.best_response import KuhnTree
from games.poker.config import PokerConfig
from games.poker.layout import SEAT
from games.spec import GameSpec

UNIT = {"matrix": "round", "poker": "hand"}
"""What one accounting unit is, per protected family."""
_KEPT = 4096
"""Entries a guard's caches keep before starting afresh (a few dozen in real play)."""


class StageSolution(NamedTuple):
    """One stage game as the fallback sees it, solved once per guard."""

    payoffs: np.ndarray
    """(5, 5) float64, the seat's own payoffs [mine, theirs] (zero-padded)."""
    strategy: np.ndarray
    """(5,) the maximin mixture (zero outside the legal actions)."""
    value: float
    """v: what the mixture guarantees per round."""
    max_loss: float
    """Delta: v minus the worst payoff."""
    columns: tuple[np.ndarray, ...]
    """``payoffs[:, j]`` for each opponent move j (views, made once)."""


class MatrixGuard:
    """Maximin fallback of a repeated matrix game; a unit is one round.

    Observations are read from their float32 bytes (one numpy call per batch, not a
    dozen): the payoff entries key the solved stage game; the clock and the newest
    round, unpacked as Python floats, give the opponent's last move.
    """

    counterfactual = True
    """The opponent's move is shown in the next observation, so the adaptive policy's
    reward in rounds it did not play can be computed exactly (in expectation)."""
    protects = True
    """Every matrix variant has a maximin fallback."""

    def __init__(self, spec: GameSpec, seed: int):
        self.spec = spec
        self.layout = ObsLayout(int(spec.param("history")))
        self.rounds = int(spec.param("rounds"))
        self.num_legal = int(spec.info_dict()["num_legal"])
        self.rng = np.random.default_rng(seed)
        self._solutions: dict[bytes, StageSolution] = {}
        """By the float32 bytes of the payoff entries; bounded, as clients send the payoffs."""
        mine = self.layout.my_matrix_slice
        self._payoff_bytes = (mine.start * 4, mine.stop * 4)  # float32 entries
        # The newest round shown comes first, my one-hot move then theirs
        # (the entries ObsLayout.recent_rounds reads for round 0).
        self._their_newest_byte = (self.layout.rounds_slice.start + NUM_ACTIONS) * 4
        self._clock_byte = self.layout.clock_index * 4

    def protected(self, obs: np.ndarray) -> np.ndarray:
        return np.ones(len(obs), dtype=bool)

    def payoffs(self, obs: np.ndarray) -> np.ndarray:
        """(B, 5, 5) the seat's own payoffs [mine, theirs]."""
        return self.layout.matrices(obs)[0]

    def read(self, obs: np.ndarray) -> tuple[list[StageSolution], list[int]]:
        """Each row's solved stage game and the opponent's move just shown (-1: none).

        One numpy call: the float32 bytes of each row give the payoff key, and the
        clock and the newest round's entries unpacked as Python floats.
        """
        solutions, moves = [], []
        for row in _row_bytes(np.asarray(obs, dtype=np.float32)):
            solution, move = self.read_row(row)
            solutions.append(solution)
            moves.append(move)
        return solutions, moves

    def read_row(self, row: bytes) -> tuple[StageSolution, int]:
        """:meth:`read` for one row of observations, given as its float32 bytes."""
        begin, end = self._payoff_bytes
        key = row[begin:end]
        return self._solutions.get(key) or self._solve(key), self._their_move(row)

    def solutions(self, obs: np.ndarray) -> list[StageSolution]:
        """The solved stage game of each row of ``obs`` (B, obs_size)."""
        return self.read(obs)[0]

    def _solve(self, key: bytes) -> StageSolution:
        payoffs = np.frombuffer(key, dtype=np.float32).astype(np.float64).reshape(5, 5)
        n = self.num_legal
        matrix = payoffs[:n, :n]
        solution = solve_zero_sum(matrix)
        strategy = np.zeros(5)
        strategy[:n] = solution.strategy
        value = float(solution.value)
        columns = tuple(payoffs[:, j] for j in range(NUM_ACTIONS))
        solved = StageSolution(payoffs, strategy, value, value - float(matrix.min()), columns)
        if len(self._solutions) >= _KEPT:
            self._solutions.clear()
        self._solutions[key] = solved
        return solved

    def mixture(self, obs: np.ndarray) -> np.ndarray:
        """(B, 5) the maximin mixture of each row's game."""
        return np.stack([s.strategy for s in self.solutions(obs)])

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.array([s.value for s in self.solutions(obs)])

    def max_loss(self, obs: np.ndarray) -> np.ndarray:
        return np.array([s.max_loss for s in self.solutions(obs)])

    def fallback(
        self, obs: np.ndarray, masks: np.ndarray, draws: list[float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(actions (B,), probabilities (B, 5)) of the maximin mixture, always sampled."""
        return self.draw([s.strategy for s in self.solutions(obs)], masks, draws)

    def draw(
        self, strategies: list[np.ndarray], masks: np.ndarray, draws: list[float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fallback` for rows whose mixtures are known: the mixture restricted to
        the mask and renormalised, one uniform draw per row (``draws``, else the guard's
        generator's) against its running sum."""
        if draws is None:
            draws = self.rng.random(len(strategies)).tolist()
        actions, rows = [], []
        for strategy, mask, draw in zip(strategies, masks.tolist(), draws, strict=True):
            probs = [p * m for p, m in zip(strategy.tolist(), mask, strict=True)]
            probs = _divided(probs, _running_sums(probs)[-1])
            passed = sum(draw >= total for total in _running_sums(probs))
            actions.append(min(passed, self.num_legal - 1))
            rows.append(probs)
        return np.array(actions, dtype=np.int64), np.array(rows, dtype=np.float32)

    def their_last_move(self, obs: np.ndarray) -> np.ndarray:
        """(B,) the opponent's move in the round just played; -1 before the first round."""
        rows = _row_bytes(np.asarray(obs, dtype=np.float32))
        return np.array([self._their_move(row) for row in rows], dtype=np.int64)

    def _their_move(self, row: bytes) -> int:
        """As ``ObsLayout.rounds_played(...) > 0`` and ``recent_rounds(...)[0, 1]`` read it."""
        (clock,) = _ONE_FLOAT.unpack_from(row, self._clock_byte)
        shown = _ONE_ROUND.unpack_from(row, self._their_newest_byte)
        # rint(clock * rounds) > 0 (the int64 cast there makes NaN, inf and values past
        # 2**63 no round played, as here); numpy's max of a row holding NaN is NaN
        if not 0.5 < clock * self.rounds < 2.0**63 or _has_nan(shown):
            return -1
        best = max(shown)
        return shown.index(best) if best > 0.5 else -1


_ONE_FLOAT = struct.Struct("<f")
_ONE_ROUND = struct.Struct(f"<{NUM_ACTIONS}f")


def _has_nan(values: tuple[float, ...]) -> bool:
    total = sum(values)  # NaN when one is (or when inf meets -inf: then look closer)
    return total != total and any(x != x for x in values)


def _running_sums(values: list[float]) -> list[float]:
    """numpy's cumsum (and row sums) of a short row: added left to right."""
    sums = [values[0]]
    for value in values[1:]:
        sums.append(sums[-1] + value)
    return sums


def _divided(values: list[float], total: float) -> list[float]:
    """``values / total`` with numpy's float semantics (0/0 is NaN, x/0 is inf)."""
    if total != 0:
        return [value / total for value in values]
    return [float(np.float64(value) / np.float64(total)) for value in values]


class PokerGuard:
    """The ``equilibrium`` style as fallback in Kuhn variants; a unit is one hand.

    The style's probabilities depend on the observation and mask alone, so they are
    kept per (observation, mask) seen; its draw is transcribed for single rows
    (:func:`_sample_row`, tested against :func:`games.poker.opponents.sample`).
    """

    counterfactual = False
    """Poker's opponent reacts to the bets actually made: no counterfactual is observable."""

    def __init__(self, spec: GameSpec, seed: int):
        self.spec = spec
        self.is_kuhn = PokerConfig.from_spec(spec).game == "kuhn"
        self.protects = self.is_kuhn
        """Kuhn variants only: Leduc has no computed equilibrium to fall back on."""
        self.style = make_opponent(spec, "equilibrium", seed=seed)
        self._values = {seat: equilibrium_value(spec, seat) for seat in (0, 1)}
        self._losses = _kuhn_max_loss(spec) if self.is_kuhn else {0: 0.0, 1: 0.0}
        self._probabilities: dict[bytes, list[float]] = {}

    def seats(self, obs: np.ndarray) -> np.ndarray:
        """(B,) the acting seat (``decode(obs).seat``, without decoding the rest)."""
        return np.asarray(obs)[:, SEAT : SEAT + 2].argmax(axis=1).astype(np.int64)

    def protected(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.is_kuhn)

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.array([self._values[s] or 0.0 for s in self.seats(obs)])

    def max_loss(self, obs: np.ndarray) -> np.ndarray:
        return np.array([(self._values[s] or 0.0) + self._losses[s] for s in self.seats(obs)])

    def fallback(
        self, obs: np.ndarray, masks: np.ndarray, draws: list[float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The style's move and probabilities, as its ``act`` and ``action_probabilities``
        (sampled at ``draws`` when given, else at the style's generator's)."""
        obs = np.asarray(obs)
        masks = np.asarray(masks, dtype=bool)
        kind = obs.dtype.str.encode()
        obs_rows, mask_rows = _row_bytes(obs), _row_bytes(masks)
        rows = [
            self._probabilities.get(kind + o + m) or self._style_probabilities(obs, masks, i)
            for i, (o, m) in enumerate(zip(obs_rows, mask_rows, strict=True))
        ]
        if draws is None:
            draws = self.style.rng.random(len(rows)).tolist()
        actions = [
            _sample_row(p, m, d) for p, m, d in zip(rows, masks.tolist(), draws, strict=True)
        ]
        return np.array(actions, dtype=np.int64), np.array(rows, dtype=np.float32)

    def _style_probabilities(self, obs: np.ndarray, masks: np.ndarray, row: int) -> list[float]:
        """Row ``row`` of ``style.action_probabilities``, which treats every row alike."""
        probs = self.style.action_probabilities(obs[row : row + 1], masks[row : row + 1])
        if len(self._probabilities) >= _KEPT:
            self._probabilities.clear()
        key = obs.dtype.str.encode() + obs[row].tobytes() + masks[row].tobytes()
        self._probabilities[key] = probs = probs[0].tolist()
        return probs


def _row_bytes(array: np.ndarray) -> list[bytes]:
    """The C-order bytes of each row of a 2-D array, with one numpy call."""
    raw = array.tobytes()
    width = len(raw) // len(array) if len(array) else 1
    return [raw[at : at + width] for at in range(0, len(raw), width)]


def _sample_row(probs: list[float], mask: list[bool], draw: float) -> int:
    """:func:`games.poker.opponents.sample` for one row, given its uniform ``draw``."""
    probs = [p * m for p, m in zip(probs, mask, strict=True)]
    sums = _running_sums(probs)
    total = sums[-1]
    if not total > 0:
        return mask.index(True) if True in mask else 0
    threshold = draw * total
    for action, running in enumerate(sums):
        if running > threshold:
            return action
    return probs.index(max(probs))


def _kuhn_max_loss(spec: GameSpec) -> dict[int, float]:
    """Chips each seat can lose in one hand at most (every terminal payoff of the tree)."""
    tree = KuhnTree.from_spec(spec)
    payoffs = [
        tree.payoff(child)
        for history in tree.histories
        for _, child, terminal in tree.children(history)
        if terminal
    ]
    return {0: float(-min(p.min() for p in payoffs)), 1: float(max(p.max() for p in payoffs))}


def make_guard(spec: GameSpec, seed: int) -> MatrixGuard | PokerGuard | None:
    """The guard of ``spec``'s family, or None for a family the wrapper cannot protect."""
    if spec.family == "matrix":
        return MatrixGuard(spec, seed)
    if spec.family == "poker":
        return PokerGuard(spec, seed)
    return None
