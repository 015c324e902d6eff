"""A BatchKernel over B copies of any PettingZoo env (see the package docstring)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from games.errors import SpecError
from games.kernel import BatchKernel, Step
from games.spec import GameSpec


def load_env_fn(path: str) -> Callable[[], Any]:
    """Import ``package.module:callable``; errors name the path and what is wrong."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise SpecError(f"env must look like 'package.module:env_fn', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(f"cannot import module {module_name!r} for env {path!r}: {exc}") from None
    env_fn = getattr(module, attr, None)
    if not callable(env_fn):
        raise SpecError(f"{module_name} has no callable {attr!r} (from env {path!r})")
    return env_fn


def make_env(spec: GameSpec, render_mode: str | None = None) -> AECEnv | ParallelEnv:
    """The user's own env (its native API), as ``games.make`` returns for other families."""
    env_fn = load_env_fn(spec.param("env"))
    return env_fn(render_mode=render_mode) if render_mode else env_fn()


def _aec(spec_or_path: GameSpec | str) -> AECEnv:
    path = spec_or_path if isinstance(spec_or_path, str) else spec_or_path.param("env")
    env = load_env_fn(path)()
    if isinstance(env, ParallelEnv):
        env = parallel_to_aec(env)
    if not isinstance(env, AECEnv):
        raise SpecError(
            f"{path} returned {type(env).__name__}, not a PettingZoo AEC or Parallel env"
        )
    return env


def build_spec(values: dict[str, Any]) -> GameSpec:
    env = _aec(values["env"])
    agents = tuple(env.possible_agents)
    obs_space = env.observation_space(agents[0])
    act_space = env.action_space(agents[0])
    path = values["env"]
    if isinstance(obs_space, spaces.Dict):
        if not {"observation", "action_mask"} <= set(obs_space):
            raise SpecError(f"{path}: dict observations need 'observation' and 'action_mask' keys")
        box = obs_space["observation"]
    else:
        box = obs_space
    if not isinstance(act_space, spaces.Discrete):
        raise SpecError(f"{path}: the action space must be Discrete, got {act_space}")
    if not isinstance(box, spaces.Box):
        raise SpecError(f"{path}: 'observation' must be a Box space, got {box}")
    return GameSpec(
        family="pettingzoo",
        params=tuple(sorted(values.items())),
        agents=agents,
        obs_shape=tuple(box.shape),
        num_actions=int(act_space.n),
        turn_based=True,
        max_steps=values["max_steps"],
        obs_low=float(np.min(box.low)),
        obs_high=float(np.max(box.high)),
    )


def _split(observed: Any) -> tuple[np.ndarray, np.ndarray | bool]:
    """(observation, legal mask) from a dict observation, or a plain one with every action legal."""
    if isinstance(observed, dict):
        mask = np.asarray(observed["action_mask"]) > 0
        return np.asarray(observed["observation"], np.float32), mask
    return np.asarray(observed, np.float32), True


def _is_dead(env: AECEnv, agent: str) -> bool:
    return bool(env.terminations.get(agent) or env.truncations.get(agent))


class PettingZooKernel(BatchKernel):
    """Steps B env copies one by one; rewards accumulate between the learner's decisions."""

    def _allocate(self, n: int) -> None:
        self._envs = [_aec(self.spec) for _ in range(n)]
        shape = (n, self.spec.num_agents)
        self._obs = np.zeros((*shape, *self.spec.obs_shape), dtype=np.float32)
        self._mask = np.zeros((*shape, self.spec.num_actions), dtype=bool)
        self._acting = np.zeros(shape, dtype=bool)
        self._done = np.zeros(n, dtype=bool)
        self._steps = np.zeros(n, dtype=np.int64)

    def reset_where(self, which: np.ndarray) -> Step:
        n = self.num_envs
        rewards = np.zeros((n, self.spec.num_agents), dtype=np.float32)
        for b in np.flatnonzero(which):
            self._envs[b].reset(seed=int(self._rng.integers(2**31)))
            self._done[b], self._steps[b] = False, 0
            self._refresh(b)
        return self._result(rewards, np.zeros(n, bool), np.zeros(n, bool))

    def _step(self, actions: np.ndarray) -> Step:
        n = self.num_envs
        rewards = np.zeros((n, self.spec.num_agents), dtype=np.float32)
        terminated, truncated = np.zeros(n, bool), np.zeros(n, bool)
        for b in np.flatnonzero(~self._done):
            env = self._envs[b]
            seat = self.spec.agents.index(env.agent_selection)
            env.step(int(actions[b, seat]))
            rewards[b] = [env.rewards.get(agent, 0.0) for agent in self.spec.agents]
            self._steps[b] += 1
            truncated[b] = any(env.truncations.values())
            while env.agents and _is_dead(env, env.agent_selection):
                env.step(None)  # PettingZoo retires finished agents with a None action
            if not env.agents:
                terminated[b] = not truncated[b]
            elif self._steps[b] >= self.spec.max_steps:
                truncated[b] = True
            self._done[b] = terminated[b] or truncated[b]
            self._refresh(b)
        return self._result(rewards, terminated, truncated)

    def _refresh(self, b: int) -> None:
        env = self._envs[b]
        self._acting[b] = False
        self._mask[b] = False
        for seat, agent in enumerate(self.spec.agents):
            if agent in env.agents:
                self._obs[b, seat] = _split(env.observe(agent))[0]
        if not self._done[b] and env.agents:
            seat = self.spec.agents.index(env.agent_selection)
            self._acting[b, seat] = True
            self._mask[b, seat] = _split(env.observe(env.agent_selection))[1]

    def _result(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> Step:
        return Step(
            self._obs.copy(), self._mask.copy(), self._acting.copy(), rewards, terminated, truncated
        )

    def _current_mask(self) -> np.ndarray:
        return self._mask

    def _current_acting(self) -> np.ndarray:
        return self._acting
