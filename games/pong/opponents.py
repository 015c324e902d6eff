"""Scripted pong players: trackers of several reaction delays and speeds, and others.

Every style reads only its own egocentric observation (it is the left paddle,
the ball comes at it when vx < 0) and the public variant parameters. They
share one steering rule: move toward a target y, staying put within half a
paddle step of it so the paddle does not oscillate.

Reaction delay ``d`` means the style sees the *ball* as it was ``d`` frames
ago (its own paddle it always knows): each game keeps a ring buffer of its
last ``d + 1`` observations, refilled with the first observation of a new point.

| style          | split   | plays                                                            |
|----------------|---------|------------------------------------------------------------------|
| random         | train   | uniformly random up / stay / down                                |
| tracker_delayD | train   | follows the ball's height seen D frames late (D = 0, 2, 4, 8)    |
| jittery        | train   | a 2-frame-late tracker, 30% of its moves random                  |
| lazy           | train   | rests at the centre; tracks the ball only when it comes near     |
| slow_tracker   | heldout | a prompt tracker that moves only on every other frame            |
| anticipator    | heldout | moves to the predicted intercept (walls folded in), else centres |
| edge_aimer     | heldout | meets the intercept with a paddle end: steep returns             |
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from functools import partial

import numpy as np

from games.opponents.base import Opponent, first_legal, random_legal
from games.pong.config import (
    BALL_VX,
    BALL_X,
    BALL_Y,
    DOWN,
    MY_Y,
    OPP_Y,
    STAY,
    UP,
    PongConfig,
)
from games.spec import GameSpec

EDGE_AIM = 0.75
"""How far from its centre (as a fraction of half a paddle) the edge aimer strikes the ball."""


class PongOpponent(Opponent):
    """Shared machinery of the scripted styles: reaction delay and steering."""

    def __init__(self, spec: GameSpec, seed: int | None = None, delay: int = 0):
        super().__init__(spec, seed)
        if delay < 0:
            raise ValueError(f"a reaction delay must be >= 0 frames, got {delay}")
        self.config = PongConfig.from_spec(spec)
        self.delay = delay
        # Half of one paddle step, in observation units (y is scaled by 2 / height).
        self.deadband = self.config.paddle_speed / self.config.height
        self._history = np.zeros((delay + 1, 0, spec.obs_shape[0]), dtype=np.float32)
        self._fresh = np.zeros(0, dtype=bool)
        self._cursor = 0

    def reset_where(self, which: np.ndarray) -> None:
        which = np.asarray(which, dtype=bool)
        if which.shape[0] != self._fresh.shape[0]:
            self._allocate(which.shape[0])
        self._fresh[which] = True

    def _allocate(self, n: int) -> None:
        self._history = np.zeros((self.delay + 1, n, self.spec.obs_shape[0]), dtype=np.float32)
        self._fresh = np.ones(n, dtype=bool)
        self._cursor = 0

    def _delayed(self, obs: np.ndarray) -> np.ndarray:
        """Record ``obs`` and return each game's observation from ``delay`` frames ago."""
        if obs.shape[0] != self._fresh.shape[0]:
            self._allocate(obs.shape[0])
        self._history[:, self._fresh] = obs[self._fresh]
        self._fresh[:] = False
        self._cursor = (self._cursor + 1) % (self.delay + 1)
        self._history[self._cursor] = obs
        return self._history[(self._cursor - self.delay) % (self.delay + 1)].copy()

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        mask = np.asarray(mask, dtype=bool)
        actions = self._choose(obs, self._delayed(obs))
        legal = np.take_along_axis(mask, actions[:, None], axis=1)[:, 0]
        return np.where(legal, actions, first_legal(mask)).astype(np.int64)

    @abstractmethod
    def _choose(self, obs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Actions (B,) from the current observation and the delayed one the style reacts to."""

    def steer(self, my_y: np.ndarray, target: np.ndarray) -> np.ndarray:
        """up / stay / down toward ``target`` (observation units), holding within the deadband."""
        actions = np.full(my_y.shape, STAY, dtype=np.int64)
        actions[target > my_y + self.deadband] = UP
        actions[target < my_y - self.deadband] = DOWN
        return actions

    def intercept(self, seen: np.ndarray) -> np.ndarray:
        """Where (y, observation units) the ball will cross my goal line, walls included.

        Meaningful only where the ball comes at me (vx < 0); elsewhere it is the ball's y.
        """
        cfg = self.config
        vx = seen[:, BALL_VX] * cfg.ball_speed * 2.0 / cfg.width
        vy = seen[:, 5] * cfg.ball_speed * 2.0 / cfg.height
        coming = vx < 0
        frames = np.where(coming, (seen[:, BALL_X] + 1.0) / np.where(coming, -vx, 1.0), 0.0)
        # Unfold the walls: the path in [0, 1] is a triangle wave of period 2.
        unfolded = (seen[:, BALL_Y] + vy * frames + 1.0) / 2.0
        phase = np.mod(unfolded, 2.0)
        folded = np.where(phase > 1.0, 2.0 - phase, phase)
        return 2.0 * folded - 1.0


class RandomOpponent(PongOpponent):
    name = "random"
    description = "Uniformly random up / stay / down every frame."

    def _choose(self, obs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        return random_legal(np.ones((obs.shape[0], 3), dtype=bool), self.rng)


class TrackerOpponent(PongOpponent):
    """Follows the ball's height as it saw it ``delay`` frames ago.

    ``every`` > 1 makes a slow paddle (it moves only on one frame in ``every``);
    ``jitter`` > 0 replaces that fraction of its moves by random ones.
    """

    name = "tracker"
    description = "Tracks the ball's height, possibly late, slow or noisy."

    def __init__(
        self,
        spec: GameSpec,
        seed: int | None = None,
        delay: int = 0,
        every: int = 1,
        jitter: float = 0.0,
    ):
        super().__init__(spec, seed, delay)
        if every < 1 or not 0.0 <= jitter <= 1.0:
            raise ValueError(
                f"tracker needs every >= 1 and jitter in [0, 1], got {every}, {jitter}"
            )
        self.every, self.jitter = every, jitter
        self._frames = np.zeros(0, dtype=np.int64)

    def _allocate(self, n: int) -> None:
        super()._allocate(n)
        self._frames = np.zeros(n, dtype=np.int64)

    def reset_where(self, which: np.ndarray) -> None:
        super().reset_where(which)
        self._frames[np.asarray(which, dtype=bool)] = 0

    def _choose(self, obs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        actions = self.steer(obs[:, MY_Y], seen[:, BALL_Y])
        actions[self._frames % self.every != 0] = STAY
        self._frames += 1
        if self.jitter > 0.0:
            noisy = self.rng.random(len(actions)) < self.jitter
            actions[noisy] = self.rng.integers(0, 3, size=int(noisy.sum()))
        return actions


class LazyOpponent(PongOpponent):
    name = "lazy"
    description = "Rests at the centre; tracks the ball only while it comes at it in its half."

    def _choose(self, obs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        near = (seen[:, BALL_VX] < 0) & (seen[:, BALL_X] < 0)
        return self.steer(obs[:, MY_Y], np.where(near, seen[:, BALL_Y], 0.0))


class AnticipatorOpponent(PongOpponent):
    name = "anticipator"
    description = "Moves to the predicted intercept (wall bounces included); centres otherwise."

    def _choose(self, obs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        coming = seen[:, BALL_VX] < 0
        return self.steer(obs[:, MY_Y], np.where(coming, self.intercept(seen), 0.0))


class EdgeAimerOpponent(PongOpponent):
    name = "edge_aimer"
    description = "Meets the predicted intercept with a paddle end, returning steep balls."

    def _choose(self, obs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        coming = seen[:, BALL_VX] < 0
        # Strike with the top end (ball goes up) when the opponent sits low, and vice versa.
        side = np.where(obs[:, OPP_Y] <= 0.0, 1.0, -1.0)
        half = self.config.paddle_height / self.config.height
        target = self.intercept(seen) - side * EDGE_AIM * half
        return self.steer(obs[:, MY_Y], np.where(coming, target, 0.0))


def _style(
    name: str, description: str, build: Callable[..., PongOpponent]
) -> Callable[..., Opponent]:
    """A registry factory ``factory(spec, seed=None)`` carrying its one-line description."""

    def factory(spec: GameSpec, seed: int | None = None) -> PongOpponent:
        opponent = build(spec, seed)
        opponent.name, opponent.description = name, description
        return opponent

    factory.description = description
    return factory


OPPONENTS: dict[str, Callable[..., Opponent]] = {
    "random": _style("random", RandomOpponent.description, RandomOpponent),
    **{
        f"tracker_delay{d}": _style(
            f"tracker_delay{d}",
            f"Tracks the ball's height with a {d}-frame reaction delay.",
            partial(TrackerOpponent, delay=d),
        )
        for d in (0, 2, 4, 8)
    },
    "slow_tracker": _style(
        "slow_tracker",
        "Tracks the ball with no delay but moves only on every other frame.",
        partial(TrackerOpponent, every=2),
    ),
    "jittery": _style(
        "jittery",
        "Tracks the ball with a 2-frame delay; 30% of its moves are random.",
        partial(TrackerOpponent, delay=2, jitter=0.3),
    ),
    "lazy": _style("lazy", LazyOpponent.description, LazyOpponent),
    "anticipator": _style("anticipator", AnticipatorOpponent.description, AnticipatorOpponent),
    "edge_aimer": _style("edge_aimer", EdgeAimerOpponent.description, EdgeAimerOpponent),
}
