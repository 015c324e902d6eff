"""Opponents that play any game: they read only the action mask."""

from __future__ import annotations

import numpy as np

from games.opponents.base import Opponent, first_legal, random_legal


class RandomOpponent(Opponent):
    name = "random"
    description = "plays a uniformly random legal action"

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return random_legal(mask, self.rng)


class FirstLegalOpponent(Opponent):
    name = "first_legal"
    description = "always plays the lowest-numbered legal action"

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return first_legal(mask)
