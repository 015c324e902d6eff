"""StepLearner: a deterministic Learner whose moves tell whether any turn was lost or repeated.

Its action depends on how many turns and episodes its state has seen and on
the rewards it observed, so a turn applied twice (or lost) changes every later
action; :func:`replay` recomputes the expected actions in-process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from game_agent.learner import Decision, EpisodeOutcome
from game_agent.state import AdaptationState
from games import GameSpec, parse_spec

FAMILIES = ("connect_n", "matrix", "poker", "pong")


class StepLearner:
    """Plays legal action number ``(turns + 2 * episodes + round(reward_sum)) mod L``."""

    name = "step"

    def __init__(self, families: Sequence[str] = FAMILIES):
        self.families = tuple(families)

    def supports(self, spec: GameSpec) -> bool:
        return spec.family in self.families

    def initial_state(self, spec: GameSpec) -> AdaptationState:
        arrays = {"counts": np.zeros(2, dtype=np.int64), "reward_sum": np.zeros(1)}
        return AdaptationState(self.name, spec.name, arrays, {})

    @staticmethod
    def choose(state: AdaptationState, mask: np.ndarray) -> int:
        turns, episodes = (int(c) for c in state.arrays["counts"])
        legal = np.flatnonzero(mask)
        shift = round(float(state.arrays["reward_sum"][0]))
        return int(legal[(turns + 2 * episodes + shift) % len(legal)])

    def act(self, states, obs, masks, *, greedy=False, draws=None):
        actions, probs, values, new_states = [], [], [], []
        for state, mask in zip(states, masks, strict=True):
            actions.append(self.choose(state, mask))
            probs.append(mask / mask.sum())
            values.append(float(state.arrays["counts"][0]))
            new = state.copy()
            new.arrays["counts"][0] += 1
            new_states.append(new)
        decision = Decision(
            np.array(actions, dtype=np.int64),
            np.stack(probs).astype(np.float32),
            np.array(values, dtype=np.float32),
        )
        return decision, new_states

    def observe(self, states, rewards, dones):
        out = []
        for state, reward in zip(states, rewards, strict=True):
            new = state.copy()
            new.arrays["reward_sum"][0] += float(reward)
            out.append(new)
        return out

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        new = state.copy()
        new.arrays["counts"][1] += 1
        return new


def replay(spec: str | GameSpec, script) -> list[int]:
    """The actions StepLearner takes for ``script``: ("act", mask, reward) / ("end", reward)."""
    learner, spec = StepLearner(), parse_spec(spec)
    state, acted, actions = learner.initial_state(spec), False, []
    for step in script:
        if step[0] == "act":
            _, mask, reward = step
            if acted:
                [state] = learner.observe([state], np.array([reward]), np.array([False]))
            obs = np.zeros((1, *spec.obs_shape), np.float32)
            decision, [state] = learner.act([state], obs, np.array([mask], dtype=bool))
            actions.append(int(decision.actions[0]))
            acted = True
        else:
            if acted:
                [state] = learner.observe([state], np.array([step[1]]), np.array([True]))
            state = learner.end_episode(state, EpisodeOutcome(0.0, 0, 0))
            acted = False
    return actions
