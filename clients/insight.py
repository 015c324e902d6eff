"""What the agent has learned about a player, as short lines a demo's side panel shows.

Three sources feed it: the player's record against the agent (wins, losses,
draws; from the server's profile when there is one), the agent's prediction of
the player's next move (matrix games, where the served model has that head)
with how often that prediction came true, and a read of the player's style
computed from their own moves (centre or edge play, favourite moves, cycles,
aggression, restlessness).

The tracker is plain Python over the game's description, so the served and
the in-process opponents share it (``game_agent.local.LocalOpponent`` takes
one as an argument and never imports this package).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from games import GameError, GameSpec, parse_spec

MIN_MOVES_FOR_A_READ = 6
"""Fewer moves than this say too little about a style to report one."""


@dataclass(frozen=True)
class GameFacts:
    """The little a style read needs to know about the variant being played."""

    family: str
    num_actions: int
    action_names: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: GameSpec | str) -> GameFacts:
        spec = parse_spec(spec)
        info = spec.info_dict()
        names = info.get("action_names") or info.get("actions") or ()
        return cls(spec.family, spec.num_actions, tuple(names), dict(spec.params))

    @classmethod
    def from_variant(cls, spec: str, num_actions: int, action_names: Sequence[str]) -> GameFacts:
        """From what a server says about a variant; falls back to its bare shape when the
        variant is not one this installation of ``games`` knows."""
        try:
            return cls.from_spec(spec)
        except GameError:
            family = spec.split("(", 1)[0].strip()
            return cls(family, num_actions, tuple(action_names))

    def action_name(self, action: int) -> str:
        if 0 <= action < len(self.action_names):
            return self.action_names[action]
        if self.family == "connect_n" and self.params.get("gravity", True):
            return f"column {action + 1}"
        return f"move {action}"


@dataclass
class Record:
    """A player's results against the agent."""

    player_wins: int = 0
    agent_wins: int = 0
    draws: int = 0

    @property
    def games(self) -> int:
        return self.player_wins + self.agent_wins + self.draws

    def describe(self) -> str:
        if self.games == 0:
            return "no games yet"
        rate = 100.0 * self.player_wins / self.games
        return f"{self.player_wins}W {self.agent_wins}L {self.draws}D (you win {rate:.0f}%)"


class PlayerInsight:
    """Tracks one player's moves, results and the agent's predictions of them."""

    def __init__(self, facts: GameFacts):
        self.facts = facts
        self.record = Record()
        self.rating: float | None = None
        self.moves: list[int] = []
        self.prediction: np.ndarray | None = None
        self.predictions_made = 0
        self.predictions_right = 0
        self._pending_guess: int | None = None

    def record_move(self, action: int) -> None:
        """The player made ``action``; scores the prediction made for it, if any."""
        action = int(action)
        if self._pending_guess is not None:
            self.predictions_made += 1
            self.predictions_right += int(self._pending_guess == action)
            self._pending_guess = None
        self.moves.append(action)

    def record_prediction(self, probabilities: np.ndarray | None) -> None:
        """The agent's prediction of the player's next move (None: the model has none)."""
        if probabilities is None or len(probabilities) == 0:
            return
        self.prediction = np.asarray(probabilities, dtype=np.float64)
        self._pending_guess = int(np.argmax(self.prediction))

    def record_result(self, agent_result: int) -> None:
        """+1: the agent won the episode, -1: the player did, 0: a draw."""
        if agent_result > 0:
            self.record.agent_wins += 1
        elif agent_result < 0:
            self.record.player_wins += 1
        else:
            self.record.draws += 1

    def set_record(self, record: Record, rating: float | None = None) -> None:
        """Adopt the server's record (it spans every session this player ever had)."""
        self.record = record
        self.rating = rating

    def lines(self) -> dict[str, str]:
        """Panel lines, label to text, in display order."""
        lines = {"Your record": self.record.describe()}
        if self.rating is not None:
            lines["Your rating"] = f"{self.rating:.0f}"
        if self.prediction is not None:
            guess = int(np.argmax(self.prediction))
            share = 100.0 * self.prediction[guess]
            lines["Agent expects"] = f"{self.facts.action_name(guess)} ({share:.0f}%)"
        if self.predictions_made:
            rate = 100.0 * self.predictions_right / self.predictions_made
            lines["Reads you"] = (
                f"{self.predictions_right}/{self.predictions_made} right ({rate:.0f}%)"
            )
        lines["Your style"] = style_read(self.facts, self.moves)
        return lines


def style_read(facts: GameFacts, moves: Sequence[int]) -> str:
    """A short description of a player's style from their own moves."""
    if len(moves) < MIN_MOVES_FOR_A_READ:
        return f"too early to tell ({len(moves)} moves)"
    reader = _READERS.get(facts.family, _favourite_read)
    return reader(facts, np.asarray(moves, dtype=np.int64))


def _favourite_read(facts: GameFacts, moves: np.ndarray) -> str:
    action, count = Counter(moves.tolist()).most_common(1)[0]
    return f"favours {facts.action_name(action)} ({100.0 * count / len(moves):.0f}%)"


def _connect_n_read(facts: GameFacts, moves: np.ndarray) -> str:
    rows, cols = int(facts.params.get("rows", 6)), int(facts.params.get("cols", 7))
    if facts.params.get("gravity", True):
        offsets = np.abs(moves - (cols - 1) / 2) / max((cols - 1) / 2, 1)
    else:
        r, c = np.divmod(moves, cols)
        dr = np.abs(r - (rows - 1) / 2) / max((rows - 1) / 2, 1)
        dc = np.abs(c - (cols - 1) / 2) / max((cols - 1) / 2, 1)
        offsets = np.maximum(dr, dc)
    mean = float(offsets.mean())
    if mean < 0.35:
        return f"plays through the centre (mean offset {mean:.2f})"
    if mean > 0.65:
        return f"hugs the edges (mean offset {mean:.2f})"
    return f"spreads moves across the board (mean offset {mean:.2f})"


def _matrix_read(facts: GameFacts, moves: np.ndarray) -> str:
    legal = max(len(facts.action_names), 2)
    previous, current = moves[:-1], moves[1:]
    repeats = float(np.mean(current == previous))
    cycles = float(np.mean(current == (previous + 1) % legal))
    action, count = Counter(moves.tolist()).most_common(1)[0]
    share = count / len(moves)
    if cycles > 0.5:
        return f"cycles through the moves ({100 * cycles:.0f}% of the time)"
    if repeats > 0.5:
        return f"repeats the last move ({100 * repeats:.0f}% of the time)"
    if share > 1.0 / legal + 0.15:
        return f"leans on {facts.action_name(action)} ({100 * share:.0f}%)"
    return "mixes moves evenly: hard to read"


def _poker_read(facts: GameFacts, moves: np.ndarray) -> str:
    folds, raises = float(np.mean(moves == 0)), float(np.mean(moves == 2))
    if raises >= 0.4:
        return f"aggressive: bets or raises {100 * raises:.0f}% of the time"
    if folds >= 0.3:
        return f"cautious: folds {100 * folds:.0f}% of the time"
    return f"calm: mostly checks and calls ({100 * (1 - folds - raises):.0f}%)"


def _pong_read(facts: GameFacts, moves: np.ndarray) -> str:
    moving = float(np.mean(moves != 1))
    if moving > 0.7:
        return f"restless: moves {100 * moving:.0f}% of frames"
    if moving < 0.25:
        return f"patient: waits {100 * (1 - moving):.0f}% of frames"
    return f"measured: moves {100 * moving:.0f}% of frames"


_READERS = {
    "connect_n": _connect_n_read,
    "matrix": _matrix_read,
    "poker": _poker_read,
    "pong": _pong_read,
}
