"""Drawing a poker table with pygame (imported here only, when a frame is drawn).

The frame is a spectator's view: both private cards face up (player_1 at the
top, player_0 at the bottom), the public card in the middle once it is turned,
the pot and each seat's chips in it, and the betting so far, one line per round.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from games.poker.config import CALL, RAISE, PokerConfig
from games.poker.kernel import PokerState

WIDTH, HEIGHT = 480, 360
CARD_W, CARD_H = 56, 80
FELT = (20, 110, 60)
CARD_FACE = (245, 245, 240)
CARD_BACK = (150, 30, 40)
INK = (20, 20, 20)
TEXT = (240, 240, 230)
HIGHLIGHT = (250, 210, 60)
SUIT_COLOURS = ((20, 20, 20), (200, 30, 30), (30, 60, 200), (20, 130, 60))
SUIT_LETTERS = "shdc"


def _card(surface: Any, font: Any, config: PokerConfig, card: int, centre: tuple[int, int]) -> None:
    import pygame

    rect = pygame.Rect(0, 0, CARD_W, CARD_H)
    rect.center = centre
    if card < 0:
        pygame.draw.rect(surface, CARD_BACK, rect, border_radius=6)
        pygame.draw.rect(surface, CARD_FACE, rect, width=2, border_radius=6)
        return
    rank, suit = divmod(card, config.suits)
    pygame.draw.rect(surface, CARD_FACE, rect, border_radius=6)
    pygame.draw.rect(surface, INK, rect, width=2, border_radius=6)
    label = config.rank_label(rank) + (SUIT_LETTERS[suit] if config.suits > 1 else "")
    text = font.render(label, True, SUIT_COLOURS[suit])
    surface.blit(text, text.get_rect(center=centre))


def _move_names(played: list[int]) -> list[str]:
    """Poker words for one round's actions: check vs call, bet vs raise."""
    names, facing_bet = [], False
    for action in played:
        if action == RAISE:
            names.append("raise" if facing_bet else "bet")
            facing_bet = True
        elif action == CALL:
            names.append("call" if facing_bet else "check")
        else:
            names.append("fold")
    return names


def _betting_lines(state: PokerState, game: int) -> list[str]:
    lines = []
    for rnd, actions in enumerate(state.history[game]):
        played = [int(a) for a in actions if a >= 0]
        if played:
            moves = ", ".join(f"P{i % 2} {name}" for i, name in enumerate(_move_names(played)))
            lines.append(f"round {rnd + 1}: {moves}")
    return lines


def draw(surface: Any, config: PokerConfig, state: PokerState, game: int = 0) -> None:
    """Paint game ``game`` of ``state`` onto ``surface`` (WIDTH x HEIGHT)."""
    import pygame

    pygame.font.init()
    big, small = pygame.font.Font(None, 34), pygame.font.Font(None, 22)
    surface.fill(FELT)
    for seat, y in ((1, 60), (0, HEIGHT - 60)):
        _card(surface, big, config, int(state.cards[game, seat]), (WIDTH // 2, y))
        acting = not state.done[game] and int(state.player[game]) == seat
        colour = HIGHLIGHT if acting else TEXT
        chips = int(state.contributions[game, seat])
        label = small.render(f"player_{seat}  in pot: {chips}", True, colour)
        surface.blit(label, (WIDTH // 2 + CARD_W, y - 8))
    if config.has_public_card:
        shown = int(state.public[game]) >= 0
        public = int(state.cards[game, 2]) if shown else -1
        _card(surface, big, config, public, (WIDTH - 50, HEIGHT // 2))
        caption = small.render("public", True, TEXT)
        surface.blit(caption, caption.get_rect(center=(WIDTH - 50, HEIGHT // 2 - CARD_H // 2 - 12)))
    pot = small.render(f"pot {int(state.contributions[game].sum())}", True, TEXT)
    surface.blit(pot, (16, HEIGHT // 2 - 56))
    lines = _betting_lines(state, game)
    if state.done[game]:
        won = float(state.rewards[game, 0])
        outcome = "split pot" if won == 0 else f"player_{0 if won > 0 else 1} wins {abs(won):g}"
        lines.append(outcome)
    for i, line in enumerate(lines):
        text = small.render(line, True, TEXT)
        surface.blit(text, (16, HEIGHT // 2 - 30 + 22 * i))


def render_frame(env: Any, config: PokerConfig, state: PokerState) -> np.ndarray | None:
    """Draw the env's table: an (H, W, 3) uint8 array for ``rgb_array``, a window for ``human``.

    The surface (or window) is kept on ``env._screen`` between frames; the env's
    ``close`` releases it.
    """
    import pygame

    if env._screen is None:
        if env.render_mode == "human":
            pygame.display.init()
            pygame.display.set_caption(env.spec.name)
            env._screen = pygame.display.set_mode((WIDTH, HEIGHT))
            env._clock = pygame.time.Clock()
        else:
            env._screen = pygame.Surface((WIDTH, HEIGHT))
    draw(env._screen, config, state)
    if env.render_mode == "human":
        pygame.event.pump()
        pygame.display.flip()
        env._clock.tick(env.metadata["render_fps"])
        return None
    return np.transpose(pygame.surfarray.array3d(env._screen), (1, 0, 2)).copy()
