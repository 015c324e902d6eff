"""Exact best responses, values and equilibria of Kuhn-family poker by game-tree traversal.

A Kuhn variant (one betting round, no public card, any number of ranks, ante,
bet size and raise cap) has a betting tree that does not depend on the cards,
so a *behaviour strategy* is one array ``strategy[rank, node, action]``: the
probability of each action at every decision node (a betting history, indexed
as in :attr:`KuhnTree.histories`) for every private rank. The seat acting at a
node is fixed by the node (player_0 at even depths), so one array describes
how a style plays either seat.

Against a fixed opponent strategy, the best response of one seat is found by
walking the tree once, carrying for each own card the probability of each
opponent card (chance times the opponent's own action probabilities) and
maximising at the seat's own nodes. Arrays may carry leading batch dimensions
(many opponent models at once, as the adaptive exploiter needs). These rules
are written here independently of the kernel, so tests that play these
strategies out in the kernel check both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from games.errors import GameError
from games.poker.config import CALL, FOLD, RAISE, PokerConfig
from games.spec import GameSpec

History = tuple[int, ...]


@dataclass(frozen=True)
class KuhnTree:
    """The betting tree of one Kuhn variant."""

    config: PokerConfig
    histories: tuple[History, ...]
    """Decision nodes, depth-first from the root ``()``; position = node index."""

    @classmethod
    def from_spec(cls, spec: GameSpec | PokerConfig) -> KuhnTree:
        config = spec if isinstance(spec, PokerConfig) else PokerConfig.from_spec(spec)
        if config.game != "kuhn":
            raise GameError(
                f"exact best responses cover Kuhn variants (one round); got game={config.game}"
            )
        return _build_tree(config)

    @property
    def ranks(self) -> int:
        return self.config.ranks

    @property
    def num_nodes(self) -> int:
        return len(self.histories)

    @functools.cached_property
    def index(self) -> dict[History, int]:
        return {h: k for k, h in enumerate(self.histories)}

    @functools.cached_property
    def legal(self) -> np.ndarray:
        """(num_nodes, 3) bool: legal actions at each node."""
        return np.array([_legal(self.config, h) for h in self.histories], dtype=bool)

    @functools.cached_property
    def players(self) -> np.ndarray:
        """(num_nodes,) the seat acting at each node."""
        return np.array([len(h) % 2 for h in self.histories], dtype=np.int64)

    @functools.cached_property
    def _keys(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.array([_history_key(h) for h in self.histories], dtype=np.int64)
        order = np.argsort(keys)
        return keys[order], order

    def node_of(self, history: np.ndarray) -> np.ndarray:
        """Node indices (B,) of histories (B, L) padded with -1; -1 where not a decision node."""
        history = np.asarray(history, dtype=np.int64)
        played = history >= 0
        powers = 4 ** np.arange(history.shape[1], dtype=np.int64)
        keys = ((history + 1) * played * powers).sum(axis=1)
        sorted_keys, order = self._keys
        pos = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == keys, order[pos], -1)

    def uniform(self) -> np.ndarray:
        """The strategy that picks uniformly among legal actions everywhere."""
        legal = self.legal.astype(np.float64)
        table = legal / legal.sum(axis=1, keepdims=True)
        return np.broadcast_to(table, (self.ranks, *table.shape)).copy()

    def payoff(self, history: History) -> np.ndarray:
        """(ranks, ranks) chips player_0 wins at a terminal history, by (rank0, rank1)."""
        return self._payoffs[history]

    @functools.cached_property
    def _payoffs(self) -> dict[History, np.ndarray]:
        return {
            child: _payoff(self.config, child)
            for history in self.histories
            for _, child, terminal in self.children(history)
            if terminal
        }

    @functools.cached_property
    def chance(self) -> np.ndarray:
        """(ranks, ranks) deal probabilities of (rank0, rank1): distinct cards, uniform."""
        r = self.ranks
        return (1.0 - np.eye(r)) / (r * (r - 1))

    def children(self, history: History) -> list[tuple[int, History, bool]]:
        """(action, child history, child is terminal) for each legal action."""
        return self._edges[history]

    @functools.cached_property
    def _edges(self) -> dict[History, list[tuple[int, History, bool]]]:
        return {history: _children(self.config, history) for history in self.histories}


class BestResponse(NamedTuple):
    """A best response of one seat to a fixed opponent strategy."""

    value: np.ndarray
    """(...) expected chips per hand of the responding seat (a float for one opponent)."""
    policy: np.ndarray
    """(..., ranks, nodes, 3) pure strategy: one-hot at the responding seat's nodes, 0 elsewhere."""


class Equilibrium(NamedTuple):
    """An (approximate) equilibrium strategy and the game value bounds it proves."""

    strategy: np.ndarray
    """(ranks, nodes, 3) the average strategy of CFR+, for both seats' nodes."""
    lower: float
    """Player_0's value is at least this: minus player_1's best response to ``strategy``."""
    upper: float
    """Player_0's value is at most this: player_0's best response to ``strategy``."""


def _contributions(config: PokerConfig, history: History) -> tuple[list[int], int]:
    chips, raises = [config.ante, config.ante], 0
    for depth, action in enumerate(history):
        seat = depth % 2
        if action == CALL:
            chips[seat] = chips[1 - seat]
        elif action == RAISE:
            chips[seat] = chips[1 - seat] + config.bets[0]
            raises += 1
    return chips, raises


def _legal(config: PokerConfig, history: History) -> tuple[bool, bool, bool]:
    chips, raises = _contributions(config, history)
    seat = len(history) % 2
    return chips[1 - seat] > chips[seat], True, raises < config.max_raises


def _payoff(config: PokerConfig, history: History) -> np.ndarray:
    contributions, _ = _contributions(config, history)
    if history[-1] == FOLD:
        folder = (len(history) - 1) % 2
        won = -contributions[0] if folder == 0 else contributions[1]
        return np.full((config.ranks, config.ranks), float(won))
    ranks = np.arange(config.ranks)
    return np.sign(ranks[:, None] - ranks[None, :]) * float(contributions[0])


def _is_terminal(history: History) -> bool:
    return history[-1] == FOLD or (history[-1] == CALL and len(history) >= 2)


def _children(config: PokerConfig, history: History) -> list[tuple[int, History, bool]]:
    legal = _legal(config, history)
    children = []
    for action in (FOLD, CALL, RAISE):
        if legal[action]:
            child = (*history, action)
            children.append((action, child, _is_terminal(child)))
    return children


def _history_key(history: History) -> int:
    return sum((a + 1) * 4**t for t, a in enumerate(history))


@functools.lru_cache(maxsize=64)
def _build_tree(config: PokerConfig) -> KuhnTree:
    histories: list[History] = []

    def visit(history: History) -> None:
        histories.append(history)
        for _, child, terminal in _children(config, history):
            if not terminal:
                visit(child)

    visit(())
    return KuhnTree(config, tuple(histories))


def validate_strategy(tree: KuhnTree, strategy: np.ndarray) -> np.ndarray:
    """``strategy`` as float64, checked to be a distribution over legal actions at each node."""
    strategy = np.asarray(strategy, dtype=np.float64)
    expected = (tree.ranks, tree.num_nodes, 3)
    if strategy.shape[-3:] != expected:
        raise GameError(
            f"a strategy for this Kuhn tree has shape (..., {expected}), got {strategy.shape}"
        )
    if (strategy < -1e-9).any() or (strategy * ~tree.legal > 1e-9).any():
        raise GameError("a strategy must be non-negative and put no weight on illegal actions")
    if not np.allclose(strategy.sum(axis=-1), 1.0, atol=1e-6):
        raise GameError("a strategy's action probabilities must sum to 1 at every node")
    return strategy


def best_response(tree: KuhnTree, opponent: np.ndarray, seat: int) -> BestResponse:
    """The best response of ``seat`` to ``opponent`` (..., ranks, nodes, 3), and its value."""
    if seat not in (0, 1):
        raise GameError(f"seat must be 0 or 1, got {seat}")
    opponent = validate_strategy(tree, opponent)
    batch = opponent.shape[:-3]
    # weights[..., own, other]: chance of the deal times the opponent's reach.
    chance = tree.chance if seat == 0 else tree.chance.T
    weights = np.broadcast_to(chance, (*batch, tree.ranks, tree.ranks))
    policy = np.zeros(opponent.shape)
    values = _respond(tree, (), weights, opponent, seat, policy)
    total = values.sum(axis=-1)
    return BestResponse(value=total if batch else float(total), policy=policy)


def _respond(
    tree: KuhnTree,
    history: History,
    weights: np.ndarray,
    opponent: np.ndarray,
    seat: int,
    policy: np.ndarray,
) -> np.ndarray:
    """Value (..., own rank) of ``seat`` playing best from ``history`` on, weighted by reach."""
    node = tree.index[history]
    options = []
    for action, child, terminal in tree.children(history):
        if tree.players[node] == seat:
            child_weights = weights
        else:
            child_weights = weights * opponent[..., None, :, node, action]
        if terminal:
            payoff = tree.payoff(child) if seat == 0 else -tree.payoff(child).T
            value = (child_weights * payoff).sum(axis=-1)
        else:
            value = _respond(tree, child, child_weights, opponent, seat, policy)
        options.append((action, value))
    if tree.players[node] != seat:
        return sum(value for _, value in options)
    stacked = np.stack([value for _, value in options], axis=-1)
    best = stacked.argmax(axis=-1)
    actions = np.array([action for action, _ in options])
    policy[..., node, :] = np.eye(3)[actions[best]]
    return stacked.max(axis=-1)


def expected_value(tree: KuhnTree, strategy0: np.ndarray, strategy1: np.ndarray) -> float:
    """Player_0's expected chips per hand when seat i plays ``strategy_i`` at its nodes."""
    strategies = (validate_strategy(tree, strategy0), validate_strategy(tree, strategy1))
    return float(_evaluate(tree, (), tree.chance, strategies))


def _evaluate(
    tree: KuhnTree, history: History, reach: np.ndarray, strategies: tuple[np.ndarray, ...]
) -> float:
    node = tree.index[history]
    seat = tree.players[node]
    total = 0.0
    for action, child, terminal in tree.children(history):
        prob = strategies[seat][:, node, action]
        child_reach = reach * (prob[:, None] if seat == 0 else prob[None, :])
        if terminal:
            total += float((child_reach * tree.payoff(child)).sum())
        else:
            total += _evaluate(tree, child, child_reach, strategies)
    return total


def kuhn_nash_strategy(tree: KuhnTree, alpha: float) -> np.ndarray:
    """Kuhn's equilibrium family for standard Kuhn (J, Q, K; ante 1; bet 1).

    Player_0 bets J with probability ``alpha``, never bets Q, bets K with
    ``3 * alpha``; after check-bet it calls with Q with ``alpha + 1/3`` and with K
    always. Player_1 calls a bet with K, with Q one time in three, never with J;
    after a check it bets K, checks Q, and bets J one time in three.
    """
    config = tree.config
    if (config.ranks, config.ante, config.bets, config.max_raises) != (3, 1, (1,), 1):
        raise GameError("Kuhn's alpha family is the equilibrium of standard Kuhn poker only")
    if not 0.0 <= alpha <= 1.0 / 3.0:
        raise GameError(f"Kuhn's equilibrium needs alpha in [0, 1/3], got {alpha}")
    bet = {
        (): (alpha, 0.0, 3 * alpha),
        (CALL,): (1 / 3, 0.0, 1.0),
    }
    call = {
        (RAISE,): (0.0, 1 / 3, 1.0),
        (CALL, RAISE): (0.0, alpha + 1 / 3, 1.0),
    }
    strategy = np.zeros((3, tree.num_nodes, 3))
    for history, probs in bet.items():
        node = tree.index[history]
        strategy[:, node, RAISE] = probs
        strategy[:, node, CALL] = 1.0 - np.array(probs)
    for history, probs in call.items():
        node = tree.index[history]
        strategy[:, node, CALL] = probs
        strategy[:, node, FOLD] = 1.0 - np.array(probs)
    return strategy


def regret_matching(regrets: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Strategy proportional to positive regrets; uniform over legal actions when none."""
    positive = np.maximum(regrets, 0.0) * legal
    total = positive.sum(axis=-1, keepdims=True)
    uniform = legal / legal.sum(axis=-1, keepdims=True)
    return np.where(total > 0, positive / np.where(total > 0, total, 1.0), uniform)


@functools.lru_cache(maxsize=32)
def solve(tree: KuhnTree, iterations: int = 1000) -> Equilibrium:
    """An equilibrium of the variant by CFR+ (alternating updates, linear averaging).

    The returned bounds are exact best-response values, so they certify how
    far the strategy is from equilibrium whatever the iteration count.
    """
    legal = np.broadcast_to(tree.legal, (tree.ranks, *tree.legal.shape))
    regrets = np.zeros(legal.shape)
    average = np.zeros(legal.shape)
    ones = np.ones(tree.ranks)
    for t in range(1, iterations + 1):
        for seat in (0, 1):
            current = regret_matching(regrets, legal)
            _cfr(tree, (), ones, ones, seat, current, regrets, average, float(t))
    strategy = regret_matching(average, legal)
    upper = best_response(tree, strategy, 0).value
    lower = -best_response(tree, strategy, 1).value
    return Equilibrium(strategy=strategy, lower=float(lower), upper=float(upper))


def _cfr(
    tree: KuhnTree,
    history: History,
    reach0: np.ndarray,
    reach1: np.ndarray,
    seat: int,
    current: np.ndarray,
    regrets: np.ndarray,
    average: np.ndarray,
    weight: float,
) -> np.ndarray:
    """Player_0's values (rank0, rank1) below ``history``; updates ``seat``'s regrets there."""
    node = tree.index[history]
    player = tree.players[node]
    probs = current[:, node, :]
    values = np.zeros((tree.ranks, 3, tree.ranks))
    node_value = np.zeros((tree.ranks, tree.ranks))
    for action, child, terminal in tree.children(history):
        if terminal:
            child_value = tree.payoff(child)
        elif player == 0:
            child_value = _cfr(
                tree,
                child,
                reach0 * probs[:, action],
                reach1,
                seat,
                current,
                regrets,
                average,
                weight,
            )
        else:
            child_value = _cfr(
                tree,
                child,
                reach0,
                reach1 * probs[:, action],
                seat,
                current,
                regrets,
                average,
                weight,
            )
        along = probs[:, action][:, None] if player == 0 else probs[:, action][None, :]
        node_value += along * child_value
        values[:, action, :] = child_value if player == 0 else -child_value.T
    if player == seat:
        own_reach, other_reach = (reach0, reach1) if seat == 0 else (reach1, reach0)
        chance = tree.chance if seat == 0 else tree.chance.T
        counterfactual = (values * (chance * other_reach[None, :])[:, None, :]).sum(axis=-1)
        expected = (probs * counterfactual).sum(axis=-1, keepdims=True)
        legal = tree.legal[node][None, :]
        regrets[:, node, :] = np.maximum(
            regrets[:, node, :] + (counterfactual - expected) * legal, 0
        )
        average[:, node, :] += weight * own_reach[:, None] * probs
    return node_value
