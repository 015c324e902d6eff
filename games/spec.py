"""GameSpec: one playable variant of a game family.

A spec is the contract between a game family and everything that plays it:
the kernel steps it, learners size their networks from it, the server
advertises it to clients. It is immutable and hashable, so it can key caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def format_value(value: Any) -> str:
    """Render a parameter value the way the spec-string grammar reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class GameSpec:
    """One variant of a game family, with the shapes needed to play it.

    Observations and action masks are per seat. Every family encodes its
    variants into one layout (padded where variants differ in size, for
    example matrix games with fewer actions mask the spare ones), except where
    the policy can share weights across sizes by construction (connect_n's
    board planes, read by a fully convolutional network).
    """

    family: str
    """Family name as registered, e.g. ``"connect_n"``."""
    params: tuple[tuple[str, Any], ...]
    """Variant parameters, every one filled in (defaults included), sorted by name."""
    agents: tuple[str, ...]
    """PettingZoo agent ids, in seat order (seat 0 first)."""
    obs_shape: tuple[int, ...]
    """Shape of one seat's observation tensor (without the action mask)."""
    num_actions: int
    """Size of the discrete action space; illegal actions are masked per turn."""
    turn_based: bool
    """True when seats alternate (one seat acts per step); False when simultaneous."""
    max_steps: int
    """Upper bound on kernel steps in one episode (used to size buffers)."""
    obs_low: float = 0.0
    """Lower bound of every observation entry."""
    obs_high: float = 1.0
    """Upper bound of every observation entry."""
    obs_dtype: str = "float32"
    """NumPy dtype name of observations."""
    info: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    """Free-form facts about the variant (e.g. action names) for clients and demos."""

    @property
    def name(self) -> str:
        """Canonical spec string; ``games.parse_spec(spec.name) == spec``."""
        inner = ",".join(f"{k}={format_value(v)}" for k, v in self.params)
        return f"{self.family}({inner})"

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    def param(self, key: str) -> Any:
        """Value of one variant parameter."""
        for name, value in self.params:
            if name == key:
                return value
        raise KeyError(f"{self.family} has no parameter {key!r}")

    def info_dict(self) -> dict[str, Any]:
        return dict(self.info)

    def __str__(self) -> str:
        return self.name
