"""Drawing pong frames with pygame; the only pong module that imports pygame.

The court is scaled to about 640 pixels wide, y flipped so that ``up`` moves a
paddle up the screen; the paddles are drawn just outside the goal lines they
guard.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from games.pong.config import PongConfig
from games.pong.kernel import PongState

TARGET_WIDTH_PX = 640
BACKGROUND = (16, 20, 28)
LINES = (70, 80, 96)
PADDLE_COLOURS = ((90, 170, 250), (250, 140, 90))
BALL = (245, 245, 235)


def _layout(config: PongConfig) -> tuple[float, int]:
    scale = TARGET_WIDTH_PX / config.width
    margin = max(6, round(scale * 1.5))
    return scale, margin


def draw(state: PongState, config: PongConfig, game: int = 0) -> Any:
    """A pygame Surface showing game ``game`` of ``state``."""
    import pygame

    scale, margin = _layout(config)
    width_px = round(config.width * scale) + 2 * margin
    height_px = round(config.height * scale)
    surface = pygame.Surface((width_px, height_px))
    surface.fill(BACKGROUND)

    def to_px(x: float, y: float) -> tuple[int, int]:
        return margin + round(x * scale), round((config.height - y) * scale)

    centre_x = margin + round(config.width * scale / 2)
    for top in range(0, height_px, 16):
        pygame.draw.line(surface, LINES, (centre_x, top), (centre_x, min(top + 8, height_px)), 2)
    paddle_px = max(2, round(config.paddle_height * scale))
    for seat, x_px in enumerate((0, width_px - margin)):
        _, top = to_px(0.0, float(state.paddle_y[game, seat]) + config.paddle_height / 2)
        rect = pygame.Rect(x_px, top, margin, paddle_px)
        pygame.draw.rect(surface, PADDLE_COLOURS[seat], rect)
    ball_x, ball_y = to_px(*map(float, state.ball_pos[game]))
    pygame.draw.circle(surface, BALL, (ball_x, ball_y), max(3, round(scale * 0.6)))
    return surface


def to_array(surface: Any) -> np.ndarray:
    """The surface's pixels as an (height, width, 3) uint8 array."""
    import pygame

    return np.transpose(pygame.surfarray.array3d(surface), (1, 0, 2)).copy()


def show(surface: Any, screen: Any, clock: Any) -> tuple[Any, Any]:
    """Blit ``surface`` to the window, opening it on first use; returns (screen, clock)."""
    import pygame

    if screen is None:
        pygame.display.init()
        pygame.display.set_caption("pong")
        screen = pygame.display.set_mode(surface.get_size())
        clock = pygame.time.Clock()
    pygame.event.pump()
    screen.blit(surface, (0, 0))
    pygame.display.flip()
    return screen, clock


def tick(clock: Any, fps: int) -> None:
    """Hold the window at ``fps`` frames per second."""
    clock.tick(fps)
