"""connect_n agrees move for move with PettingZoo's own Connect Four and tic-tac-toe.

Thousands of random games are played in the batched kernel and, in lockstep,
one PettingZoo env per game. At every move the observation planes, both
seats' action masks, the rewards and the termination flags must match, so
winners, draws and the step a game ends on all agree.

Mask convention: while a game is live both libraries mask the seat not to
move with zeros. Once a game is over PettingZoo still reports the legal moves
of its next ``agent_selection``, while our kernel contract masks everything,
so masks are compared on live positions only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pettingzoo.classic.connect_four import connect_four
from pettingzoo.classic.tictactoe import tictactoe

import games

NUM_GAMES = 2000
"""Random games per variant (each one played in both libraries)."""

CONNECT_FOUR = "connect_n(rows=6,cols=7,k=4,gravity=true)"
TIC_TAC_TOE = "connect_n(rows=3,cols=3,k=3,gravity=false)"


def connect_four_action(action: int) -> int:
    """Both number columns 0..6 from the left."""
    return action


def connect_four_planes(observation: np.ndarray) -> np.ndarray:
    """PettingZoo's (6, 7, 2) rows-first, row 0 at the top, into our (2, 6, 7)."""
    return observation.transpose(2, 0, 1)


def tictactoe_action(action: int) -> int:
    """Our cell ``row * 3 + col`` is PettingZoo's ``col * 3 + row``.

    PettingZoo numbers cells column-major (its board docstring draws
    ``0 3 6 / 1 4 7 / 2 5 8`` and its renderer puts square ``3x + y`` in column x),
    so this mapping keeps every stone where a viewer sees it.
    """
    row, col = divmod(action, 3)
    return col * 3 + row


def tictactoe_planes(observation: np.ndarray) -> np.ndarray:
    """PettingZoo reshapes its column-major squares to (3, 3), so its axes are (col, row)."""
    return observation.transpose(2, 1, 0)


def tictactoe_mask(mask: np.ndarray) -> np.ndarray:
    """A PettingZoo mask over its cell numbering, reindexed to ours."""
    return mask[[tictactoe_action(a) for a in range(9)]]


def play_lockstep(
    variant: str,
    make_reference: Callable[[], object],
    to_reference: Callable[[int], int],
    planes: Callable[[np.ndarray], np.ndarray],
    mask_from_reference: Callable[[np.ndarray], np.ndarray],
    seed: int,
) -> dict[str, np.ndarray]:
    """Play NUM_GAMES random games in both libraries; return outcomes for summary checks."""
    rng = np.random.default_rng(seed)
    kernel = games.make_kernel(variant)
    step = kernel.reset(NUM_GAMES)
    references = [make_reference() for _ in range(NUM_GAMES)]
    for env in references:
        env.reset()
    names = references[0].possible_agents
    ends = np.full(NUM_GAMES, -1)
    winners = np.full(NUM_GAMES, -1)
    for move in range(kernel.spec.max_steps):
        actions = np.zeros((NUM_GAMES, 2), dtype=np.int64)
        live = np.flatnonzero(~step.done)
        for b in live:
            env = references[b]
            seat = names.index(env.agent_selection)
            assert step.acting[b].tolist() == [seat == 0, seat == 1]
            for other in (0, 1):
                seen = env.observe(names[other])
                np.testing.assert_array_equal(planes(seen["observation"]), step.obs[b, other])
                np.testing.assert_array_equal(
                    mask_from_reference(seen["action_mask"]).astype(bool),
                    step.action_mask[b, other],
                )
            action = int(rng.choice(np.flatnonzero(step.action_mask[b, seat])))
            actions[b, seat] = action
            env.step(to_reference(action))
        step = kernel.step(actions)
        for b in live:
            env = references[b]
            rewards = [env.rewards[name] for name in names]
            np.testing.assert_array_equal(step.rewards[b], rewards)
            assert bool(step.terminated[b]) == all(env.terminations.values())
            assert not step.truncated[b] and not any(env.truncations.values())
            if step.terminated[b]:
                ends[b] = move + 1
                if rewards[0] != rewards[1]:
                    winners[b] = int(np.argmax(rewards))
        if step.done.all():
            break
    assert step.done.all(), "every game must end within rows * cols moves"
    return {"ends": ends, "winners": winners}


def test_connect_four_matches_pettingzoo_move_for_move():
    outcome = play_lockstep(
        CONNECT_FOUR,
        connect_four.raw_env,
        connect_four_action,
        connect_four_planes,
        lambda mask: mask,
        seed=11,
    )
    winners, ends = outcome["winners"], outcome["ends"]
    # The comparison only means something if both seats won some games.
    assert (winners == 0).sum() > 100 and (winners == 1).sum() > 100
    assert ends.min() >= 7 and ends.max() <= 42
    # player_0 wins only after its own (odd-numbered) moves.
    assert np.all(ends[winners == 0] % 2 == 1) and np.all(ends[winners == 1] % 2 == 0)


def test_tictactoe_matches_pettingzoo_move_for_move():
    outcome = play_lockstep(
        TIC_TAC_TOE,
        tictactoe.raw_env,
        tictactoe_action,
        tictactoe_planes,
        tictactoe_mask,
        seed=12,
    )
    winners, ends = outcome["winners"], outcome["ends"]
    assert (winners == 0).sum() > 100 and (winners == 1).sum() > 100
    assert (winners == -1).sum() > 50, "random tic-tac-toe draws about 13% of games"
    assert np.all(ends[winners == -1] == 9)
    assert ends.min() >= 5


def test_tictactoe_cell_mapping_is_a_permutation_that_fixes_the_diagonal():
    mapped = [tictactoe_action(a) for a in range(9)]
    assert sorted(mapped) == list(range(9))
    assert [mapped[a] for a in (0, 4, 8)] == [0, 4, 8]
    assert mapped[1] == 3 and mapped[3] == 1  # top-middle is PettingZoo's cell 3


def test_aec_env_matches_pettingzoo_env_through_last():
    """Our AEC wrapper and PettingZoo's wrapped Connect Four agree on env.last() each turn."""
    rng = np.random.default_rng(5)
    for _ in range(60):
        ours, theirs = games.make(CONNECT_FOUR), connect_four.env()
        ours.reset()
        theirs.reset()
        for agent in theirs.agent_iter():
            assert ours.agent_selection == agent
            mine, their = ours.last(), theirs.last()
            np.testing.assert_array_equal(
                mine[0]["observation"], their[0]["observation"].transpose(2, 0, 1)
            )
            assert mine[1:4] == their[1:4]
            if their[2] or their[3]:
                ours.step(None)
                theirs.step(None)
                continue
            action = int(rng.choice(np.flatnonzero(their[0]["action_mask"])))
            np.testing.assert_array_equal(mine[0]["action_mask"], their[0]["action_mask"])
            ours.step(action)
            theirs.step(action)
        assert ours.agents == [] and theirs.agents == []
