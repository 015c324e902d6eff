"""SingleAgentEnv: one seat of a game as a gymnasium Env against a scripted opponent."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import games
from games.errors import GameError, IllegalActionError
from games.gym_single import SingleAgentEnv


def opponent(spec: str, style: str, seed: int = 0):
    return games.make_opponent(spec, style, seed=seed)


@pytest.mark.parametrize(
    ("spec", "style", "seat"),
    [
        ("pong", "tracker_delay2", 0),
        ("pong(ball_speed=2.5)", "random", 1),
        ("matrix(name=rps,rounds=10)", "rock_heavy", 0),
        ("connect_n(rows=4,cols=5,k=3)", "random", 1),
    ],
)
def test_passes_gymnasiums_env_checker(spec, style, seat):
    illegal = "random_legal" if spec.startswith("matrix") else "raise"
    check_env(SingleAgentEnv(spec, opponent(spec, style), seat=seat, illegal=illegal))


def test_pong_episode_matches_the_same_point_played_on_the_kernel():
    """Learner stays put on seat 0; the same seeded point on a bare kernel gives the same result."""
    env = SingleAgentEnv("pong", opponent("pong", "tracker_delay0", seed=4), seat=0)
    env.reset(seed=9)
    total, steps, terminated, truncated = 0.0, 0, False, False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, _ = env.step(1)
        total += reward
        steps += 1

    kernel = games.make_kernel("pong")
    step = kernel.reset(1, seed=9)
    right = opponent("pong", "tracker_delay0", seed=4)
    right.reset(1)
    frames = 0
    while not step.done[0]:
        moves = right.act(step.obs[:, 1], step.action_mask[:, 1])
        step = kernel.step(np.array([[1, int(moves[0])]]))
        frames += 1
    assert (total, steps) == (float(step.rewards[0, 0]), frames)
    assert total in (-1.0, 1.0)
    np.testing.assert_array_equal(obs, step.obs[0, 0])


def test_turn_based_learner_on_seat_1_sees_the_opening_move_already_played():
    env = SingleAgentEnv(
        "connect_n(rows=4,cols=5,k=3)", opponent("connect_n", "first_legal"), seat=1
    )
    obs, info = env.reset(seed=0)
    # Planes are (mine, opponent's): the opponent dropped one stone in column 0.
    assert obs[0].sum() == 0 and obs[1].sum() == 1 and obs[1][-1, 0] == 1
    np.testing.assert_array_equal(info["action_mask"], np.ones(5, dtype=np.int8))
    obs, _, terminated, _, _ = env.step(4)
    # Each step is one learner move plus the opponent's reply.
    assert obs[0].sum() == 1 and obs[1].sum() == 2 and not terminated


def test_turn_based_losses_reach_the_learner_through_the_opponents_move():
    """first_legal stacks column 0 and wins on its third stone unless blocked."""
    env = SingleAgentEnv(
        "connect_n(rows=4,cols=5,k=3)", opponent("connect_n", "first_legal"), seat=1
    )
    env.reset(seed=0)
    env.step(4)
    _, reward, terminated, _, _ = env.step(4)
    assert terminated and reward == -1.0


def test_illegal_actions_raise_or_are_replaced_as_asked():
    spec = "matrix(name=rps,rounds=5)"
    strict = SingleAgentEnv(spec, opponent(spec, "rock_heavy"))
    strict.reset(seed=0)
    with pytest.raises(IllegalActionError, match=r"illegal action 4 .* legal actions: \[0, 1, 2\]"):
        strict.step(4)
    lenient = SingleAgentEnv(spec, opponent(spec, "rock_heavy"), illegal="random_legal")
    lenient.reset(seed=0)
    _, _, _, _, info = lenient.step(4)
    assert info["illegal_action"] is True
    _, _, _, _, info = lenient.step(0)
    assert "illegal_action" not in info


def test_bad_arguments_and_finished_episodes_are_refused():
    with pytest.raises(GameError, match="seat must be 0 or 1"):
        SingleAgentEnv("pong", opponent("pong", "random"), seat=2)
    with pytest.raises(GameError, match="illegal must be one of"):
        SingleAgentEnv("pong", opponent("pong", "random"), illegal="ignore")
    env = SingleAgentEnv("matrix(name=rps,rounds=1)", opponent("matrix(name=rps,rounds=1)", "nash"))
    with pytest.raises(GameError, match="call reset"):
        env.step(0)
    env.reset(seed=0)
    _, _, terminated, _, _ = env.step(0)
    assert terminated
    with pytest.raises(GameError, match="call reset"):
        env.step(0)
