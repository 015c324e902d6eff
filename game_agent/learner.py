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

A server's turn observes the reward that came with it and then acts, for a
batch of players at once. :func:`observe_and_act` is that pair of calls. A
learner may answer it in one pass with an optional ``observe_act`` method (same
arguments): every state would otherwise be unwrapped, copied and rewrapped twice,
which costs more than the forward pass of a small network. ``observe_act`` must
give exactly what :func:`observe_then_act`, the reference sequence, gives: the same
decision, states with the same bytes, the same random draws and the same errors; so it
takes rewards and flags through :func:`per_player_rewards`, as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from game_agent.errors import StateError
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


def exact_array(array: object, dtype: np.dtype, shape: tuple[int, ...] | None) -> bool:
    """Whether ``array`` is a C-contiguous ndarray of ``dtype`` (and ``shape``, if given):
    an input a learner's batch checks would take as it is, converting nothing (the test
    of the scalar paths for one player's turn)."""
    return (
        type(array) is np.ndarray
        and array.dtype is dtype
        and array.flags.c_contiguous
        and (shape is None or array.shape == shape)
    )


def exact_draw(draws: object) -> bool:
    """Whether ``draws`` for one player is None or a (1,) float64 array (``exact_array``)
    holding a uniform in [0, 1)."""
    return draws is None or (
        exact_array(draws, _F64, (1,)) and 0.0 <= draws[0] < 1.0  # type: ignore[index]
    )


_F64 = np.dtype(np.float64)


def first_illegal(masks: np.ndarray, actions: np.ndarray) -> int | None:
    """The first row whose action (B,) its mask (B, num_actions) forbids or that lies
    outside the mask, or None when every action is legal (one row is checked as scalars)."""
    if len(actions) == 1:
        action = int(actions[0])
        return None if 0 <= action < masks.shape[1] and masks[0, action] else 0
    inside = (actions >= 0) & (actions < masks.shape[1])
    legal = inside & masks[np.arange(len(actions)), np.where(inside, actions, 0)]
    return None if legal.all() else int(np.flatnonzero(~legal)[0])


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
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        """Choose actions for B players; returns new states (inputs are left untouched).

        ``draws`` (B,) in [0, 1), when given, are the uniforms sampled rows are chosen by
        (:func:`game_agent.sampling.inverse_cdf`) instead of the learner's own generator,
        which then is not advanced; ``greedy`` rows ignore them."""
        ...

    def observe(
        self, states: Sequence[AdaptationState], rewards: np.ndarray, dones: np.ndarray
    ) -> list[AdaptationState]:
        """Record the rewards (B,) and episode-end flags (B,) that followed the last act."""
        ...

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        """Adapt between episodes (RL2: bookkeeping only; MAML: inner-loop gradient steps)."""
        ...


def observe_and_act(
    learner: Learner,
    states: Sequence[AdaptationState],
    rewards: np.ndarray,
    rewarded: np.ndarray,
    obs: np.ndarray,
    masks: np.ndarray,
    *,
    greedy: bool = False,
    draws: np.ndarray | None = None,
) -> tuple[Decision, list[AdaptationState]]:
    """One server turn for B players: observe ``rewards`` (B,) where ``rewarded`` (B,)
    is true (with ``done`` false; other rows' rewards are ignored), then act (``draws``
    as in ``Learner.act``).

    Calls ``learner.observe_act`` where the learner has one (the optional extension of
    the module docstring), else :func:`observe_then_act`. Raises :class:`StateError`
    when ``rewards`` or ``rewarded`` is not one entry per state.
    """
    fused = getattr(learner, "observe_act", None)
    if fused is None:
        return observe_then_act(
            learner, states, rewards, rewarded, obs, masks, greedy=greedy, draws=draws
        )
    return fused(states, rewards, rewarded, obs, masks, greedy=greedy, draws=draws)


def observe_then_act(
    learner: Learner,
    states: Sequence[AdaptationState],
    rewards: np.ndarray,
    rewarded: np.ndarray,
    obs: np.ndarray,
    masks: np.ndarray,
    *,
    greedy: bool = False,
    draws: np.ndarray | None = None,
) -> tuple[Decision, list[AdaptationState]]:
    """:func:`observe_and_act` as two protocol calls: ``observe`` on the rewarded rows
    (skipped when there are none), then ``act`` on every row. The reference every
    ``observe_act`` must reproduce."""
    rewards, rewarded = per_player_rewards(len(states), rewards, rewarded)
    states = list(states)
    rows = np.flatnonzero(rewarded)
    if len(rows):
        observed = learner.observe(
            [states[i] for i in rows], rewards[rows], np.zeros(len(rows), dtype=bool)
        )
        for i, state in zip(rows.tolist(), observed, strict=True):
            states[i] = state
    return learner.act(states, obs, masks, greedy=greedy, draws=draws)


def per_player_rewards(
    n: int, rewards: np.ndarray, rewarded: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``rewards`` as float32 and ``rewarded`` as bool, each checked to be (n,): how every
    ``observe_act`` takes them, so a float64 reward is observed as the float32 the
    reference (:func:`observe_then_act`) observes."""
    rewards = np.asarray(rewards, dtype=np.float32)
    rewarded = np.asarray(rewarded, dtype=bool)
    if rewards.shape != (n,) or rewarded.shape != (n,):
        raise StateError(
            f"observe_and_act got {n} states, rewards of shape {rewards.shape} and "
            f"rewarded flags of shape {rewarded.shape}"
        )
    return rewards, rewarded
