"""One seat of a two-seat game as a gymnasium Env, the other seat played by an Opponent.

Single-agent libraries (stable-baselines3's PPO, the from-scratch baseline)
train through this: the learner's seat is the agent, the opponent is part of
the environment. The observation is the seat's egocentric observation; the
action mask, which plain PPO cannot use, is in ``info["action_mask"]`` and
``action_masks()`` (the sb3-contrib convention). Turn-based games skip the
opponent's turns inside ``reset`` and ``step``, so every ``step`` is one move
of the learner; the reward is what its seat received over those kernel steps.
A seeded ``reset`` also reseeds the opponent, so a seeded episode repeats exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from games.errors import GameError, IllegalActionError
from games.kernel import Step
from games.opponents.base import Opponent, random_legal
from games.registry import make_kernel, parse_spec
from games.spec import GameSpec

ILLEGAL_MODES = ("raise", "random_legal")


class SingleAgentEnv(gymnasium.Env):
    """The game ``spec`` seen from ``seat``, against ``opponent`` on the other seat.

    ``illegal`` says what a masked-out action does: ``"raise"`` an
    :class:`~games.errors.IllegalActionError` (the default: nothing is played
    silently), or ``"random_legal"``: play a uniformly random legal action
    instead and flag ``info["illegal_action"]``, for learners that cannot mask.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    game_spec: GameSpec
    """The game variant (``spec`` is gymnasium's registration record, None here)."""

    def __init__(
        self,
        spec: str | GameSpec,
        opponent: Opponent,
        seat: int = 0,
        illegal: str = "raise",
    ):
        self.game_spec = parse_spec(spec)
        if self.game_spec.num_agents != 2:
            raise GameError(
                f"SingleAgentEnv needs a two-seat game; {self.game_spec.name} has "
                f"{self.game_spec.num_agents} seats"
            )
        if seat not in (0, 1):
            raise GameError(f"seat must be 0 or 1, got {seat!r}")
        if illegal not in ILLEGAL_MODES:
            raise GameError(f"illegal must be one of {ILLEGAL_MODES}, got {illegal!r}")
        self.opponent, self.seat, self.illegal = opponent, seat, illegal
        self.kernel = make_kernel(self.game_spec)
        self.observation_space = spaces.Box(
            self.game_spec.obs_low,
            self.game_spec.obs_high,
            shape=self.game_spec.obs_shape,
            dtype=np.float32,
        )
        self.action_space = spaces.Discrete(self.game_spec.num_actions)
        self._last: Step | None = None

    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._last = self.kernel.reset(1, seed=seed)
        if seed is not None:  # a seeded episode repeats exactly, the opponent's chances included
            self.opponent.rng = np.random.default_rng([seed, 1])
        self.opponent.reset(1)
        self._play_opponent_turns()
        return self._obs(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._last is None or self._last.done[0]:
            raise GameError("step() called on a finished episode; call reset() first")
        action, replaced = self._legal(int(action))
        joint = self._opponent_actions()
        joint[0, self.seat] = action
        self._last = self.kernel.step(joint)
        reward = float(self._last.rewards[0, self.seat]) + self._play_opponent_turns()
        info = self._info()
        if replaced:
            info["illegal_action"] = True
        terminated, truncated = bool(self._last.terminated[0]), bool(self._last.truncated[0])
        return self._obs(), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Legal actions of the learner's seat now, as bools."""
        assert self._last is not None, "action_masks() called before reset()"
        return self._last.action_mask[0, self.seat].copy()

    def _legal(self, action: int) -> tuple[int, bool]:
        mask = self.action_masks()
        if 0 <= action < len(mask) and mask[action]:
            return action, False
        if self.illegal == "raise":
            agent, name = self.game_spec.agents[self.seat], self.game_spec.name
            raise IllegalActionError(
                f"illegal action {action} for {agent} in {name}; "
                f"legal actions: {np.flatnonzero(mask).tolist()}"
            )
        return int(random_legal(mask[None], self.np_random)[0]), True

    def _opponent_actions(self) -> np.ndarray:
        assert self._last is not None
        other = 1 - self.seat
        joint = np.zeros((1, 2), dtype=np.int64)
        joint[:, other] = self.opponent.act(
            self._last.obs[:, other], self._last.action_mask[:, other]
        )
        return joint

    def _play_opponent_turns(self) -> float:
        """Step the kernel while only the opponent acts; return the learner's reward meanwhile."""
        assert self._last is not None
        reward = 0.0
        while not self._last.done[0] and not self._last.acting[0, self.seat]:
            self._last = self.kernel.step(self._opponent_actions())
            reward += float(self._last.rewards[0, self.seat])
        return reward

    def _obs(self) -> np.ndarray:
        assert self._last is not None
        return self._last.obs[0, self.seat].astype(np.float32, copy=True)

    def _info(self) -> dict:
        return {"action_mask": self.action_masks().astype(np.int8)}
