"""Pong: two paddles, one ball, one point per episode, both seats moving every frame.

| Import       | ``games.make("pong(ball_speed=2.0)")`` or ``games.pong.env.PongEnv(spec)`` |
|--------------|----------------------------------------------------------------------------|
| API          | Parallel (``aec_env(spec)`` gives AEC through ``parallel_to_aec``)         |
| Agents       | ``player_0`` (left paddle), ``player_1`` (right paddle)                    |
| Actions      | Discrete(3): 0 = up, 1 = stay, 2 = down; all three always legal            |
| Observations | Dict: ``observation`` float32 (11,) in [-1, 1], ``action_mask`` int8 (3,)  |
| Rewards      | +1 to the scorer, -1 to the other seat; 0 for a truncated point            |
| Render modes | ``rgb_array``, ``human`` (pygame, 60 fps)                                  |

Court. Coordinates are continuous court units: x from 0 (left goal line) to
``width``, y from 0 (bottom wall) to ``height`` (top wall). The paddles' faces
lie on the goal lines; a paddle is a segment of length ``paddle_height``
whose centre stays within ``[paddle_height/2, height - paddle_height/2]``.
The ball is a point.

Serve. Every episode is one point. Paddles start centred, the ball starts at
the centre of the court moving at ``ball_speed`` toward a random side at a
random angle, uniform within +-45 degrees of the horizontal (both drawn from
the env's seeded generator, so a seeded trial of several points is
reproducible and no two points need be alike).

A frame, in order:

1. Paddles move: ``up`` adds ``paddle_speed`` to the centre's y, ``down``
   subtracts it, and the centre is clamped to the court.
2. The ball moves by its velocity. If it went past the bottom or top wall it
   is mirrored back into the court and its vy is negated (its vx unchanged).
3. A ball moving left that reached x <= 0 is *at the left goal line*
   (likewise x >= ``width`` moving right for the right one). If its y (after
   step 2) is within ``paddle_height/2`` of that paddle's centre, the paddle
   returns it: the overshoot is mirrored back into the court and the ball
   leaves at angle ``offset * 60 degrees`` from the horizontal, where
   ``offset`` in [-1, 1] is where it struck (+1 = the paddle's top end), so
   edge hits return steep balls and centre hits flat ones; the speed stays
   ``ball_speed``. Otherwise the paddle missed: the other seat scores
   (+1 / -1) and the episode terminates, the ball resting on the goal line.
4. If the point is still open after ``max_frames`` frames it is truncated,
   with reward 0 to both seats.

Observation (egocentric: each seat sees itself as the *left* paddle, so x and
vx are negated for ``player_1``; y is never mirrored, +1 is the top wall):

| Index | Meaning                 | Scaling to [-1, 1]                            |
|-------|-------------------------|-----------------------------------------------|
| 0     | my paddle centre y      | 2 y / height - 1                              |
| 1     | opponent paddle y       | 2 y / height - 1                              |
| 2     | ball x                  | 2 x / width - 1 (-1 is my goal line)          |
| 3     | ball y                  | 2 y / height - 1                              |
| 4     | ball vx                 | vx / ball_speed (negative: coming at me)      |
| 5     | ball vy                 | vy / ball_speed                               |
| 6     | paddle_speed            | linear over its allowed range [0.25, 8]       |
| 7     | paddle_height           | 2 paddle_height / height - 1                  |
| 8     | ball_speed              | linear over its allowed range [0.25, 8]       |
| 9     | court width             | linear over its allowed range [32, 160]       |
| 10    | court height            | linear over its allowed range [16, 120]       |

Entries 6-10 are constant within a variant; they let one network play every
variant.

Variant parameters (spec string ``pong(width=64,height=48,...)``):

| Parameter     | Default | Allowed                                                  |
|---------------|---------|----------------------------------------------------------|
| width         | 64      | integer in [32, 160]                                     |
| height        | 48      | integer in [16, 120]                                     |
| paddle_height | 10.0    | in [1, 120] and smaller than ``height``                  |
| paddle_speed  | 1.0     | in [0.25, 8]                                             |
| ball_speed    | 1.5     | in [0.25, 8] and at most ``width / 8`` (time to react)   |
| max_frames    | 1000    | >= 10 and >= the frames for the ball to cross and return |

Splits. ``train`` plays the default court, slower and faster balls, a longer
paddle, a shorter faster paddle and a small court against the random,
tracker (reaction delays 0, 2, 4, 8 frames), jittery and lazy styles.
``heldout`` plays a faster ball, a short slow paddle and a large court —
values outside the training ones — against styles never trained on: the
slow tracker (moves every other frame: beaten by steep balls), the
anticipator (predicts the intercept with wall bounces, but only commits once
the ball comes at it) and the edge aimer (meets the ball with a paddle end to
send it steeply away from the opponent, so a small misjudgement misses).
Opponent details are in ``games.pong.opponents``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pettingzoo.utils.conversions import parallel_to_aec

from games.pong.config import PongConfig
from games.pong.kernel import PongKernel
from games.pz import KernelParallelEnv
from games.spec import GameSpec


class PongEnv(KernelParallelEnv):
    """The pong rules table above, as a PettingZoo ParallelEnv over one kernel game."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "pong_v0",
        "render_modes": ["human", "rgb_array"],
        "render_fps": 60,
        "is_parallelizable": True,
    }

    def __init__(self, spec: str | GameSpec, render_mode: str | None = None):
        super().__init__(spec, render_mode=render_mode)
        self._clock = None

    def _render_frame(self) -> np.ndarray | None:
        from games.pong import render

        assert isinstance(self.kernel, PongKernel)
        if self._last is None:
            return None
        config = PongConfig.from_spec(self.spec)
        surface = render.draw(self.kernel.state(), config)
        if self.render_mode == "rgb_array":
            return render.to_array(surface)
        self._screen, self._clock = render.show(surface, self._screen, self._clock)
        render.tick(self._clock, self.metadata["render_fps"])
        return None


def aec_env(spec: str | GameSpec, render_mode: str | None = None) -> Any:
    """The same game as an AEC env (PettingZoo's ``parallel_to_aec`` conversion)."""
    return parallel_to_aec(PongEnv(spec, render_mode=render_mode))
