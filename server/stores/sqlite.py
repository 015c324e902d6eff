"""The default store: one SQLite file in WAL mode under the data directory.

WAL lets readers (``sqlite3`` on the command line, a second process) look at
the file while the server writes. Every write is one ``BEGIN IMMEDIATE``
transaction; with ``synchronous=FULL`` (``ServerConfig.sync_commits``) a
committed transaction is on disk before :meth:`SqliteStore.commit` returns, so
neither a killed process nor a power cut loses an acknowledged turn. With
``NORMAL`` a killed process still loses nothing (the WAL is written before
commit returns); only a power cut may drop the last transactions.

The store is called from the turn engine's workers and the service's store
thread (``server.sessions``); a lock serialises them on the one connection.

A file that is not a SQLite database, is damaged (``PRAGMA quick_check``, which
reads every page once, at start) or has another schema stops the server at
start with a :class:`~game_agent.errors.ConfigError` naming it, rather than
failing later on the turn that first touches a bad page.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from game_agent.errors import ConfigError
from server.errors import PermissionDenied, ResourceExhausted
from server.profiles import apply_episode, new_profile
from server.stores.base import (
    AdaptationRecord,
    Commit,
    CommitStatus,
    ProfileRecord,
    SessionRecord,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    player_id TEXT NOT NULL,
    next_turn INTEGER NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0,
    expires_ms INTEGER NOT NULL,
    pending INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    state BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_player ON sessions (player_id, ended, expires_ms);
CREATE INDEX IF NOT EXISTS sessions_live ON sessions (ended, expires_ms);
CREATE TABLE IF NOT EXISTS profiles (player_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS adaptations (
    player_id TEXT NOT NULL,
    game TEXT NOT NULL,
    learner TEXT NOT NULL,
    model_sha TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (player_id, game)
);
"""


class SqliteStore:
    """:class:`server.stores.base.Store` over one SQLite file; see the module docstring."""

    shared = False
    """One server process owns the file; its cache of sessions is authoritative."""

    def __init__(self, path: Path, *, sync_commits: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # A batch's statement is one per batch size: keep them all prepared.
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if sync_commits else 'NORMAL'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._check_intact()
            self._db.executescript(_SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigError(
                f"the SQLite store {path} cannot be read ({exc}): it is damaged or not a "
                "game-agent store; move it away to start with an empty store"
            ) from None
        except ConfigError:
            self._db.close()
            raise
        log.info("sqlite store at %s (synchronous=%s)", path, "FULL" if sync_commits else "NORMAL")

    def _check_intact(self) -> None:
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise ConfigError(
                f"the SQLite store {self.path} is damaged ({'; '.join(problems)}); "
                "move it away to start with an empty store"
            )

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has store schema {row[0]}, this server reads {SCHEMA_VERSION}"
            )

    def _transaction(self):
        return _Transaction(self._db, self._lock)

    def create_session(
        self, session: SessionRecord, *, now_ms: int, max_per_player: int, max_total: int
    ) -> None:
        with self._transaction() as db:
            profile = self._profile(db, session.player_id)
            if profile is not None and profile.principal != session.principal:
                raise PermissionDenied(
                    f"player_id {session.player_id!r} belongs to another API key's principal"
                )
            live = "ended = 0 AND expires_ms > ?"
            (total,) = db.execute(
                f"SELECT COUNT(*) FROM sessions WHERE {live}", (now_ms,)
            ).fetchone()
            if total >= max_total:
                raise ResourceExhausted(
                    f"the server holds its maximum of {max_total} live sessions; "
                    "end idle sessions or retry later"
                )
            (mine,) = db.execute(
                f"SELECT COUNT(*) FROM sessions WHERE player_id = ? AND {live}",
                (session.player_id, now_ms),
            ).fetchone()
            if mine >= max_per_player:
                raise ResourceExhausted(
                    f"player_id {session.player_id!r} already has {mine} live sessions "
                    f"(at most {max_per_player}); end one with EndSession first"
                )
            if profile is None:
                fresh = new_profile(session.player_id, session.principal, now_ms)
                db.execute("INSERT INTO profiles VALUES (?, ?)", (fresh.player_id, fresh.to_json()))
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    session.session_id,
                    session.player_id,
                    session.next_turn,
                    session.expires_ms,
                    int(bool(session.pending_outcome)),
                    session.data_json(),
                    session.state,
                ),
            )

    def load_session(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data, state, ended FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return None if row is None else SessionRecord.from_stored(*row)

    def session_status(self, session_id: str) -> tuple[int, bool, int] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT next_turn, ended, expires_ms FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        return None if row is None else (int(row[0]), bool(row[1]), int(row[2]))

    def commit(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        if _turns_only(commits):
            return self._commit_turns(commits)
        if len(commits) > 1:
            try:
                with self._transaction() as db:
                    if self._update_all(db, commits) != len(commits):
                        raise _NotAllApplied
                    for commit in commits:
                        self._apply_records(db, commit)
                return [CommitStatus.APPLIED] * len(commits)
            except _NotAllApplied:
                pass  # rolled back: find out commit by commit what applies
        with self._transaction() as db:
            return [self._apply(db, commit) for commit in commits]

    def _commit_turns(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        """Session writes alone (the turns of a batch): one autocommitted statement.

        A statement outside ``BEGIN`` is its own transaction, so the batch costs one
        statement instead of three (BEGIN, UPDATE, COMMIT), and ``RETURNING`` says which
        sessions it wrote; only a refused write reads its row to say why. Sessions are
        distinct (``_turns_only``), so each write applies or not on its own, and writes
        that keep their expiry go in a second statement (``_batch_update``) when the
        batch has both kinds.
        """
        with self._lock:
            written = [
                row
                for expiry, group in _by_expiry(commits)
                for row in self._db.execute(
                    _batch_update(len(group), expiry) + " RETURNING sessions.session_id",
                    _batch_values(group),
                ).fetchall()
            ]
            if len(written) == len(commits):
                return [CommitStatus.APPLIED] * len(commits)
            applied = {row[0] for row in written}
            return [
                CommitStatus.APPLIED
                if commit.session.session_id in applied
                else self._refusal(self._db, commit)
                for commit in commits
            ]

    @staticmethod
    def _update_all(db: sqlite3.Connection, commits: Sequence[Commit]) -> int:
        """Compare-and-set every commit's session in one statement; returns the rows written.

        One statement rather than one per session: sqlite3 releases the GIL around every
        statement, and a worker thread that releases it once per session queues behind the
        event loop (up to the switch interval) once per session to get it back.
        """
        return sum(
            db.execute(_batch_update(len(group), expiry), _batch_values(group)).rowcount
            for expiry, group in _by_expiry(commits)
        )

    def _apply(self, db: sqlite3.Connection, commit: Commit) -> CommitStatus:
        # Compare-and-set in one statement; only a refused write reads the row to say why.
        updated = db.execute(
            _batch_update(1, commit.expiry_changed), _batch_values([commit])
        ).rowcount
        if not updated:
            return self._refusal(db, commit)
        self._apply_records(db, commit)
        return CommitStatus.APPLIED

    @staticmethod
    def _refusal(db: sqlite3.Connection, commit: Commit) -> CommitStatus:
        """Why a compare-and-set write of ``commit`` did not apply."""
        row = db.execute(
            "SELECT ended FROM sessions WHERE session_id = ?", (commit.session.session_id,)
        ).fetchone()
        if row is None or (row[0] and not commit.allow_ended):
            return CommitStatus.GONE
        return CommitStatus.CONFLICT

    def _apply_records(self, db: sqlite3.Connection, commit: Commit) -> None:
        """The profile and adaptation records that go with an applied session write."""
        if commit.episode is not None:
            profile = apply_episode(self._profile(db, commit.episode.player_id), commit.episode)
            db.execute(
                "INSERT OR REPLACE INTO profiles VALUES (?, ?)",
                (profile.player_id, profile.to_json()),
            )
        if commit.adaptation is not None:
            a = commit.adaptation
            db.execute(
                "INSERT OR REPLACE INTO adaptations VALUES (?, ?, ?, ?, ?)",
                (a.player_id, a.game, a.learner, a.model_sha, a.state),
            )

    def end_session(self, session_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE sessions SET ended = 1 WHERE session_id = ? AND ended = 0", (session_id,)
            )
            return cursor.rowcount > 0

    def expire_sessions(self, now_ms: int) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT session_id FROM sessions WHERE ended = 0 AND expires_ms <= ?", (now_ms,)
            ).fetchall()
            db.execute(
                "UPDATE sessions SET ended = 1 WHERE ended = 0 AND expires_ms <= ?", (now_ms,)
            )
        return [r[0] for r in rows]

    def pending_adaptations(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT session_id FROM sessions WHERE pending = 1").fetchall()
        return [r[0] for r in rows]

    def load_profile(self, player_id: str) -> ProfileRecord | None:
        with self._lock:
            return self._profile(self._db, player_id)

    @staticmethod
    def _profile(db: sqlite3.Connection, player_id: str) -> ProfileRecord | None:
        row = db.execute("SELECT data FROM profiles WHERE player_id = ?", (player_id,)).fetchone()
        return None if row is None else ProfileRecord.from_json(row[0])

    def load_adaptation(self, player_id: str, game: str) -> AdaptationRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT learner, model_sha, state FROM adaptations "
                "WHERE player_id = ? AND game = ?",
                (player_id, game),
            ).fetchone()
        if row is None:
            return None
        return AdaptationRecord(player_id, game, row[0], row[1], bytes(row[2]))

    def delete_player(self, player_id: str) -> tuple[bool, list[str]]:
        with self._transaction() as db:
            existed = db.execute("DELETE FROM profiles WHERE player_id = ?", (player_id,)).rowcount
            live = db.execute(
                "SELECT session_id FROM sessions WHERE player_id = ? AND ended = 0", (player_id,)
            ).fetchall()
            db.execute("DELETE FROM sessions WHERE player_id = ?", (player_id,))
            db.execute("DELETE FROM adaptations WHERE player_id = ?", (player_id,))
        return existed > 0, [r[0] for r in live]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@functools.lru_cache(maxsize=256)
def _batch_update(n: int, expiry: bool = True) -> str:
    """Compare-and-set ``n`` sessions from rows of :func:`_update_values`, in one statement;
    without ``expiry`` the stored expiries are left as they are.

    Only a statement that does not name ``expires_ms`` spares the two indexes over it:
    SQLite rewrites an index entry whenever its column is assigned, even to its own value
    (a turn's write costs about half as much without them).
    """
    rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * n)
    return (
        "UPDATE sessions SET next_turn = v.column2, "
        + ("expires_ms = v.column3, " if expiry else "")
        + "pending = v.column4, data = v.column5, state = v.column6 "
        f"FROM (VALUES {rows}) AS v WHERE sessions.session_id = v.column1 "
        "AND sessions.next_turn = v.column7 AND (sessions.ended = 0 OR v.column8)"
    )


def _by_expiry(commits: Sequence[Commit]) -> list[tuple[bool, list[Commit]]]:
    """``commits`` split into those that write their expiry and those that keep it."""
    groups: dict[bool, list[Commit]] = {}
    for commit in commits:
        groups.setdefault(commit.expiry_changed, []).append(commit)
    return list(groups.items())


def _batch_values(commits: Sequence[Commit]) -> list[object]:
    return [value for commit in commits for value in _update_values(commit)]


def _turns_only(commits: Sequence[Commit]) -> bool:
    """Whether ``commits`` are plain session writes, each of its own session."""
    if not _RETURNING or any(c.episode is not None or c.adaptation is not None for c in commits):
        return False
    return len({c.session.session_id for c in commits}) == len(commits)


_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""``UPDATE ... RETURNING`` (SQLite 3.35); older libraries take the transaction path."""


class _NotAllApplied(Exception):
    """The one-statement write of a batch missed a session: redo it commit by commit."""


def _update_values(commit: Commit) -> tuple[object, ...]:
    """(id, next_turn, expires_ms, pending, data, state, expected_turn, allow_ended)."""
    session = commit.session
    return (
        session.session_id,
        session.next_turn,
        session.expires_ms,
        int(bool(session.pending_outcome)),
        session.data_json(),
        session.state,
        commit.expected_turn,
        int(commit.allow_ended),
    )


class _Transaction:
    """``with``: hold the lock, BEGIN IMMEDIATE, then COMMIT (or ROLLBACK on error)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock):
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind, exc, tb) -> None:
        try:
            self._db.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self._lock.release()
