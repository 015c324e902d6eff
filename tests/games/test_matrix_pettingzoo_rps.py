"""matrix(name=rps|rpsls) against PettingZoo's own rps_v2, on thousands of random games.

Conventions mapped explicitly:
- rps_v2 *truncates* every agent after ``max_cycles`` rounds and never terminates;
  a matrix match *terminates* after ``rounds`` and never truncates. So rps_v2's
  truncation step must equal our termination step.
- rps_v2 has no action mask (every action of Discrete(num_actions) is legal);
  our mask must allow exactly the first num_actions of 5.
- rps_v2 observes only the opponent's last move (num_actions meaning "none yet");
  our newest opponent one-hot must name the same move.
"""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.classic import rps_v2

import games

GAMES_PER_LENGTH = 600
LENGTHS = (1, 2, 3, 5, 8)


def newest_opponent_move(obs: np.ndarray, none: int) -> np.ndarray:
    """(B,) the opponent's last move from our observations (B, obs), ``none`` before round 1."""
    theirs = obs[:, 5:10]
    return np.where(theirs.max(axis=1) > 0, theirs.argmax(axis=1), none)


@pytest.mark.parametrize(("num_actions", "name"), [(3, "rps"), (5, "rpsls")])
def test_matrix_agrees_with_rps_v2(num_actions, name):
    rng = np.random.default_rng(num_actions)
    agents = ("player_0", "player_1")
    pz = {n: rps_v2.parallel_env(num_actions=num_actions, max_cycles=n) for n in LENGTHS}
    for rounds in LENGTHS:
        kernel = games.make_kernel(f"matrix(name={name},rounds={rounds})")
        ours = kernel.reset(GAMES_PER_LENGTH)
        moves = rng.integers(num_actions, size=(GAMES_PER_LENGTH, rounds, 2))
        our_rewards = np.zeros((GAMES_PER_LENGTH, rounds, 2))
        our_done_at = np.full(GAMES_PER_LENGTH, -1)
        their_totals = np.zeros((GAMES_PER_LENGTH, 2))
        for r in range(rounds):
            expected_mask = np.arange(5) < num_actions
            assert (ours.action_mask == expected_mask).all(), "mask differs from Discrete(n)"
            ours = kernel.step(moves[:, r])
            our_rewards[:, r] = ours.rewards
            assert not ours.truncated.any()
            our_done_at[ours.terminated & (our_done_at < 0)] = r
            np.testing.assert_array_equal(
                newest_opponent_move(ours.obs[:, 0], num_actions), moves[:, r, 1]
            )
        for b in range(GAMES_PER_LENGTH):
            env = pz[rounds]
            observations, _ = env.reset(seed=int(b))
            assert all(int(observations[a]) == num_actions for a in agents)
            theirs_done_at = -1
            for r in range(rounds):
                assert env.agents == list(agents), f"rps_v2 ended early in game {b}"
                step_moves = {a: int(moves[b, r, i]) for i, a in enumerate(agents)}
                observations, rewards, terminations, truncations, _ = env.step(step_moves)
                assert [rewards[a] for a in agents] == our_rewards[b, r].tolist(), (
                    f"round {r} of game {b}: {step_moves}"
                )
                their_totals[b] += [rewards[a] for a in agents]
                assert not any(terminations.values())
                assert int(observations["player_0"]) == moves[b, r, 1]
                if all(truncations.values()) and theirs_done_at < 0:
                    theirs_done_at = r
            assert theirs_done_at == our_done_at[b] == rounds - 1
            assert env.agents == []
        winner_ours = np.sign(our_rewards[:, :, 0].sum(axis=1) - our_rewards[:, :, 1].sum(axis=1))
        winner_theirs = np.sign(their_totals[:, 0] - their_totals[:, 1])
        np.testing.assert_array_equal(winner_ours, winner_theirs)
        assert set(winner_ours) == {-1.0, 0.0, 1.0}


def test_rpsls_win_table_matches_rps_v2_exhaustively():
    """Every one of the 25 move pairs, one round each."""
    env = rps_v2.parallel_env(num_actions=5, max_cycles=1)
    kernel = games.make_kernel("matrix(name=rpsls,rounds=1)")
    pairs = np.array([(a, b) for a in range(5) for b in range(5)])
    kernel.reset(len(pairs))
    ours = kernel.step(pairs).rewards
    for (a, b), reward in zip(pairs, ours, strict=True):
        env.reset()
        _, rewards, _, _, _ = env.step({"player_0": int(a), "player_1": int(b)})
        assert [rewards["player_0"], rewards["player_1"]] == reward.tolist()
