from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProtocolVersion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTOCOL_VERSION_UNSPECIFIED: _ClassVar[ProtocolVersion]
    PROTOCOL_VERSION_1: _ClassVar[ProtocolVersion]

class TurnStructure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_STRUCTURE_UNSPECIFIED: _ClassVar[TurnStructure]
    TURN_STRUCTURE_ALTERNATING: _ClassVar[TurnStructure]
    TURN_STRUCTURE_SIMULTANEOUS: _ClassVar[TurnStructure]

class EpisodeResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EPISODE_RESULT_UNSPECIFIED: _ClassVar[EpisodeResult]
    AGENT_WON: _ClassVar[EpisodeResult]
    PLAYER_WON: _ClassVar[EpisodeResult]
    DRAW: _ClassVar[EpisodeResult]
PROTOCOL_VERSION_UNSPECIFIED: ProtocolVersion
PROTOCOL_VERSION_1: ProtocolVersion
TURN_STRUCTURE_UNSPECIFIED: TurnStructure
TURN_STRUCTURE_ALTERNATING: TurnStructure
TURN_STRUCTURE_SIMULTANEOUS: TurnStructure
EPISODE_RESULT_UNSPECIFIED: EpisodeResult
AGENT_WON: EpisodeResult
PLAYER_WON: EpisodeResult
DRAW: EpisodeResult

class GetServerInfoRequest(_message.Message):
    __slots__ = ("client_protocol_version", "client_name")
    CLIENT_PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    client_protocol_version: int
    client_name: str
    def __init__(self, client_protocol_version: _Optional[int] = ..., client_name: _Optional[str] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("protocol_version", "min_client_protocol_version", "server_version", "capabilities", "max_request_bytes", "requires_api_key")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_CLIENT_PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_API_KEY_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    min_client_protocol_version: int
    server_version: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    max_request_bytes: int
    requires_api_key: bool
    def __init__(self, protocol_version: _Optional[int] = ..., min_client_protocol_version: _Optional[int] = ..., server_version: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., max_request_bytes: _Optional[int] = ..., requires_api_key: _Optional[bool] = ...) -> None: ...

class ListGamesRequest(_message.Message):
    __slots__ = ("family",)
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    family: str
    def __init__(self, family: _Optional[str] = ...) -> None: ...

class ListGamesResponse(_message.Message):
    __slots__ = ("families",)
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    families: _containers.RepeatedCompositeFieldContainer[GameFamily]
    def __init__(self, families: _Optional[_Iterable[_Union[GameFamily, _Mapping]]] = ...) -> None: ...

class GameFamily(_message.Message):
    __slots__ = ("name", "description", "parameters", "variants", "model")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    parameters: _containers.RepeatedCompositeFieldContainer[GameParameter]
    variants: _containers.RepeatedCompositeFieldContainer[GameVariant]
    model: ModelInfo
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[GameParameter, _Mapping]]] = ..., variants: _Optional[_Iterable[_Union[GameVariant, _Mapping]]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class GameParameter(_message.Message):
    __slots__ = ("name", "type", "default_value", "choices", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    default_value: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., default_value: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class GameVariant(_message.Message):
    __slots__ = ("spec", "family", "agents", "observation_shape", "observation_dtype", "observation_low", "observation_high", "num_actions", "turn_structure", "action_names", "parameters", "split")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SPEC_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_SHAPE_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_DTYPE_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_LOW_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_HIGH_FIELD_NUMBER: _ClassVar[int]
    NUM_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    TURN_STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    spec: str
    family: str
    agents: _containers.RepeatedScalarFieldContainer[str]
    observation_shape: _containers.RepeatedScalarFieldContainer[int]
    observation_dtype: str
    observation_low: float
    observation_high: float
    num_actions: int
    turn_structure: TurnStructure
    action_names: _containers.RepeatedScalarFieldContainer[str]
    parameters: _containers.ScalarMap[str, str]
    split: str
    def __init__(self, spec: _Optional[str] = ..., family: _Optional[str] = ..., agents: _Optional[_Iterable[str]] = ..., observation_shape: _Optional[_Iterable[int]] = ..., observation_dtype: _Optional[str] = ..., observation_low: _Optional[float] = ..., observation_high: _Optional[float] = ..., num_actions: _Optional[int] = ..., turn_structure: _Optional[_Union[TurnStructure, str]] = ..., action_names: _Optional[_Iterable[str]] = ..., parameters: _Optional[_Mapping[str, str]] = ..., split: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("learner", "checkpoint", "checkpoint_sha256", "training_steps", "version")
    LEARNER_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SHA256_FIELD_NUMBER: _ClassVar[int]
    TRAINING_STEPS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    learner: str
    checkpoint: str
    checkpoint_sha256: str
    training_steps: int
    version: str
    def __init__(self, learner: _Optional[str] = ..., checkpoint: _Optional[str] = ..., checkpoint_sha256: _Optional[str] = ..., training_steps: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...

class StartSessionRequest(_message.Message):
    __slots__ = ("player_id", "game", "agent_seat", "options")
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    GAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_SEAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    player_id: str
    game: str
    agent_seat: int
    options: SessionOptions
    def __init__(self, player_id: _Optional[str] = ..., game: _Optional[str] = ..., agent_seat: _Optional[int] = ..., options: _Optional[_Union[SessionOptions, _Mapping]] = ...) -> None: ...

class SessionOptions(_message.Message):
    __slots__ = ("greedy", "seed", "idle_timeout_seconds", "ignore_profile")
    GREEDY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IGNORE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    greedy: bool
    seed: int
    idle_timeout_seconds: int
    ignore_profile: bool
    def __init__(self, greedy: _Optional[bool] = ..., seed: _Optional[int] = ..., idle_timeout_seconds: _Optional[int] = ..., ignore_profile: _Optional[bool] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "player_id", "game", "agent_seat", "next_turn", "episodes_played", "returning_player", "expires_at_unix_ms", "model", "seed")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    GAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_SEAT_FIELD_NUMBER: _ClassVar[int]
    NEXT_TURN_FIELD_NUMBER: _ClassVar[int]
    EPISODES_PLAYED_FIELD_NUMBER: _ClassVar[int]
    RETURNING_PLAYER_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
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
    def __init__(self, session_id: _Optional[str] = ..., player_id: _Optional[str] = ..., game: _Optional[_Union[GameVariant, _Mapping]] = ..., agent_seat: _Optional[int] = ..., next_turn: _Optional[int] = ..., episodes_played: _Optional[int] = ..., returning_player: _Optional[bool] = ..., expires_at_unix_ms: _Optional[int] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class ResumeSessionRequest(_message.Message):
    __slots__ = ("session_id", "player_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    player_id: str
    def __init__(self, session_id: _Optional[str] = ..., player_id: _Optional[str] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: PlayerProfile
    def __init__(self, profile: _Optional[_Union[PlayerProfile, _Mapping]] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("shape", "values")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class ActRequest(_message.Message):
    __slots__ = ("session_id", "turn", "observation", "action_mask", "reward")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    ACTION_MASK_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn: int
    observation: Tensor
    action_mask: _containers.RepeatedScalarFieldContainer[bool]
    reward: float
    def __init__(self, session_id: _Optional[str] = ..., turn: _Optional[int] = ..., observation: _Optional[_Union[Tensor, _Mapping]] = ..., action_mask: _Optional[_Iterable[bool]] = ..., reward: _Optional[float] = ...) -> None: ...

class ActResponse(_message.Message):
    __slots__ = ("turn", "action", "action_probabilities", "value", "replayed", "player_action_prediction")
    TURN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    PLAYER_ACTION_PREDICTION_FIELD_NUMBER: _ClassVar[int]
    turn: int
    action: int
    action_probabilities: _containers.RepeatedScalarFieldContainer[float]
    value: float
    replayed: bool
    player_action_prediction: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, turn: _Optional[int] = ..., action: _Optional[int] = ..., action_probabilities: _Optional[_Iterable[float]] = ..., value: _Optional[float] = ..., replayed: _Optional[bool] = ..., player_action_prediction: _Optional[_Iterable[float]] = ...) -> None: ...

class EndEpisodeRequest(_message.Message):
    __slots__ = ("session_id", "turn", "final_reward", "result")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    FINAL_REWARD_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn: int
    final_reward: float
    result: EpisodeResult
    def __init__(self, session_id: _Optional[str] = ..., turn: _Optional[int] = ..., final_reward: _Optional[float] = ..., result: _Optional[_Union[EpisodeResult, str]] = ...) -> None: ...

class EndEpisodeResponse(_message.Message):
    __slots__ = ("turn", "replayed", "profile")
    TURN_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    turn: int
    replayed: bool
    profile: PlayerProfile
    def __init__(self, turn: _Optional[int] = ..., replayed: _Optional[bool] = ..., profile: _Optional[_Union[PlayerProfile, _Mapping]] = ...) -> None: ...

class PlayRequest(_message.Message):
    __slots__ = ("act", "end_episode")
    ACT_FIELD_NUMBER: _ClassVar[int]
    END_EPISODE_FIELD_NUMBER: _ClassVar[int]
    act: ActRequest
    end_episode: EndEpisodeRequest
    def __init__(self, act: _Optional[_Union[ActRequest, _Mapping]] = ..., end_episode: _Optional[_Union[EndEpisodeRequest, _Mapping]] = ...) -> None: ...

class PlayResponse(_message.Message):
    __slots__ = ("act", "end_episode", "error")
    ACT_FIELD_NUMBER: _ClassVar[int]
    END_EPISODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    act: ActResponse
    end_episode: EndEpisodeResponse
    error: Error
    def __init__(self, act: _Optional[_Union[ActResponse, _Mapping]] = ..., end_episode: _Optional[_Union[EndEpisodeResponse, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "turn")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    turn: int
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., turn: _Optional[int] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("player_id",)
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    player_id: str
    def __init__(self, player_id: _Optional[str] = ...) -> None: ...

class DeleteProfileRequest(_message.Message):
    __slots__ = ("player_id",)
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    player_id: str
    def __init__(self, player_id: _Optional[str] = ...) -> None: ...

class DeleteProfileResponse(_message.Message):
    __slots__ = ("deleted", "sessions_ended")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_ENDED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    sessions_ended: int
    def __init__(self, deleted: _Optional[bool] = ..., sessions_ended: _Optional[int] = ...) -> None: ...

class PlayerProfile(_message.Message):
    __slots__ = ("player_id", "episodes_played", "agent_wins", "player_wins", "draws", "skill_rating", "games", "created_at_unix_ms", "updated_at_unix_ms")
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    EPISODES_PLAYED_FIELD_NUMBER: _ClassVar[int]
    AGENT_WINS_FIELD_NUMBER: _ClassVar[int]
    PLAYER_WINS_FIELD_NUMBER: _ClassVar[int]
    DRAWS_FIELD_NUMBER: _ClassVar[int]
    SKILL_RATING_FIELD_NUMBER: _ClassVar[int]
    GAMES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    player_id: str
    episodes_played: int
    agent_wins: int
    player_wins: int
    draws: int
    skill_rating: float
    games: _containers.RepeatedCompositeFieldContainer[GameRecord]
    created_at_unix_ms: int
    updated_at_unix_ms: int
    def __init__(self, player_id: _Optional[str] = ..., episodes_played: _Optional[int] = ..., agent_wins: _Optional[int] = ..., player_wins: _Optional[int] = ..., draws: _Optional[int] = ..., skill_rating: _Optional[float] = ..., games: _Optional[_Iterable[_Union[GameRecord, _Mapping]]] = ..., created_at_unix_ms: _Optional[int] = ..., updated_at_unix_ms: _Optional[int] = ...) -> None: ...

class GameRecord(_message.Message):
    __slots__ = ("game", "episodes_played", "agent_wins", "player_wins", "draws", "recent_agent_reward")
    GAME_FIELD_NUMBER: _ClassVar[int]
    EPISODES_PLAYED_FIELD_NUMBER: _ClassVar[int]
    AGENT_WINS_FIELD_NUMBER: _ClassVar[int]
    PLAYER_WINS_FIELD_NUMBER: _ClassVar[int]
    DRAWS_FIELD_NUMBER: _ClassVar[int]
    RECENT_AGENT_REWARD_FIELD_NUMBER: _ClassVar[int]
    game: str
    episodes_played: int
    agent_wins: int
    player_wins: int
    draws: int
    recent_agent_reward: float
    def __init__(self, game: _Optional[str] = ..., episodes_played: _Optional[int] = ..., agent_wins: _Optional[int] = ..., player_wins: _Optional[int] = ..., draws: _Optional[int] = ..., recent_agent_reward: _Optional[float] = ...) -> None: ...
