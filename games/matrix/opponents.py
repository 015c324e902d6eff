"""Scripted matrix-game players: the training population of simulated opponents.

Every style reads only its own observation: the newest rounds, the round
clock and both payoff matrices (so "beat" means "best response under my own
payoffs", which is the RPS beat relation in RPS and, e.g., "defect" in the
prisoner's dilemma). The observation shows only ``history`` rounds, so
:class:`MatrixOpponent` keeps the whole match per game, written from each
observation at the positions its clock names (so a repeated call changes
nothing and a skipped call is filled in from the window), and forgotten in
``reset_where``.

Ties between equally good replies are broken uniformly at random; reactive
styles play uniformly at random before they have anything to react to.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, NamedTuple

import numpy as np

from games.errors import GameError
from games.matrix.equilibrium import stage_equilibrium
from games.matrix.payoffs import NUM_ACTIONS, ObsLayout
from games.opponents.base import Opponent, random_legal
from games.spec import GameSpec

TIE = 1e-9


class MatchView(NamedTuple):
    """What a style knows when it moves in B games."""

    mine: np.ndarray
    """(B, rounds) my past actions, -1 for rounds not played yet."""
    theirs: np.ndarray
    """(B, rounds) the other player's past actions, -1 for rounds not played yet."""
    t: np.ndarray
    """(B,) rounds already played."""
    my_payoff: np.ndarray
    """(B, 5, 5) my payoffs [mine, theirs]."""
    their_payoff: np.ndarray
    """(B, 5, 5) the other player's payoffs in its own view [theirs, mine]."""
    mask: np.ndarray
    """(B, 5) legal actions (all False in games where this seat is not acting)."""
    num_legal: int
    """How many actions the rules allow: actions 0 .. num_legal-1."""

    def my_back(self, k: int) -> np.ndarray:
        """(B,) my action k rounds ago (k=1: the last round), -1 where there is none."""
        return _back(self.mine, self.t, k)

    def their_back(self, k: int) -> np.ndarray:
        """(B,) the other player's action k rounds ago, -1 where there is none."""
        return _back(self.theirs, self.t, k)


def _back(history: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    index = t - k
    picked = history[np.arange(len(history)), np.maximum(index, 0)]
    return np.where(index >= 0, picked, -1)


def onehot(actions: np.ndarray) -> np.ndarray:
    """(B, 5) one-hot of actions; all zeros where the action is -1."""
    return np.eye(NUM_ACTIONS)[np.clip(actions, 0, None)] * (actions >= 0)[:, None]


def history_onehot(history: np.ndarray) -> np.ndarray:
    """(B, rounds, 5) one-hot of a match history (B, rounds); all zeros where it is -1."""
    return np.eye(NUM_ACTIONS + 1)[history + 1][:, :, 1:]


def argmax_random(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B,) a uniformly random legal maximiser of ``values`` (B, 5) per row; 0 for empty rows."""
    scored = np.where(mask, values, -np.inf)
    best = scored.max(axis=-1, keepdims=True)
    return random_legal(mask & (scored >= best - TIE), rng)


def best_response(
    payoff: np.ndarray, belief: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(B,) the legal row maximising ``payoff`` (B, 5, 5) against ``belief`` (B, 5)."""
    return argmax_random(np.einsum("bij,bj->bi", payoff, belief), mask, rng)


def sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B,) one draw per row of the distributions ``probs`` (B, 5)."""
    cdf = np.cumsum(probs, axis=-1)
    draws = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return np.minimum((draws >= cdf).sum(axis=-1), probs.shape[-1] - 1).astype(np.int64)


class MatrixOpponent(Opponent):
    """Base of every matrix style: decodes observations into a :class:`MatchView`."""

    def __init__(self, spec: GameSpec, seed: int | None = None):
        super().__init__(spec, seed)
        self.layout = ObsLayout(int(spec.param("history")))
        self.rounds = int(spec.param("rounds"))
        self.num_legal = int(spec.info_dict()["num_legal"])
        """How many actions the rules allow (the rest of the 5 are always masked)."""
        self._mine = np.full((0, self.rounds), -1, dtype=np.int64)
        self._theirs = np.full((0, self.rounds), -1, dtype=np.int64)

    def reset(self, n: int) -> None:
        self._mine = np.full((n, self.rounds), -1, dtype=np.int64)
        self._theirs = np.full((n, self.rounds), -1, dtype=np.int64)
        super().reset(n)

    def reset_where(self, which: np.ndarray) -> None:
        which = np.asarray(which, dtype=bool)
        self._mine[which] = -1
        self._theirs[which] = -1

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        mask = np.asarray(mask, dtype=bool)
        expected_obs, expected_mask = (len(obs), self.layout.size), (len(obs), NUM_ACTIONS)
        if obs.shape != expected_obs or mask.shape != expected_mask:
            raise GameError(
                f"{self.name} needs observations (B, {self.layout.size}) and masks "
                f"(B, {NUM_ACTIONS}); got {obs.shape} and {mask.shape}"
            )
        if self.num_envs == 0:
            self.reset(len(obs))
        if len(obs) != self.num_envs:
            raise GameError(
                f"{self.name} was reset for {self.num_envs} games but got {len(obs)}; "
                "call reset(n) when the batch size changes"
            )
        view = self._remember(obs, mask)
        actions = self._policy(view)
        return np.where(mask.any(axis=-1), actions, 0).astype(np.int64)

    def _remember(self, obs: np.ndarray, mask: np.ndarray) -> MatchView:
        t = np.clip(self.layout.rounds_played(obs, self.rounds), 0, self.rounds)
        recent = self.layout.recent_rounds(obs)
        # Every shown round at once: round k back sits at t - 1 - k, a different cell per k.
        index = t[:, None] - 1 - np.arange(self.layout.history)[None, :]
        rows, back = np.nonzero((index >= 0) & (recent[:, :, 0] >= 0))
        cells = index[rows, back]
        self._mine[rows, cells] = recent[rows, back, 0]
        self._theirs[rows, cells] = recent[rows, back, 1]
        my_payoff, their_payoff = self.layout.matrices(obs)
        return MatchView(self._mine, self._theirs, t, my_payoff, their_payoff, mask, self.num_legal)

    @abstractmethod
    def _policy(self, view: MatchView) -> np.ndarray:
        """(B,) actions for every game (rows without a legal action are zeroed by act)."""


class Equilibrium(MatrixOpponent):
    name = "nash"
    description = "plays the stage game's equilibrium mixture (uniform in RPS, defect in the PD)"

    def __init__(self, spec: GameSpec, seed: int | None = None):
        super().__init__(spec, seed)
        self._cache: dict[bytes, np.ndarray] = {}

    def mixture(self, view: MatchView) -> np.ndarray:
        """(B, 5) the equilibrium mixture of each game's stage game, read from its matrices."""
        n = len(view.t)
        games = np.concatenate(
            [view.my_payoff.reshape(n, -1), view.their_payoff.reshape(n, -1)], axis=1
        )
        if (games == games[0]).all():  # one variant per batch is the usual case
            return np.broadcast_to(self._solve(games[0]), (n, NUM_ACTIONS))
        unique, inverse = np.unique(games, axis=0, return_inverse=True)
        mixtures = np.stack([self._solve(row) for row in unique])
        return mixtures[inverse.reshape(-1)]

    def _solve(self, game: np.ndarray) -> np.ndarray:
        key = game.tobytes()
        if key not in self._cache:
            mine, theirs = game.reshape(2, NUM_ACTIONS, NUM_ACTIONS)
            self._cache[key] = stage_equilibrium(mine, theirs, self.num_legal)
        return self._cache[key]

    def _policy(self, view: MatchView) -> np.ndarray:
        return sample(self.mixture(view) * view.mask, self.rng)


class FixedMixture(MatrixOpponent):
    """Plays ``target`` with probability ``weight``, the other legal actions uniformly.

    ``target`` counts from the end when negative (-1: the highest legal action).
    """

    target: ClassVar[int] = 0
    weight: ClassVar[float] = 0.6

    def probabilities(self) -> np.ndarray:
        """(5,) this style's mixture over the legal actions."""
        n = self.num_legal  # every variant has at least two actions
        probs = np.zeros(NUM_ACTIONS)
        probs[:n] = (1.0 - self.weight) / (n - 1)
        probs[self.target % n] = self.weight
        return probs

    def _policy(self, view: MatchView) -> np.ndarray:
        return sample(np.broadcast_to(self.probabilities(), view.mask.shape), self.rng)


class RockHeavy(FixedMixture):
    name = "rock_heavy"
    description = "plays action 0 (rock, heads, cooperate, swerve, stag) 60% of the time"
    target = 0


class PaperHeavy(FixedMixture):
    name = "paper_heavy"
    description = "plays action 1 (paper, tails, defect, straight, hare) 60% of the time"
    target = 1


class LastHeavy(FixedMixture):
    name = "last_heavy"
    description = "plays its highest action (scissors, lizard, defect, ...) 75% of the time"
    target = -1
    weight = 0.75


class CycleUp(MatrixOpponent):
    name = "cycle_up"
    description = "cycles through its actions in order (R->P->S) from a random start"

    def _policy(self, view: MatchView) -> np.ndarray:
        last = view.my_back(1)
        return np.where(last >= 0, (last + 1) % view.num_legal, random_legal(view.mask, self.rng))


class CycleDouble(MatrixOpponent):
    name = "cycle_double"
    description = "plays each action twice, in order (R,R,P,P,S,S), from a random start"

    def _policy(self, view: MatchView) -> np.ndarray:
        last, before = view.my_back(1), view.my_back(2)
        moved = np.where(last == before, (last + 1) % view.num_legal, last)
        follow = np.where(before >= 0, moved, last)
        return np.where(last >= 0, follow, random_legal(view.mask, self.rng))


class CopyLast(MatrixOpponent):
    name = "copy_last"
    description = "copies your previous move"

    def _policy(self, view: MatchView) -> np.ndarray:
        last = view.their_back(1)
        return np.where(last >= 0, last, random_legal(view.mask, self.rng))


class BeatLast(MatrixOpponent):
    name = "beat_last"
    description = "plays its best response to your previous move"

    def _policy(self, view: MatchView) -> np.ndarray:
        belief = onehot(view.their_back(1))
        return best_response(view.my_payoff, belief, view.mask, self.rng)


def aspiration(payoff: np.ndarray, num_legal: int) -> np.ndarray:
    """(B,) the mean of each payoff matrix over its legal cells: the "good round" threshold."""
    return payoff[:, :num_legal, :num_legal].mean(axis=(1, 2))


def last_payoff(view: MatchView) -> np.ndarray:
    """(B,) what I earned in the last round (0 before round 1)."""
    mine, theirs = view.my_back(1), view.their_back(1)
    rows = np.arange(len(mine))
    return view.my_payoff[rows, np.clip(mine, 0, None), np.clip(theirs, 0, None)]


class WinStayLoseShift(MatrixOpponent):
    name = "wsls"
    description = "repeats a move that paid above its average payoff, else moves to the next one"
    stay_when_good: ClassVar[bool] = True

    def _policy(self, view: MatchView) -> np.ndarray:
        last = view.my_back(1)
        good = last_payoff(view) > aspiration(view.my_payoff, view.num_legal) + TIE
        stay = good if self.stay_when_good else ~good
        follow = np.where(stay, last, (last + 1) % view.num_legal)
        return np.where(last >= 0, follow, random_legal(view.mask, self.rng))


class FrequencyCounter(MatrixOpponent):
    name = "freq_counter"
    description = "best-responds to your action frequencies over the whole match so far"

    def belief(self, view: MatchView) -> np.ndarray:
        """(B, 5) weights of your past actions (unnormalised is fine for a best response)."""
        played = np.arange(self.rounds)[None, :] < view.t[:, None]
        return (history_onehot(view.theirs) * played[..., None]).sum(axis=1)

    def _policy(self, view: MatchView) -> np.ndarray:
        return best_response(view.my_payoff, self.belief(view), view.mask, self.rng)


class Switching(MatrixOpponent):
    name = "switching"
    description = "switches between two simple styles at a random round in the middle half"
    pool: ClassVar[tuple[type[MatrixOpponent], ...]] = (
        RockHeavy,
        PaperHeavy,
        CycleUp,
        CopyLast,
        BeatLast,
        FrequencyCounter,
    )

    def __init__(self, spec: GameSpec, seed: int | None = None):
        super().__init__(spec, seed)
        seeds = self.rng.integers(2**63, size=len(self.pool))
        self._styles = [style(spec, seed=int(s)) for style, s in zip(self.pool, seeds, strict=True)]
        self.first = np.zeros(0, dtype=np.int64)
        """(B,) index into ``pool`` of the style played before the switch."""
        self.second = np.zeros(0, dtype=np.int64)
        """(B,) index into ``pool`` of the style played from the switch on."""
        self.switch_round = np.zeros(0, dtype=np.int64)
        """(B,) rounds played before the second style takes over (for recovery metrics)."""

    def reset(self, n: int) -> None:
        self.first = np.zeros(n, dtype=np.int64)
        self.second = np.zeros(n, dtype=np.int64)
        self.switch_round = np.zeros(n, dtype=np.int64)
        super().reset(n)

    def reset_where(self, which: np.ndarray) -> None:
        super().reset_where(which)
        rows = np.flatnonzero(which)
        k = len(self.pool)
        first = self.rng.integers(k, size=len(rows))
        self.first[rows] = first
        self.second[rows] = (first + 1 + self.rng.integers(k - 1, size=len(rows))) % k
        low = self.rounds // 4
        high = max(low, (3 * self.rounds) // 4)
        self.switch_round[rows] = self.rng.integers(low, high + 1, size=len(rows))

    def _policy(self, view: MatchView) -> np.ndarray:
        choices = np.stack([style._policy(view) for style in self._styles], axis=1)
        style = np.where(view.t < self.switch_round, self.first, self.second)
        return choices[np.arange(len(style)), style]
