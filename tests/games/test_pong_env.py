"""Pong's PettingZoo envs (parallel and AEC), its registry entry, and rendering."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import games
from games.errors import SpecError
from games.pong import FAMILY, aec_env
from games.pong.env import PongEnv
from games.pong.render import BALL, PADDLE_COLOURS

VARIANTS = [
    "pong",
    "pong(ball_speed=2.5,paddle_height=6.0)",
    "pong(width=32,height=16,paddle_height=3.0,paddle_speed=0.5,ball_speed=0.5)",
    "pong(width=160,height=120,paddle_height=30.0,max_frames=300)",
]


@pytest.mark.parametrize("spec", VARIANTS)
def test_parallel_api(spec):
    parallel_api_test(PongEnv(spec), num_cycles=400)


@pytest.mark.parametrize("spec", VARIANTS)
def test_aec_api_through_parallel_to_aec(spec):
    api_test(aec_env(spec), num_cycles=400)


@pytest.mark.parametrize("spec", VARIANTS[:2])
def test_seeded_runs_repeat(spec):
    parallel_seed_test(lambda: PongEnv(spec), num_cycles=300)
    seed_test(lambda: aec_env(spec), num_cycles=300)


def test_make_builds_the_parallel_env_and_family_says_so():
    env = games.make("pong(ball_speed=2.0)")
    assert isinstance(env, PongEnv)
    assert FAMILY.parallel and env.metadata["name"] == "pong_v0"
    assert env.metadata["render_fps"] == 60


def test_one_episode_is_one_point_and_pays_plus_minus_one():
    env = PongEnv("pong")
    env.reset(seed=4)
    total = {agent: 0.0 for agent in env.possible_agents}
    # The left paddle stays put while the right one runs to the top: someone must miss.
    while env.agents:
        _, rewards, terms, truncs, _ = env.step({"player_0": 1, "player_1": 0})
        for agent, reward in rewards.items():
            total[agent] += reward
    assert all(terms.values()) and not any(truncs.values())
    assert sorted(total.values()) == [-1.0, 1.0]


def test_seats_see_mirrored_views_of_one_court():
    env = PongEnv("pong")
    observations, _ = env.reset(seed=1)
    left = observations["player_0"]["observation"]
    right = observations["player_1"]["observation"]
    np.testing.assert_allclose(
        right[[0, 1, 2, 3, 4, 5]], left[[1, 0, 2, 3, 4, 5]] * [1, 1, -1, 1, -1, 1]
    )
    np.testing.assert_array_equal(observations["player_0"]["action_mask"], [1, 1, 1])


def test_spec_strings_round_trip_and_splits_are_disjoint():
    for split in FAMILY.splits.values():
        for variant in split.variants:
            spec = games.parse_spec(variant)
            assert games.parse_spec(spec.name) == spec
        for name in split.opponents:
            assert name in FAMILY.opponents
    train, heldout = FAMILY.splits["train"], FAMILY.splits["heldout"]
    train_specs = {games.parse_spec(v) for v in train.variants}
    assert not train_specs & {games.parse_spec(v) for v in heldout.variants}
    assert not set(train.opponents) & set(heldout.opponents)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("pong(speed=2)", ["no parameter speed", "ball_speed"]),
        ("pong(width=abc)", ["width", "not a valid int"]),
        ("pong(width=10)", ["width must be >= 32"]),
        ("pong(paddle_speed=0)", ["paddle_speed must be >= 0.25"]),
        ("pong(paddle_height=50.0)", ["paddle_height=50.0", "smaller than height=48"]),
        ("pong(width=32,ball_speed=5.0)", ["ball_speed=5.0", "width/8 = 4.0"]),
        ("pong(max_frames=50)", ["max_frames=50", "86 frames"]),
    ],
)
def test_bad_variants_name_what_is_wrong(spec, words):
    with pytest.raises(SpecError) as error:
        games.parse_spec(spec)
    for word in words:
        assert word in str(error.value)


def test_rgb_array_frame_shows_the_paddles_and_the_ball(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = games.make("pong", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[1] > frame.shape[0] > 100
    colours = {tuple(pixel) for pixel in frame.reshape(-1, 3)}
    assert BALL in colours and set(PADDLE_COLOURS) <= colours
    env.step({"player_0": 0, "player_1": 2})
    assert not np.array_equal(env.render(), frame)  # the paddles moved
    env.close()


def test_human_mode_draws_to_a_window(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = PongEnv("pong", render_mode="human")
    env.reset(seed=0)
    env.step({"player_0": 1, "player_1": 1})
    assert env._screen is not None
    env.close()
    assert env._screen is None
