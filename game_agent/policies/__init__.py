"""Policy networks: a fully convolutional board encoder, an MLP for vectors, masked heads."""

from game_agent.policies.actor_critic import ActorCritic, PolicyInput, PolicyOutput
from game_agent.policies.distributions import MaskedCategorical
from game_agent.policies.layout import ObsLayout, board_action_kind, layout_for

__all__ = [
    "ActorCritic",
    "MaskedCategorical",
    "ObsLayout",
    "PolicyInput",
    "PolicyOutput",
    "board_action_kind",
    "layout_for",
]
