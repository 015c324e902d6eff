"""matrix demo: a repeated normal-form game (rock-paper-scissors and friends) against the agent.

Press the number of a move (1 = the first action). The agent commits to its
move at the start of every round, before seeing yours, and the panel shows
which move it expects from you (when its model predicts the player) and how
often it has been right: the quickest way to watch it learn your habits.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pygame

from clients.demos.ui import INK, MUTED, Demo, Event
from clients.opponent import AdaptiveOpponent
from games import GameSpec, make

WIDTH, HEIGHT = 560, 480
ROWS_SHOWN = 9
ACTION_COLOURS = (
    (200, 80, 70),
    (70, 140, 220),
    (230, 190, 60),
    (150, 100, 210),
    (80, 180, 110),
)
"""One colour per action index, for the move buttons and the history."""
WIN, LOSS, EVEN = (90, 200, 120), (230, 90, 80), (170, 170, 170)


class Round(NamedTuple):
    human: int
    agent: int
    human_reward: float
    agent_reward: float


class MatrixDemo(Demo):
    title = "matrix"
    fps = 30

    def __init__(
        self,
        spec: GameSpec,
        opponent: AdaptiveOpponent,
        human_seat: int = 0,
        seed: int | None = None,
    ):
        super().__init__(spec, opponent, human_seat, seed)
        self.env = make(spec)
        self.names: tuple[str, ...] = tuple(spec.info_dict()["actions"])
        self.rounds_per_match = int(spec.param("rounds"))
        keys = ", ".join(f"{i + 1} {name}" for i, name in enumerate(self.names))
        self.controls = f"Keys: {keys}."
        self._font: pygame.font.Font | None = None
        self.new_episode()

    @property
    def board_size(self) -> tuple[int, int]:
        return WIDTH, HEIGHT

    def new_episode(self) -> None:
        self.observations, _ = self.env.reset(seed=self.next_seed())
        self.history: list[Round] = []
        self.scores = np.zeros(2)
        self.agent_pending = 0.0
        self._agent_commits()
        self.status = "Round 1: choose your move."

    def legal_actions(self) -> np.ndarray:
        if self.game_over:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.observations[self.human]["action_mask"])

    def _agent_commits(self) -> None:
        """The agent picks its move for the round now, before the human's is known."""
        self.agent_action = self.agent_act(self.observations[self.agent], self.agent_pending)
        self.agent_pending = 0.0
        self.insight = self.opponent.insight()

    def handle_event(self, event: Event) -> None:
        if event.type != pygame.KEYDOWN or not pygame.K_1 <= event.key <= pygame.K_9:
            return
        action = event.key - pygame.K_1
        if action not in self.legal_actions():
            self.status = f"Press 1-{len(self.names)} to choose a move."
            return
        self.opponent.player_moved(action)
        self._play_round(action)

    def update(self) -> None:
        """Nothing moves until the human chooses: rounds advance on key presses."""

    def _play_round(self, human_action: int) -> None:
        actions = {self.human: human_action, self.agent: self.agent_action}
        self.observations, rewards, _, _, _ = self.env.step(actions)
        played = Round(human_action, self.agent_action, rewards[self.human], rewards[self.agent])
        self.history.append(played)
        self.scores += (played.human_reward, played.agent_reward)
        self.agent_pending = played.agent_reward
        summary = f"You {self.names[human_action]}, agent {self.names[played.agent]}."
        if self.env.agents:
            self._agent_commits()
            self.status = f"{summary} Round {len(self.history) + 1}: your move."
            return
        result = int(np.sign(self.scores[1] - self.scores[0]))
        self.finish_episode(self.agent_pending, result)
        words = {1: "The agent wins the match.", -1: "You win the match!", 0: "A drawn match."}
        self.end_game(f"{summary} {words[result]}")

    def draw_board(self, surface: pygame.Surface) -> None:
        if self._font is None:
            self._font = pygame.font.Font(None, 26)
        font = self._font
        surface.fill((28, 30, 38))
        played = len(self.history)
        header = f"Round {min(played + 1, self.rounds_per_match)} of {self.rounds_per_match}"
        score = f"You {self.scores[0]:+.2f}   Agent {self.scores[1]:+.2f}"
        surface.blit(font.render(header, True, INK), (20, 16))
        surface.blit(font.render(score, True, INK), (WIDTH - 20 - font.size(score)[0], 16))
        self._draw_buttons(surface, font)
        self._draw_history(surface, font)

    def button_rect(self, action: int) -> pygame.Rect:
        """Where the button of ``action`` is drawn (board coordinates)."""
        width = (WIDTH - 40) // max(len(self.names), 1)
        return pygame.Rect(20 + action * width, 52, width - 10, 44)

    def _draw_buttons(self, surface: pygame.Surface, font: pygame.font.Font) -> None:
        for action, name in enumerate(self.names):
            rect = self.button_rect(action)
            pygame.draw.rect(surface, ACTION_COLOURS[action], rect, border_radius=8)
            label = font.render(f"{action + 1} {name}", True, (20, 20, 24))
            surface.blit(label, label.get_rect(center=rect.center))

    def history_row_y(self, row: int) -> int:
        return 140 + row * 36

    def _draw_history(self, surface: pygame.Surface, font: pygame.font.Font) -> None:
        surface.blit(font.render("you", True, MUTED), (40, 112))
        surface.blit(font.render("agent", True, MUTED), (220, 112))
        shown = self.history[-ROWS_SHOWN:]
        for row, played in enumerate(shown):
            y = self.history_row_y(row)
            for x, action in ((20, played.human), (200, played.agent)):
                rect = pygame.Rect(x, y, 150, 28)
                pygame.draw.rect(surface, ACTION_COLOURS[action], rect, border_radius=6)
                label = font.render(self.names[action], True, (20, 20, 24))
                surface.blit(label, label.get_rect(center=rect.center))
            diff = played.human_reward - played.agent_reward
            colour = WIN if diff > 0 else LOSS if diff < 0 else EVEN
            outcome = f"{played.human_reward:+.2f}"
            surface.blit(font.render(outcome, True, colour), (380, y + 4))
