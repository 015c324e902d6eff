"""The resolved rules of one poker variant, read once from its spec.

The registry stores every parameter with the game's standard filled in (a spec
string may leave ``bet1=0`` to mean "the standard size"); :class:`PokerConfig`
turns that into the numbers the kernel, the opponents and the best-response
code all need, so they never re-derive them differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from games.spec import GameSpec

MAX_RANKS = 13
"""Largest deck: 13 ranks (2 to ace). The observation pads card one-hots to this."""
MAX_RAISES = 4
"""Most bets/raises allowed in one round; sizes the padded betting history."""
MAX_ROUNDS = 2
"""Leduc has two betting rounds, Kuhn one; the history is padded to two."""
MAX_ACTIONS_PER_ROUND = MAX_RAISES + 2
"""Longest round: check, then ``max_raises`` bets/raises, then a call."""

FOLD, CALL, RAISE = 0, 1, 2
"""Action numbers: fold, check/call, bet/raise (the same in every variant)."""
ACTION_NAMES = ("fold", "check/call", "bet/raise")

STANDARD = {
    "kuhn": {"suits": 1, "bet1": 1, "bet2": 0, "max_raises": 1},
    "leduc": {"suits": 2, "bet1": 2, "bet2": 4, "max_raises": 2},
}
"""What ``0`` (the default) resolves to for each game's resolvable parameters."""

RANK_LABELS = "23456789TJQKA"


@dataclass(frozen=True)
class PokerConfig:
    """The numbers that define one variant's rules."""

    game: str
    """``"kuhn"`` (one round, no public card) or ``"leduc"`` (two rounds, one public card)."""
    ranks: int
    """Card ranks in the deck, 0 (lowest) to ``ranks - 1`` (highest)."""
    suits: int
    """Copies of each rank; Kuhn always 1. Suits never matter at showdown."""
    ante: int
    """Chips each seat puts in before the deal."""
    bets: tuple[int, ...]
    """Fixed bet/raise size of each round."""
    max_raises: int
    """Bets plus raises allowed per round; a bet counts as the first raise."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PokerConfig:
        """The config of resolved parameters (every standard already filled in)."""
        game = params["game"]
        bets = (params["bet1"],) if game == "kuhn" else (params["bet1"], params["bet2"])
        return cls(
            game=game,
            ranks=params["ranks"],
            suits=params["suits"],
            ante=params["ante"],
            bets=bets,
            max_raises=params["max_raises"],
        )

    @classmethod
    def from_spec(cls, spec: GameSpec) -> PokerConfig:
        return cls.from_params(dict(spec.params))

    @property
    def rounds(self) -> int:
        return len(self.bets)

    @property
    def has_public_card(self) -> bool:
        return self.game == "leduc"

    @property
    def deck_size(self) -> int:
        return self.ranks * self.suits

    @property
    def cards_dealt(self) -> int:
        return 3 if self.has_public_card else 2

    @property
    def actions_per_round(self) -> int:
        return self.max_raises + 2

    @property
    def max_contribution(self) -> int:
        """Most chips one seat can put in: the ante plus every allowed raise."""
        return self.ante + self.max_raises * sum(self.bets)

    @property
    def max_pot(self) -> int:
        return 2 * self.max_contribution

    def rank_label(self, rank: int) -> str:
        """Conventional card name: the top ranks end at K (J Q K for three ranks), A with 13."""
        labels = RANK_LABELS if self.ranks == MAX_RANKS else RANK_LABELS[:-1]
        return labels[len(labels) - self.ranks + rank]
