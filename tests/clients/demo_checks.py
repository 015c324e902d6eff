"""Scripted players and screenshot checks shared by the demo tests.

A scripted player is an ``input_script`` callable: each frame it looks at the
demo and posts the keys a human would press. The checks read a saved
screenshot back and compare pixels with what the game state says must be
drawn there, and recompute results independently of the demo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pygame

from clients.demos import key_press
from games.connect_n.render import FREE_PALETTE, GRAVITY_PALETTE
from games.poker.render import CARD_BACK, CARD_FACE, CARD_H, CARD_W, HEIGHT
from games.poker.render import WIDTH as POKER_WIDTH


def first_legal_keys(frame, demo):
    """Press the number key of the human's first legal action whenever it is their turn."""
    if demo.game_over:
        return []
    legal = demo.legal_actions()
    return key_press(pygame.K_1 + int(legal[0])) if len(legal) else []


def keys_in_order(moves):
    """Press ``moves[i]`` (as number keys) for the human's i-th move."""
    state = {"next": 0}

    def script(frame, demo):
        if demo.game_over or not len(demo.legal_actions()) or state["next"] >= len(moves):
            return []
        move = moves[state["next"]]
        state["next"] += 1
        return key_press(pygame.K_1 + move)

    return script


def pixel(path: Path, xy: tuple[int, int]) -> tuple[int, int, int]:
    image = pygame.image.load(str(path))
    return tuple(image.get_at(xy))[:3]


def pixels(path: Path) -> np.ndarray:
    """(height, width, 3) uint8 pixels of a saved screenshot."""
    image = pygame.image.load(str(path))
    return np.transpose(pygame.surfarray.array3d(image), (1, 0, 2))


def has_colour(region: np.ndarray, colour: tuple[int, int, int], tolerance: int = 8) -> bool:
    return bool((np.abs(region.astype(int) - colour).max(axis=-1) <= tolerance).any())


def k_in_a_row(board: np.ndarray, k: int) -> set[int]:
    """Brute force: the pieces (1, 2) that have k in a row anywhere on ``board``."""
    rows, cols = board.shape
    winners = set()
    for r in range(rows):
        for c in range(cols):
            piece = int(board[r, c])
            if not piece:
                continue
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + i * dr, c + i * dc) for i in range(k)]
                if all(0 <= y < rows and 0 <= x < cols and board[y, x] == piece for y, x in cells):
                    winners.add(piece)
    return winners


def check_connect_n_screenshot(demo, path) -> None:
    palette = GRAVITY_PALETTE if demo.gravity else FREE_PALETTE
    board = demo.board()
    assert (board > 0).sum() >= demo.spec.param("k"), "a finished game has at least k stones"
    for row in range(demo.rows):
        for col in range(demo.cols):
            # Off the centre diagonally: the last stone's centre carries a ring and
            # free-placement boards draw grid lines through empty cells' centres.
            x, y = demo.cell_centre(row, col)
            piece = int(board[row, col])
            expected = palette.pieces[piece - 1] if piece else palette.empty
            offset = demo.cell // 5
            assert pixel(path, (x + offset, y + offset)) == expected, (row, col, piece)


def check_poker_cards(shot, demo, agent_face_up: bool) -> None:
    def card_colour(seat: int):
        y = 60 if seat == 1 else HEIGHT - 60
        return pixel(shot, (POKER_WIDTH // 2 - CARD_W // 2 + 6, y - CARD_H // 2 + 6))

    assert card_colour(demo.human_seat) == CARD_FACE
    assert card_colour(demo.agent_seat) == (CARD_FACE if agent_face_up else CARD_BACK)
