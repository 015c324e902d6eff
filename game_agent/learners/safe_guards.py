"""The fallback policy and reference value of each family :class:`SafeLearner` protects.

A guard answers, for one game variant, the three questions the safety wrapper
asks (see :mod:`game_agent.learners.safe` for how they are used):

- ``value``: v, the reward per unit (a matrix round, a poker hand) that the
  fallback policy is *guaranteed* in expectation against any opponent;
- ``fallback``: the fallback policy's move, read from the seat's own observation;
- ``max_loss``: Delta, the most one unit can fall short of v, whatever is played.

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

import numpy as np

from games import equilibrium_value, make_opponent
from games.matrix.equilibrium import solve_zero_sum
from games.matrix.payoffs import ObsLayout
from games.poker.best_response import KuhnTree
from games.poker.config import PokerConfig
from games.poker.layout import decode
from games.spec import GameSpec

UNIT = {"matrix": "round", "poker": "hand"}
"""What one accounting unit is, per protected family."""


class MatrixGuard:
    """Maximin fallback of a repeated matrix game; a unit is one round."""

    counterfactual = True
    """The opponent's move is shown in the next observation, so the adaptive policy's
    reward in rounds it did not play can be computed exactly (in expectation)."""

    def __init__(self, spec: GameSpec, seed: int):
        self.spec = spec
        self.layout = ObsLayout(int(spec.param("history")))
        self.rounds = int(spec.param("rounds"))
        self.num_legal = int(spec.info_dict()["num_legal"])
        self.rng = np.random.default_rng(seed)
        self._cache: dict[bytes, tuple[np.ndarray, float, float]] = {}

    def protected(self, obs: np.ndarray) -> np.ndarray:
        return np.ones(len(obs), dtype=bool)

    def payoffs(self, obs: np.ndarray) -> np.ndarray:
        """(B, 5, 5) the seat's own payoffs [mine, theirs]."""
        return self.layout.matrices(obs)[0]

    def _solved(self, obs: np.ndarray) -> list[tuple[np.ndarray, float, float]]:
        return [self._solve(m.tobytes()) for m in self.payoffs(obs)]

    def _solve(self, key: bytes) -> tuple[np.ndarray, float, float]:
        """(maximin mixture, its value v, Delta) of one payoff matrix, solved once."""
        if key in self._cache:
            return self._cache[key]
        n = self.num_legal
        matrix = np.frombuffer(key, dtype=np.float64).reshape(5, 5)[:n, :n]
        solution = solve_zero_sum(matrix)
        strategy = np.zeros(5)
        strategy[:n] = solution.strategy
        self._cache[key] = (strategy, solution.value, solution.value - float(matrix.min()))
        return self._cache[key]

    def mixture(self, obs: np.ndarray) -> np.ndarray:
        """(B, 5) the maximin mixture of each row's game."""
        return np.stack([s for s, _, _ in self._solved(obs)])

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.array([v for _, v, _ in self._solved(obs)])

    def max_loss(self, obs: np.ndarray) -> np.ndarray:
        return np.array([d for _, _, d in self._solved(obs)])

    def fallback(self, obs: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(actions (B,), probabilities (B, 5)) of the maximin mixture, always sampled."""
        probs = self.mixture(obs) * masks
        probs /= probs.sum(axis=1, keepdims=True)
        cdf = np.cumsum(probs, axis=1)
        draws = self.rng.random(len(probs))[:, None]
        actions = np.minimum((draws >= cdf).sum(axis=1), self.num_legal - 1)
        return actions.astype(np.int64), probs.astype(np.float32)

    def their_last_move(self, obs: np.ndarray) -> np.ndarray:
        """(B,) the opponent's move in the round just played; -1 before the first round."""
        shown = self.layout.rounds_played(obs, self.rounds) > 0
        return np.where(shown, self.layout.recent_rounds(obs)[:, 0, 1], -1)


class PokerGuard:
    """The ``equilibrium`` style as fallback in Kuhn variants; a unit is one hand."""

    counterfactual = False
    """Poker's opponent reacts to the bets actually made: no counterfactual is observable."""

    def __init__(self, spec: GameSpec, seed: int):
        self.spec = spec
        self.is_kuhn = PokerConfig.from_spec(spec).game == "kuhn"
        self.style = make_opponent(spec, "equilibrium", seed=seed)
        self._values = {seat: equilibrium_value(spec, seat) for seat in (0, 1)}
        self._losses = _kuhn_max_loss(spec) if self.is_kuhn else {0: 0.0, 1: 0.0}

    def seats(self, obs: np.ndarray) -> np.ndarray:
        return decode(obs).seat.astype(np.int64)

    def protected(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.is_kuhn)

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.array([self._values[s] or 0.0 for s in self.seats(obs)])

    def max_loss(self, obs: np.ndarray) -> np.ndarray:
        return np.array([(self._values[s] or 0.0) + self._losses[s] for s in self.seats(obs)])

    def fallback(self, obs: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = self.style.action_probabilities(obs, masks)
        return self.style.act(obs, masks), probs.astype(np.float32)


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
