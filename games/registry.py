"""The registry of game families and the spec-string grammar.

A spec string names a family and, optionally, some of its parameters:
``connect_n``, ``connect_n(rows=6,cols=7,k=4,gravity=true)``,
``matrix(name=rpsls,rounds=50)``. Omitted parameters take the family's
defaults; :func:`parse_spec` validates every value and the variant as a whole.

Families are imported lazily, so asking for ``matrix`` never imports pygame or
another family's code.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from games.errors import SpecError, UnknownOpponentError
from games.kernel import BatchKernel
from games.spec import GameSpec, format_value

if TYPE_CHECKING:
    from games.opponents.base import Opponent

_FAMILY_MODULES = {
    "connect_n": "games.connect_n",
    "matrix": "games.matrix",
    "poker": "games.poker",
    "pong": "games.pong",
    "pettingzoo": "games.pettingzoo_env",
}

_SPEC_RE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Param:
    """One variant parameter of a family."""

    name: str
    kind: type
    """``int``, ``float``, ``bool`` or ``str``."""
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    """Allowed values, when the parameter is an enumeration."""
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, family: str, raw: Any) -> Any:
        value = _convert(family, self, raw)
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(format_value(c) for c in self.choices)
            raise SpecError(f"{family}: {self.name}={format_value(value)} is not one of {allowed}")
        if self.minimum is not None and value < self.minimum:
            raise SpecError(f"{family}: {self.name} must be >= {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise SpecError(f"{family}: {self.name} must be <= {self.maximum}, got {value}")
        return value


@dataclass(frozen=True)
class Split:
    """Variants and opponents of one named split (``train`` or ``heldout``)."""

    variants: tuple[str, ...]
    opponents: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    """Everything the registry knows about one game family."""

    name: str
    params: tuple[Param, ...]
    build_spec: Callable[[dict[str, Any]], GameSpec]
    """Turns complete, individually valid parameters into a spec; raises SpecError
    for impossible combinations (e.g. k larger than the board)."""
    kernel: type[BatchKernel]
    env: Callable[..., Any]
    """PettingZoo env class: ``env(spec, render_mode=None)``."""
    opponents: Mapping[str, Callable[..., Opponent]]
    """Opponent factories by style name: ``factory(spec, seed=None)``."""
    splits: Mapping[str, Split]
    doc: str = ""
    parallel: bool = False
    """True when ``env`` is a PettingZoo ParallelEnv (simultaneous moves)."""
    best_response_value: Callable[[GameSpec, str, int], float | None] | None = None
    """Exact expected reward per episode of the best response, from ``seat``, to the
    opponent style named; None (or a None result) where it cannot be computed."""
    equilibrium_value: Callable[[GameSpec, int], float | None] | None = None
    """Expected reward per episode from ``seat`` when both seats play an equilibrium."""
    extra: Mapping[str, Any] = field(default_factory=dict)


def list_families() -> list[str]:
    """Names of every registered family."""
    return sorted(_FAMILY_MODULES)


def get_family(name: str) -> Family:
    """The :class:`Family` registered under ``name``."""
    module = _FAMILY_MODULES.get(name)
    if module is None:
        known = ", ".join(list_families())
        raise SpecError(f"unknown game family {name!r}; known families: {known}")
    return importlib.import_module(module).FAMILY


def parse_spec(spec: str | GameSpec) -> GameSpec:
    """Parse and validate a spec string such as ``connect_n(rows=5,cols=6,k=4)``."""
    if isinstance(spec, GameSpec):
        return spec
    if not isinstance(spec, str):
        raise SpecError(f"a game spec must be a string, got {type(spec).__name__}")
    match = _SPEC_RE.match(spec)
    if match is None:
        raise SpecError(
            f"cannot parse game spec {spec!r}; expected e.g. 'connect_n(rows=6,cols=7,k=4)'"
        )
    family = get_family(match.group(1).lower())
    given = _parse_arguments(spec, match.group(2) or "")
    by_name = {p.name: p for p in family.params}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise SpecError(
            f"{family.name} has no parameter {', '.join(unknown)}; "
            f"its parameters are {', '.join(sorted(by_name))}"
        )
    values = {p.name: p.coerce(family.name, given.get(p.name, p.default)) for p in family.params}
    return family.build_spec(values)


def make_kernel(spec: str | GameSpec) -> BatchKernel:
    """A batched kernel for the variant (call ``reset(n, seed)`` to start n games)."""
    spec = parse_spec(spec)
    return get_family(spec.family).kernel(spec)


def make(spec: str | GameSpec, render_mode: str | None = None) -> Any:
    """The PettingZoo env for the variant (AEC for turn-based families, Parallel otherwise)."""
    spec = parse_spec(spec)
    return get_family(spec.family).env(spec, render_mode=render_mode)


def list_opponents(family: str) -> list[str]:
    """Names of the scripted opponent styles of a family."""
    return sorted(get_family(family).opponents)


def make_opponent(spec: str | GameSpec, name: str, seed: int | None = None) -> Opponent:
    """A seeded opponent of style ``name`` for the variant."""
    spec = parse_spec(spec)
    factories = get_family(spec.family).opponents
    if name not in factories:
        raise UnknownOpponentError(
            f"{spec.family} has no opponent {name!r}; known: {', '.join(sorted(factories))}"
        )
    return factories[name](spec, seed=seed)


def best_response_value(spec: str | GameSpec, opponent: str, seat: int) -> float | None:
    """Exact best-response value per episode against ``opponent``, or None."""
    spec = parse_spec(spec)
    solver = get_family(spec.family).best_response_value
    return None if solver is None else solver(spec, opponent, seat)


def equilibrium_value(spec: str | GameSpec, seat: int) -> float | None:
    """The game's equilibrium value per episode for ``seat``, or None where unknown."""
    spec = parse_spec(spec)
    solver = get_family(spec.family).equilibrium_value
    return None if solver is None else solver(spec, seat)


def get_split(family: str, split: str) -> Split:
    """The named split (``train`` or ``heldout``) of a family."""
    splits = get_family(family).splits
    if split not in splits:
        raise SpecError(f"{family} has no split {split!r}; known: {', '.join(sorted(splits))}")
    return splits[split]


def _parse_arguments(spec: str, body: str) -> dict[str, str]:
    arguments: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise SpecError(f"in {spec!r}: {part!r} is not of the form name=value")
        if key in arguments:
            raise SpecError(f"in {spec!r}: parameter {key!r} is given twice")
        arguments[key] = value
    return arguments


def _convert(family: str, param: Param, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        if param.kind is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(text)
        return param.kind(text)
    except ValueError:
        raise SpecError(
            f"{family}: {param.name}={text!r} is not a valid {param.kind.__name__}"
        ) from None
