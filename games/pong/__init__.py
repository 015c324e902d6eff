"""pong: two paddles, one continuous ball, simultaneous moves every frame.

One episode is one point; a trial of several points is a match. The rules
table (court, physics, observations, actions, rewards, splits) is the
docstring of :mod:`games.pong.env`.
"""

from __future__ import annotations

from games.pong.config import PARAMS, PongConfig, build_spec
from games.pong.env import PongEnv, aec_env
from games.pong.env import __doc__ as _RULES
from games.pong.kernel import PongKernel, PongState
from games.pong.opponents import OPPONENTS
from games.registry import Family, Split

TRAIN_VARIANTS = (
    "pong",
    "pong(ball_speed=1.0)",
    "pong(ball_speed=2.0)",
    "pong(paddle_height=14.0)",
    "pong(paddle_height=8.0,paddle_speed=1.5)",
    "pong(width=48,height=40)",
)
HELDOUT_VARIANTS = (
    "pong(ball_speed=2.5)",
    "pong(paddle_height=6.0,paddle_speed=0.8)",
    "pong(width=96,height=64)",
)

FAMILY = Family(
    name="pong",
    params=PARAMS,
    build_spec=build_spec,
    kernel=PongKernel,
    env=PongEnv,
    opponents=OPPONENTS,
    splits={
        "train": Split(
            variants=TRAIN_VARIANTS,
            opponents=(
                "random",
                "tracker_delay0",
                "tracker_delay2",
                "tracker_delay4",
                "tracker_delay8",
                "jittery",
                "lazy",
            ),
        ),
        "heldout": Split(
            variants=HELDOUT_VARIANTS,
            opponents=("slow_tracker", "anticipator", "edge_aimer"),
        ),
    },
    doc=_RULES or "",
    parallel=True,
)

__all__ = ["FAMILY", "PongConfig", "PongEnv", "PongKernel", "PongState", "aec_env", "build_spec"]
