"""The batched matrix kernel: hand-worked payoffs and observations, batch == one at a time."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games.errors import IllegalActionError
from games.matrix.payoffs import beats, stage_game
from games.opponents.base import random_legal


def play_one_round(spec: str, mine: int, theirs: int) -> np.ndarray:
    kernel = games.make_kernel(spec)
    kernel.reset(1)
    return kernel.step(np.array([[mine, theirs]])).rewards[0]


@pytest.mark.parametrize(
    ("spec", "mine", "theirs", "expected"),
    [
        ("matrix(name=rps)", 1, 0, (1.0, -1.0)),  # paper covers rock
        ("matrix(name=rps)", 2, 2, (0.0, 0.0)),
        ("matrix(name=rpsls)", 3, 2, (1.0, -1.0)),  # spock smashes scissors
        ("matrix(name=rpsls)", 4, 3, (1.0, -1.0)),  # lizard poisons spock
        ("matrix(name=rpsls)", 1, 3, (1.0, -1.0)),  # paper disproves spock
        ("matrix(name=rpsls)", 0, 4, (1.0, -1.0)),  # rock crushes lizard
        ("matrix(name=biased_rps)", 0, 2, (1.0, -1.0)),  # rock win pays 2 of scale 2
        ("matrix(name=biased_rps)", 1, 0, (0.5, -0.5)),
        ("matrix(name=biased_rps,bias=0.5)", 0, 2, (0.5, -0.5)),  # scale stays 1
        ("matrix(name=biased_rps,bias=0.5)", 2, 1, (1.0, -1.0)),
        ("matrix(name=matching_pennies)", 1, 1, (1.0, -1.0)),  # player_0 matches
        ("matrix(name=matching_pennies)", 0, 1, (-1.0, 1.0)),
        ("matrix(name=prisoners_dilemma)", 1, 0, (1.0, 0.0)),  # T=5, S=0 over 5
        ("matrix(name=prisoners_dilemma)", 0, 0, (0.6, 0.6)),
        ("matrix(name=chicken)", 1, 1, (-1.0, -1.0)),  # crash: -10 over 10
        ("matrix(name=chicken)", 0, 1, (-0.1, 0.1)),
        ("matrix(name=stag_hunt)", 0, 0, (1.0, 1.0)),
        ("matrix(name=stag_hunt)", 0, 1, (0.0, 0.75)),
    ],
)
def test_payoffs_worked_by_hand(spec, mine, theirs, expected):
    np.testing.assert_allclose(play_one_round(spec, mine, theirs), expected, atol=1e-6)


def test_rps_beat_relation_is_the_classic_one():
    assert beats(3).tolist() == [[False, False, True], [True, False, False], [False, True, False]]
    # each RPSLS move beats exactly two others and loses to two
    assert (beats(5).sum(axis=0) == 2).all() and (beats(5).sum(axis=1) == 2).all()


def test_observation_layout_by_hand():
    """After rounds (rock, paper) then (scissors, scissors) with h = 3, seen by each seat."""
    kernel = games.make_kernel("matrix(name=rps,rounds=4,history=3)")
    kernel.reset(1)
    kernel.step(np.array([[0, 1]]))
    obs = kernel.step(np.array([[2, 2]])).obs[0]
    eye = np.eye(5)
    game = stage_game("rps")
    own, other = game.payoffs[0].ravel(), game.payoffs[1].ravel()
    seat0 = np.concatenate([eye[2], eye[2], eye[0], eye[1], np.zeros(10), [0.5], own, other])
    seat1 = np.concatenate([eye[2], eye[2], eye[1], eye[0], np.zeros(10), [0.5], other, own])
    np.testing.assert_array_equal(obs[0], seat0.astype(np.float32))
    np.testing.assert_array_equal(obs[1], seat1.astype(np.float32))
    assert obs[0, 31 : 31 + 5].tolist() == [0, -1, 1, 0, 0]  # my rock row: draw, lose, win


def test_matching_pennies_seats_see_their_own_matrices():
    obs = games.make_kernel("matrix(name=matching_pennies,history=1)").reset(1).obs[0]
    mine0 = obs[0, 11:36].reshape(5, 5)
    mine1 = obs[1, 11:36].reshape(5, 5)
    assert mine0[0, 0] == 1.0 and mine1[0, 0] == -1.0
    np.testing.assert_array_equal(obs[0, 36:], obs[1, 11:36])


def test_termination_masks_and_frozen_finished_games():
    kernel = games.make_kernel("matrix(name=rps,rounds=2)")
    step = kernel.reset(3)
    assert step.acting.all() and not step.done.any()
    kernel.step(np.zeros((3, 2), dtype=int))
    step = kernel.step(np.array([[1, 0], [0, 0], [2, 1]]))
    assert step.terminated.all() and not step.truncated.any()
    assert not step.acting.any() and not step.action_mask.any()
    frozen = kernel.step(np.zeros((3, 2), dtype=int))
    assert not frozen.rewards.any() and frozen.terminated.all()
    np.testing.assert_array_equal(frozen.obs, step.obs)
    np.testing.assert_allclose(kernel.score[:, 0], [1.0, 0.0, 1.0])
    fresh = kernel.reset_where(np.array([False, True, False]))
    assert fresh.acting[1].all() and not fresh.acting[0].any()
    assert fresh.terminated.tolist() == [True, False, True] and not fresh.rewards.any()
    assert kernel.t.tolist() == [2, 0, 2]


def test_illegal_actions_are_rejected():
    kernel = games.make_kernel("matrix(name=rps)")
    kernel.reset(2)
    with pytest.raises(IllegalActionError, match="illegal action 3 for seat 1"):
        kernel.step(np.array([[0, 0], [0, 3]]))
    with pytest.raises(IllegalActionError, match="shape"):
        kernel.step(np.zeros((2,), dtype=int))


@pytest.mark.parametrize(
    "spec",
    [
        "matrix(name=rps,rounds=5,history=2)",
        "matrix(name=rpsls,rounds=4)",
        "matrix(name=chicken,rounds=6,history=4)",
        "matrix(name=biased_rps,bias=3.0,rounds=3,history=1)",
    ],
)
def test_batch_equals_one_game_at_a_time(spec):
    """300 games stepped together, re-dealt as they finish, equal the same games alone."""
    rng = np.random.default_rng(7)
    n, steps = 300, 12
    batch = games.make_kernel(spec)
    singles = [games.make_kernel(spec) for _ in range(n)]
    out = batch.reset(n, seed=1)
    alone = [k.reset(1, seed=1) for k in singles]
    for _ in range(steps):
        for b in range(0, n, 37):
            assert_same_step(out.row(b), alone[b])
        actions = np.stack([random_legal(out.action_mask[:, s], rng) for s in range(2)], axis=1)
        out = batch.step(actions)
        alone = [k.step(actions[b : b + 1]) for b, k in enumerate(singles)]
        for b in range(n):
            assert_same_step(out.row(b), alone[b])
        redeal = out.done & (rng.random(n) < 0.7)
        if redeal.any():
            out = batch.reset_where(redeal)
            alone = [k.reset_where(redeal[b : b + 1]) for b, k in enumerate(singles)]


def assert_same_step(one, other):
    for field, a, b in zip(one._fields, one, other, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=field)


@pytest.mark.parametrize("name", ["rps", "rpsls", "matching_pennies", "chicken", "biased_rps"])
def test_observations_stay_in_bounds(name):
    spec = games.parse_spec(f"matrix(name={name},rounds=6)")
    kernel = games.make_kernel(spec)
    out = kernel.reset(50)
    rng = np.random.default_rng(0)
    while not out.done.all():
        assert out.obs.dtype == np.float32
        assert (out.obs >= spec.obs_low).all() and (out.obs <= spec.obs_high).all()
        out = kernel.step(np.stack([random_legal(out.action_mask[:, s], rng) for s in (0, 1)], 1))
