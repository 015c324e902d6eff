"""Drawing connect_n boards with pygame (imported here only, when a frame is drawn).

Gravity variants look like Connect Four (red and yellow discs in a blue
frame); free-placement variants look like a go board (black and white stones
on wood). The last stone played carries a small ring so a viewer can follow
the game.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_MAX_SIDE = 640
"""Longest side of a frame in pixels; cells shrink on big boards to stay within it."""


@dataclass(frozen=True)
class Palette:
    """Colours of one board style (RGB triples)."""

    background: tuple[int, int, int]
    empty: tuple[int, int, int]
    grid: tuple[int, int, int] | None
    pieces: tuple[tuple[int, int, int], tuple[int, int, int]]
    marker: tuple[int, int, int]


GRAVITY_PALETTE = Palette(
    background=(30, 70, 170),
    empty=(235, 235, 235),
    grid=None,
    pieces=((210, 40, 40), (240, 200, 40)),
    marker=(20, 20, 20),
)
FREE_PALETTE = Palette(
    background=(215, 175, 110),
    empty=(215, 175, 110),
    grid=(90, 60, 30),
    pieces=((20, 20, 20), (245, 245, 245)),
    marker=(200, 30, 30),
)


def cell_size(rows: int, cols: int) -> int:
    """Pixels per cell: large on small boards, never under 24."""
    return max(24, min(96, _MAX_SIDE // max(rows, cols)))


def draw(surface: Any, board: np.ndarray, last_cell: int, gravity: bool) -> None:
    """Paint ``board`` (rows, cols; 0 empty, 1 player_0, 2 player_1) onto ``surface``."""
    import pygame

    palette = GRAVITY_PALETTE if gravity else FREE_PALETTE
    rows, cols = board.shape
    size = cell_size(rows, cols)
    radius = int(size * 0.4)
    surface.fill(palette.background)
    if palette.grid is not None:
        for r in range(rows):
            y = r * size + size // 2
            pygame.draw.line(surface, palette.grid, (size // 2, y), (cols * size - size // 2, y))
        for c in range(cols):
            x = c * size + size // 2
            pygame.draw.line(surface, palette.grid, (x, size // 2), (x, rows * size - size // 2))
    for r in range(rows):
        for c in range(cols):
            centre = (c * size + size // 2, r * size + size // 2)
            value = int(board[r, c])
            if value:
                pygame.draw.circle(surface, palette.pieces[value - 1], centre, radius)
            elif palette.grid is None:
                pygame.draw.circle(surface, palette.empty, centre, radius)
    if last_cell >= 0:
        r, c = divmod(last_cell, cols)
        centre = (c * size + size // 2, r * size + size // 2)
        pygame.draw.circle(surface, palette.marker, centre, max(3, radius // 3), width=2)


def render_frame(env: Any, board: np.ndarray, last_cell: int, gravity: bool) -> np.ndarray | None:
    """Draw the env's board: an (H, W, 3) uint8 array for ``rgb_array``, a window for ``human``.

    The surface (or window) is kept on ``env._screen`` between frames, which
    the env's ``close`` releases.
    """
    import pygame

    rows, cols = board.shape
    size = cell_size(rows, cols)
    shape = (cols * size, rows * size)
    if env._screen is None:
        if env.render_mode == "human":
            pygame.display.init()
            pygame.display.set_caption(env.spec.name)
            env._screen = pygame.display.set_mode(shape)
            env._clock = pygame.time.Clock()
        else:
            env._screen = pygame.Surface(shape)
    draw(env._screen, board, last_cell, gravity)
    if env.render_mode == "human":
        pygame.event.pump()
        pygame.display.flip()
        env._clock.tick(env.metadata["render_fps"])
        return None
    return np.transpose(pygame.surfarray.array3d(env._screen), (1, 0, 2)).copy()
