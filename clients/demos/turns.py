"""The part of a demo shared by games whose seats take turns (connect_n, poker).

It drives the family's PettingZoo AEC env: the agent moves (one frame after
the human, so the human's move is drawn first), the human's moves come from
the subclass's input handling through :meth:`play_human`, and the rewards
each seat collects are summed so the agent gets exactly the reward it earned
since its previous move, and its final reward when the episode ends.
"""

from __future__ import annotations

import numpy as np

from clients.demos.ui import Demo
from clients.opponent import AdaptiveOpponent
from games import GameSpec, make


class TurnBasedDemo(Demo):
    """A :class:`Demo` over an AEC env; subclasses add input, drawing and wording."""

    def __init__(
        self,
        spec: GameSpec,
        opponent: AdaptiveOpponent,
        human_seat: int = 0,
        seed: int | None = None,
    ):
        super().__init__(spec, opponent, human_seat, seed)
        self.env = make(spec)
        self.agent_pending = 0.0
        self.human_total = 0.0

    def new_episode(self) -> None:
        self.env.reset(seed=self.next_seed())
        self.agent_pending = 0.0
        self.human_total = 0.0

    def human_turn(self) -> bool:
        return not self.game_over and self.env.agent_selection == self.human

    def legal_actions(self) -> np.ndarray:
        """The human's legal actions now (empty when it is not their turn)."""
        if not self.human_turn():
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.env.observe(self.human)["action_mask"])

    def play_human(self, action: int) -> bool:
        """Play the human's ``action`` if it is legal now; False (and a hint) if not."""
        if not self.human_turn():
            return False
        if action not in self.legal_actions():
            self.status = f"{self.describe(action)} is not allowed now; try another move."
            return False
        self.opponent.player_moved(action)
        self._step(action)
        return True

    def update(self) -> None:
        if self.game_over or self.env.agent_selection != self.agent:
            return
        action = self.agent_act(self.env.observe(self.agent), self.agent_pending)
        self.agent_pending = 0.0
        self._step(action)

    def _step(self, action: int) -> None:
        mover = self.env.agent_selection
        self.env.step(action)
        self.agent_pending += self.env.rewards[self.agent]
        self.human_total += self.env.rewards[self.human]
        if all(self.env.terminations.values()) or all(self.env.truncations.values()):
            result = int(np.sign(-self.human_total))
            self.finish_episode(self.agent_pending, result)
            self.end_game(self.episode_words(result))
        elif mover == self.human:
            self.status = f"You: {self.describe(action)}. Agent to move..."
        else:
            self.status = f"Agent: {self.describe(action)}. Your move."

    def describe(self, action: int) -> str:
        """The move ``action`` in the family's words."""
        return f"move {action}"

    def episode_words(self, result: int) -> str:
        """What the status line says when the episode ends (result from the agent's side)."""
        return {1: "The agent wins.", -1: "You win!", 0: "A draw."}[result]
