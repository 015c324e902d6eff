"""The one observation layout every poker variant uses (padded to the family maximum).

Kuhn and Leduc of any size share these offsets, so one network plays them all.
The layout table itself is in the rules table (:mod:`games.poker.env`); this
module encodes kernel state into it and decodes it back for scripted opponents,
which see only what a seat sees.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from games.poker.config import MAX_ACTIONS_PER_ROUND, MAX_RANKS, MAX_ROUNDS, PokerConfig

NUM_ACTIONS = 3
OWN_CARD = 0
PUBLIC_CARD = OWN_CARD + MAX_RANKS
HISTORY = PUBLIC_CARD + MAX_RANKS
HISTORY_SIZE = MAX_ROUNDS * MAX_ACTIONS_PER_ROUND * NUM_ACTIONS
POT = HISTORY + HISTORY_SIZE
OWN_CONTRIBUTION = POT + 1
ROUND = OWN_CONTRIBUTION + 1
SEAT = ROUND + MAX_ROUNDS
OWN_STRENGTH = SEAT + 2
PUBLIC_STRENGTH = OWN_STRENGTH + 1
DECK_RANKS = PUBLIC_STRENGTH + 1
IS_LEDUC = DECK_RANKS + 1
OBS_SIZE = IS_LEDUC + 1


class SeatView(NamedTuple):
    """What one seat's observation says, decoded (B rows)."""

    own_rank: np.ndarray
    """(B,) int: own private card's rank."""
    public_rank: np.ndarray
    """(B,) int: the public card's rank, -1 while it is hidden (always in Kuhn)."""
    history: np.ndarray
    """(B, MAX_ROUNDS, MAX_ACTIONS_PER_ROUND) int: actions so far per round, -1 = none."""
    round: np.ndarray
    """(B,) int: current betting round, 0-based."""
    seat: np.ndarray
    """(B,) int: 0 when this seat acts first in every round (player_0), else 1."""

    @property
    def paired(self) -> np.ndarray:
        """(B,) bool: the private card pairs the public card (the strongest Leduc hand)."""
        return self.public_rank == self.own_rank


def encode(
    config: PokerConfig,
    seat: int,
    private: np.ndarray,
    public: np.ndarray,
    history: np.ndarray,
    contributions: np.ndarray,
    round_: np.ndarray,
) -> np.ndarray:
    """Seat ``seat``'s observations (B, OBS_SIZE) of B games.

    ``private`` (B, 2) ranks, ``public`` (B,) rank or -1 while hidden, ``history``
    (B, MAX_ROUNDS, MAX_ACTIONS_PER_ROUND) with -1 for no action, ``contributions`` (B, 2)
    chips, ``round_`` (B,) current round.
    """
    n = private.shape[0]
    rows = np.arange(n)
    obs = np.zeros((n, OBS_SIZE), dtype=np.float32)
    own = private[:, seat]
    obs[rows, OWN_CARD + own] = 1.0
    shown = public >= 0
    obs[rows[shown], PUBLIC_CARD + public[shown]] = 1.0
    played = history >= 0
    game, rnd, slot = np.nonzero(played)
    column = HISTORY + (rnd * MAX_ACTIONS_PER_ROUND + slot) * NUM_ACTIONS + history[played]
    obs[game, column] = 1.0
    obs[:, POT] = contributions.sum(axis=1) / config.max_pot
    obs[:, OWN_CONTRIBUTION] = contributions[:, seat] / config.max_contribution
    obs[rows, ROUND + round_] = 1.0
    obs[:, SEAT + seat] = 1.0
    top = config.ranks - 1
    obs[:, OWN_STRENGTH] = own / top
    obs[:, PUBLIC_STRENGTH] = np.where(shown, public, 0) / top
    obs[:, DECK_RANKS] = config.ranks / MAX_RANKS
    obs[:, IS_LEDUC] = float(config.has_public_card)
    return obs


def decode(obs: np.ndarray) -> SeatView:
    """The :class:`SeatView` of observations (B, OBS_SIZE)."""
    obs = np.asarray(obs)
    public_block = obs[:, PUBLIC_CARD : PUBLIC_CARD + MAX_RANKS]
    history_block = obs[:, HISTORY:POT].reshape(-1, MAX_ROUNDS, MAX_ACTIONS_PER_ROUND, NUM_ACTIONS)
    history = np.where(history_block.any(axis=-1), history_block.argmax(axis=-1), -1)
    return SeatView(
        own_rank=obs[:, OWN_CARD : OWN_CARD + MAX_RANKS].argmax(axis=1),
        public_rank=np.where(public_block.any(axis=1), public_block.argmax(axis=1), -1),
        history=history,
        round=obs[:, ROUND : ROUND + MAX_ROUNDS].argmax(axis=1),
        seat=obs[:, SEAT : SEAT + 2].argmax(axis=1),
    )
