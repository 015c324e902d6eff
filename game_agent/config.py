"""Training configuration files (TOML): what to train, on which tasks, with which settings.

A config names the game family and learner, the task distribution (a named
split, optionally narrowed to explicit variants, opponents or seats), the
training budget, and a ``[learner]`` table with the learner's own settings
(the fields of its config dataclass, e.g. :class:`~game_agent.learners.rl2.RL2Config`)::

    game = "matrix"
    algo = "rl2"
    split = "train"
    seed = 0
    steps = 500000
    checkpoint_every = 100000

    [learner]
    num_lanes = 64
    episodes_per_trial = 1

Unknown keys and mistyped values raise :class:`~game_agent.errors.ConfigError`
naming the file and the key, rather than being silently ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from game_agent.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """One training run, as read from a TOML file (CLI options may override fields)."""

    game: str = ""
    """Game family to train on (``matrix``, ``connect_n``, ``poker``, ``pong``, ...)."""
    algo: str = ""
    """Registered learner name (``rl2``, ``multitask``, ...)."""
    split: str = "train"
    """Named split of the family supplying variants and opponents."""
    variants: tuple[str, ...] | None = None
    """Explicit variant spec strings, replacing the split's."""
    opponents: tuple[str, ...] | None = None
    """Explicit opponent styles, replacing the split's."""
    seats: tuple[int, ...] | None = None
    """Seats the learner plays (default: every seat)."""
    seed: int = 0
    """Seeds the network initialisation, the sampler and every shuffle."""
    steps: int = 100_000
    """Learner decisions to train for, in total (a resumed run counts what it already did)."""
    checkpoint_every: int = 0
    """Decisions between periodic checkpoints; 0 saves only at the end."""
    learner: dict[str, Any] = field(default_factory=dict)
    """Settings of the learner's config dataclass."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with the non-None ``overrides`` applied, refusing contradictions of game/algo."""
        for key in ("game", "algo"):
            given, current = overrides.get(key), getattr(self, key)
            if given is not None and current and given != current:
                raise ConfigError(
                    f"the config file says {key} = {current!r} but {given!r} was asked"
                )
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_TUPLES = {"variants": str, "opponents": str, "seats": int}


def load_train_config(path: str | Path) -> TrainConfig:
    """Parse a TOML training config; errors name the file and the offending key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        values[key] = _check(path, key, value)
    try:
        return TrainConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _check(path: Path, key: str, value: Any) -> Any:
    if key in _TUPLES:
        kind = _TUPLES[key]
        if not isinstance(value, list) or not all(type(v) is kind for v in value):
            raise ConfigError(f"{path}: {key} must be a list of {kind.__name__}, got {value!r}")
        return tuple(value)
    if key == "learner":
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [learner] must be a table, got {value!r}")
        return dict(value)
    expected = type(getattr(TrainConfig, key))
    if type(value) is not expected:
        raise ConfigError(f"{path}: {key} must be a {expected.__name__}, got {value!r}")
    return value
