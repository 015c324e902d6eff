"""poker: Kuhn poker and Leduc hold'em as one parameterised family.

The rules table (observation layout, actions, rewards, variant parameters and
splits) is the docstring of :mod:`games.poker.env`. Exact best responses and
equilibria of Kuhn variants live in :mod:`games.poker.best_response`; the
registry's ``best_response_value`` and ``equilibrium_value`` answer from there
(:mod:`games.poker.values`) for Kuhn and return None for Leduc.
"""

from __future__ import annotations

from typing import Any

from games.errors import SpecError
from games.poker.config import (
    ACTION_NAMES,
    MAX_RAISES,
    MAX_RANKS,
    STANDARD,
    PokerConfig,
)
from games.poker.env import PokerEnv
from games.poker.env import __doc__ as _RULES
from games.poker.exploiter import AdaptiveExploiter
from games.poker.kernel import PokerKernel
from games.poker.layout import OBS_SIZE
from games.poker.opponents import STATIONARY_STYLES
from games.poker.values import best_response_value, equilibrium_value
from games.registry import Family, Param, Split
from games.spec import GameSpec

MAX_ANTE = 10
MAX_BET = 20
MAX_SUITS = 4

PARAMS = (
    Param(
        "game",
        str,
        "kuhn",
        "Kuhn (one round) or Leduc (two rounds, a public card).",
        choices=("kuhn", "leduc"),
    ),
    Param("ranks", int, 3, "Card ranks in the deck.", minimum=2, maximum=MAX_RANKS),
    Param(
        "suits",
        int,
        0,
        "Cards per rank; 0 = standard (Kuhn 1, Leduc 2).",
        minimum=0,
        maximum=MAX_SUITS,
    ),
    Param("ante", int, 1, "Chips each seat antes.", minimum=1, maximum=MAX_ANTE),
    Param(
        "bet1",
        int,
        0,
        "Round-1 bet size; 0 = standard (Kuhn 1, Leduc 2).",
        minimum=0,
        maximum=MAX_BET,
    ),
    Param(
        "bet2",
        int,
        0,
        "Round-2 bet size; 0 = standard (Leduc 4; Kuhn has no round 2).",
        minimum=0,
        maximum=MAX_BET,
    ),
    Param(
        "max_raises",
        int,
        0,
        "Bets plus raises per round; 0 = standard (Kuhn 1, Leduc 2).",
        minimum=0,
        maximum=MAX_RAISES,
    ),
)


def _resolve(values: dict[str, Any]) -> dict[str, Any]:
    """Fill in the game's standard for every parameter left at 0, rejecting what cannot apply."""
    game = values["game"]
    resolved = dict(values)
    for name, standard in STANDARD[game].items():
        if resolved[name] == 0:
            resolved[name] = standard
    if game == "kuhn":
        if resolved["suits"] != 1:
            raise SpecError(
                f"poker: Kuhn deals one card per rank; suits={values['suits']} needs game=leduc"
            )
        if values["bet2"] != 0:
            raise SpecError(
                f"poker: Kuhn has one betting round; bet2={values['bet2']} needs game=leduc"
            )
    elif resolved["ranks"] * resolved["suits"] < 3:
        raise SpecError(
            f"poker: Leduc deals three cards but ranks={resolved['ranks']} x "
            f"suits={resolved['suits']} makes a deck of {resolved['ranks'] * resolved['suits']}"
        )
    return resolved


def build_spec(values: dict[str, Any]) -> GameSpec:
    """The spec of one variant; the parameters were each validated by the registry."""
    resolved = _resolve(values)
    config = PokerConfig.from_params(resolved)
    return GameSpec(
        family="poker",
        params=tuple(sorted(resolved.items())),
        agents=("player_0", "player_1"),
        obs_shape=(OBS_SIZE,),
        num_actions=len(ACTION_NAMES),
        turn_based=True,
        max_steps=config.rounds * config.actions_per_round,
        info=(
            ("action_names", ACTION_NAMES),
            ("rank_labels", tuple(config.rank_label(rank) for rank in range(config.ranks))),
        ),
    )


OPPONENTS: dict[str, Any] = {**STATIONARY_STYLES, AdaptiveExploiter.name: AdaptiveExploiter}

SPLITS = {
    "train": Split(
        variants=(
            "poker(game=kuhn)",
            "poker(game=kuhn,ranks=5)",
            "poker(game=kuhn,bet1=2)",
            "poker(game=leduc)",
            "poker(game=leduc,ranks=4)",
        ),
        opponents=("random", "maniac", "calling_station", "rock", "equilibrium"),
    ),
    "heldout": Split(
        variants=(
            "poker(game=kuhn,ranks=4)",
            "poker(game=kuhn,max_raises=2)",
            "poker(game=leduc,bet1=1,bet2=3)",
            "poker(game=leduc,ranks=5,max_raises=3)",
        ),
        opponents=("bluffer", "timid", "trapper", "adaptive_exploiter"),
    ),
}

FAMILY = Family(
    name="poker",
    params=PARAMS,
    build_spec=build_spec,
    kernel=PokerKernel,
    env=PokerEnv,
    opponents=OPPONENTS,
    splits=SPLITS,
    doc=_RULES or "",
    best_response_value=best_response_value,
    equilibrium_value=equilibrium_value,
)
