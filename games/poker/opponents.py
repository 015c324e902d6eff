"""Scripted poker opponents: stationary styles that read only their own seat's view.

Each style maps what its seat sees (own card, public card, betting so far) to
action probabilities, so the same code plays Kuhn and Leduc of any size. Hand
strength is read in tiers: *strong* is the top rank or a pair with the public
card, *weak* is the bottom rank unpaired, *medium* is everything else.

Because a style's probabilities are a fixed function of the observation, its
Kuhn behaviour strategy (probabilities at every information set) is read off by
showing it every information set: :meth:`StyleOpponent.kuhn_strategy`. That
table is what :mod:`games.poker.best_response` responds to.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import numpy as np

from games.errors import GameError
from games.opponents.base import Opponent, first_legal
from games.poker.best_response import KuhnTree, kuhn_nash_strategy, solve
from games.poker.config import CALL, FOLD, RAISE, PokerConfig
from games.poker.kernel import PokerKernel
from games.poker.layout import SeatView, decode
from games.spec import GameSpec

_ONE_HOT = np.eye(3)


def _pure(action: np.ndarray) -> np.ndarray:
    """One-hot probabilities (B, 3) of deterministic actions (B,)."""
    return _ONE_HOT[action]


def sample(probs: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row drawn from ``probs`` (B, 3) restricted to ``mask``.

    Rows whose legal actions all have probability 0 get their first legal action
    (0 when nothing is legal), so the result is always playable.
    """
    mask = np.asarray(mask, dtype=bool)
    probs = probs * mask
    total = probs.sum(axis=1)
    draws = rng.random(len(probs)) * total
    above = probs.cumsum(axis=1) > draws[:, None]
    # The first action whose cumulative probability passes the draw; rounding can leave
    # none, and then the likeliest action stands in.
    actions = np.where(above.any(axis=1), above.argmax(axis=1), probs.argmax(axis=1))
    return np.where(total > 0, actions, first_legal(mask)).astype(np.int64)


class StyleOpponent(Opponent):
    """A stationary style: its action probabilities depend on the current observation only."""

    def __init__(self, spec: GameSpec, seed: int | None = None):
        super().__init__(spec, seed)
        self.config = PokerConfig.from_spec(spec)

    @abstractmethod
    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        """Unnormalised preferences (B, 3); illegal entries are dropped afterwards."""

    def action_probabilities(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, 3) probabilities over legal actions; all zero in rows with no legal action."""
        mask = np.asarray(mask, dtype=bool)
        prefs = self.probabilities(decode(obs), mask) * mask
        total = prefs.sum(axis=1, keepdims=True)
        uniform = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return np.where(total > 0, prefs / np.where(total > 0, total, 1.0), uniform)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sample(self.action_probabilities(obs, mask), mask, self.rng)

    def kuhn_strategy(self) -> np.ndarray:
        """This style's Kuhn behaviour strategy (ranks, nodes, 3), nodes as in :class:`KuhnTree`."""
        tree = KuhnTree.from_spec(self.spec)
        return information_set_table(tree, self.spec, self.action_probabilities)

    # Shared readings of hand strength and betting situation.

    def strong(self, view: SeatView) -> np.ndarray:
        return view.paired | (view.own_rank == self.config.ranks - 1)

    def weak(self, view: SeatView) -> np.ndarray:
        return ~view.paired & (view.own_rank == 0)


def information_set_table(
    tree: KuhnTree, spec: GameSpec, policy: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Evaluate ``policy(obs, mask) -> (B, 3)`` at every Kuhn information set (rank, node).

    Each node's history is replayed in the kernel with the acting seat holding
    each rank in turn, so the policy sees exactly the observation it would see in play.
    """
    ranks = tree.ranks
    table = np.zeros((ranks, tree.num_nodes, 3))
    own = np.arange(ranks)
    for node, history in enumerate(tree.histories):
        seat = len(history) % 2
        cards = np.zeros((ranks, 2), dtype=np.int64)
        cards[:, seat], cards[:, 1 - seat] = own, (own + 1) % ranks
        kernel = PokerKernel(spec)
        step = kernel.reset_with_cards(cards)
        for depth, action in enumerate(history):
            actions = np.zeros((ranks, 2), dtype=np.int64)
            actions[:, depth % 2] = action
            step = kernel.step(actions)
        table[:, node] = policy(step.obs[:, seat], step.action_mask[:, seat])
    return table


class RandomStyle(StyleOpponent):
    name = "random"
    description = "Picks uniformly among the legal actions."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        return mask.astype(np.float64)


class Maniac(StyleOpponent):
    name = "maniac"
    description = "Bets and raises whenever allowed, calls at the raise cap, never folds."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        return _pure(np.where(mask[:, RAISE], RAISE, CALL))


class CallingStation(StyleOpponent):
    name = "calling_station"
    description = "Always checks or calls: never bets, never folds."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        return _pure(np.full(len(mask), CALL))


class Rock(StyleOpponent):
    name = "rock"
    description = "Bets/raises/calls only with a strong hand; otherwise checks or folds."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        aggressive = np.where(mask[:, RAISE], RAISE, CALL)
        passive = np.where(mask[:, FOLD], FOLD, CALL)
        return _pure(np.where(self.strong(view), aggressive, passive))


class Bluffer(StyleOpponent):
    name = "bluffer"
    description = "Bets its best and its worst hands, checks/calls the middle, folds weak to bets."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        facing = mask[:, FOLD]
        aggressive = np.where(mask[:, RAISE], RAISE, CALL)
        bluff = np.where(facing, FOLD, aggressive)
        action = np.where(self.strong(view), aggressive, np.where(self.weak(view), bluff, CALL))
        return _pure(action)


class Timid(StyleOpponent):
    name = "timid"
    description = "Never bets; checks, and facing a bet calls only with a strong hand."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        passive = np.where(mask[:, FOLD], FOLD, CALL)
        return _pure(np.where(self.strong(view), CALL, passive))


class Trapper(StyleOpponent):
    name = "trapper"
    description = "Slow-plays strong hands (checks, then raises when bet into); folds weak ones."

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        facing = mask[:, FOLD]
        trap = np.where(facing & mask[:, RAISE], RAISE, CALL)
        weak = np.where(facing, FOLD, CALL)
        action = np.where(self.strong(view), trap, np.where(self.weak(view), weak, CALL))
        return _pure(action)


LEDUC_BALANCED = {
    # (tier, facing a bet): preferences over (fold, check/call, bet/raise)
    ("strong", False): (0.0, 0.25, 0.75),
    ("strong", True): (0.0, 0.4, 0.6),
    ("medium", False): (0.0, 0.75, 0.25),
    ("medium", True): (0.3, 0.6, 0.1),
    ("weak", False): (0.0, 0.7, 0.3),
    ("weak", True): (0.75, 0.2, 0.05),
}
"""The equilibrium style's fixed stochastic play outside Kuhn: value bets, some bluffs."""


class Equilibrium(StyleOpponent):
    name = "equilibrium"
    description = (
        "Kuhn: an equilibrium (Kuhn's alpha family in standard Kuhn, CFR+ otherwise); "
        "Leduc: a balanced stochastic policy."
    )

    def __init__(self, spec: GameSpec, seed: int | None = None, alpha: float | None = None):
        super().__init__(spec, seed)
        self.alpha = float(self.rng.uniform(0.0, 1.0 / 3.0)) if alpha is None else float(alpha)
        self.table: np.ndarray | None = None
        self.tree: KuhnTree | None = None
        if self.config.game == "kuhn":
            self.tree = KuhnTree.from_spec(spec)
            self.table = kuhn_equilibrium(self.tree, self.alpha)

    def probabilities(self, view: SeatView, mask: np.ndarray) -> np.ndarray:
        if self.table is not None and self.tree is not None:
            node = self.tree.node_of(view.history[:, 0])
            return self.table[view.own_rank, np.maximum(node, 0)]
        strong, weak = self.strong(view), self.weak(view)
        facing = mask[:, FOLD]
        prefs = np.zeros((len(mask), 3))
        for (tier, faced), probs in LEDUC_BALANCED.items():
            in_tier = strong if tier == "strong" else weak if tier == "weak" else ~strong & ~weak
            prefs[in_tier & (facing == faced)] = probs
        return prefs


def kuhn_equilibrium(tree: KuhnTree, alpha: float) -> np.ndarray:
    """Kuhn's alpha family in standard Kuhn; a CFR+ equilibrium in every other Kuhn variant."""
    config = tree.config
    if (config.ranks, config.ante, config.bets, config.max_raises) == (3, 1, (1,), 1):
        return kuhn_nash_strategy(tree, alpha)
    return solve(tree).strategy


class StrategyOpponent(Opponent):
    """Plays a given Kuhn behaviour strategy (ranks, nodes, 3), e.g. a computed best response."""

    name = "strategy"
    description = "Plays a fixed Kuhn behaviour strategy table."

    def __init__(self, spec: GameSpec, strategy: np.ndarray, seed: int | None = None):
        super().__init__(spec, seed)
        self.tree = KuhnTree.from_spec(spec)
        expected = (self.tree.ranks, self.tree.num_nodes, 3)
        self.strategy = np.asarray(strategy, dtype=np.float64)
        if self.strategy.shape != expected:
            raise GameError(f"strategy must have shape {expected}, got {self.strategy.shape}")

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        view = decode(obs)
        node = np.maximum(self.tree.node_of(view.history[:, 0]), 0)
        return sample(self.strategy[view.own_rank, node], mask, self.rng)


STATIONARY_STYLES: dict[str, type[StyleOpponent]] = {
    cls.name: cls
    for cls in (RandomStyle, Maniac, CallingStation, Rock, Bluffer, Timid, Trapper, Equilibrium)
}


def kuhn_style_strategy(spec: GameSpec, style: str, seed: int | None = None) -> np.ndarray:
    """The Kuhn behaviour strategy (ranks, nodes, 3) of a stationary style by name."""
    if style not in STATIONARY_STYLES:
        known = ", ".join(sorted(STATIONARY_STYLES))
        raise GameError(f"{style!r} is not a stationary poker style; known: {known}")
    return STATIONARY_STYLES[style](spec, seed=seed).kuhn_strategy()
