"""LocalOpponent: the learner in-process, called exactly as the server calls it for a session."""

from __future__ import annotations

import numpy as np
import pytest

from clients.insight import GameFacts, PlayerInsight
from clients.opponent import AdaptiveOpponent
from game_agent.errors import IncompatibleGameError
from game_agent.local import LocalOpponent
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
