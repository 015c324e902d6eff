"""LocalOpponent: the learner in-process, called exactly as the server calls it for a session."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from clients.insight import GameFacts, PlayerInsight
from clients.opponent import AdaptiveOpponent
from game_agent.errors import CheckpointError, IncompatibleGameError
from game_agent.local import LocalOpponent, default_checkpoint, local_opponent_factory
from game_agent.sampling import inverse_cdf, seeded_draw
from games import parse_spec
from tests.clients.step_learner import StepLearner, replay

RPS = "matrix(name=rps)"
MASK = np.array([True, True, True, False, False])
OBS = np.zeros(parse_spec(RPS).obs_shape, np.float32)


def test_moves_and_adaptation_follow_the_servers_call_sequence():
    opponent = LocalOpponent(StepLearner(), RPS, seat=1)
    assert isinstance(opponent, AdaptiveOpponent) and opponent.agent == "player_1"
    rewards = [0.0, 1.0, -1.0]
    actions = [opponent.act(OBS, MASK, reward=r) for r in rewards]
    opponent.end_episode(final_reward=1.0)
    actions.append(opponent.act({"observation": OBS, "action_mask": MASK.astype(np.int8)}))
    script = [("act", MASK, r) for r in rewards] + [("end", 1.0), ("act", MASK, 0.0)]
    assert actions == replay(RPS, script)
    # 1 - 1 + 1 > 0: the agent won the first episode.
    assert opponent.results == {"agent": 1, "player": 0, "draw": 0}
    assert opponent.state.arrays["counts"].tolist() == [4, 1]


def test_a_stated_result_overrides_the_reward_sign():
    opponent = LocalOpponent(StepLearner(), RPS)
    opponent.act(OBS, MASK)
    opponent.end_episode(final_reward=3.0, result=-1)
    assert opponent.results["player"] == 1
    assert opponent.insight()["Your record"] == "1W 0L 0D"


def test_the_tracker_hears_moves_and_results():
    tracker = PlayerInsight(GameFacts.from_spec(RPS))
    opponent = LocalOpponent(StepLearner(), RPS, tracker=tracker)
    for move in [0, 1, 2, 0, 1, 2]:
        opponent.act(OBS, MASK)
        opponent.player_moved(move)
    opponent.end_episode(-2.0)
    lines = opponent.insight()
    assert lines["Your record"] == "1W 0L 0D (you win 100%)"
    assert lines["Your style"] == "cycles through the moves (100% of the time)"
    assert lines["Agent"] == "step, in-process, adapted over 1 episodes"


def test_bad_input_names_what_was_wrong():
    opponent = LocalOpponent(StepLearner(), RPS)
    with pytest.raises(IncompatibleGameError, match=r"shape \(3,\)"):
        opponent.act(np.zeros(3), MASK)
    with pytest.raises(IncompatibleGameError, match="at least one legal"):
        opponent.act(OBS, np.zeros(5, bool))
    with pytest.raises(IncompatibleGameError, match="action_mask"):
        opponent.act(OBS)
    with pytest.raises(IncompatibleGameError, match="cannot play"):
        LocalOpponent(StepLearner(("pong",)), RPS)
    with pytest.raises(IncompatibleGameError, match="seat"):
        LocalOpponent(StepLearner(), RPS, seat=2)


def write_meta(directory, family: str) -> None:
    directory.mkdir(parents=True)
    (directory / "meta.json").write_text(json.dumps({"family": family}))


def test_default_checkpoint_prefers_models_family_then_the_newest_of_the_family(tmp_path):
    models = tmp_path / "models"
    with pytest.raises(CheckpointError, match="game-agent train matrix"):
        default_checkpoint("matrix", models)
    write_meta(models / "runs" / "old", "matrix")
    write_meta(models / "runs" / "pong", "pong")
    write_meta(models / "runs" / "new", "matrix")
    os.utime(models / "runs" / "old" / "meta.json", (1_000_000, 1_000_000))
    assert default_checkpoint("matrix", models) == models / "runs" / "new"
    write_meta(models / "matrix", "matrix")
    assert default_checkpoint("matrix", models) == models / "matrix"
    with pytest.raises(CheckpointError, match="no poker checkpoint"):
        default_checkpoint("poker", models)


def test_the_factory_loads_a_saved_checkpoint_and_plays_it(tmp_path):
    tiny_models = pytest.importorskip("tests.clients.tiny_models")
    variant = parse_spec(tiny_models.VARIANTS["matrix"][0])
    saved = tiny_models.save_tiny_checkpoint(tmp_path / "models" / "matrix", "matrix")
    build = local_opponent_factory(None, models_dir=tmp_path / "models", greedy=True)
    opponent = build(variant, 1, None)
    action = opponent.act(OBS, MASK)
    assert opponent.learner.name == "rl2" and action in (0, 1, 2)

    def probs(played) -> np.ndarray:
        state = played.initial_state(variant)
        return played.act([state], OBS[None], MASK[None], greedy=True)[0].probs[0]

    loaded = opponent.last_decision.probs[0]
    np.testing.assert_allclose(loaded, probs(saved), atol=1e-6)
    fresh = tiny_models.RL2Learner(saved.layout, tiny_models.TINY, seed=0)
    assert not np.allclose(loaded, probs(fresh), atol=1e-3), "the saved weights were loaded"


def test_a_seeded_opponent_samples_at_the_draws_of_a_served_session(tmp_path):
    """Turn t (acts and episode ends counted, from 1) samples at seeded_draw(seed, t)."""
    tiny_models = pytest.importorskip("tests.clients.tiny_models")
    variant = parse_spec(tiny_models.VARIANTS["matrix"][0])
    tiny_models.save_tiny_checkpoint(tmp_path / "models" / "matrix", "matrix")
    build = local_opponent_factory(None, models_dir=tmp_path / "models", seed=41)

    def match(opponent) -> list[tuple[int, int]]:
        played = []
        for turn in (1, 2, 3, 5, 6):  # turn 4 ends the first episode
            if turn == 5:
                opponent.end_episode(final_reward=1.0)
            action = opponent.act(OBS, MASK, reward=0.5)
            [want] = inverse_cdf(opponent.last_decision.probs, [seeded_draw(41, turn)])
            played.append((action, int(want)))
        return played

    first = match(build(variant, 1, None))
    assert [a for a, want in first] == [want for _, want in first]
    assert match(build(variant, 1, None)) == first
    with pytest.raises(ValueError, match=r"seed must be in 0..2\*\*64-1, got -1"):
        LocalOpponent(StepLearner(), RPS, seed=-1)
