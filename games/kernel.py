"""Batched rule kernels: the one place each family's rules are written.

A kernel advances B independent games at once with numpy arrays that carry a
leading batch dimension. PettingZoo envs wrap a batch of one; meta-training
steps thousands. Every kernel speaks the same step format (:class:`Step`),
whether its seats alternate or move simultaneously:

- ``acting[b, i]`` says seat ``i`` must choose an action in game ``b`` now
  (exactly one seat in turn-based games, every seat in simultaneous ones);
- ``step(actions)`` takes ``actions`` of shape (B, num_agents) and reads only
  the entries of acting seats (others are ignored, conventionally 0);
- rewards are what each seat received from that step; zero-sum games pay
  +1/-1 at the end unless the family's rules table says otherwise;
- a finished game stays finished (``done``) until ``reset_where`` re-deals it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np

from games.errors import IllegalActionError
from games.spec import GameSpec


class Step(NamedTuple):
    """What a kernel returns after ``reset`` or ``step``, for all B games."""

    obs: np.ndarray
    """(B, num_agents, *obs_shape) float32: each seat's own view of its game."""
    action_mask: np.ndarray
    """(B, num_agents, num_actions) bool: legal actions; all False for a seat not acting."""
    acting: np.ndarray
    """(B, num_agents) bool: which seats must act next (none once the game is done)."""
    rewards: np.ndarray
    """(B, num_agents) float32: reward each seat received from the last step."""
    terminated: np.ndarray
    """(B,) bool: the game ended by its rules on the last step."""
    truncated: np.ndarray
    """(B,) bool: the game was cut off by a step limit on the last step."""

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated

    def row(self, b: int) -> Step:
        """The same step restricted to game ``b`` (a batch of one)."""
        return Step(*(field[b : b + 1] for field in self))


class BatchKernel(ABC):
    """Base class for a family's batched rules; see the module docstring."""

    def __init__(self, spec: GameSpec):
        self.spec = spec
        self.num_envs = 0
        self._rng = np.random.default_rng()

    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self, n: int, seed: int | None = None) -> Step:
        """Start ``n`` fresh games; ``seed`` makes any chance (deals, serves) reproducible."""
        if n < 1:
            raise ValueError(f"a kernel needs at least one game, got n={n}")
        if seed is not None:
            self.seed(seed)
        self.num_envs = n
        self._allocate(n)
        return self.reset_where(np.ones(n, dtype=bool))

    def step(self, actions: np.ndarray) -> Step:
        """Advance every unfinished game by one step.

        ``actions`` is (B, num_agents) of ints; only acting seats' entries are read.
        Raises :class:`~games.errors.IllegalActionError` naming the game and seat
        when an acting seat's action is illegal: a kernel never plays a silently wrong move.
        """
        actions = np.asarray(actions)
        expected = (self.num_envs, self.spec.num_agents)
        if actions.shape != expected:
            raise IllegalActionError(f"actions must have shape {expected}, got {actions.shape}")
        self._check_legal(actions)
        return self._step(actions.astype(np.int64, copy=False))

    def _check_legal(self, actions: np.ndarray) -> None:
        mask, acting = self._current_mask(), self._current_acting()
        safe = np.clip(actions, 0, self.spec.num_actions - 1)
        in_range = (actions >= 0) & (actions < self.spec.num_actions)
        chosen = np.take_along_axis(mask, safe[..., None], axis=-1)[..., 0]
        bad = acting & ~(in_range & chosen)
        if bad.any():
            b, seat = map(int, np.argwhere(bad)[0])
            legal = np.flatnonzero(mask[b, seat]).tolist()
            raise IllegalActionError(
                f"illegal action {int(actions[b, seat])} for seat {seat} "
                f"({self.spec.agents[seat]}) in game {b}; legal actions: {legal}"
            )

    @abstractmethod
    def _allocate(self, n: int) -> None:
        """Create the state arrays for ``n`` games (their contents are set by reset_where)."""

    @abstractmethod
    def reset_where(self, which: np.ndarray) -> Step:
        """Re-deal the games where ``which`` (B,) is True; return the full Step for all B.

        Rewards and terminated/truncated of re-dealt games are zero/False.
        """

    @abstractmethod
    def _step(self, actions: np.ndarray) -> Step:
        """Apply already-validated actions; finished games are left unchanged."""

    @abstractmethod
    def _current_mask(self) -> np.ndarray:
        """(B, num_agents, num_actions) legal-action mask of the current position."""

    @abstractmethod
    def _current_acting(self) -> np.ndarray:
        """(B, num_agents) which seats act in the current position."""
