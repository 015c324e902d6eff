"""The matrix PettingZoo env: conformance, seeding, spec validation, rendering."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

import games
from games.errors import SpecError
from games.matrix.env import MatrixEnv

VARIANTS = (
    "matrix(name=rps,rounds=12)",
    "matrix(name=rpsls,rounds=9,history=1)",
    "matrix(name=matching_pennies,rounds=7,history=5)",
    "matrix(name=prisoners_dilemma,rounds=10)",
    "matrix(name=chicken,rounds=5)",
    "matrix(name=stag_hunt,rounds=6)",
    "matrix(name=biased_rps,bias=3.0,rounds=8)",
)


@pytest.mark.parametrize("spec", VARIANTS)
def test_parallel_api(spec):
    env = games.make(spec)
    assert isinstance(env, MatrixEnv)
    parallel_api_test(env, num_cycles=100)


@pytest.mark.parametrize("spec", VARIANTS)
def test_aec_api_through_parallel_to_aec(spec):
    api_test(parallel_to_aec(games.make(spec)), num_cycles=100)


@pytest.mark.parametrize("spec", VARIANTS)
def test_aec_seed_test(spec):
    seed_test(lambda: parallel_to_aec(games.make(spec)), num_cycles=50)


def test_parallel_seed_test_on_the_variant_without_masked_actions():
    """PettingZoo's parallel_seed_test samples actions ignoring masks, so only rpsls
    (all 5 actions legal) can run it; the masked variants get the check below."""
    parallel_seed_test(lambda: games.make("matrix(name=rpsls,rounds=10)"), num_cycles=50)


@pytest.mark.parametrize("spec", VARIANTS)
def test_parallel_runs_are_reproducible_with_masks(spec):
    runs = []
    for _ in range(2):
        env = games.make(spec)
        obs, _ = env.reset(seed=42)
        for i, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(42 + i)
        trace = []
        while env.agents:
            actions = {
                a: int(env.action_space(a).sample(mask=obs[a]["action_mask"])) for a in env.agents
            }
            obs, rewards, terminated, truncated, _ = env.step(actions)
            trace.append((actions, rewards, terminated, truncated, obs["player_0"]["observation"]))
        runs.append(trace)
    first, second = runs
    assert len(first) == games.parse_spec(spec).max_steps
    for step_a, step_b in zip(first, second, strict=True):
        assert step_a[:4] == step_b[:4]
        np.testing.assert_array_equal(step_a[4], step_b[4])


def test_metadata_and_spaces():
    env = games.make("matrix(name=rps,history=2)")
    assert env.metadata["name"] == "matrix_v0"
    assert env.metadata["is_parallelizable"] is True
    space = env.observation_space("player_0")["observation"]
    assert space.shape == (2 * 10 + 51,)
    assert (space.low == -1).all() and (space.high == 1).all()
    assert env.action_space("player_1").n == 5
    assert games.get_family("matrix").parallel is True


def test_one_match_through_the_env():
    """Scores, termination and masks of a short prisoner's dilemma, worked by hand."""
    env = games.make("matrix(name=prisoners_dilemma,rounds=3)")
    obs, _ = env.reset(seed=3)
    assert obs["player_0"]["action_mask"].tolist() == [1, 1, 0, 0, 0]
    plays = [(0, 0, 0.6, 0.6), (0, 1, 0.0, 1.0), (1, 1, 0.2, 0.2)]  # C=0, D=1; raw /5
    for step, (a0, a1, r0, r1) in enumerate(plays, start=1):
        obs, rewards, terminated, truncated, _ = env.step({"player_0": a0, "player_1": a1})
        assert rewards == pytest.approx({"player_0": r0, "player_1": r1})
        assert all(terminated.values()) == (step == 3)
        assert not any(truncated.values())
    assert env.agents == []
    assert obs["player_0"]["action_mask"].tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("matrix(name=poker)", "rps, rpsls, matching_pennies"),
        ("matrix(name=rps,colour=red)", "no parameter colour"),
        ("matrix(name=rps,bias=3.0)", "bias=3.0 only applies to name=biased_rps"),
        ("matrix(rounds=0)", "rounds must be >= 1"),
        ("matrix(history=0)", "history must be >= 1"),
        ("matrix(name=biased_rps,bias=0)", "bias must be >= 0.1"),
        ("matrix(rounds=ten)", "rounds='ten' is not a valid int"),
    ],
)
def test_bad_specs_name_the_problem(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        games.parse_spec(text)


def test_spec_round_trip_and_info():
    spec = games.parse_spec("matrix(name=biased_rps,bias=3,rounds=20,history=4)")
    assert games.parse_spec(spec.name) == spec
    assert spec.param("bias") == 3.0
    assert spec.obs_shape == (91,)
    assert spec.max_steps == 20 and spec.num_actions == 5 and not spec.turn_based
    info = spec.info_dict()
    assert info["actions"] == ("rock", "paper", "scissors") and info["zero_sum"] is True
    assert games.parse_spec("matrix(name=chicken)").info_dict()["zero_sum"] is False


@pytest.mark.parametrize("mode", ["rgb_array", "human"])
def test_render_draws_the_match(mode, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    env = games.make("matrix(name=rpsls,rounds=4)", render_mode=mode)
    env.reset(seed=0)
    blank = env.render() if mode == "rgb_array" else None
    env.step({"player_0": 0, "player_1": 3})
    env.step({"player_0": 4, "player_1": 1})
    frame = env.render()
    if mode == "rgb_array":
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.std() > 5.0, "frame is blank"
        assert not np.array_equal(frame, blank), "the played rounds are not drawn"
    else:
        assert frame is None and env._screen is not None
    env.close()
    assert os.environ["SDL_VIDEODRIVER"] == "dummy"


def test_render_without_mode_warns_and_returns_none():
    env = games.make("matrix(name=rps)")
    env.reset()
    with pytest.warns(UserWarning):
        assert env.render() is None
