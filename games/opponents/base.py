"""The opponent protocol: a seeded policy on one seat of B games at once.

An opponent sees exactly what a human in that seat would see: its own
observation and action mask. It keeps whatever memory its style needs (one row
per game), sees every observation of its seat through ``observe`` (including a
finished game's last one), and is told when games are re-dealt. Rows whose mask has no legal
action (the seat is not acting in that game) get action 0, which kernels ignore.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from games.spec import GameSpec


def random_legal(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random legal action per row of ``mask`` (B, N); 0 for empty rows."""
    scores = rng.random(mask.shape) * mask
    actions = scores.argmax(axis=-1)
    return np.where(mask.any(axis=-1), actions, 0).astype(np.int64)


def first_legal(mask: np.ndarray) -> np.ndarray:
    """The lowest-numbered legal action per row; 0 for empty rows."""
    return mask.argmax(axis=-1).astype(np.int64)


class Opponent(ABC):
    """A style of play; see the module docstring."""

    name: str = "opponent"
    description: str = ""

    def __init__(self, spec: GameSpec, seed: int | None = None):
        self.spec = spec
        self.rng = np.random.default_rng(seed)
        self.num_envs = 0

    def reset(self, n: int) -> None:
        """Prepare per-game memory for ``n`` games, all starting fresh."""
        self.num_envs = n
        self.reset_where(np.ones(n, dtype=bool))

    def reset_where(self, which: np.ndarray) -> None:  # noqa: B027 - stateless styles keep nothing
        """Games flagged in ``which`` (B,) were re-dealt; forget what the style keeps per game."""

    def observe(self, obs: np.ndarray) -> None:  # noqa: B027 - most styles learn nothing
        """See the seat's observations (B, *obs_shape) after every step, acting or not.

        Runners call this after each kernel step and before ``reset_where``, so a
        style that learns across games also sees how a finished game ended.
        """

    @abstractmethod
    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Actions (B,) int64 for observations (B, *obs_shape) and masks (B, N); always legal."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.spec.name})"
