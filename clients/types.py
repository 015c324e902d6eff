"""Plain dataclasses the SDK returns, and their translation from and to protobuf.

Callers of the SDK never touch protobuf messages: what the server says is
converted here into frozen dataclasses and numpy arrays, and what the caller
passes (numpy observations, masks) is encoded here into requests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clients.errors import InvalidArgument, ServerError
from protos.game_agent.v1 import agent_pb2 as pb

PROTOCOL_VERSION = pb.PROTOCOL_VERSION_1
"""The protocol version this SDK was generated from."""


class EpisodeResult(enum.IntEnum):
    """How an episode ended, from the agent's side (mirrors the proto enum)."""

    UNSPECIFIED = pb.EPISODE_RESULT_UNSPECIFIED
    AGENT_WON = pb.AGENT_WON
    PLAYER_WON = pb.PLAYER_WON
    DRAW = pb.DRAW

    @classmethod
    def from_sign(cls, agent_result: int | None) -> EpisodeResult:
        """+1 agent won, -1 player won, 0 draw, None unknown (the server infers it)."""
        if agent_result is None:
            return cls.UNSPECIFIED
        if agent_result > 0:
            return cls.AGENT_WON
        return cls.PLAYER_WON if agent_result < 0 else cls.DRAW


@dataclass(frozen=True)
class ServerInfo:
    protocol_version: int
    min_client_protocol_version: int
    server_version: str
    capabilities: tuple[str, ...]
    max_request_bytes: int
    requires_api_key: bool


@dataclass(frozen=True)
class ModelInfo:
    learner: str
    checkpoint: str
    checkpoint_sha256: str
    training_steps: int
    version: str


@dataclass(frozen=True)
class GameParameter:
    name: str
    type: str
    default: str
    choices: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class GameVariant:
    spec: str
    """Canonical spec string; pass it to ``client.session``."""
    family: str
    agents: tuple[str, ...]
    observation_shape: tuple[int, ...]
    observation_dtype: str
    observation_low: float
    observation_high: float
    num_actions: int
    alternating: bool
    """True when seats take turns; False when they move together every step."""
    action_names: tuple[str, ...]
    parameters: dict[str, str] = field(hash=False)
    split: str


@dataclass(frozen=True)
class GameFamily:
    name: str
    description: str
    parameters: tuple[GameParameter, ...]
    variants: tuple[GameVariant, ...]
    model: ModelInfo


@dataclass(frozen=True)
class GameRecord:
    game: str
    episodes_played: int
    agent_wins: int
    player_wins: int
    draws: int
    recent_agent_reward: float


@dataclass(frozen=True)
class PlayerProfile:
    player_id: str
    episodes_played: int
    agent_wins: int
    player_wins: int
    draws: int
    skill_rating: float
    games: tuple[GameRecord, ...]
    created_at_unix_ms: int
    updated_at_unix_ms: int


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    player_id: str
    game: GameVariant
    agent_seat: int
    next_turn: int
    episodes_played: int
    returning_player: bool
    expires_at_unix_ms: int
    model: ModelInfo
    seed: int
    """The seed the session's sampled moves follow (the one given, or the server's choice)."""


@dataclass(frozen=True)
class TurnResult:
    """The agent's answer to one turn."""

    turn: int
    action: int
    """The agent's action; always legal under the mask that was sent."""
    probabilities: np.ndarray
    """(num_actions,) float32 policy probabilities, 0 where masked."""
    value: float
    """The agent's estimate of its expected return from here."""
    player_action_prediction: np.ndarray | None
    """(num_actions,) float32 prediction of the player's next action, where the model has one."""
    replayed: bool
    """True when the server answered a retried turn from its stored reply."""


@dataclass(frozen=True)
class EpisodeEnd:
    """The server's acknowledgement of an episode end."""

    turn: int
    replayed: bool
    profile: PlayerProfile


def server_info_from_proto(msg: pb.ServerInfo) -> ServerInfo:
    return ServerInfo(
        protocol_version=msg.protocol_version,
        min_client_protocol_version=msg.min_client_protocol_version,
        server_version=msg.server_version,
        capabilities=tuple(msg.capabilities),
        max_request_bytes=msg.max_request_bytes,
        requires_api_key=msg.requires_api_key,
    )


def model_from_proto(msg: pb.ModelInfo) -> ModelInfo:
    return ModelInfo(
        msg.learner, msg.checkpoint, msg.checkpoint_sha256, msg.training_steps, msg.version
    )


def variant_from_proto(msg: pb.GameVariant) -> GameVariant:
    return GameVariant(
        spec=msg.spec,
        family=msg.family,
        agents=tuple(msg.agents),
        observation_shape=tuple(msg.observation_shape),
        observation_dtype=msg.observation_dtype,
        observation_low=msg.observation_low,
        observation_high=msg.observation_high,
        num_actions=msg.num_actions,
        alternating=msg.turn_structure == pb.TURN_STRUCTURE_ALTERNATING,
        action_names=tuple(msg.action_names),
        parameters=dict(msg.parameters),
        split=msg.split,
    )


def family_from_proto(msg: pb.GameFamily) -> GameFamily:
    parameters = tuple(
        GameParameter(p.name, p.type, p.default_value, tuple(p.choices), p.description)
        for p in msg.parameters
    )
    return GameFamily(
        name=msg.name,
        description=msg.description,
        parameters=parameters,
        variants=tuple(variant_from_proto(v) for v in msg.variants),
        model=model_from_proto(msg.model),
    )


def profile_from_proto(msg: pb.PlayerProfile) -> PlayerProfile:
    games = tuple(
        GameRecord(
            g.game, g.episodes_played, g.agent_wins, g.player_wins, g.draws, g.recent_agent_reward
        )
        for g in msg.games
    )
    return PlayerProfile(
        player_id=msg.player_id,
        episodes_played=msg.episodes_played,
        agent_wins=msg.agent_wins,
        player_wins=msg.player_wins,
        draws=msg.draws,
        skill_rating=msg.skill_rating,
        games=games,
        created_at_unix_ms=msg.created_at_unix_ms,
        updated_at_unix_ms=msg.updated_at_unix_ms,
    )


def session_from_proto(msg: pb.Session) -> SessionInfo:
    return SessionInfo(
        session_id=msg.session_id,
        player_id=msg.player_id,
        game=variant_from_proto(msg.game),
        agent_seat=msg.agent_seat,
        next_turn=msg.next_turn,
        episodes_played=msg.episodes_played,
        returning_player=msg.returning_player,
        expires_at_unix_ms=msg.expires_at_unix_ms,
        model=model_from_proto(msg.model),
        seed=msg.seed,
    )


def turn_from_proto(msg: pb.ActResponse) -> TurnResult:
    prediction = (
        np.asarray(msg.player_action_prediction, dtype=np.float32)
        if len(msg.player_action_prediction)
        else None
    )
    return TurnResult(
        turn=msg.turn,
        action=msg.action,
        probabilities=np.asarray(msg.action_probabilities, dtype=np.float32),
        value=msg.value,
        player_action_prediction=prediction,
        replayed=msg.replayed,
    )


def episode_end_from_proto(msg: pb.EndEpisodeResponse) -> EpisodeEnd:
    return EpisodeEnd(msg.turn, msg.replayed, profile_from_proto(msg.profile))


def split_observation(observation, action_mask) -> tuple[np.ndarray, np.ndarray]:
    """Accept a PettingZoo ``{"observation", "action_mask"}`` dict or the two arrays apart."""
    if isinstance(observation, dict):
        if action_mask is None:
            action_mask = observation.get("action_mask")
        observation = observation.get("observation")
    if observation is None or action_mask is None:
        raise InvalidArgument(
            "act() needs an observation and an action_mask (or a PettingZoo observation dict "
            "holding both)"
        )
    try:
        obs = np.asarray(observation, dtype=np.float32)
        mask = np.asarray(action_mask).astype(bool).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"observation and action_mask must be numeric arrays: {exc}"
        ) from None
    return obs, mask


def act_request(
    session_id: str, turn: int, observation: np.ndarray, mask: np.ndarray, reward: float
) -> pb.ActRequest:
    tensor = pb.Tensor(shape=list(observation.shape), values=observation.reshape(-1).tolist())
    return pb.ActRequest(
        session_id=session_id,
        turn=turn,
        observation=tensor,
        action_mask=mask.tolist(),
        reward=float(reward),
    )


def end_episode_request(
    session_id: str, turn: int, final_reward: float, result: EpisodeResult | int | None
) -> pb.EndEpisodeRequest:
    if not isinstance(result, EpisodeResult):
        result = EpisodeResult.from_sign(result)
    return pb.EndEpisodeRequest(
        session_id=session_id, turn=turn, final_reward=float(final_reward), result=int(result)
    )


def unwrap_play(response: pb.PlayResponse, kind: str) -> Any:
    """The ``act`` or ``end_episode`` answer inside a PlayResponse, checked to match the request."""
    answered = response.WhichOneof("response")
    if answered != kind:
        raise ServerError(f"the Play stream answered a {kind} request with {answered}")
    return getattr(response, kind)
