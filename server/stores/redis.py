"""A store in Redis, shared by several server replicas behind a load balancer.

Keys (``prefix`` defaults to ``ga:``)::

    {prefix}session:{id}             hash: next_turn, ended, expires_ms, player_id, data, state
    {prefix}live                     zset: live session id -> expires_ms (the total limit)
    {prefix}player_live:{player}     zset: the player's live sessions -> expires_ms
    {prefix}player_sessions:{player} set: every session id of the player (for deletion)
    {prefix}pending                  set: sessions whose adaptation is not yet stored
    {prefix}profile:{player}         string: ProfileRecord JSON
    {prefix}adapt:{player}:{game}    hash: learner, model_sha, state
    {prefix}adapt_games:{player}     set: games with an adaptation record

Every write is a WATCH/MULTI/EXEC transaction over the keys it reads, retried
when another replica touched them first, so the compare-and-set of
:meth:`RedisStore.commit` and the profile update inside it are atomic across
replicas.

Durability is Redis's: run it with ``appendonly yes`` and ``appendfsync
always`` for acknowledged turns to survive a Redis crash (``everysec`` may lose
up to a second). A server replica killed at any moment loses nothing either way.

While Redis cannot be reached (restarting, failing over), every store call
raises :class:`server.errors.Unavailable`, so callers get UNAVAILABLE and retry
the same turn (which never advances a session twice) instead of an INTERNAL
error; the client reconnects by itself once Redis is back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

from server.errors import PermissionDenied, ResourceExhausted, Unavailable
from server.profiles import apply_episode, new_profile
from server.stores.base import (
    AdaptationRecord,
    Commit,
    CommitStatus,
    ProfileRecord,
    SessionRecord,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _reachable(method: F) -> F:
    """Turn a lost connection to Redis into UNAVAILABLE (retry) rather than an internal error."""

    @functools.wraps(method)
    def call(self: RedisStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(
                f"the Redis store at {self.url} cannot be reached ({exc}); retry the call "
                "(a retried turn is answered once)"
            ) from None

    return call  # type: ignore[return-value]


class RedisStore:
    """:class:`server.stores.base.Store` over Redis; see the module docstring."""

    shared = True
    """Replicas behind a load balancer drive the same sessions."""

    def __init__(self, url: str, *, prefix: str = "ga:"):
        self.url = url
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"cannot reach the Redis store at {url}: {exc}") from None
        log.info("redis store at %s (prefix %r)", url, prefix)

    # ------------------------------------------------------------------ keys

    def _session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _profile_key(self, player_id: str) -> str:
        return f"{self.prefix}profile:{player_id}"

    def _player_live(self, player_id: str) -> str:
        return f"{self.prefix}player_live:{player_id}"

    def _player_sessions(self, player_id: str) -> str:
        return f"{self.prefix}player_sessions:{player_id}"

    def _adapt(self, player_id: str, game: str) -> str:
        return f"{self.prefix}adapt:{player_id}:{game}"

    def _adapt_games(self, player_id: str) -> str:
        return f"{self.prefix}adapt_games:{player_id}"

    @property
    def _live(self) -> str:
        return f"{self.prefix}live"

    @property
    def _pending(self) -> str:
        return f"{self.prefix}pending"

    def _transaction(self, keys: Sequence[str], body: Callable[[Any], T]) -> T:
        """Run ``body(pipe)`` with ``keys`` watched, retrying when another client wrote them."""
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*keys)
                    return body(pipe)
                except redis.WatchError:
                    continue

    # ------------------------------------------------------------------ sessions

    @_reachable
    def create_session(
        self, session: SessionRecord, *, now_ms: int, max_per_player: int, max_total: int
    ) -> None:
        player = session.player_id
        keys = [self._profile_key(player), self._live, self._player_live(player)]

        def body(pipe: Any) -> None:
            raw = pipe.get(self._profile_key(player))
            profile = None if raw is None else ProfileRecord.from_json(raw.decode())
            if profile is not None and profile.principal != session.principal:
                raise PermissionDenied(
                    f"player_id {player!r} belongs to another API key's principal"
                )
            total = pipe.zcount(self._live, f"({now_ms}", "+inf")
            if total >= max_total:
                raise ResourceExhausted(
                    f"the server holds its maximum of {max_total} live sessions; "
                    "end idle sessions or retry later"
                )
            mine = pipe.zcount(self._player_live(player), f"({now_ms}", "+inf")
            if mine >= max_per_player:
                raise ResourceExhausted(
                    f"player_id {player!r} already has {mine} live sessions "
                    f"(at most {max_per_player}); end one with EndSession first"
                )
            pipe.multi()
            if profile is None:
                fresh = new_profile(player, session.principal, now_ms)
                pipe.set(self._profile_key(player), fresh.to_json())
            pipe.hset(self._session(session.session_id), mapping=_session_fields(session))
            pipe.zadd(self._live, {session.session_id: session.expires_ms})
            pipe.zadd(self._player_live(player), {session.session_id: session.expires_ms})
            pipe.sadd(self._player_sessions(player), session.session_id)
            pipe.execute()

        self._transaction(keys, body)

    @_reachable
    def load_session(self, session_id: str) -> SessionRecord | None:
        data, state, ended = self._redis.hmget(self._session(session_id), "data", "state", "ended")
        if data is None:
            return None
        return SessionRecord.from_stored(data.decode(), state, ended == b"1")

    @_reachable
    def session_status(self, session_id: str) -> tuple[int, bool, int] | None:
        next_turn, ended, expires = self._redis.hmget(
            self._session(session_id), "next_turn", "ended", "expires_ms"
        )
        return None if next_turn is None else (int(next_turn), ended == b"1", int(expires))

    @_reachable
    def commit(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        return [self._apply(commit) for commit in commits]

    def _apply(self, commit: Commit) -> CommitStatus:
        session = commit.session
        key = self._session(session.session_id)
        keys = [key]
        if commit.episode is not None:
            keys.append(self._profile_key(commit.episode.player_id))

        def body(pipe: Any) -> CommitStatus:
            next_turn, ended = pipe.hmget(key, "next_turn", "ended")
            if next_turn is None or (ended == b"1" and not commit.allow_ended):
                return CommitStatus.GONE
            if int(next_turn) != commit.expected_turn:
                return CommitStatus.CONFLICT
            profile = None
            if commit.episode is not None:
                raw = pipe.get(self._profile_key(commit.episode.player_id))
                stored = None if raw is None else ProfileRecord.from_json(raw.decode())
                profile = apply_episode(stored, commit.episode)
            pipe.multi()
            fields = _session_fields(session)
            del fields["ended"]  # only end_session, expiry and deletion change it
            pipe.hset(key, mapping=fields)
            if ended != b"1" and commit.expiry_changed:
                pipe.zadd(self._live, {session.session_id: session.expires_ms})
                pipe.zadd(
                    self._player_live(session.player_id), {session.session_id: session.expires_ms}
                )
            if session.pending_outcome:
                pipe.sadd(self._pending, session.session_id)
            else:
                pipe.srem(self._pending, session.session_id)
            if profile is not None:
                pipe.set(self._profile_key(profile.player_id), profile.to_json())
            if commit.adaptation is not None:
                a = commit.adaptation
                pipe.hset(
                    self._adapt(a.player_id, a.game),
                    mapping={"learner": a.learner, "model_sha": a.model_sha, "state": a.state},
                )
                pipe.sadd(self._adapt_games(a.player_id), a.game)
            pipe.execute()
            return CommitStatus.APPLIED

        return self._transaction(keys, body)

    @_reachable
    def end_session(self, session_id: str, *, expired_by_ms: int | None = None) -> bool:
        key = self._session(session_id)

        def body(pipe: Any) -> bool:
            ended, player, expires = pipe.hmget(key, "ended", "player_id", "expires_ms")
            if player is None or ended == b"1":
                return False
            if expired_by_ms is not None and int(expires) > expired_by_ms:
                return False  # a turn extended it after the sweep looked
            pipe.multi()
            pipe.hset(key, "ended", "1")
            pipe.zrem(self._live, session_id)
            pipe.zrem(self._player_live(player.decode()), session_id)
            pipe.execute()
            return True

        return self._transaction([key], body)

    @_reachable
    def expire_sessions(self, now_ms: int) -> list[str]:
        candidates = self._redis.zrangebyscore(self._live, "-inf", now_ms)
        expired = []
        for raw in candidates:
            session_id = raw.decode()
            if self.end_session(session_id, expired_by_ms=now_ms):
                expired.append(session_id)
            elif self._redis.exists(self._session(session_id)) == 0:
                self._redis.zrem(self._live, session_id)
        return expired

    @_reachable
    def pending_adaptations(self) -> list[str]:
        return sorted(raw.decode() for raw in self._redis.smembers(self._pending))

    # ------------------------------------------------------------------ profiles

    @_reachable
    def load_profile(self, player_id: str) -> ProfileRecord | None:
        raw = self._redis.get(self._profile_key(player_id))
        return None if raw is None else ProfileRecord.from_json(raw.decode())

    @_reachable
    def load_adaptation(self, player_id: str, game: str) -> AdaptationRecord | None:
        learner, sha, state = self._redis.hmget(
            self._adapt(player_id, game), "learner", "model_sha", "state"
        )
        if learner is None:
            return None
        return AdaptationRecord(player_id, game, learner.decode(), sha.decode(), bytes(state))

    @_reachable
    def delete_player(self, player_id: str) -> tuple[bool, list[str]]:
        keys = [
            self._profile_key(player_id),
            self._player_sessions(player_id),
            self._adapt_games(player_id),
        ]

        def body(pipe: Any) -> tuple[bool, list[str]]:
            existed = pipe.exists(self._profile_key(player_id)) > 0
            sessions = [raw.decode() for raw in pipe.smembers(self._player_sessions(player_id))]
            games = [raw.decode() for raw in pipe.smembers(self._adapt_games(player_id))]
            live = [s for s in sessions if pipe.hget(self._session(s), "ended") == b"0"]
            pipe.multi()
            for session_id in sessions:
                pipe.delete(self._session(session_id))
                pipe.zrem(self._live, session_id)
                pipe.srem(self._pending, session_id)
            for game in games:
                pipe.delete(self._adapt(player_id, game))
            pipe.delete(*keys, self._player_live(player_id))
            pipe.execute()
            return existed, live

        return self._transaction(keys, body)

    def close(self) -> None:
        self._redis.close()


def _session_fields(session: SessionRecord) -> dict[str, Any]:
    return {
        "next_turn": session.next_turn,
        "ended": "1" if session.ended else "0",
        "expires_ms": session.expires_ms,
        "player_id": session.player_id,
        "data": session.data_json(),
        "state": session.state,
    }
