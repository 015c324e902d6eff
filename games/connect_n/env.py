"""connect_n: k in a row on a rows x cols board, with or without gravity.

| Creation           | `games.make("connect_n(rows=6,cols=7,k=4,gravity=true)")`          |
|--------------------|--------------------------------------------------------------------|
| Actions            | Discrete                                                           |
| Parallel API       | No (seats alternate)                                               |
| Agents             | `agents = ['player_0', 'player_1']` (`player_0` moves first)       |
| Action shape       | (1)                                                                |
| Action values      | gravity: [0, cols - 1] (a column); no gravity: [0, rows*cols - 1]  |
| Observation shape  | (2, rows, cols)                                                    |
| Observation values | [0, 1] float32                                                     |

Two players take turns placing stones; the first to make ``k`` in a row
horizontally, vertically or diagonally wins. With ``gravity=true`` a stone
dropped into a column falls to its lowest empty cell (Connect Four); with
``gravity=false`` it may go on any empty cell (tic-tac-toe, gomoku).

Observation: egocentric planes, row 0 at the top of the board. Plane 0 holds
the observing seat's own stones, plane 1 the opponent's (1.0 where a stone is,
0.0 elsewhere), so both seats can share one policy. Unlike PettingZoo's
``connect_four_v3`` (rows, cols, 2 int8) the planes come first, the layout a
convolutional network reads.

Action mask: under gravity, column ``c`` is legal while it has an empty cell;
otherwise cell ``row * cols + col`` is legal while empty. The mask is all zero
for the seat that is not to move, and for both seats once the game is over.

Rewards: +1 to the winner and -1 to the loser on the move that completes a
line; 0 to both for a draw (a full board with no line) and on every other move.

Termination: a completed line or a full board. There is no truncation: a game
lasts at most rows * cols moves.

Variant parameters (``connect_n(rows=...,cols=...,k=...,gravity=...)``):

| Parameter | Default | Allowed                              |
|-----------|---------|--------------------------------------|
| rows      | 6       | 1 to 15                              |
| cols      | 7       | 1 to 15                              |
| k         | 4       | 2 to max(rows, cols)                 |
| gravity   | true    | true / false                         |

Well-known variants: tic-tac-toe ``connect_n(rows=3,cols=3,k=3,gravity=false)``,
Connect Four ``connect_n(rows=6,cols=7,k=4,gravity=true)``, free-style gomoku
``connect_n(rows=15,cols=15,k=5,gravity=false)``.

Splits (``games.get_split("connect_n", ...)``):

- train variants: Connect Four, tic-tac-toe, 5x5 k=4 gravity, 7x8 k=4 gravity,
  4x5 k=3 gravity, 9x9 k=5 free placement, 5x5 k=4 free placement;
  train opponents: random, centre, greedy, first_legal, search_d1, search_d2, search_d3.
- heldout variants: 5x6 k=4 gravity, 4x4 k=3 free placement, 7x7 k=5 free
  placement (board sizes and k/size ratios never trained on);
  heldout opponents: edge (hugs the rim, the opposite prior of centre) and
  mirror (copies the opponent's last move reflected through the centre: predictable
  once noticed, but no trained style reacts to the agent's own moves).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from games.connect_n.kernel import ConnectNKernel
from games.pz import KernelAECEnv
from games.spec import GameSpec


class ConnectNEnv(KernelAECEnv):
    """PettingZoo AEC env for one connect_n variant; the rules live in the kernel."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "connect_n_v0",
        "render_modes": ["human", "rgb_array"],
        "render_fps": 2,
        "is_parallelizable": False,
    }

    def __init__(self, spec: str | GameSpec = "connect_n", render_mode: str | None = None):
        super().__init__(spec, render_mode=render_mode)
        self._clock = None

    def _render_frame(self) -> np.ndarray | None:
        from games.connect_n.render import render_frame

        kernel = self.kernel
        assert isinstance(kernel, ConnectNKernel)
        if kernel.num_envs == 0:
            board = np.zeros((kernel.rows, kernel.cols), dtype=np.int8)
            last_cell = -1
        else:
            board, last_cell = kernel.boards()[0], int(kernel.last_cells()[0])
        return render_frame(self, board, last_cell, kernel.gravity)
