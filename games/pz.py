"""PettingZoo envs as thin wrappers over a batch of one kernel game.

Each family subclasses :class:`KernelAECEnv` (seats alternate) or
:class:`KernelParallelEnv` (seats move together), sets ``metadata`` and its
rules-table docstring, and may override ``_render_frame`` (importing pygame
there, never at module level). The rules themselves live only in the kernel.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from games.errors import GameError
from games.kernel import BatchKernel, Step
from games.registry import get_family, parse_spec
from games.spec import GameSpec


def _spaces(spec: GameSpec) -> tuple[dict[str, spaces.Space], dict[str, spaces.Space]]:
    observation = spaces.Dict(
        {
            "observation": spaces.Box(
                spec.obs_low, spec.obs_high, shape=spec.obs_shape, dtype=np.float32
            ),
            "action_mask": spaces.Box(0, 1, shape=(spec.num_actions,), dtype=np.int8),
        }
    )
    obs_spaces = {agent: observation for agent in spec.agents}
    act_spaces = {agent: spaces.Discrete(spec.num_actions) for agent in spec.agents}
    return obs_spaces, act_spaces


class _KernelEnvMixin:
    """What the AEC and Parallel wrappers share: the kernel, the spaces, rendering."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": 4}

    def _setup(self, spec: str | GameSpec, render_mode: str | None) -> None:
        self.spec = parse_spec(spec)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.kernel: BatchKernel = get_family(self.spec.family).kernel(self.spec)
        self.possible_agents = list(self.spec.agents)
        self.observation_spaces, self.action_spaces = _spaces(self.spec)
        self._last: Step | None = None
        self._screen = None

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def _seat_obs(self, seat: int) -> dict[str, np.ndarray]:
        assert self._last is not None, "observe() called before reset()"
        return {
            "observation": self._last.obs[0, seat].astype(np.float32, copy=True),
            "action_mask": self._last.action_mask[0, seat].astype(np.int8),
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            import gymnasium

            gymnasium.logger.warn("render() called without a render_mode; nothing to draw")
            return None
        return self._render_frame()

    def _render_frame(self) -> np.ndarray | None:
        raise GameError(f"{type(self).__name__} has no renderer")

    def close(self) -> None:
        if self._screen is not None:
            import pygame

            pygame.display.quit()
            self._screen = None


class KernelAECEnv(_KernelEnvMixin, AECEnv):
    """AEC env over a turn-based kernel: exactly one seat acts at a time."""

    def __init__(self, spec: str | GameSpec, render_mode: str | None = None):
        super().__init__()
        self._setup(spec, render_mode)

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._last = self.kernel.reset(1, seed=seed)
        self.agents = list(self.possible_agents)
        self.rewards = {agent: 0.0 for agent in self.agents}
        self._cumulative_rewards = {agent: 0.0 for agent in self.agents}
        self.terminations = {agent: False for agent in self.agents}
        self.truncations = {agent: False for agent in self.agents}
        self.infos = {agent: {} for agent in self.agents}
        self.agent_selection = self._acting_agent()
        if self.render_mode == "human":
            self.render()

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        return self._seat_obs(self.possible_agents.index(agent))

    def step(self, action: int | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        seat = self.possible_agents.index(agent)
        actions = np.zeros((1, self.spec.num_agents), dtype=np.int64)
        actions[0, seat] = action
        self._last = self.kernel.step(actions)
        self._cumulative_rewards[agent] = 0.0
        for i, name in enumerate(self.possible_agents):
            self.rewards[name] = float(self._last.rewards[0, i])
        if self._last.done[0]:
            terminated, truncated = bool(self._last.terminated[0]), bool(self._last.truncated[0])
            for name in self.agents:
                self.terminations[name] = terminated
                self.truncations[name] = truncated
            self.agent_selection = self.possible_agents[(seat + 1) % self.spec.num_agents]
        else:
            self.agent_selection = self._acting_agent()
        self._accumulate_rewards()
        if self.render_mode == "human":
            self.render()

    def _acting_agent(self) -> str:
        assert self._last is not None
        seats = np.flatnonzero(self._last.acting[0])
        assert len(seats) == 1, "a turn-based kernel must have exactly one acting seat"
        return self.possible_agents[int(seats[0])]


class KernelParallelEnv(_KernelEnvMixin, ParallelEnv):
    """Parallel env over a simultaneous-move kernel: every seat acts every step."""

    def __init__(self, spec: str | GameSpec, render_mode: str | None = None):
        self._setup(spec, render_mode)
        self.agents: list[str] = []

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, dict], dict[str, dict]]:
        self._last = self.kernel.reset(1, seed=seed)
        self.agents = list(self.possible_agents)
        if self.render_mode == "human":
            self.render()
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        missing = [agent for agent in self.agents if agent not in actions]
        if missing:
            raise ValueError(f"step() needs an action for every live agent; missing {missing}")
        joint = np.zeros((1, self.spec.num_agents), dtype=np.int64)
        for seat, agent in enumerate(self.possible_agents):
            joint[0, seat] = actions.get(agent, 0)
        self._last = self.kernel.step(joint)
        observations = self._observations()
        rewards = {a: float(self._last.rewards[0, i]) for i, a in enumerate(self.possible_agents)}
        terminations = {agent: bool(self._last.terminated[0]) for agent in self.agents}
        truncations = {agent: bool(self._last.truncated[0]) for agent in self.agents}
        infos = {agent: {} for agent in self.agents}
        if self._last.done[0]:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        return {agent: self._seat_obs(self.possible_agents.index(agent)) for agent in self.agents}
