"""connect_n demo: drop stones (or place them, without gravity) against the agent.

Click a column (gravity) or a cell (free placement), or press 1-9 for the
first nine actions. The board is the family's own renderer
(``games.connect_n.render``) over the PettingZoo env's kernel.
"""

from __future__ import annotations

import numpy as np
import pygame

from clients.demos.turns import TurnBasedDemo
from clients.demos.ui import Event
from clients.opponent import AdaptiveOpponent
from games import GameSpec
from games.connect_n.render import cell_size, draw


class ConnectNDemo(TurnBasedDemo):
    title = "connect_n"
    fps = 30

    def __init__(
        self,
        spec: GameSpec,
        opponent: AdaptiveOpponent,
        human_seat: int = 0,
        seed: int | None = None,
    ):
        super().__init__(spec, opponent, human_seat, seed)
        self.kernel = self.env.kernel
        self.rows, self.cols = self.kernel.rows, self.kernel.cols
        self.gravity = self.kernel.gravity
        self.cell = cell_size(self.rows, self.cols)
        target = "a column" if self.gravity else "a cell"
        self.controls = f"Click {target} or press 1-9 to move."
        self.colours = ("red", "yellow") if self.gravity else ("black", "white")
        self.new_episode()

    @property
    def board_size(self) -> tuple[int, int]:
        return self.cols * self.cell, self.rows * self.cell

    def new_episode(self) -> None:
        super().new_episode()
        you = self.colours[self.human_seat]
        self.status = f"You play {you}. " + ("Your move." if self.human_turn() else "Agent...")

    def board(self) -> np.ndarray:
        """(rows, cols) int8: 0 empty, 1 player_0, 2 player_1."""
        return self.kernel.boards()[0]

    def action_at(self, pos: tuple[int, int]) -> int | None:
        """The action a click at board pixel ``pos`` means, or None outside the board."""
        col, row = pos[0] // self.cell, pos[1] // self.cell
        if not (0 <= col < self.cols and 0 <= row < self.rows):
            return None
        return int(col) if self.gravity else int(row * self.cols + col)

    def cell_centre(self, row: int, col: int) -> tuple[int, int]:
        """Pixel centre of a board cell, in window coordinates (the board is drawn at 0, 0)."""
        return col * self.cell + self.cell // 2, row * self.cell + self.cell // 2

    def handle_event(self, event: Event) -> None:
        action = None
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            action = self.action_at(event.pos)
        elif event.type == pygame.KEYDOWN and pygame.K_1 <= event.key <= pygame.K_9:
            action = event.key - pygame.K_1
        if action is not None:
            self.play_human(action)

    def describe(self, action: int) -> str:
        if self.gravity:
            return f"column {action + 1}"
        row, col = divmod(action, self.cols)
        return f"row {row + 1}, column {col + 1}"

    def draw_board(self, surface: pygame.Surface) -> None:
        draw(surface, self.board(), int(self.kernel.last_cells()[0]), self.gravity)
