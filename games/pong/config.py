"""Pong variant parameters, their validation, and the observation layout.

Kept apart from the kernel so opponents and the renderer can read the layout
and the typed config without importing the physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from games.errors import SpecError
from games.registry import Param
from games.spec import GameSpec

AGENTS = ("player_0", "player_1")
ACTION_NAMES = ("up", "stay", "down")
UP, STAY, DOWN = 0, 1, 2

OBS_NAMES = (
    "my_paddle_y",
    "opponent_paddle_y",
    "ball_x",
    "ball_y",
    "ball_vx",
    "ball_vy",
    "paddle_speed",
    "paddle_height",
    "ball_speed",
    "court_width",
    "court_height",
)
MY_Y, OPP_Y, BALL_X, BALL_Y, BALL_VX, BALL_VY = range(6)
OBS_SIZE = len(OBS_NAMES)

SPEED_RANGE = (0.25, 8.0)
WIDTH_RANGE = (32, 160)
HEIGHT_RANGE = (16, 120)
MIN_CROSSING_FRAMES = 8
"""The ball must need at least this many frames to cross the court, or nobody can react."""

PARAMS = (
    Param("width", int, 64, "court width in court units", None, *WIDTH_RANGE),
    Param("height", int, 48, "court height in court units", None, *HEIGHT_RANGE),
    Param("paddle_height", float, 10.0, "paddle length in court units", None, 1.0, 120.0),
    Param("paddle_speed", float, 1.0, "paddle travel per frame in court units", None, *SPEED_RANGE),
    Param("ball_speed", float, 1.5, "ball travel per frame in court units", None, *SPEED_RANGE),
    Param("max_frames", int, 1000, "frames before an unfinished point is truncated", None, 10),
)


@dataclass(frozen=True)
class PongConfig:
    """The parameters of one pong variant, typed (see the rules table in ``games.pong.env``)."""

    width: int
    """Court width; the paddles' faces sit on the goal lines x=0 and x=width."""
    height: int
    """Court height; the walls are y=0 (bottom) and y=height (top)."""
    paddle_height: float
    """Paddle length; a paddle's centre stays within [paddle_height/2, height - paddle_height/2]."""
    paddle_speed: float
    """How far a paddle moves in one frame of ``up`` or ``down``."""
    ball_speed: float
    """The ball's constant speed (length of its velocity) per frame."""
    max_frames: int
    """Frames after which a point with no score is truncated with zero reward."""

    @classmethod
    def from_spec(cls, spec: GameSpec) -> PongConfig:
        return cls(**dict(spec.params))

    def param_features(self) -> np.ndarray:
        """The variant's parameters scaled to [-1, 1], appended to every observation."""
        return np.array(
            [
                _scale(self.paddle_speed, *SPEED_RANGE),
                _scale(self.paddle_height, 0.0, self.height),
                _scale(self.ball_speed, *SPEED_RANGE),
                _scale(self.width, *WIDTH_RANGE),
                _scale(self.height, *HEIGHT_RANGE),
            ],
            dtype=np.float32,
        )


def _scale(value: float, low: float, high: float) -> float:
    return 2.0 * (value - low) / (high - low) - 1.0


def build_spec(values: dict) -> GameSpec:
    """Validate a complete parameter set as a whole and turn it into a GameSpec."""
    config = PongConfig(**values)
    if config.paddle_height >= config.height:
        raise SpecError(
            f"pong: paddle_height={config.paddle_height} must be smaller than "
            f"height={config.height}, or the paddle could not move and no point could be scored"
        )
    if config.ball_speed * MIN_CROSSING_FRAMES > config.width:
        raise SpecError(
            f"pong: ball_speed={config.ball_speed} is too fast for width={config.width}; "
            f"it must be at most width/{MIN_CROSSING_FRAMES} = "
            f"{config.width / MIN_CROSSING_FRAMES} so a paddle has time to react"
        )
    crossing_twice = math.ceil(2 * config.width / config.ball_speed)
    if config.max_frames < crossing_twice:
        raise SpecError(
            f"pong: max_frames={config.max_frames} is too short; the ball needs "
            f"{crossing_twice} frames to cross a court of width {config.width} and back"
        )
    return GameSpec(
        family="pong",
        params=tuple(sorted(values.items())),
        agents=AGENTS,
        obs_shape=(OBS_SIZE,),
        num_actions=len(ACTION_NAMES),
        turn_based=False,
        max_steps=config.max_frames,
        obs_low=-1.0,
        obs_high=1.0,
        info=(("action_names", ACTION_NAMES), ("obs_names", OBS_NAMES)),
    )
