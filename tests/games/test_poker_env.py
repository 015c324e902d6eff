"""The poker PettingZoo env: conformance, seeding, rendering, specs, registry errors, splits."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pettingzoo.test import api_test, seed_test

import games
from games.errors import SpecError, UnknownOpponentError
from games.poker.env import PokerEnv
from games.poker.layout import OBS_SIZE

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

VARIANTS = [
    "poker",
    "poker(game=leduc)",
    "poker(game=kuhn,ranks=4,max_raises=2)",
    "poker(game=leduc,ranks=5,suits=3,bet1=1,bet2=3,max_raises=3,ante=2)",
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_pettingzoo_api(variant: str) -> None:
    api_test(games.make(variant), num_cycles=200)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pettingzoo_seed(variant: str) -> None:
    seed_test(lambda: games.make(variant), num_cycles=100)


def test_env_is_the_registered_family_env() -> None:
    env = games.make("poker(game=leduc)")
    assert isinstance(env, PokerEnv)
    assert env.metadata["name"] == "poker_v0"
    assert env.observation_space("player_0")["observation"].shape == (OBS_SIZE,)


def test_reset_without_seed_deals_new_hands() -> None:
    env = games.make("poker(game=leduc,ranks=13,suits=4)")
    env.reset(seed=3)
    first = env.observe("player_0")["observation"].copy()
    hands = set()
    for _ in range(20):
        env.reset()
        hands.add(env.observe("player_0")["observation"][:13].argmax())
    env.reset(seed=3)
    np.testing.assert_array_equal(env.observe("player_0")["observation"], first)
    assert len(hands) > 1


def _play_to_end(env: PokerEnv) -> None:
    while not all(env.terminations.values()):
        mask = env.observe(env.agent_selection)["action_mask"]
        env.step(int(np.flatnonzero(mask)[-1]))


@pytest.mark.parametrize("variant", ["poker", "poker(game=leduc)"])
def test_render_rgb_array_draws_the_table(variant: str) -> None:
    env = games.make(variant, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    # Felt, card faces and text: far from a blank frame.
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10
    _play_to_end(env)
    final = env.render()
    assert final.shape == frame.shape and not np.array_equal(final, frame)
    env.close()


def test_render_human_opens_a_window() -> None:
    env = games.make("poker(game=leduc)", render_mode="human")
    env.reset(seed=1)
    env.step(2)
    assert env._screen is not None
    env.close()
    assert env._screen is None


def test_spec_strings_round_trip_with_standards_filled_in() -> None:
    kuhn = games.parse_spec("poker")
    assert kuhn.name == "poker(ante=1,bet1=1,bet2=0,game=kuhn,max_raises=1,ranks=3,suits=1)"
    leduc = games.parse_spec("poker(game=leduc)")
    assert dict(leduc.params) == {
        "ante": 1,
        "bet1": 2,
        "bet2": 4,
        "game": "leduc",
        "max_raises": 2,
        "ranks": 3,
        "suits": 2,
    }
    for spec in (kuhn, leduc, games.parse_spec("poker(game=leduc,bet1=3,suits=4)")):
        assert games.parse_spec(spec.name) == spec
    assert kuhn.max_steps == 3 and leduc.max_steps == 8
    assert leduc.info_dict()["rank_labels"] == ("J", "Q", "K")
    assert games.parse_spec("poker(ranks=13)").info_dict()["rank_labels"][-1] == "A"


@pytest.mark.parametrize(
    ("variant", "fragment"),
    [
        ("poker(players=3)", "no parameter players"),
        ("poker(game=holdem)", "game=holdem is not one of"),
        ("poker(ranks=1)", "ranks must be >= 2"),
        ("poker(ranks=14)", "ranks must be <= 13"),
        ("poker(max_raises=5)", "max_raises must be <= 4"),
        ("poker(ante=0)", "ante must be >= 1"),
        ("poker(bet1=-1)", "bet1 must be >= 0"),
        ("poker(game=kuhn,suits=2)", "suits=2 needs game=leduc"),
        ("poker(game=kuhn,bet2=4)", "bet2=4 needs game=leduc"),
        ("poker(game=leduc,ranks=2,suits=1)", "makes a deck of 2"),
        ("poker(ranks=three)", "ranks='three' is not a valid int"),
    ],
)
def test_bad_specs_name_what_is_wrong(variant: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        games.parse_spec(variant)


def test_unknown_opponent_lists_the_known_ones() -> None:
    with pytest.raises(UnknownOpponentError, match="maniac"):
        games.make_opponent("poker", "shark")


def test_splits_are_disjoint_and_valid() -> None:
    train, heldout = games.get_split("poker", "train"), games.get_split("poker", "heldout")
    train_specs = {games.parse_spec(v) for v in train.variants}
    heldout_specs = {games.parse_spec(v) for v in heldout.variants}
    assert not train_specs & heldout_specs
    assert not set(train.opponents) & set(heldout.opponents)
    assert "adaptive_exploiter" in heldout.opponents
    known = set(games.list_opponents("poker"))
    assert set(train.opponents) | set(heldout.opponents) <= known
    assert len(known) >= 7
    for spec in train_specs | heldout_specs:
        for name in train.opponents + heldout.opponents:
            assert games.make_opponent(spec, name, seed=0).description
