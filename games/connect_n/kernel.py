"""Batched connect_n rules: B boards stepped together with numpy.

The board is one int8 array (B, rows, cols): 0 empty, 1 player_0, 2 player_1,
row 0 at the top (gravity drops stones towards row ``rows - 1``, as in
PettingZoo's Connect Four). The boards live inside a border of ``k - 1``
always-empty cells, so checking the lines through the stone just placed is one
gather of its neighbours for all games at once (:func:`completes_line_flat`).
"""

from __future__ import annotations

import numpy as np

from games.connect_n.lines import completes_line_flat, ray_offsets
from games.errors import GameError
from games.kernel import BatchKernel, Step
from games.spec import GameSpec


class ConnectNKernel(BatchKernel):
    """k in a row on a rows x cols board, with or without gravity."""

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.rows = int(spec.param("rows"))
        self.cols = int(spec.param("cols"))
        self.k = int(spec.param("k"))
        self.gravity = bool(spec.param("gravity"))
        self._border = self.k - 1
        self._padded_shape = (self.rows + 2 * self._border, self.cols + 2 * self._border)
        self._offsets = ray_offsets(self._padded_shape[1], self.k)
        self._allocate(0)

    def _allocate(self, n: int) -> None:
        self._padded = np.zeros((n, *self._padded_shape), dtype=np.int8)
        border = self._border
        self._board = self._padded[:, border : border + self.rows, border : border + self.cols]
        self._heights = np.zeros((n, self.cols), dtype=np.int64)
        self._player = np.zeros(n, dtype=np.int64)
        self._moves = np.zeros(n, dtype=np.int64)
        self._last_cell = np.full(n, -1, dtype=np.int64)
        self._terminated = np.zeros(n, dtype=bool)
        self._rewards = np.zeros((n, 2), dtype=np.float32)
        self._obs = np.zeros((n, 2, 2, self.rows, self.cols), dtype=np.float32)
        """Both seats' planes, kept up to date stone by stone rather than rebuilt per step."""
        self._mask = np.zeros((n, 2, self.spec.num_actions), dtype=bool)
        self._acting = np.zeros((n, 2), dtype=bool)

    def boards(self) -> np.ndarray:
        """Copy of the boards (B, rows, cols) int8: 0 empty, 1 player_0, 2 player_1."""
        return self._board.copy()

    def last_cells(self) -> np.ndarray:
        """(B,) flat index ``row * cols + col`` of each game's last stone; -1 before any."""
        return self._last_cell.copy()

    def reset_where(self, which: np.ndarray) -> Step:
        which = np.asarray(which, dtype=bool)
        if which.shape != (len(self._board),):
            raise GameError(f"reset_where needs a ({len(self._board)},) mask, got {which.shape}")
        self._board[which] = 0
        self._obs[which] = 0.0
        self._heights[which] = 0
        self._player[which] = 0
        self._moves[which] = 0
        self._last_cell[which] = -1
        self._terminated[which] = False
        self._rewards[which] = 0.0
        return self._observe()

    def _step(self, actions: np.ndarray) -> Step:
        live = np.flatnonzero(~self._terminated)
        player = self._player[live]
        action = actions[live, player]
        if self.gravity:
            cols = action
            rows = self.rows - 1 - self._heights[live, cols]
            self._heights[live, cols] += 1
        else:
            rows, cols = np.divmod(action, self.cols)
        piece = (player + 1).astype(np.int8)
        self._board[live, rows, cols] = piece
        self._obs[live, player, 0, rows, cols] = 1.0
        self._obs[live, 1 - player, 1, rows, cols] = 1.0
        self._last_cell[live] = rows * self.cols + cols
        self._moves[live] += 1
        height, width = self._padded_shape
        cells = (live * height + rows + self._border) * width + cols + self._border
        won = completes_line_flat(self._padded.reshape(-1), cells, piece, self._offsets, self.k)
        full = self._moves[live] == self.rows * self.cols
        self._rewards[:] = 0.0
        winners, winner_seat = live[won], player[won]
        self._rewards[winners, winner_seat] = 1.0
        self._rewards[winners, 1 - winner_seat] = -1.0
        self._terminated[live] = won | full
        self._player[live] = np.where(won | full, player, 1 - player)
        return self._observe()

    def _observe(self) -> Step:
        n = len(self._board)
        legal = self._heights < self.rows if self.gravity else self._board.reshape(n, -1) == 0
        live = ~self._terminated
        acting = np.zeros((n, 2), dtype=bool)
        acting[np.arange(n), self._player] = live
        self._acting = acting
        self._mask = acting[:, :, None] & legal[:, None, :]
        return Step(
            obs=self._obs.copy(),
            action_mask=self._mask.copy(),
            acting=acting.copy(),
            rewards=self._rewards.copy(),
            terminated=self._terminated.copy(),
            truncated=np.zeros(n, dtype=bool),
        )

    def _current_mask(self) -> np.ndarray:
        return self._mask

    def _current_acting(self) -> np.ndarray:
        return self._acting
