"""poker demo: heads-up Kuhn or Leduc hands against the agent.

Keys: f fold, c check/call, r bet/raise. The table is the family's renderer
(``games.poker.render``) with the agent's card face down until a showdown.
Every hand is one episode; the agent adapts between hands, and the panel
reads your style from how often you bet, call and fold.
"""

from __future__ import annotations

import pygame

from clients.demos.turns import TurnBasedDemo
from clients.demos.ui import INK, MUTED, Event
from clients.opponent import AdaptiveOpponent
from games import GameSpec
from games.poker.config import CALL, FOLD, RAISE, PokerConfig
from games.poker.kernel import PokerState
from games.poker.render import HEIGHT, WIDTH, draw

KEYS = {pygame.K_f: FOLD, pygame.K_c: CALL, pygame.K_r: RAISE}
KEY_LABELS = ((FOLD, "f", "fold"), (CALL, "c", "check/call"), (RAISE, "r", "bet/raise"))
LEGEND_HEIGHT = 48


class PokerDemo(TurnBasedDemo):
    title = "poker"
    fps = 30
    controls = "Keys: f fold, c check/call, r bet/raise."

    def __init__(
        self,
        spec: GameSpec,
        opponent: AdaptiveOpponent,
        human_seat: int = 0,
        seed: int | None = None,
    ):
        super().__init__(spec, opponent, human_seat, seed)
        self.config = PokerConfig.from_spec(spec)
        self.chips = 0.0
        self.hands = 0
        self._font: pygame.font.Font | None = None
        self.new_episode()

    @property
    def board_size(self) -> tuple[int, int]:
        return WIDTH, HEIGHT + LEGEND_HEIGHT

    def new_episode(self) -> None:
        super().new_episode()
        card = self.config.rank_label(int(self.table().private[0, self.human_seat]))
        seat = "first" if self.human_seat == 0 else "second"
        turn = "Your move." if self.human_turn() else "Agent to move..."
        self.status = f"New hand: you hold {card} and act {seat}. {turn}"

    def table(self) -> PokerState:
        return self.env.kernel.state()

    def shown_table(self) -> PokerState:
        """The table as the human may see it: the agent's card stays hidden unless shown down."""
        state = self.table()
        folded = bool((state.history[0] == FOLD).any())
        if state.done[0] and not folded:
            return state
        cards = state.cards.copy()
        cards[0, self.agent_seat] = -1
        return state._replace(cards=cards)

    def handle_event(self, event: Event) -> None:
        if event.type == pygame.KEYDOWN and event.key in KEYS:
            self.play_human(KEYS[event.key])

    def describe(self, action: int) -> str:
        return ("fold", "check or call", "bet or raise")[action]

    def episode_words(self, result: int) -> str:
        self.hands += 1
        self.chips += self.human_total
        self.extra_lines = {"Chips": f"you {self.chips:+g} over {self.hands} hands"}
        won = abs(self.human_total)
        return {
            1: f"The agent wins {won:g} chips.",
            -1: f"You win {won:g} chips!",
            0: "Split pot.",
        }[result]

    def draw_board(self, surface: pygame.Surface) -> None:
        if self._font is None:
            self._font = pygame.font.Font(None, 24)
        draw(surface.subsurface((0, 0, WIDTH, HEIGHT)), self.config, self.shown_table())
        legal = set(self.legal_actions().tolist())
        x = 12
        for action, key, name in KEY_LABELS:
            colour = INK if action in legal else MUTED
            label = self._font.render(f"[{key}] {name}", True, colour)
            surface.blit(label, (x, HEIGHT + 14))
            x += label.get_width() + 28
        you = self._font.render(f"you: player_{self.human_seat}", True, MUTED)
        surface.blit(you, (WIDTH - you.get_width() - 12, HEIGHT + 14))
