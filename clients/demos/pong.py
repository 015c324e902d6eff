"""pong demo: a match of points against the agent, at 60 frames per second.

Hold the up/down arrows (or w/s) to move your paddle. The agent is asked for
its move every frame, so the panel's measured frame rate and milliseconds per
move show whether it keeps up. Each point is one episode: the agent adapts
between points, and the match goes to the first to ``points``.
"""

from __future__ import annotations

import numpy as np
import pygame

from clients.demos.ui import INK, Demo, Event
from clients.opponent import AdaptiveOpponent
from games import GameError, GameSpec, make
from games.pong.config import DOWN, STAY, UP, PongConfig
from games.pong.render import draw

UP_KEYS = (pygame.K_UP, pygame.K_w)
DOWN_KEYS = (pygame.K_DOWN, pygame.K_s)


class PongDemo(Demo):
    title = "pong"
    fps = 60

    def __init__(
        self,
        spec: GameSpec,
        opponent: AdaptiveOpponent,
        human_seat: int = 0,
        seed: int | None = None,
        points: int = 5,
    ):
        if points < 1:
            raise GameError(f"a pong match needs at least one point to win, got points={points}")
        super().__init__(spec, opponent, human_seat, seed)
        self.points = points
        self.env = make(spec)
        self.config = PongConfig.from_spec(spec)
        side = "left" if human_seat == 0 else "right"
        self.controls = f"You are the {side} paddle: hold up/down (or w/s). First to {points}."
        self.held = {UP: False, DOWN: False}
        self._font: pygame.font.Font | None = None
        self.new_episode()

    @property
    def board_size(self) -> tuple[int, int]:
        return self._court_size

    def new_episode(self) -> None:
        """A new match: scores back to zero, then the first serve."""
        self.score = {self.human: 0, self.agent: 0}
        self._serve()
        self._court_size = self._court().get_size()
        self.status = "Match on."

    def _serve(self) -> None:
        self.observations, _ = self.env.reset(seed=self.next_seed())
        self.agent_pending = 0.0
        self._show_score()

    def _show_score(self) -> None:
        you, agent = self.score[self.human], self.score[self.agent]
        self.extra_lines = {"Score": f"you {you} - {agent} agent"}

    def human_action(self) -> int:
        up, down = self.held[UP], self.held[DOWN]
        return UP if up and not down else DOWN if down and not up else STAY

    def handle_event(self, event: Event) -> None:
        if event.type not in (pygame.KEYDOWN, pygame.KEYUP):
            return
        pressed = event.type == pygame.KEYDOWN
        if event.key in UP_KEYS:
            self.held[UP] = pressed
        elif event.key in DOWN_KEYS:
            self.held[DOWN] = pressed

    def update(self) -> None:
        human = self.human_action()
        self.opponent.player_moved(human)
        agent = self.agent_act(self.observations[self.agent], self.agent_pending)
        self.observations, rewards, _, _, _ = self.env.step({self.human: human, self.agent: agent})
        self.agent_pending = rewards[self.agent]
        if not self.env.agents:
            self._point_over(rewards[self.agent])

    def _point_over(self, agent_reward: float) -> None:
        result = int(np.sign(agent_reward))
        self.finish_episode(self.agent_pending, result)
        if result > 0:
            self.score[self.agent] += 1
        elif result < 0:
            self.score[self.human] += 1
        words = {1: "Point to the agent.", -1: "Your point!", 0: "Rally too long: no point."}
        self._show_score()
        if self.score[self.agent] >= self.points:
            self.end_game("The agent wins the match.")
        elif self.score[self.human] >= self.points:
            self.end_game("You win the match!")
        else:
            self._serve()
            self.status = words[result]

    def _court(self) -> pygame.Surface:
        return draw(self.env.kernel.state(), self.config)

    def draw_board(self, surface: pygame.Surface) -> None:
        if self._font is None:
            self._font = pygame.font.Font(None, 40)
        surface.blit(self._court(), (0, 0))
        left, right = self.spec.agents
        score = f"{self.score[left]}   {self.score[right]}"
        label = self._font.render(score, True, INK)
        surface.blit(label, label.get_rect(midtop=(surface.get_width() // 2, 8)))
