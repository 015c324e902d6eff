"""Opponent populations: the simulated individual players the agent adapts to."""

from games.opponents.base import Opponent, random_legal

__all__ = ["Opponent", "random_legal"]
