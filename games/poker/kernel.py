"""Batched Kuhn/Leduc rules: B hands of limit poker dealt, bet and settled at once.

The betting state is a handful of arrays (contributions, raises this round,
actions this round, the history, who acts); one ``step`` applies every live
game's action with array operations only. Each game's deal depends only on the
seed, the game's row and how many hands that row has dealt, so a game's cards
never change because some other game in the batch finished earlier or later.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from games.errors import GameError
from games.kernel import BatchKernel, Step
from games.poker.config import (
    CALL,
    FOLD,
    MAX_ACTIONS_PER_ROUND,
    MAX_ROUNDS,
    RAISE,
    PokerConfig,
)
from games.poker.layout import encode
from games.spec import GameSpec

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a cheap, well-spread hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class PokerState(NamedTuple):
    """A copy of the full table state (both private cards included): for renderers and tests."""

    cards: np.ndarray
    """(B, 3) deck indices ``rank * suits + suit``: player_0, player_1, public (-1 in Kuhn)."""
    private: np.ndarray
    """(B, 2) private card ranks."""
    public: np.ndarray
    """(B,) public card rank, -1 while hidden (always in Kuhn)."""
    contributions: np.ndarray
    """(B, 2) chips each seat has put in, ante included."""
    round: np.ndarray
    """(B,) current betting round."""
    history: np.ndarray
    """(B, MAX_ROUNDS, MAX_ACTIONS_PER_ROUND) actions per round, -1 = none."""
    player: np.ndarray
    """(B,) seat to act (the last actor once the hand is over)."""
    done: np.ndarray
    """(B,) the hand is over."""
    rewards: np.ndarray
    """(B, 2) chips won (+) or lost (-) on the last step."""


class PokerKernel(BatchKernel):
    """Kuhn and Leduc hold'em for B games at once; the rules table is :mod:`games.poker.env`."""

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.config = PokerConfig.from_spec(spec)
        self._bets = np.asarray(self.config.bets, dtype=np.int64)
        self._seed_value = np.uint64(0)
        self._epoch = 0
        self.seed(None)
        self._allocate(0)

    def seed(self, seed: int | None) -> None:
        super().seed(seed)
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**63))
        self._seed_value = np.uint64(int(seed) % 2**64)
        self._epoch = -1

    def _allocate(self, n: int) -> None:
        self._epoch += 1
        self._cards = np.full((n, 3), -1, dtype=np.int64)
        self._contributions = np.zeros((n, 2), dtype=np.int64)
        self._round = np.zeros(n, dtype=np.int64)
        self._raises = np.zeros(n, dtype=np.int64)
        self._slot = np.zeros(n, dtype=np.int64)
        self._history = np.full((n, MAX_ROUNDS, MAX_ACTIONS_PER_ROUND), -1, dtype=np.int64)
        self._player = np.zeros(n, dtype=np.int64)
        self._done = np.zeros(n, dtype=bool)
        self._rewards = np.zeros((n, 2), dtype=np.float32)
        self._hands = np.zeros(n, dtype=np.uint64)

    def reset_where(self, which: np.ndarray) -> Step:
        which = np.asarray(which, dtype=bool)
        if which.shape != (self.num_envs,):
            raise GameError(f"reset_where needs a ({self.num_envs},) mask, got {which.shape}")
        rows = np.flatnonzero(which)
        self._start(rows, self._deal(rows))
        return self._observe()

    def reset_with_cards(self, cards: np.ndarray) -> Step:
        """Start ``len(cards)`` hands with chosen cards instead of a random deal.

        ``cards`` is (n, 2) for Kuhn or (n, 3) for Leduc: deck indices
        ``rank * suits + suit`` of player_0's card, player_1's card and the public
        card. For replaying recorded hands and for hand-worked tests.
        """
        cards = np.asarray(cards)
        config = self.config
        expected = config.cards_dealt
        if cards.ndim != 2 or cards.shape[1] != expected or len(cards) < 1:
            raise GameError(f"{config.game} deals {expected} cards: cards must be (n, {expected})")
        if ((cards < 0) | (cards >= config.deck_size)).any():
            raise GameError(f"card indices must be in [0, {config.deck_size}) for this deck")
        ordered = np.sort(cards, axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            raise GameError("a deck holds each card once: a row of cards repeats a card")
        self.num_envs = len(cards)
        self._allocate(self.num_envs)
        self._start(np.arange(self.num_envs), cards.astype(np.int64))
        return self._observe()

    def state(self) -> PokerState:
        """A copy of the full table state of all B games."""
        private = self._cards[:, :2] // self.config.suits
        return PokerState(
            cards=self._cards.copy(),
            private=private,
            public=self._public_shown(),
            contributions=self._contributions.copy(),
            round=self._round.copy(),
            history=self._history.copy(),
            player=self._player.copy(),
            done=self._done.copy(),
            rewards=self._rewards.copy(),
        )

    def _deal(self, rows: np.ndarray) -> np.ndarray:
        """Cards (len(rows), cards_dealt) for the next hand of each row, then count the hand."""
        key = _mix(self._seed_value ^ _mix(np.uint64(self._epoch)))
        key = _mix(key ^ _mix(rows.astype(np.uint64)))
        key = _mix(key ^ self._hands[rows])
        self._hands[rows] += np.uint64(1)
        with np.errstate(over="ignore"):
            offsets = np.arange(1, self.config.deck_size + 1, dtype=np.uint64) * _GOLDEN
            scores = _mix(key[:, None] ^ offsets[None, :])
        return np.argsort(scores, axis=1)[:, : self.config.cards_dealt]

    def _start(self, rows: np.ndarray, cards: np.ndarray) -> None:
        self._cards[rows] = -1
        self._cards[rows, : cards.shape[1]] = cards
        self._contributions[rows] = self.config.ante
        self._round[rows] = 0
        self._raises[rows] = 0
        self._slot[rows] = 0
        self._history[rows] = -1
        self._player[rows] = 0
        self._done[rows] = False
        self._rewards[rows] = 0.0

    def _step(self, actions: np.ndarray) -> Step:
        self._rewards[:] = 0.0
        games = np.flatnonzero(~self._done)
        seat = self._player[games]
        other = 1 - seat
        action = actions[games, seat]
        rnd = self._round[games]
        self._history[games, rnd, self._slot[games]] = action
        self._slot[games] += 1

        matched = self._contributions[games, other]
        raised = action == RAISE
        new_total = np.where(action == FOLD, self._contributions[games, seat], matched)
        self._contributions[games, seat] = new_total + raised * self._bets[rnd]
        self._raises[games] += raised

        folded = action == FOLD
        # A check or call that is not the round's first action closes the round.
        closes = (action == CALL) & (self._slot[games] >= 2)
        showdown = closes & (rnd == self.config.rounds - 1)
        next_round = closes & ~showdown
        self._settle_folds(games[folded], seat[folded])
        self._settle_showdowns(games[showdown])

        advancing = games[next_round]
        self._round[advancing] += 1
        self._raises[advancing] = 0
        self._slot[advancing] = 0
        self._player[advancing] = 0
        continuing = ~(folded | closes)
        self._player[games[continuing]] = other[continuing]
        return self._observe()

    def _settle_folds(self, games: np.ndarray, folder: np.ndarray) -> None:
        lost = self._contributions[games, folder].astype(np.float32)
        self._rewards[games, folder] = -lost
        self._rewards[games, 1 - folder] = lost
        self._done[games] = True

    def _settle_showdowns(self, games: np.ndarray) -> None:
        strength = self._hand_strength(games)
        sign = np.sign(strength[:, 0] - strength[:, 1]).astype(np.float32)
        stake = self._contributions[games, 0].astype(np.float32)
        self._rewards[games, 0] = sign * stake
        self._rewards[games, 1] = -sign * stake
        self._done[games] = True

    def _hand_strength(self, games: np.ndarray) -> np.ndarray:
        """(len(games), 2) comparable strengths: a pair with the public card beats any rank."""
        ranks = self._cards[games, :2] // self.config.suits
        if not self.config.has_public_card:
            return ranks
        public = self._cards[games, 2:3] // self.config.suits
        return ranks + self.config.ranks * (ranks == public)

    def _public_shown(self) -> np.ndarray:
        if not self.config.has_public_card:
            return np.full(self.num_envs, -1, dtype=np.int64)
        return np.where(self._round >= 1, self._cards[:, 2] // self.config.suits, -1)

    def _observe(self) -> Step:
        n = self.num_envs
        private = self._cards[:, :2] // self.config.suits
        public = self._public_shown()
        obs = np.stack(
            [
                encode(
                    self.config,
                    seat,
                    private,
                    public,
                    self._history,
                    self._contributions,
                    self._round,
                )
                for seat in (0, 1)
            ],
            axis=1,
        )
        return Step(
            obs=obs,
            action_mask=self._current_mask(),
            acting=self._current_acting(),
            rewards=self._rewards.copy(),
            terminated=self._done.copy(),
            truncated=np.zeros(n, dtype=bool),
        )

    def _current_acting(self) -> np.ndarray:
        acting = np.zeros((self.num_envs, 2), dtype=bool)
        acting[np.arange(self.num_envs), self._player] = ~self._done
        return acting

    def _current_mask(self) -> np.ndarray:
        rows = np.arange(self.num_envs)
        seat = self._player
        facing = self._contributions[rows, 1 - seat] > self._contributions[rows, seat]
        legal = np.stack(
            [facing, np.ones(self.num_envs, dtype=bool), self._raises < self.config.max_raises],
            axis=1,
        )
        return self._current_acting()[:, :, None] & legal[:, None, :]
