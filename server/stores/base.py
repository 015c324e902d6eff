"""What the service keeps durably, and the protocol every store implements.

Three kinds of record:

- :class:`SessionRecord` — one live (or ended) session: whose it is, the game,
  the turn it expects next, the player's current :class:`AdaptationState` as
  bytes and the reply to the last turn (so a retried turn gets it back).
- :class:`ProfileRecord` — one player's record against the agent over all
  games and sessions: results, an Elo-style rating, per-game statistics.
- :class:`AdaptationRecord` — what the agent had learned about one player in
  one game variant after their last completed episode; a new session of that
  player starts from it.

Stores are synchronous and are called from one dedicated worker thread
(``server.sessions``), never from the event loop. Every write goes through
:meth:`Store.commit`, which applies a session's new state together with its
profile and adaptation records atomically, *if* the stored session still
expects ``expected_turn`` (compare-and-set): that is what makes a retried or
concurrent turn (another replica sharing the store) unable to advance a
session twice.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

INITIAL_RATING = 1500.0


@dataclass(frozen=True)
class SessionRecord:
    """One session as stored; ``state`` is the current AdaptationState bytes."""

    session_id: str
    principal: str
    """API-key principal that created the session; only it may drive the session."""
    player_id: str
    game: str
    """Canonical spec string of the variant."""
    family: str
    agent_seat: int
    greedy: bool
    """Play the most likely action instead of sampling."""
    seed: int
    """The client's ``SessionOptions.seed`` (or one the server drew): each turn's sampled
    action is chosen by ``game_agent.sampling.seeded_draw(seed, turn)``."""
    idle_timeout_s: float
    model_sha: str
    """Checkpoint hash of the model serving the session when it started."""
    next_turn: int
    state: bytes
    last_reply: str = ""
    """JSON of the reply to turn ``next_turn - 1`` ("" before the first turn)."""
    awaiting_reward: bool = False
    """True when the agent has acted and the reward that followed is not yet observed."""
    episode_steps: int = 0
    episode_reward: float = 0.0
    pending_outcome: str = ""
    """JSON of an EpisodeOutcome whose adaptation (``end_episode``) has not been committed."""
    returning_player: bool = False
    created_ms: int = 0
    expires_ms: int = 0
    ended: bool = False

    def evolve(self, **changes: Any) -> SessionRecord:
        """``dataclasses.replace`` without its per-field ``__init__`` (a turn makes one of
        these on the hot path; the record has no ``__post_init__`` to skip)."""
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise TypeError(f"SessionRecord has no field(s) {sorted(unknown)}")
        new = object.__new__(SessionRecord)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def data_json(self) -> str:
        """Every field but ``state`` (stored as a blob beside it), as JSON."""
        # Every field is a str, int, float or bool: no deep copy (``asdict``) needed.
        fields = self.__dict__
        return _SORTED_JSON.encode({name: fields[name] for name in _DATA_FIELDS})

    @classmethod
    def from_stored(cls, data: str, state: bytes, ended: bool) -> SessionRecord:
        fields = json.loads(data)
        fields.update(state=bytes(state), ended=bool(ended))
        return cls(**fields)


_SORTED_JSON = json.JSONEncoder(sort_keys=True)
"""``json.dumps(x, sort_keys=True)`` without building an encoder per call."""
_FIELDS = frozenset(f.name for f in dataclasses.fields(SessionRecord))
_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(SessionRecord) if f.name != "state")


@dataclass(frozen=True)
class GameStats:
    """A player's record in one game variant."""

    episodes: int = 0
    agent_wins: int = 0
    player_wins: int = 0
    draws: int = 0
    recent_rewards: tuple[float, ...] = ()
    """The agent's total reward in each of the last episodes (at most 20), oldest first."""


@dataclass(frozen=True)
class ProfileRecord:
    """A player's record against the agent, over all games; outlives sessions."""

    player_id: str
    principal: str
    """The principal that first created the player; only it may read or delete the profile."""
    episodes: int = 0
    agent_wins: int = 0
    player_wins: int = 0
    draws: int = 0
    skill_rating: float = INITIAL_RATING
    games: Mapping[str, GameStats] = field(default_factory=dict)
    created_ms: int = 0
    updated_ms: int = 0

    def to_json(self) -> str:
        """The record as JSON with sorted keys (``asdict``'s text, without its deep copy:
        every value is a str, int or float, or a tuple of floats in ``GameStats``)."""
        fields = dict(self.__dict__)
        fields["games"] = {name: stats.__dict__ for name, stats in self.games.items()}
        return _SORTED_JSON.encode(fields)

    @classmethod
    def from_json(cls, text: str) -> ProfileRecord:
        data: dict[str, Any] = json.loads(text)
        games = {
            name: GameStats(**{**stats, "recent_rewards": tuple(stats["recent_rewards"])})
            for name, stats in data.pop("games").items()
        }
        return cls(games=games, **data)


@dataclass(frozen=True)
class AdaptationRecord:
    """The agent's memory of one player in one game, after their last completed episode."""

    player_id: str
    game: str
    learner: str
    model_sha: str
    """Checkpoint hash the state was produced with; another model starts the player afresh."""
    state: bytes


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode, as a profile sees it (``server.profiles.apply_episode``)."""

    player_id: str
    principal: str
    game: str
    result: int
    """+1 the agent won, 0 draw, -1 the player won."""
    agent_reward: float
    """The agent's total reward over the episode."""
    now_ms: int


class CommitStatus(enum.Enum):
    """Outcome of one :class:`Commit`."""

    APPLIED = "applied"
    CONFLICT = "conflict"
    """The stored session no longer expects ``expected_turn``: someone else advanced it."""
    GONE = "gone"
    """The session has ended, expired or was deleted (and the commit did not allow that)."""


@dataclass(frozen=True)
class Commit:
    """One atomic write: a session's new record, with the profile changes it brings."""

    session: SessionRecord
    expected_turn: int
    """The ``next_turn`` the stored session must still have for the write to apply."""
    episode: EpisodeRecord | None = None
    """A finished episode to fold into the player's profile, read and written in the same
    transaction (``server.profiles.apply_episode``) so concurrent sessions never lose one."""
    adaptation: AdaptationRecord | None = None
    allow_ended: bool = False
    """Apply even when the session has ended meanwhile (finishing a pending adaptation)."""
    expiry_changed: bool = True
    """False when ``session.expires_ms`` is the stored session's own (the sessions layer
    keeps expiries to a step, so most turns keep it): a store may then leave the stored
    expiry, and the indexes over it, as they are."""


class Store(Protocol):
    """Durable sessions and profiles; see the module docstring. Implementations:
    ``server.stores.sqlite.SqliteStore`` and ``server.stores.redis.RedisStore``."""

    shared: bool
    """True when other replicas may write the same sessions (the service then checks
    :meth:`session_status` before each turn instead of trusting its cache)."""

    def create_session(
        self, session: SessionRecord, *, now_ms: int, max_per_player: int, max_total: int
    ) -> None:
        """Insert a new session, and the player's profile when they have none.

        Live sessions are those not ended whose ``expires_ms`` is after ``now_ms``.
        Raises :class:`server.errors.ResourceExhausted` naming the limit that would be
        exceeded, :class:`server.errors.PermissionDenied` when the player's profile
        belongs to another principal.
        """
        ...

    def load_session(self, session_id: str) -> SessionRecord | None:
        """The stored session (ended ones included), or None when there is none."""
        ...

    def session_status(self, session_id: str) -> tuple[int, bool, int] | None:
        """``(next_turn, ended, expires_ms)`` of a stored session, or None; cheaper than
        loading it."""
        ...

    def commit(self, commits: Sequence[Commit]) -> list[CommitStatus | BaseException]:
        """Apply each commit atomically and durably; one status per commit, in order. A
        store that writes a batch in parts may answer a commit of a failed part with the
        exception instead, the other parts staying applied (the turn engine answers that
        commit's call with it); a failure that applied nothing raises."""
        ...

    def end_session(self, session_id: str) -> bool:
        """Mark a session ended; False when it was already ended or does not exist."""
        ...

    def expire_sessions(self, now_ms: int) -> list[str]:
        """End every live session whose ``expires_ms`` has passed; return their ids."""
        ...

    def pending_adaptations(self) -> list[str]:
        """Ids of sessions with a committed episode end whose adaptation is not yet stored."""
        ...

    def load_profile(self, player_id: str) -> ProfileRecord | None: ...

    def load_adaptation(self, player_id: str, game: str) -> AdaptationRecord | None: ...

    def delete_player(self, player_id: str) -> tuple[bool, list[str]]:
        """Forget a player: profile, adaptation records and every session.

        Returns (whether a profile existed, ids of the live sessions that were ended).
        """
        ...

    def close(self) -> None: ...
