"""Play trials of K episodes against one task through the Learner protocol.

Evaluation drives a learner exactly as the server does: ``observe`` the reward
since the learner's last decision, ``act`` on its seat, and ``end_episode``
between episodes, with each trial's AdaptationState carried across its K
episodes. So what is measured here is what a player meets in production.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from game_agent.learner import EpisodeOutcome, Learner
from games.opponents.base import Opponent
from games.registry import make_kernel
from games.spec import GameSpec


@dataclass(frozen=True)
class TrialResults:
    """Everything one batch of trials produced, from the learner's seat."""

    returns: np.ndarray
    """(trials, episodes) total reward of each episode."""
    results: np.ndarray
    """(trials, episodes) +1 win, 0 draw, -1 loss."""
    step_rewards: np.ndarray
    """(trials, episodes, max_decisions) reward following each learner decision; NaN-padded."""

    @property
    def wins(self) -> np.ndarray:
        return self.results > 0


def play_trials(
    learner: Learner,
    spec: GameSpec,
    opponent: Opponent,
    *,
    seat: int,
    trials: int,
    episodes: int,
    seed: int,
    greedy: bool = False,
) -> TrialResults:
    """Run ``trials`` independent trials of ``episodes`` episodes each, all batched."""
    kernel = make_kernel(spec)
    step = kernel.reset(trials, seed=seed)
    opponent.reset(trials)
    play = _Bookkeeping(trials, episodes, spec.max_steps)
    states = [learner.initial_state(spec) for _ in range(trials)]
    other = 1 - seat
    while play.live.any():
        actions = np.zeros((trials, spec.num_agents), dtype=np.int64)
        rows = np.flatnonzero(play.live & step.acting[:, seat])
        if len(rows):
            states = _observe(learner, states, rows, play, done=False)
            decision, new = learner.act(
                [states[i] for i in rows],
                step.obs[rows, seat],
                step.action_mask[rows, seat],
                greedy=greedy,
            )
            for i, state in zip(rows, new, strict=True):
                states[i] = state
            actions[rows, seat] = decision.actions
            play.decided(rows)
        actions[:, other] = opponent.act(step.obs[:, other], step.action_mask[:, other])
        step = kernel.step(actions)
        opponent.observe(step.obs[:, other])
        play.rewarded(step.rewards[:, seat])
        ended = np.flatnonzero(step.done & play.live)
        if len(ended):
            states = _observe(learner, states, ended, play, done=True)
            for i in ended:
                states[i] = learner.end_episode(states[i], play.outcome(i))
            play.next_episode(ended)
            again = np.zeros(trials, dtype=bool)
            again[ended] = play.live[ended]
            step = kernel.reset_where(again)
            opponent.reset_where(again)
    return play.results()


def _observe(learner: Learner, states: list, rows: np.ndarray, play: _Bookkeeping, done: bool):
    """Hand the learner the reward since its last decision (skipped before its first one)."""
    rows = rows[play.has_acted[rows]] if not done else rows
    if len(rows) == 0:
        return states
    dones = np.full(len(rows), done)
    new = learner.observe([states[i] for i in rows], play.pending[rows].astype(np.float32), dones)
    for i, state in zip(rows, new, strict=True):
        states[i] = state
    play.pending[rows] = 0.0
    return states


class _Bookkeeping:
    """Per-trial counters: which episode, rewards pending and earned, decisions made."""

    def __init__(self, trials: int, episodes: int, max_steps: int):
        self.episodes = episodes
        self.episode = np.zeros(trials, dtype=np.int64)
        self.pending = np.zeros(trials, dtype=np.float64)
        self.has_acted = np.zeros(trials, dtype=bool)
        self.decisions = np.zeros(trials, dtype=np.int64)
        self.returns = np.zeros((trials, episodes))
        self.step_rewards = np.full((trials, episodes, max_steps), np.nan)

    @property
    def live(self) -> np.ndarray:
        return self.episode < self.episodes

    def decided(self, rows: np.ndarray) -> None:
        self.has_acted[rows] = True
        self.decisions[rows] += 1
        slot = np.clip(self.decisions[rows] - 1, 0, self.step_rewards.shape[2] - 1)
        self.step_rewards[rows, self.episode[rows], slot] = 0.0

    def rewarded(self, rewards: np.ndarray) -> None:
        live = np.flatnonzero(self.live)
        self.pending[live] += rewards[live]
        self.returns[live, self.episode[live]] += rewards[live]
        acted = live[self.decisions[live] > 0]
        slot = np.clip(self.decisions[acted] - 1, 0, self.step_rewards.shape[2] - 1)
        self.step_rewards[acted, self.episode[acted], slot] += rewards[acted]

    def outcome(self, i: int) -> EpisodeOutcome:
        total = float(self.returns[i, self.episode[i]])
        return EpisodeOutcome(total, int(np.sign(total)), int(self.decisions[i]))

    def next_episode(self, rows: np.ndarray) -> None:
        self.episode[rows] += 1
        self.has_acted[rows] = False
        self.decisions[rows] = 0

    def results(self) -> TrialResults:
        return TrialResults(
            returns=self.returns,
            results=np.sign(self.returns).astype(np.int64),
            step_rewards=self.step_rewards,
        )
