"""Profile arithmetic: Elo against the fixed agent rating, records, the recent-reward window."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from server.profiles import (
    AGENT_WON,
    DRAW,
    PLAYER_WON,
    RECENT_EPISODES,
    apply_episode,
    expected_score,
    updated_rating,
)
from server.stores.base import EpisodeRecord, ProfileRecord


def test_expected_score_by_hand():
    assert expected_score(1500.0) == 0.5
    # 400 points above the agent: 1 / (1 + 10 ** -1) = 10 / 11.
    assert expected_score(1900.0) == pytest.approx(10 / 11)
    assert expected_score(1100.0) == pytest.approx(1 / 11)


def test_rating_updates_by_hand():
    assert updated_rating(1500.0, PLAYER_WON) == 1516.0
    assert updated_rating(1500.0, AGENT_WON) == 1484.0
    assert updated_rating(1500.0, DRAW) == 1500.0
    # A strong player (expected 10/11) who only draws loses 32 * (0.5 - 10/11) = -13.09.
    assert updated_rating(1900.0, DRAW) == pytest.approx(1900.0 - 32 * (10 / 11 - 0.5))


def test_apply_episode_counts_results_per_game():
    episodes = [
        EpisodeRecord("p", "studio", "g1", AGENT_WON, 2.0, 10),
        EpisodeRecord("p", "studio", "g2", PLAYER_WON, -1.0, 20),
        EpisodeRecord("p", "studio", "g1", DRAW, 0.0, 30),
    ]
    profile = None
    for episode in episodes:
        profile = apply_episode(profile, episode)
    assert (profile.episodes, profile.agent_wins, profile.player_wins, profile.draws) == (
        3,
        1,
        1,
        1,
    )
    assert profile.games["g1"].episodes == 2 and profile.games["g1"].recent_rewards == (2.0, 0.0)
    assert profile.games["g2"].player_wins == 1
    assert (profile.created_ms, profile.updated_ms) == (10, 30)
    assert ProfileRecord.from_json(profile.to_json()) == profile


def test_recent_rewards_keep_the_last_window():
    profile = None
    for i in range(RECENT_EPISODES + 5):
        profile = apply_episode(profile, EpisodeRecord("p", "s", "g", DRAW, float(i), i))
    recent = profile.games["g"].recent_rewards
    assert recent == tuple(float(i) for i in range(5, RECENT_EPISODES + 5))


def test_profile_json_is_asdicts_text():
    rng = random.Random(3)
    profile = None
    for i in range(60):
        game = rng.choice(["g1", "connect_n(rows=6,cols=7)", "matrix(name=rps)"])
        result = rng.choice([AGENT_WON, PLAYER_WON, DRAW])
        episode = EpisodeRecord("p\u00e9", 'key \\ "x"', game, result, rng.uniform(-5, 5), i)
        profile = apply_episode(profile, episode)
        want = json.dumps(dataclasses.asdict(profile), sort_keys=True)
        assert profile.to_json() == want
