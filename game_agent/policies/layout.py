"""Which network shape a family's observations call for, decided from its specs.

Two layouts cover every built-in family:

- ``board``: observations are planes ``(P, rows, cols)`` (connect_n). A fully
  convolutional network reads any board size with the same weights, and its
  action logits come out per cell (``rows * cols`` actions) or per column
  (``cols`` actions, gravity variants).
- ``vector``: observations are one fixed-length vector per seat, padded to a
  family-wide layout (matrix, poker, pong); an MLP reads them.

A learner trained on some variants can play any other variant with the same
layout (:meth:`ObsLayout.supports`): that is how it meets heldout variants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from game_agent.errors import IncompatibleGameError
from games.spec import GameSpec

BOARD, VECTOR = "board", "vector"


@dataclass(frozen=True)
class ObsLayout:
    """The shapes a policy network is built for."""

    family: str
    kind: str
    """``"board"`` or ``"vector"``."""
    planes: int = 0
    """Board layout: observation planes per cell."""
    obs_size: int = 0
    """Vector layout: length of the flattened observation."""
    num_actions: int = 0
    """Vector layout: size of the (padded) action space."""

    def supports(self, spec: GameSpec) -> bool:
        try:
            self.check(spec)
        except IncompatibleGameError:
            return False
        return True

    def check(self, spec: GameSpec) -> None:
        """Raise :class:`IncompatibleGameError` saying why ``spec`` cannot be played."""
        if spec.family != self.family:
            raise IncompatibleGameError(
                f"{spec.name} is a {spec.family} game; this policy plays {self.family}"
            )
        if self.kind == BOARD:
            if len(spec.obs_shape) != 3 or spec.obs_shape[0] != self.planes:
                raise IncompatibleGameError(
                    f"{spec.name} has observation shape {spec.obs_shape}; "
                    f"this policy reads ({self.planes}, rows, cols) boards"
                )
            board_action_kind(spec)
            return
        size = math.prod(spec.obs_shape)
        if size != self.obs_size or spec.num_actions != self.num_actions:
            raise IncompatibleGameError(
                f"{spec.name} has {size} observation entries and {spec.num_actions} actions; "
                f"this policy was built for {self.obs_size} and {self.num_actions}"
            )

    def to_dict(self) -> dict[str, object]:
        return {
            "family": self.family,
            "kind": self.kind,
            "planes": self.planes,
            "obs_size": self.obs_size,
            "num_actions": self.num_actions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ObsLayout:
        return cls(
            family=str(data["family"]),
            kind=str(data["kind"]),
            planes=int(data["planes"]),  # type: ignore[call-overload]
            obs_size=int(data["obs_size"]),  # type: ignore[call-overload]
            num_actions=int(data["num_actions"]),  # type: ignore[call-overload]
        )


def layout_for(specs: Sequence[GameSpec]) -> ObsLayout:
    """The one layout every spec in ``specs`` fits, or IncompatibleGameError."""
    if not specs:
        raise IncompatibleGameError("a policy needs at least one game variant to size itself")
    first = specs[0]
    if len(first.obs_shape) == 3 and _board_actions(first) is not None:
        layout = ObsLayout(first.family, BOARD, planes=first.obs_shape[0])
    else:
        layout = ObsLayout(
            first.family,
            VECTOR,
            obs_size=math.prod(first.obs_shape),
            num_actions=first.num_actions,
        )
    for spec in specs:
        layout.check(spec)
    return layout


def board_action_kind(spec: GameSpec) -> str:
    """``"column"`` when actions pick a column (gravity), ``"cell"`` when they pick a cell."""
    kind = _board_actions(spec)
    if kind is None:
        raise IncompatibleGameError(
            f"{spec.name}: {spec.num_actions} actions match neither the columns nor the cells "
            f"of its {spec.obs_shape[1:]} board"
        )
    return kind


def _board_actions(spec: GameSpec) -> str | None:
    rows, cols = spec.obs_shape[1], spec.obs_shape[2]
    declared = spec.info_dict().get("action_kind")
    if declared == "column" and spec.num_actions == cols:
        return "column"
    if declared == "cell" and spec.num_actions == rows * cols:
        return "cell"
    if declared is None:
        if spec.num_actions == rows * cols:
            return "cell"
        if spec.num_actions == cols:
            return "column"
    return None
