"""connect_n: k in a row on an m x n board, with or without gravity.

Tic-tac-toe, Connect Four and gomoku-like boards are variants of one family.
The rules table (observations, actions, rewards, splits) is the docstring of
:mod:`games.connect_n.env`.
"""

from __future__ import annotations

from typing import Any

from games.connect_n.env import ConnectNEnv
from games.connect_n.env import __doc__ as _RULES
from games.connect_n.kernel import ConnectNKernel
from games.connect_n.opponents import OPPONENTS
from games.errors import SpecError
from games.registry import Family, Param, Split
from games.spec import GameSpec

MAX_SIDE = 15
"""Largest board side: 15x15 is the gomoku board; bigger ones only slow search down."""

PARAMS = (
    Param("rows", int, 6, "Board height.", minimum=1, maximum=MAX_SIDE),
    Param("cols", int, 7, "Board width.", minimum=1, maximum=MAX_SIDE),
    Param("k", int, 4, "Stones in a row needed to win.", minimum=2, maximum=MAX_SIDE),
    Param("gravity", bool, True, "Stones fall to the lowest empty cell of a column."),
)


def build_spec(values: dict[str, Any]) -> GameSpec:
    """The spec of one variant; the parameters were each validated by the registry."""
    rows, cols, k, gravity = values["rows"], values["cols"], values["k"], values["gravity"]
    longest = max(rows, cols)
    if k > longest:
        raise SpecError(
            f"connect_n: k={k} cannot fit on a {rows}x{cols} board; "
            f"k must be between 2 and max(rows, cols)={longest}"
        )
    return GameSpec(
        family="connect_n",
        params=tuple(sorted(values.items())),
        agents=("player_0", "player_1"),
        obs_shape=(2, rows, cols),
        num_actions=cols if gravity else rows * cols,
        turn_based=True,
        max_steps=rows * cols,
        info=(
            ("action_kind", "column" if gravity else "cell"),
            ("planes", ("mine", "opponent")),
        ),
    )


FAMILY = Family(
    name="connect_n",
    params=PARAMS,
    build_spec=build_spec,
    kernel=ConnectNKernel,
    env=ConnectNEnv,
    opponents=OPPONENTS,
    splits={
        "train": Split(
            variants=(
                "connect_n(rows=6,cols=7,k=4,gravity=true)",
                "connect_n(rows=3,cols=3,k=3,gravity=false)",
                "connect_n(rows=5,cols=5,k=4,gravity=true)",
                "connect_n(rows=7,cols=8,k=4,gravity=true)",
                "connect_n(rows=4,cols=5,k=3,gravity=true)",
                "connect_n(rows=9,cols=9,k=5,gravity=false)",
                "connect_n(rows=5,cols=5,k=4,gravity=false)",
            ),
            opponents=(
                "random",
                "centre",
                "greedy",
                "first_legal",
                "search_d1",
                "search_d2",
                "search_d3",
            ),
        ),
        "heldout": Split(
            variants=(
                "connect_n(rows=5,cols=6,k=4,gravity=true)",
                "connect_n(rows=4,cols=4,k=3,gravity=false)",
                "connect_n(rows=7,cols=7,k=5,gravity=false)",
            ),
            opponents=("edge", "mirror"),
        ),
    },
    doc=_RULES or "",
)

__all__ = ["FAMILY", "ConnectNEnv", "ConnectNKernel", "build_spec"]
