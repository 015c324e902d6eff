"""Pygame drawing of a matrix match: the last rounds, who won each, and the score.

Imported only when an env renders, so the rules never pull in pygame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pygame

if TYPE_CHECKING:
    from games.matrix.env import MatrixEnv

WIDTH, HEIGHT = 480, 360
ROWS_SHOWN = 8
BACKGROUND = (245, 243, 236)
INK = (30, 30, 36)
WIN, LOSS = (46, 140, 87), (190, 60, 50)
ACTION_COLOURS = (
    (120, 110, 100),
    (235, 225, 190),
    (170, 175, 190),
    (80, 120, 200),
    (90, 170, 90),
)


def _surface(env: MatrixEnv) -> pygame.Surface:
    if env.render_mode == "human":
        if env._screen is None:
            pygame.display.init()
            env._screen = pygame.display.set_mode((WIDTH, HEIGHT))
            pygame.display.set_caption(f"game-agent: {env.spec.name}")
        return env._screen
    return pygame.Surface((WIDTH, HEIGHT))


def _text(surface: pygame.Surface, font: pygame.font.Font, text: str, pos, colour=INK) -> None:
    surface.blit(font.render(text, True, colour), pos)


def _move(surface, font, names, action: int, centre: tuple[int, int], edge) -> None:
    rect = pygame.Rect(0, 0, 130, 28)
    rect.center = centre
    pygame.draw.rect(surface, ACTION_COLOURS[action], rect, border_radius=6)
    if edge is not None:
        pygame.draw.rect(surface, edge, rect, width=3, border_radius=6)
    label = font.render(names[action], True, INK)
    surface.blit(label, label.get_rect(center=centre))


def draw_frame(env: MatrixEnv) -> np.ndarray | None:
    """Draw game 0 of the env's kernel; an (H, W, 3) uint8 array in rgb_array mode."""
    pygame.font.init()
    surface = _surface(env)
    surface.fill(BACKGROUND)
    kernel = env.kernel
    names = kernel.game.actions
    big, small = pygame.font.Font(None, 30), pygame.font.Font(None, 22)
    played = int(kernel.t[0]) if kernel.num_envs else 0
    _text(surface, big, f"{kernel.game.name}  round {played}/{kernel.rounds}", (16, 12))
    score = kernel.score[0] if kernel.num_envs else np.zeros(2)
    for seat, x in ((0, 110), (1, 330)):
        label = f"{env.possible_agents[seat]}: {score[seat]:+.2f}"
        text = big.render(label, True, INK)
        surface.blit(text, text.get_rect(center=(x, 60)))
    first = max(0, played - ROWS_SHOWN)
    for row, index in enumerate(range(played - 1, first - 1, -1)):
        y = 100 + row * 32
        moves = kernel.history[0, index]
        payoffs = kernel.game.payoffs
        lead = payoffs[0, moves[0], moves[1]] - payoffs[1, moves[1], moves[0]]
        edges = (WIN, LOSS) if lead > 0 else (LOSS, WIN) if lead < 0 else (None, None)
        _text(surface, small, f"{index + 1:>3}", (16, y - 8))
        _move(surface, small, names, int(moves[0]), (110, y), edges[0])
        _move(surface, small, names, int(moves[1]), (330, y), edges[1])
    if env.render_mode == "human":
        pygame.event.pump()
        pygame.display.flip()
        return None
    return np.transpose(pygame.surfarray.array3d(surface), (1, 0, 2)).copy()
