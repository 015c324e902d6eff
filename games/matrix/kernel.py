"""Batched rules of repeated two-player matrix games (rules table: :mod:`games.matrix.env`).

State per game: the round counter, the whole match history (both seats'
actions, for the renderer and for observations of any window length) and the
running score. There is no chance in the rules, so seeding changes nothing.
"""

from __future__ import annotations

import numpy as np

from games.kernel import BatchKernel, Step
from games.matrix.payoffs import NUM_ACTIONS, ONE_ROUND, ObsLayout, StageGame, stage_game
from games.spec import GameSpec


class MatrixKernel(BatchKernel):
    """B matches of one variant, both seats moving every round."""

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.game: StageGame = stage_game(spec.param("name"), spec.param("bias"))
        self.rounds = int(spec.param("rounds"))
        self.layout = ObsLayout(int(spec.param("history")))
        legal = np.zeros(NUM_ACTIONS, dtype=bool)
        legal[: self.game.num_legal] = True
        self._legal = legal
        self._matrix_part = self._matrices_in_obs()
        self.t = np.zeros(0, dtype=np.int64)
        self.history = np.zeros((0, self.rounds, 2), dtype=np.int64)
        self.score = np.zeros((0, 2), dtype=np.float64)
        self._rewards = np.zeros((0, 2), dtype=np.float32)
        self._terminated = np.zeros(0, dtype=bool)

    def _matrices_in_obs(self) -> np.ndarray:
        """(2, 50): per seat, its own matrix then the opponent's (both in their owner's view)."""
        payoffs = self.game.payoffs
        return np.stack(
            [np.concatenate([payoffs[s].ravel(), payoffs[1 - s].ravel()]) for s in (0, 1)]
        ).astype(np.float32)

    def _allocate(self, n: int) -> None:
        self.t = np.zeros(n, dtype=np.int64)
        self.history = np.full((n, self.rounds, 2), -1, dtype=np.int64)
        self.score = np.zeros((n, 2), dtype=np.float64)
        self._rewards = np.zeros((n, 2), dtype=np.float32)
        self._terminated = np.zeros(n, dtype=bool)

    def reset_where(self, which: np.ndarray) -> Step:
        which = np.asarray(which, dtype=bool)
        self.t[which] = 0
        self.history[which] = -1
        self.score[which] = 0.0
        self._rewards[which] = 0.0
        self._terminated[which] = False
        return self._observe(np.zeros(self.num_envs, dtype=bool))

    def _step(self, actions: np.ndarray) -> Step:
        live = ~self._terminated
        rows = np.flatnonzero(live)
        mine, theirs = actions[rows, 0], actions[rows, 1]
        payoffs = self.game.payoffs
        rewards = np.zeros((self.num_envs, 2), dtype=np.float32)
        rewards[rows, 0] = payoffs[0, mine, theirs]
        rewards[rows, 1] = payoffs[1, theirs, mine]
        self.history[rows, self.t[rows]] = actions[rows]
        self.t[rows] += 1
        self.score[rows] += rewards[rows]
        self._rewards = rewards
        self._terminated = self.t >= self.rounds
        return self._observe(live)

    def _observe(self, stepped: np.ndarray) -> Step:
        """The Step for all games: rewards only where a round was just played; a finished
        game reports ``terminated`` until it is re-dealt."""
        rewards = np.where(stepped[:, None], self._rewards, 0.0).astype(np.float32)
        return Step(
            obs=self._observations(),
            action_mask=self._current_mask(),
            acting=self._current_acting(),
            rewards=rewards,
            terminated=self._terminated.copy(),
            truncated=np.zeros(self.num_envs, dtype=bool),
        )

    def _observations(self) -> np.ndarray:
        n, layout = self.num_envs, self.layout
        obs = np.zeros((n, 2, layout.size), dtype=np.float32)
        for k in range(min(layout.history, self.rounds)):
            rows = np.flatnonzero(self.t > k)
            moves = self.history[rows, self.t[rows] - 1 - k]  # (rows, 2): seat 0, seat 1
            base = ONE_ROUND * k
            for seat in (0, 1):
                obs[rows, seat, base + moves[:, seat]] = 1.0
                obs[rows, seat, base + NUM_ACTIONS + moves[:, 1 - seat]] = 1.0
        obs[:, :, layout.clock_index] = (self.t / self.rounds)[:, None]
        obs[:, :, layout.clock_index + 1 :] = self._matrix_part[None]
        return obs

    def _current_acting(self) -> np.ndarray:
        return np.repeat(~self._terminated[:, None], 2, axis=1)

    def _current_mask(self) -> np.ndarray:
        return self._current_acting()[:, :, None] & self._legal[None, None, :]
