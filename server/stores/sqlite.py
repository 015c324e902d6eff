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

Turn log. By default the turns of a batch are not written to SQLite one row each:
they are appended to ``<file>-turns`` (:mod:`server.stores.turnlog`), before
:meth:`SqliteStore.commit` returns, and each session's latest record is copied
into SQLite later ("folded"): when the log reaches ``fold_bytes``, before any
other write touching those sessions (an episode's end, ``end_session``), before
the writes that read many sessions (``create_session``'s limits, expiry,
deleting a player), and at close. Reads of a session see its latest record
either way. At start the log is replayed: a record applies only to a live
session that expects an earlier turn, so it never overwrites a newer write or
revives an ended or deleted session; the log is then emptied. The SQLite file
alone can therefore lag behind the server by the turns not yet folded; a
second process reading it sees each session as of its last fold.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
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
from server.stores.turnlog import TurnLog, read_log

log = logging.getLogger(__name__)

FOLD_BYTES = 1 << 20
"""Size of the turn log at which every session's latest record is folded into SQLite.

About 650 records of connect_n (1.6 kB each): a fold of at most that many rows, and a
session playing on is written to SQLite about once per fold."""

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

    def __init__(
        self,
        path: Path,
        *,
        sync_commits: bool = False,
        turn_log: bool = True,
        fold_bytes: int = FOLD_BYTES,
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._log: TurnLog | None = None
        self._unfolded: dict[str, SessionRecord] = {}
        """Each session's latest record that is in the turn log but not yet in SQLite."""
        self._fold_bytes = fold_bytes
        self._closed = False
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
        if turn_log:
            self._open_log(sync_commits)
        log.info("sqlite store at %s (synchronous=%s)", path, "FULL" if sync_commits else "NORMAL")

    def _open_log(self, sync: bool) -> None:
        """Replay the turn log left by the previous process, then start it afresh."""
        path = self.path.with_name(self.path.name + "-turns")
        try:
            self._log = TurnLog(path, sync=sync)  # locked: no other server writes it now
            records = read_log(path)
        except (ConfigError, OSError) as exc:
            if self._log is not None:
                self._log.close()
            self._db.close()
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"the turn log {path} cannot be opened: {exc}") from None
        # A session's last record is its latest; _write_fold applies it only where it is new.
        self._unfolded = {record.session_id: record for record in records}
        self._fold_all()
        if records:
            log.info("replayed %d turn records from %s", len(records), path)

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

    @contextlib.contextmanager
    def _write(self, fold: Iterable[str] | None = ()) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run one ``BEGIN IMMEDIATE`` transaction that first folds the
        unfolded records of the sessions ``fold`` names (of every session with None).

        A fold of every session empties the turn log, still under the lock, once the
        transaction has committed. A failed transaction puts its records back unfolded.
        """
        with self._lock:
            records = self._take_unfolded(fold)
            try:
                with _Transaction(self._db):
                    _write_fold(self._db, records)
                    yield self._db
            except BaseException:
                for record in records:
                    self._unfolded.setdefault(record.session_id, record)
                raise
            if fold is None and self._log is not None:
                self._log.clear()

    def _take_unfolded(self, ids: Iterable[str] | None) -> list[SessionRecord]:
        if not self._unfolded:
            return []
        if ids is None:
            records = list(self._unfolded.values())
            self._unfolded.clear()
            return records
        return [r for r in (self._unfolded.pop(i, None) for i in ids) if r is not None]

    def _fold_all(self) -> None:
        with self._write(fold=None):
            pass

    def create_session(
        self, session: SessionRecord, *, now_ms: int, max_per_player: int, max_total: int
    ) -> None:
        with self._write(fold=None) as db:  # the limits read every session's expiry
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
            unfolded = self._unfolded.get(session_id)
            if unfolded is not None:
                return unfolded
            row = self._db.execute(
                "SELECT data, state, ended FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return None if row is None else SessionRecord.from_stored(*row)

    def session_status(self, session_id: str) -> tuple[int, bool, int] | None:
        with self._lock:
            unfolded = self._unfolded.get(session_id)
            if unfolded is not None:
                return unfolded.next_turn, False, unfolded.expires_ms
            row = self._db.execute(
                "SELECT next_turn, ended, expires_ms FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        return None if row is None else (int(row[0]), bool(row[1]), int(row[2]))

    def commit(self, commits: Sequence[Commit]) -> list[CommitStatus | BaseException]:
        if self._log is not None and _distinct(commits):
            logged = [_loggable(commit) for commit in commits]
            if all(logged):
                return self._log_turns(commits)  # type: ignore[return-value]
            if any(logged):
                return self._log_some(commits, logged)
        if self._log is None and _turns_only(commits):
            return self._commit_turns(commits)  # type: ignore[return-value]
        return self._write_commits(commits)  # type: ignore[return-value]

    def _log_some(
        self, commits: Sequence[Commit], logged: list[bool]
    ) -> list[CommitStatus | BaseException]:
        """A batch of plain turns and other writes (an episode's end, say): the others in
        one SQLite transaction, then the turns to the log, so that a batch with one episode
        end still logs its turns. The parts touch different sessions; a part that fails
        answers its own commits with the exception, the other part staying applied."""
        parts = (
            [i for i, log in enumerate(logged) if not log],
            [i for i, log in enumerate(logged) if log],
        )
        answers: dict[int, CommitStatus | BaseException] = {}
        for part, write in zip(parts, (self._write_commits, self._log_turns), strict=True):
            try:
                results: list[CommitStatus | BaseException] = list(
                    write([commits[i] for i in part])
                )
            except Exception as exc:
                results = [exc] * len(part)
            answers.update(zip(part, results, strict=True))
        return [answers[i] for i in range(len(commits))]

    def _write_commits(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        """``commit`` in one SQLite transaction (the sessions' unfolded records first)."""
        ids = {commit.session.session_id for commit in commits}
        if len(commits) > 1:
            try:
                with self._write(fold=ids) as db:
                    if self._update_all(db, commits) != len(commits):
                        raise _NotAllApplied
                    for commit in commits:
                        self._apply_records(db, commit)
                return [CommitStatus.APPLIED] * len(commits)
            except _NotAllApplied:
                pass  # rolled back: find out commit by commit what applies
        with self._write(fold=ids) as db:
            return [self._apply(db, commit) for commit in commits]

    def _log_turns(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        """Plain turn writes (``_loggable``): compare-and-set against each session's latest
        record, then one append to the turn log for those that apply."""
        turn_log = self._log
        assert turn_log is not None  # commit() sends turns here only with a log
        with self._lock:
            statuses = self._turn_statuses(commits)
            applied = [
                commit.session
                for commit, status in zip(commits, statuses, strict=True)
                if status is CommitStatus.APPLIED
            ]
            if applied:
                turn_log.append(applied)
                self._unfolded.update((record.session_id, record) for record in applied)
            full = turn_log.size >= self._fold_bytes
        if full:
            self._fold_all()
        return statuses

    def _turn_statuses(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        """What ``_batch_update`` would make of each commit, from the latest records (the
        unfolded one, else the row); the lock is held."""
        missing = [
            c.session.session_id for c in commits if c.session.session_id not in self._unfolded
        ]
        stored: dict[str, tuple[int, int]] = {}
        if missing:
            marks = ", ".join("?" * len(missing))
            rows = self._db.execute(
                f"SELECT session_id, next_turn, ended FROM sessions WHERE session_id IN ({marks})",
                missing,
            ).fetchall()
            stored = dict.fromkeys(missing, _NO_ROW) | {row[0]: (row[1], row[2]) for row in rows}
        statuses = []
        for commit in commits:
            sid = commit.session.session_id
            unfolded = self._unfolded.get(sid)
            turn, ended = (unfolded.next_turn, 0) if unfolded is not None else stored[sid]
            if ended:
                statuses.append(CommitStatus.GONE)
            elif turn != commit.expected_turn:
                statuses.append(CommitStatus.CONFLICT)
            else:
                statuses.append(CommitStatus.APPLIED)
        return statuses

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
        with self._write(fold=[session_id]) as db:
            cursor = db.execute(
                "UPDATE sessions SET ended = 1 WHERE session_id = ? AND ended = 0", (session_id,)
            )
            return cursor.rowcount > 0

    def expire_sessions(self, now_ms: int) -> list[str]:
        with self._write(fold=None) as db:  # expiries as the turns left them
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
        with self._write(fold=None) as db:
            existed = db.execute("DELETE FROM profiles WHERE player_id = ?", (player_id,)).rowcount
            live = db.execute(
                "SELECT session_id FROM sessions WHERE player_id = ? AND ended = 0", (player_id,)
            ).fetchall()
            db.execute("DELETE FROM sessions WHERE player_id = ?", (player_id,))
            db.execute("DELETE FROM adaptations WHERE player_id = ?", (player_id,))
        return existed > 0, [r[0] for r in live]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._fold_all()
        finally:
            with self._lock:
                if self._log is not None:
                    self._log.close()
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


_NO_ROW = (0, 1)
"""(next_turn, ended) a missing row answers with: like an ended session, GONE."""


def _distinct(commits: Sequence[Commit]) -> bool:
    """Whether each commit writes a session of its own."""
    return len({c.session.session_id for c in commits}) == len(commits)


def _loggable(c: Commit) -> bool:
    """Whether a commit (of a batch of ``_distinct`` sessions) can go to the turn log: a
    plain turn write that advances a live session, with no adaptation pending (a folded
    or replayed record applies only to a live session that expects an earlier turn)."""
    return (
        _RETURNING
        and c.episode is None
        and c.adaptation is None
        and c.session.next_turn > c.expected_turn
        and not (c.allow_ended or c.session.ended or c.session.pending_outcome)
    )


def _write_fold(db: sqlite3.Connection, records: Sequence[SessionRecord]) -> None:
    """Copy unfolded records into their rows (inside the caller's transaction), each only
    where the row is live and expects an earlier turn."""
    for start in range(0, len(records), _FOLD_CHUNK):
        chunk = records[start : start + _FOLD_CHUNK]
        values = [
            value
            for r in chunk
            for value in (r.session_id, r.next_turn, r.expires_ms, r.data_json(), r.state)
        ]
        db.execute(_fold_update(len(chunk)), values)


_FOLD_CHUNK = 500
"""Rows per folding statement (5 variables each, far below SQLite's limit)."""


@functools.lru_cache(maxsize=64)
def _fold_update(n: int) -> str:
    rows = ", ".join(["(?, ?, ?, ?, ?)"] * n)
    return (
        "UPDATE sessions SET next_turn = v.column2, expires_ms = v.column3, pending = 0, "
        f"data = v.column4, state = v.column5 FROM (VALUES {rows}) AS v "
        "WHERE sessions.session_id = v.column1 AND sessions.next_turn < v.column2 "
        "AND sessions.ended = 0"
    )


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
    """``with`` (the store's lock held): BEGIN IMMEDIATE, then COMMIT (or ROLLBACK on error)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:
            self._db.execute("ROLLBACK")
            return
        try:
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
