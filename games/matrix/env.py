"""
# Repeated matrix games

| Creation           | `games.make("matrix(name=rps,rounds=50,history=3)")`             |
|--------------------|------------------------------------------------------------------|
| Actions            | Discrete(5), spare actions masked                                |
| Parallel API       | Yes (native); AEC via `pettingzoo.utils.conversions.parallel_to_aec` |
| Agents             | `agents = ['player_0', 'player_1']`                              |
| Observation        | Dict: `observation` Box(-1, 1, (10*h + 51,), float32), `action_mask` |
| Metadata name      | `matrix_v0`                                                      |

Two players play one normal-form stage game for `rounds` rounds, both choosing
at once every round. One layout serves every variant, so a single network
plays them all and reads which game it is in from the payoff matrices in its
observation, as a human reads the rules.

### Parameters

| name      | type  | default | meaning                                                 |
|-----------|-------|---------|---------------------------------------------------------|
| `name`    | str   | `rps`   | the stage game (see Actions for the seven choices)      |
| `rounds`  | int   | 50      | rounds per match (1..10000); the episode is one match   |
| `history` | int   | 3       | h, past rounds shown in the observation (1..50)         |
| `bias`    | float | 2.0     | biased_rps only: payoff of a win with rock (0.1..10)    |

Any game but biased_rps must leave `bias` at 2.0 (anything else is rejected,
so two spec strings never name the same game).

### Actions

| game               | 0         | 1        | 2        | 3     | 4      |
|--------------------|-----------|----------|----------|-------|--------|
| rps, biased_rps    | rock      | paper    | scissors | -     | -      |
| rpsls              | rock      | paper    | scissors | spock | lizard |
| matching_pennies   | heads     | tails    | -        | -     | -      |
| prisoners_dilemma  | cooperate | defect   | -        | -     | -      |
| chicken            | swerve    | straight | -        | -     | -      |
| stag_hunt          | stag      | hare     | -        | -     | -      |

"-" actions are masked out for both seats. RPSLS uses PettingZoo rps_v2's
numbering (spock before lizard): a beats b exactly when (a - b) mod n is odd.

### Observation (per seat, egocentric, float32, h = `history`)

| entries                        | content                                                        |
|--------------------------------|----------------------------------------------------------------|
| `[10k, 10k+5)`, k = 0..h-1     | my action k+1 rounds ago, one-hot over 5 (k = 0 is the newest)  |
| `[10k+5, 10k+10)`              | the opponent's action in that round, one-hot over 5            |
| `10h`                          | round clock t / rounds (t = rounds already played)             |
| `[10h+1, 10h+26)`              | my payoff matrix, row-major 5x5 `[my action, their action]`    |
| `[10h+26, 10h+51)`             | the opponent's payoff matrix, its own view `[its, mine]`       |

Rounds before round 1 are all zeros. Matrices are zero-padded to 5x5 and
divided by the largest absolute raw payoff of the game (both seats), so every
entry lies in [-1, 1]. The opponent's matrix is there because in a
general-sum or asymmetric game (matching pennies) a player needs both
matrices to reason about the other; in symmetric games the two blocks are equal.

### Rewards (each round, the normalised payoff of the seat's own matrix)

Zero-sum, raw tables are for the row player (player_1's table is the mirror):

| game              | raw payoffs (row: mine, column: theirs)              | scale   |
|-------------------|------------------------------------------------------|---------|
| rps, rpsls        | +1 win, -1 loss, 0 draw                              | 1       |
| biased_rps        | R: [0, -1, +b]; P: [+1, 0, -1]; S: [-b, +1, 0]        | max(1, b) |
| matching_pennies  | player_0 +1 on a match, -1 otherwise; player_1 the reverse | 1  |

General-sum, both seats use the same table (a symmetric game):

| game              | raw payoffs (row: mine, column: theirs)                      | scale |
|-------------------|--------------------------------------------------------------|-------|
| prisoners_dilemma | C: [3 (R), 0 (S)]; D: [5 (T), 1 (P)]   (Axelrod's values)    | 5     |
| chicken           | swerve: [0, -1]; straight: [+1, -10] (crash)                 | 10    |
| stag_hunt         | stag: [4, 0]; hare: [3, 3]                                   | 4     |

### Termination

After round `rounds` both seats are `terminated` (never truncated): the match
has a fixed length by its rules. PettingZoo's rps_v2 instead *truncates* after
`max_cycles`; our tests map `rps_v2(num_actions=3|5, max_cycles=N)` truncation
to our termination of `matrix(name=rps|rpsls, rounds=N)` and check that the
rewards, winners and ending step agree.

### Splits (see :mod:`games.matrix`)

Train variants: rps, rpsls, matching_pennies, prisoners_dilemma, chicken,
biased_rps (bias 2). Held-out variants: stag_hunt, biased_rps with bias 3 and
with bias 0.5. Opponent styles are listed in :mod:`games.matrix`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from games.pz import KernelParallelEnv


class MatrixEnv(KernelParallelEnv):
    """The PettingZoo ParallelEnv of one matrix variant (rules in the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "matrix_v0",
        "render_modes": ["human", "rgb_array"],
        "render_fps": 2,
        "is_parallelizable": True,
    }

    def _render_frame(self) -> np.ndarray | None:
        from games.matrix.render import draw_frame

        return draw_frame(self)
