"""A minimal user-written Parallel env with Box observations and no action mask.

Two players pick 0 or 1 each step for 3 steps; player_0 scores when the picks
match, player_1 when they differ. The observation is the step counter.
"""

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class MatchingBits(ParallelEnv):
    metadata = {"name": "matching_bits_v0", "render_modes": []}  # noqa: RUF012

    def __init__(self):
        self.possible_agents = ["player_0", "player_1"]
        self._obs_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return spaces.Discrete(2)

    def _observations(self):
        return {a: np.array([self.t / 3], dtype=np.float32) for a in self.agents}

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        match = actions["player_0"] == actions["player_1"]
        rewards = {"player_0": 1.0 if match else -1.0, "player_1": -1.0 if match else 1.0}
        done = self.t >= 3
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        observations, infos = self._observations(), {a: {} for a in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos


def env():
    return MatchingBits()
