"""Exact reference values for evaluation: best response to a style, and the game value.

Both exist for Kuhn variants only (the game tree is small enough to walk);
Leduc, and the adaptive exploiter (which is not a fixed strategy), get None.
"""

from __future__ import annotations

from games.errors import GameError, UnknownOpponentError
from games.poker.best_response import (
    KuhnTree,
    best_response,
    expected_value,
    kuhn_nash_strategy,
    solve,
)
from games.poker.config import PokerConfig
from games.poker.opponents import STATIONARY_STYLES, kuhn_style_strategy
from games.spec import GameSpec

ADAPTIVE_STYLES = ("adaptive_exploiter",)


def _check_seat(seat: int) -> None:
    if seat not in (0, 1):
        raise GameError(f"poker seats are 0 and 1, got {seat}")


def best_response_value(spec: GameSpec, opponent: str, seat: int) -> float | None:
    """Chips per hand of the best response in ``seat`` to the style ``opponent``.

    Every seeded copy of a style has the same value here: the equilibrium
    style's alpha changes its strategy but not what a best response earns.
    """
    _check_seat(seat)
    if opponent not in STATIONARY_STYLES and opponent not in ADAPTIVE_STYLES:
        known = ", ".join(sorted((*STATIONARY_STYLES, *ADAPTIVE_STYLES)))
        raise UnknownOpponentError(f"poker has no opponent {opponent!r}; known: {known}")
    if PokerConfig.from_spec(spec).game != "kuhn" or opponent in ADAPTIVE_STYLES:
        return None
    tree = KuhnTree.from_spec(spec)
    return float(best_response(tree, kuhn_style_strategy(spec, opponent, seed=0), seat).value)


def equilibrium_value(spec: GameSpec, seat: int) -> float | None:
    """Chips per hand for ``seat`` when both play an equilibrium (Kuhn variants only).

    Standard Kuhn uses Kuhn's closed-form equilibrium (-1/18 for player_0);
    other Kuhn variants the midpoint of CFR+'s certified bounds (their width,
    under 1e-3, is the only error).
    """
    _check_seat(seat)
    config = PokerConfig.from_spec(spec)
    if config.game != "kuhn":
        return None
    tree = KuhnTree.from_spec(spec)
    if (config.ranks, config.ante, config.bets, config.max_raises) == (3, 1, (1,), 1):
        nash = kuhn_nash_strategy(tree, alpha=0.0)
        value = expected_value(tree, nash, nash)
    else:
        equilibrium = solve(tree)
        value = 0.5 * (equilibrium.lower + equilibrium.upper)
    return value if seat == 0 else -value
