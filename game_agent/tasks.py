"""Tasks and task distributions: what meta-training samples from.

A :class:`Task` is one game variant, one opponent style and the seat the
learner plays; a trial is K episodes of one task. A :class:`TaskDistribution`
draws tasks uniformly over a family's named split (``train`` or ``heldout``,
defined by the family in the games registry) or over explicit lists of
variants and opponents, always from its own seeded generator so a training run
is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from game_agent.errors import ConfigError
from games import GameSpec, get_family, get_split, list_opponents, parse_spec
from games.errors import UnknownOpponentError


@dataclass(frozen=True)
class Task:
    """One variant, one opponent style, and the learner's seat."""

    spec: GameSpec
    opponent: str
    """Opponent style name, as registered by the family."""
    seat: int
    """The learner's seat (0 = first agent); the opponent plays every other seat."""

    def __post_init__(self) -> None:
        if not 0 <= self.seat < self.spec.num_agents:
            raise ConfigError(
                f"seat {self.seat} does not exist in {self.spec.name}, "
                f"which has seats 0..{self.spec.num_agents - 1}"
            )
        known = list_opponents(self.spec.family)
        if self.opponent not in known:
            raise UnknownOpponentError(
                f"{self.spec.family} has no opponent {self.opponent!r}; known: {', '.join(known)}"
            )

    @property
    def name(self) -> str:
        return f"{self.spec.name} vs {self.opponent} (seat {self.seat})"


class TaskDistribution:
    """Uniform over variants x opponents x seats of one family.

    By default the variants and opponents come from the family's ``split``;
    ``variants`` and ``opponents`` override either list (variants may be spec
    strings or specs of the same family). ``seats`` defaults to every seat.
    """

    def __init__(
        self,
        family: str,
        split: str = "train",
        seed: int | None = None,
        *,
        variants: Sequence[str | GameSpec] | None = None,
        opponents: Sequence[str] | None = None,
        seats: Sequence[int] | None = None,
    ):
        self.family = get_family(family).name
        self.split = split
        chosen = get_split(self.family, split) if variants is None or opponents is None else None
        raw_variants = variants if variants is not None else chosen.variants  # type: ignore[union-attr]
        self.specs: tuple[GameSpec, ...] = tuple(_unique(parse_spec(v) for v in raw_variants))
        self.opponents: tuple[str, ...] = tuple(
            _unique(opponents if opponents is not None else chosen.opponents)  # type: ignore[union-attr]
        )
        if not self.specs:
            raise ConfigError(f"a {self.family} task distribution needs at least one variant")
        if not self.opponents:
            raise ConfigError(f"a {self.family} task distribution needs at least one opponent")
        for spec in self.specs:
            if spec.family != self.family:
                raise ConfigError(f"variant {spec.name} is not a {self.family} game")
        num_agents = {spec.num_agents for spec in self.specs}
        all_seats = range(min(num_agents))
        self.seats: tuple[int, ...] = tuple(_unique(seats if seats is not None else all_seats))
        if not self.seats:
            raise ConfigError("a task distribution needs at least one learner seat")
        # Validate every combination once, so sampling never meets a bad task.
        for spec in self.specs:
            for opponent in self.opponents:
                for seat in self.seats:
                    Task(spec, opponent, seat)
        self.rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return (
            f"TaskDistribution({self.family!r}, split={self.split!r}, "
            f"{len(self.specs)} variants, opponents={list(self.opponents)}, "
            f"seats={list(self.seats)})"
        )

    def sample(self, n: int, rng: np.random.Generator | None = None) -> list[Task]:
        """``n`` tasks drawn independently and uniformly (from ``rng`` if given)."""
        rng = self.rng if rng is None else rng
        variants = rng.integers(len(self.specs), size=n)
        return self.sample_for_each([self.specs[v] for v in variants], rng)

    def sample_for(
        self, spec: GameSpec, n: int, rng: np.random.Generator | None = None
    ) -> list[Task]:
        """``n`` tasks of one variant (opponent and seat drawn uniformly)."""
        return self.sample_for_each([spec] * n, rng)

    def sample_for_each(
        self, specs: Sequence[GameSpec], rng: np.random.Generator | None = None
    ) -> list[Task]:
        """One task per given variant, opponent and seat drawn uniformly."""
        rng = self.rng if rng is None else rng
        opponents = rng.integers(len(self.opponents), size=len(specs))
        seats = rng.integers(len(self.seats), size=len(specs))
        return [
            Task(spec, self.opponents[o], self.seats[s])
            for spec, o, s in zip(specs, opponents, seats, strict=True)
        ]

    def all_tasks(self) -> list[Task]:
        """Every (variant, opponent, seat) combination, in a fixed order."""
        return [
            Task(spec, opponent, seat)
            for spec in self.specs
            for opponent in self.opponents
            for seat in self.seats
        ]

    def describe(self) -> dict[str, Any]:
        """JSON-able summary, stored in checkpoints."""
        return {
            "family": self.family,
            "split": self.split,
            "variants": [spec.name for spec in self.specs],
            "opponents": list(self.opponents),
            "seats": list(self.seats),
        }


def _unique(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
