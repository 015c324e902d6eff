"""The batched pong kernel: continuous physics for B points at once.

The rules (court, serve, bounces, scoring, observations) are tabled in
``games.pong.env``; this module is their only implementation. Every array has
a leading batch dimension and ``step`` has no Python loop over games.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from games.errors import GameError
from games.kernel import BatchKernel, Step
from games.pong.config import ACTION_NAMES, OBS_SIZE, PongConfig
from games.spec import GameSpec

MAX_BOUNCE_ANGLE = math.pi / 3
"""A ball striking a paddle's very end leaves at this angle from the horizontal."""
MAX_SERVE_ANGLE = math.pi / 4
"""Serves leave the centre at a uniformly random angle within this bound."""


class PongState(NamedTuple):
    """The full physical state of B points, in court units (y grows upwards)."""

    paddle_y: np.ndarray
    """(B, 2) float64: centre of the left (seat 0) and right (seat 1) paddles."""
    ball_pos: np.ndarray
    """(B, 2) float64: ball x and y."""
    ball_vel: np.ndarray
    """(B, 2) float64: ball displacement per frame."""
    frame: np.ndarray
    """(B,) int64: frames played in the current point."""
    terminated: np.ndarray
    """(B,) bool: the point was scored."""
    truncated: np.ndarray
    """(B,) bool: the point ran out of frames."""


class PongKernel(BatchKernel):
    """B independent pong points; see the rules table in ``games.pong.env``."""

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.config = PongConfig.from_spec(spec)
        self._features = self.config.param_features()

    def _allocate(self, n: int) -> None:
        self._paddle_y = np.zeros((n, 2))
        self._ball_pos = np.zeros((n, 2))
        self._ball_vel = np.zeros((n, 2))
        self._frame = np.zeros(n, dtype=np.int64)
        self._terminated = np.zeros(n, dtype=bool)
        self._truncated = np.zeros(n, dtype=bool)
        self._rewards = np.zeros((n, 2), dtype=np.float32)

    def reset_where(self, which: np.ndarray) -> Step:
        which = np.asarray(which, dtype=bool)
        count = int(which.sum())
        cfg = self.config
        # Draw only for re-dealt games, in game order, so a seed fixes every serve.
        draws = self._rng.random((count, 2))
        angle = (2.0 * draws[:, 0] - 1.0) * MAX_SERVE_ANGLE
        direction = np.where(draws[:, 1] < 0.5, -1.0, 1.0)
        self._paddle_y[which] = cfg.height / 2
        self._ball_pos[which] = (cfg.width / 2, cfg.height / 2)
        self._ball_vel[which] = np.stack(
            [direction * cfg.ball_speed * np.cos(angle), cfg.ball_speed * np.sin(angle)], axis=1
        )
        self._frame[which] = 0
        self._terminated[which] = False
        self._truncated[which] = False
        self._rewards[which] = 0.0
        return self._make_step()

    def state(self) -> PongState:
        """A copy of the physical state (for renderers, tests and demos)."""
        return PongState(
            self._paddle_y.copy(),
            self._ball_pos.copy(),
            self._ball_vel.copy(),
            self._frame.copy(),
            self._terminated.copy(),
            self._truncated.copy(),
        )

    def set_state(self, state: PongState) -> Step:
        """Place paddles and ball by hand (hand-worked tests, scripted demos); rewards reset.

        Raises :class:`~games.errors.GameError` when a field has the wrong shape,
        is not finite, or puts a paddle or the ball outside the court.
        """
        self._check_state(state)
        self._paddle_y[:] = state.paddle_y
        self._ball_pos[:] = state.ball_pos
        self._ball_vel[:] = state.ball_vel
        self._frame[:] = state.frame
        self._terminated[:] = state.terminated
        self._truncated[:] = state.truncated
        self._rewards[:] = 0.0
        return self._make_step()

    def _check_state(self, state: PongState) -> None:
        n, cfg = self.num_envs, self.config
        if n == 0:
            raise GameError("pong kernel: call reset(n) before set_state")
        shapes = {"paddle_y": (n, 2), "ball_pos": (n, 2), "ball_vel": (n, 2)}
        shapes.update(frame=(n,), terminated=(n,), truncated=(n,))
        for name, expected in shapes.items():
            value = np.asarray(getattr(state, name))
            if value.shape != expected:
                raise GameError(
                    f"pong state field {name} must have shape {expected}, got {value.shape}"
                )
            if not np.all(np.isfinite(value.astype(np.float64))):
                raise GameError(f"pong state field {name} has non-finite values")
        half = cfg.paddle_height / 2
        paddle_y = np.asarray(state.paddle_y)
        if np.any(paddle_y < half) or np.any(paddle_y > cfg.height - half):
            raise GameError(f"pong paddle centres must lie in [{half}, {cfg.height - half}]")
        pos = np.asarray(state.ball_pos)
        if np.any(pos < 0) or np.any(pos[:, 0] > cfg.width) or np.any(pos[:, 1] > cfg.height):
            raise GameError(f"pong ball must lie in the court [0, {cfg.width}] x [0, {cfg.height}]")

    def _step(self, actions: np.ndarray) -> Step:
        cfg = self.config
        live = ~(self._terminated | self._truncated)
        moving = live.astype(np.float64)
        self._frame += live
        half = cfg.paddle_height / 2
        # up (0) adds paddle_speed, stay (1) nothing, down (2) subtracts it.
        paddles = self._paddle_y + (1 - actions) * (cfg.paddle_speed * moving[:, None])
        self._paddle_y = np.minimum(np.maximum(paddles, half), cfg.height - half)
        x = self._ball_pos[:, 0] + self._ball_vel[:, 0] * moving
        y = self._ball_pos[:, 1] + self._ball_vel[:, 1] * moving
        y, vy = _bounce_off_walls(y, self._ball_vel[:, 1], cfg.height)
        x, vx, vy, missed_left, missed_right = self._strike(x, y, self._ball_vel[:, 0], vy, live)
        self._ball_pos = np.stack([np.minimum(np.maximum(x, 0.0), cfg.width), y], axis=1)
        self._ball_vel = np.stack([vx, vy], axis=1)
        # A miss at the left goal line is a point for seat 1, and the other way round.
        left_reward = missed_right.astype(np.float32) - missed_left.astype(np.float32)
        self._rewards = np.stack([left_reward, -left_reward], axis=1)
        self._terminated = self._terminated | missed_left | missed_right
        self._truncated = self._truncated | (
            live & ~self._terminated & (self._frame >= cfg.max_frames)
        )
        return self._make_step()

    def _strike(
        self, x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray, live: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Resolve balls at a goal line: returned by the paddle, or missed.

        Returns the new x, vx, vy and where the left and the right paddle missed.
        """
        cfg = self.config
        left = live & (x <= 0.0) & (vx < 0)
        right = live & (x >= cfg.width) & (vx > 0)
        offset = (y - np.where(left, self._paddle_y[:, 0], self._paddle_y[:, 1])) / (
            cfg.paddle_height / 2
        )
        hit = (left | right) & (np.abs(offset) <= 1.0)
        angle = np.clip(offset, -1.0, 1.0) * MAX_BOUNCE_ANGLE
        goal_x = np.where(left, 0.0, float(cfg.width))
        away = np.where(left, cfg.ball_speed, -cfg.ball_speed)
        x = np.where(hit, 2.0 * goal_x - x, x)  # the overshoot, mirrored back into the court
        vx = np.where(hit, away * np.cos(angle), vx)
        vy = np.where(hit, cfg.ball_speed * np.sin(angle), vy)
        return x, vx, vy, left & ~hit, right & ~hit

    def _observations(self) -> np.ndarray:
        cfg = self.config
        n = self.num_envs
        y = 2.0 * self._paddle_y / cfg.height - 1.0
        ball_x = 2.0 * self._ball_pos[:, 0] / cfg.width - 1.0
        ball_y = 2.0 * self._ball_pos[:, 1] / cfg.height - 1.0
        vx = self._ball_vel[:, 0] / cfg.ball_speed
        vy = self._ball_vel[:, 1] / cfg.ball_speed
        obs = np.empty((n, 2, OBS_SIZE), dtype=np.float32)
        # Each seat sees itself on the left: seat 1's x axis is mirrored.
        obs[:, 0, :6] = np.stack([y[:, 0], y[:, 1], ball_x, ball_y, vx, vy], axis=1)
        obs[:, 1, :6] = np.stack([y[:, 1], y[:, 0], -ball_x, ball_y, -vx, vy], axis=1)
        obs[:, :, 6:] = self._features
        np.clip(obs, -1.0, 1.0, out=obs)
        return obs

    def _make_step(self) -> Step:
        done = self._terminated | self._truncated
        acting = np.repeat(~done[:, None], 2, axis=1)
        mask = np.repeat(acting[:, :, None], len(ACTION_NAMES), axis=2)
        return Step(
            obs=self._observations(),
            action_mask=mask,
            acting=acting,
            rewards=self._rewards.copy(),
            terminated=self._terminated.copy(),
            truncated=self._truncated.copy(),
        )

    def _current_mask(self) -> np.ndarray:
        done = self._terminated | self._truncated
        return np.repeat(~done[:, None, None], 2, axis=1).repeat(len(ACTION_NAMES), axis=2)

    def _current_acting(self) -> np.ndarray:
        return np.repeat(~(self._terminated | self._truncated)[:, None], 2, axis=1)


def _bounce_off_walls(
    y: np.ndarray, vy: np.ndarray, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror balls that went past the bottom or top wall back in, negating their vy.

    One mirror suffices: the variant limits keep a frame's vertical travel below the height.
    """
    below, above = y < 0.0, y > height
    y = np.where(below, -y, np.where(above, 2.0 * height - y, y))
    return y, np.where(below | above, -vy, vy)
