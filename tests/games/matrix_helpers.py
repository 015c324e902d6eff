"""Playing whole matrix matches in tests: a scripted agent against a registered style."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import games
from games.opponents.base import Opponent

Agent = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(obs (B, size), mask (B, 5)) -> actions (B,), from the agent's own seat."""


class Match(NamedTuple):
    totals: np.ndarray
    """(B,) the agent's total reward over the match."""
    moves: np.ndarray
    """(B, rounds, 2): (agent's move, opponent's move) per round."""
    opponent: Opponent


def play(
    spec: str,
    style: str,
    agent: Agent,
    n: int,
    seed: int = 0,
    agent_seat: int = 0,
) -> Match:
    """``n`` matches of ``agent`` (in ``agent_seat``) against ``style`` (in the other seat)."""
    spec = games.parse_spec(spec)
    kernel = games.make_kernel(spec)
    opponent = games.make_opponent(spec, style, seed=seed)
    step = kernel.reset(n)
    opponent.reset(n)
    other = 1 - agent_seat
    totals = np.zeros(n)
    moves = np.zeros((n, spec.max_steps, 2), dtype=np.int64)
    for r in range(spec.max_steps):
        actions = np.zeros((n, 2), dtype=np.int64)
        actions[:, agent_seat] = agent(step.obs[:, agent_seat], step.action_mask[:, agent_seat])
        actions[:, other] = opponent.act(step.obs[:, other], step.action_mask[:, other])
        moves[:, r] = actions[:, [agent_seat, other]]
        step = kernel.step(actions)
        totals += step.rewards[:, agent_seat]
    assert step.terminated.all()
    return Match(totals, moves, opponent)


def their_last(obs: np.ndarray) -> np.ndarray:
    """(B,) the other seat's newest move from an observation, -1 before round 1."""
    onehot = obs[:, 5:10]
    return np.where(onehot.max(axis=1) > 0, onehot.argmax(axis=1), -1)


def my_last(obs: np.ndarray) -> np.ndarray:
    """(B,) this seat's newest move from an observation, -1 before round 1."""
    onehot = obs[:, 0:5]
    return np.where(onehot.max(axis=1) > 0, onehot.argmax(axis=1), -1)


def constant(action: int) -> Agent:
    return lambda obs, mask: np.full(len(obs), action, dtype=np.int64)


def cycler(n: int, step: int = 1) -> Agent:
    """Plays 0, step, 2*step, ... mod n (R->P->S for step 1 in RPS)."""
    return lambda obs, mask: np.where(my_last(obs) >= 0, (my_last(obs) + step) % n, 0)


def beat_their_last(n: int) -> Agent:
    """The naive follower: plays what beats the other's last move in n-action RPS."""
    return lambda obs, mask: np.where(their_last(obs) >= 0, (their_last(obs) + 1) % n, 0)


def biased(probs, seed: int) -> Agent:
    rng = np.random.default_rng(seed)
    probs = np.asarray(probs, dtype=np.float64)
    return lambda obs, mask: rng.choice(len(probs), size=len(obs), p=probs).astype(np.int64)
