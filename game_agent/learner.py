"""The Learner protocol every meta-RL method implements.

A learner is shared by every player and never mutated by play: what it learns
about one player lives in that player's :class:`AdaptationState`. All calls
are batched over players (B states, B observations) so the server can answer
many sessions with one forward pass.

Life of one episode for one player::

    state = learner.initial_state(spec)
    loop:
        decision, [state] = learner.act([state], obs[None], mask[None])
        ... the game applies decision.actions[0] ...
        [state] = learner.observe([state], reward[None], done[None])
    state = learner.end_episode(state, outcome)   # adaptation between episodes

``end_episode`` may be slow (MAML's gradient steps), so a server runs it off the
turn path. A learner whose ``end_episode`` is bookkeeping only says so with a
``cheap_end_episode = True`` attribute (:func:`has_cheap_end_episode`), and a
server may then run it with the episode's last turn and store both at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from game_agent.state import AdaptationState
from games.spec import GameSpec


class Decision(NamedTuple):
    """A batch of chosen actions with the policy's view of them."""

    actions: np.ndarray
    """(B,) int64: chosen actions; always legal under the given masks."""
    probs: np.ndarray
    """(B, num_actions) float32: action probabilities (0 for masked actions)."""
    values: np.ndarray
    """(B,) float32: the value estimate of the current position."""


class EpisodeOutcome(NamedTuple):
    """How one episode ended, from the learner's seat."""

    total_reward: float
    """Sum of the learner's rewards over the episode."""
    result: int
    """+1 win, 0 draw, -1 loss (the sign of ``total_reward`` when the game has no winner)."""
    length: int
    """Number of decisions the learner made in the episode."""


def has_cheap_end_episode(learner: object) -> bool:
    """True when ``learner`` declares ``end_episode`` bookkeeping only; unknown: False."""
    return bool(getattr(learner, "cheap_end_episode", False))


@runtime_checkable
class Learner(Protocol):
    """See the module docstring; implemented by RL2, MAML and the multi-task baseline."""

    name: str

    def supports(self, spec: GameSpec) -> bool:
        """True when this learner's network can play ``spec``."""
        ...

    def initial_state(self, spec: GameSpec) -> AdaptationState:
        """The state of a player the learner has never met."""
        ...

    def act(
        self,
        states: Sequence[AdaptationState],
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
    ) -> tuple[Decision, list[AdaptationState]]:
        """Choose actions for B players; returns new states (inputs are left untouched)."""
        ...

    def observe(
        self, states: Sequence[AdaptationState], rewards: np.ndarray, dones: np.ndarray
    ) -> list[AdaptationState]:
        """Record the rewards (B,) and episode-end flags (B,) that followed the last act."""
        ...

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        """Adapt between episodes (RL2: bookkeeping only; MAML: inner-loop gradient steps)."""
        ...
