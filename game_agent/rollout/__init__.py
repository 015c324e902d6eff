"""Rollouts: per-lane decision storage and the samplers that fill it."""

from game_agent.rollout.sampler import (
    EpisodeStats,
    LocalSampler,
    Rollout,
    RolloutPolicy,
    Sampler,
    SamplerConfig,
)
from game_agent.rollout.storage import GroupRollout, RolloutStorage, merge_groups

__all__ = [
    "EpisodeStats",
    "GroupRollout",
    "LocalSampler",
    "Rollout",
    "RolloutPolicy",
    "RolloutStorage",
    "Sampler",
    "SamplerConfig",
    "merge_groups",
]
