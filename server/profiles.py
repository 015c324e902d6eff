"""How one finished episode changes a player's profile (record and Elo-style rating).

Pure functions over :class:`~server.stores.base.ProfileRecord`: stores call
:func:`apply_episode` *inside* their write transaction, on the profile as
currently stored, so two sessions of one player finishing episodes at the same
moment both count (no lost update).

The rating is the player's, measured against the agent: the agent is a fixed
reference rated :data:`AGENT_RATING`, every episode is one game, and the
player's rating moves by ``K * (score - expected)`` with score 1 for a player
win, 0.5 for a draw and 0 for a loss (Elo, with K = :data:`K_FACTOR`).
"""

from __future__ import annotations

import dataclasses

from server.stores.base import INITIAL_RATING, EpisodeRecord, GameStats, ProfileRecord

AGENT_RATING = 1500.0
K_FACTOR = 32.0
RECENT_EPISODES = 20
"""Episodes kept per game for ``GameRecord.recent_agent_reward``."""

AGENT_WON, DRAW, PLAYER_WON = 1, 0, -1
"""Episode results from the agent's seat, as in ``EpisodeRecord.result``."""


def expected_score(player_rating: float, opponent_rating: float = AGENT_RATING) -> float:
    """Elo's expected score of the player against an opponent of the given rating."""
    return 1.0 / (1.0 + 10.0 ** ((opponent_rating - player_rating) / 400.0))


def updated_rating(player_rating: float, result: int) -> float:
    """The player's rating after one game against the agent with the given result."""
    score = {AGENT_WON: 0.0, DRAW: 0.5, PLAYER_WON: 1.0}[result]
    return player_rating + K_FACTOR * (score - expected_score(player_rating))


def new_profile(player_id: str, principal: str, now_ms: int) -> ProfileRecord:
    """The profile of a player the agent has never met."""
    return ProfileRecord(
        player_id=player_id,
        principal=principal,
        skill_rating=INITIAL_RATING,
        created_ms=now_ms,
        updated_ms=now_ms,
    )


def apply_episode(profile: ProfileRecord | None, episode: EpisodeRecord) -> ProfileRecord:
    """``profile`` (None: a new player) after ``episode``."""
    if profile is None:
        profile = new_profile(episode.player_id, episode.principal, episode.now_ms)
    won, lost, drew = (
        episode.result == AGENT_WON,
        episode.result == PLAYER_WON,
        episode.result == DRAW,
    )
    stats = profile.games.get(episode.game, GameStats())
    recent = (*stats.recent_rewards, float(episode.agent_reward))[-RECENT_EPISODES:]
    stats = GameStats(
        episodes=stats.episodes + 1,
        agent_wins=stats.agent_wins + won,
        player_wins=stats.player_wins + lost,
        draws=stats.draws + drew,
        recent_rewards=recent,
    )
    return dataclasses.replace(
        profile,
        episodes=profile.episodes + 1,
        agent_wins=profile.agent_wins + won,
        player_wins=profile.player_wins + lost,
        draws=profile.draws + drew,
        skill_rating=updated_rating(profile.skill_rating, episode.result),
        games={**profile.games, episode.game: stats},
        updated_ms=episode.now_ms,
    )
