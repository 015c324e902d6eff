"""Both stores against one contract: compare-and-set commits, limits, profiles, deletion.

The Redis store runs against a real ``redis-server`` (``tests/server/conftest.py``),
skipped with a reason when the binary is absent.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator

import pytest

from server.errors import PermissionDenied, ResourceExhausted, Unavailable
from server.profiles import AGENT_WON, DRAW, PLAYER_WON, updated_rating
from server.stores.base import (
    AdaptationRecord,
    Commit,
    CommitStatus,
    EpisodeRecord,
    SessionRecord,
    Store,
)
from server.stores.sqlite import SqliteStore
from tests.server.conftest import RedisServer, free_port, requires_redis

GAME = "matrix(bias=2.0,history=3,name=rps,rounds=50)"
LIMITS = {"max_per_player": 2, "max_total": 3}


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=[requires_redis, pytest.mark.redis])])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "store.sqlite3", sync_commits=False)
    else:
        from server.stores.redis import RedisStore

        server = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=f"t{time.monotonic_ns()}:")
    yield store
    store.close()


def session(session_id: str, player: str = "p1", expires_ms: int = 10_000, **kw) -> SessionRecord:
    fields = {
        "session_id": session_id,
        "principal": "studio",
        "player_id": player,
        "game": GAME,
        "family": "matrix",
        "agent_seat": 0,
        "greedy": False,
        "seed": 7,
        "idle_timeout_s": 60.0,
        "model_sha": "ab" * 32,
        "next_turn": 1,
        "state": b"\x00state\xff",
        "created_ms": 1,
        "expires_ms": expires_ms,
    }
    return SessionRecord(**{**fields, **kw})


def create(store: Store, record: SessionRecord, now_ms: int = 0) -> None:
    store.create_session(record, now_ms=now_ms, **LIMITS)


def test_sessions_round_trip(store):
    record = session("s1", last_reply='{"kind": "act"}', episode_reward=1.5, returning_player=True)
    create(store, record)
    assert store.load_session("s1") == record
    assert store.load_session("nope") is None
    profile = store.load_profile("p1")
    assert profile.principal == "studio" and profile.episodes == 0


def test_commits_compare_and_set_on_the_turn(store):
    create(store, session("s1"))
    advanced = session("s1", next_turn=2, state=b"two")
    assert store.commit([Commit(advanced, expected_turn=1)]) == [CommitStatus.APPLIED]
    # The same turn again (a retry that raced, or another replica) must not apply.
    stale = session("s1", next_turn=2, state=b"other")
    assert store.commit([Commit(stale, expected_turn=1)]) == [CommitStatus.CONFLICT]
    assert store.load_session("s1").state == b"two"
    missing = session("ghost", next_turn=2)
    assert store.commit([Commit(missing, expected_turn=1)]) == [CommitStatus.GONE]


def test_a_group_commit_reports_each_write(store):
    for sid in ("a", "b"):
        create(store, session(sid, player=sid))
    statuses = store.commit(
        [
            Commit(session("a", player="a", next_turn=2), expected_turn=1),
            Commit(session("b", player="b", next_turn=2), expected_turn=5),
        ]
    )
    assert statuses == [CommitStatus.APPLIED, CommitStatus.CONFLICT]
    assert (store.load_session("a").next_turn, store.load_session("b").next_turn) == (2, 1)


def test_ended_sessions_refuse_commits_unless_allowed(store):
    create(store, session("s1"))
    assert store.end_session("s1") and not store.end_session("s1")
    assert store.load_session("s1").ended
    update = session("s1", state=b"adapted")
    assert store.commit([Commit(update, expected_turn=1)]) == [CommitStatus.GONE]
    allowed = Commit(update, expected_turn=1, allow_ended=True)
    assert store.commit([allowed]) == [CommitStatus.APPLIED]
    stored = store.load_session("s1")
    assert stored.state == b"adapted" and stored.ended


def test_live_session_limits(store):
    create(store, session("a1", player="a"))
    create(store, session("a2", player="a"))
    with pytest.raises(ResourceExhausted, match="at most 2"):
        create(store, session("a3", player="a"))
    create(store, session("b1", player="b"))
    with pytest.raises(ResourceExhausted, match="maximum of 3"):
        create(store, session("c1", player="c"))
    # Sessions past their expiry no longer count, even before a sweep.
    create(store, session("c1", player="c"), now_ms=20_000)


def test_expiry_ends_idle_sessions_only(store):
    create(store, session("old", expires_ms=1_000))
    create(store, session("new", player="p2", expires_ms=5_000))
    assert store.expire_sessions(2_000) == ["old"]
    assert store.expire_sessions(2_000) == []
    assert store.load_session("old").ended and not store.load_session("new").ended
    # A turn that moved the expiry keeps the session alive.
    store.commit([Commit(session("new", player="p2", expires_ms=9_000), expected_turn=1)])
    assert store.expire_sessions(6_000) == []


@pytest.mark.parametrize("with_episode", [False, True])
def test_a_commit_that_keeps_its_expiry_writes_everything_else(store, with_episode):
    # Batched with one that moves its expiry, alone, and with an episode (the
    # transaction path): each write applies in full and expiry follows the stored value.
    for sid in ("a", "b", "c"):
        create(store, session(sid, player=sid, expires_ms=5_000))
    episode = EpisodeRecord("a", "studio", GAME, AGENT_WON, 1.0, 5) if with_episode else None
    kept = session("a", player="a", next_turn=2, state=b"A", expires_ms=5_000, last_reply="x")
    moved = session("b", player="b", next_turn=2, state=b"B", expires_ms=9_000)
    stale = session("c", player="c", next_turn=2, state=b"C", expires_ms=5_000)
    commits = [
        Commit(kept, expected_turn=1, episode=episode, expiry_changed=False),
        Commit(moved, expected_turn=1),
        Commit(stale, expected_turn=3, expiry_changed=False),
    ]
    assert store.commit(commits) == [
        CommitStatus.APPLIED,
        CommitStatus.APPLIED,
        CommitStatus.CONFLICT,
    ]
    assert store.load_session("a") == kept and store.load_session("b") == moved
    assert store.load_session("c").state == b"\x00state\xff"
    assert store.load_profile("a").agent_wins == int(with_episode)
    again = session("a", player="a", next_turn=3, state=b"A3", expires_ms=5_000)
    assert store.commit([Commit(again, expected_turn=2, expiry_changed=False)]) == [
        CommitStatus.APPLIED
    ]
    assert sorted(store.expire_sessions(6_000)) == ["a", "c"]


def test_players_belong_to_the_principal_that_created_them(store):
    create(store, session("s1"))
    with pytest.raises(PermissionDenied, match="another"):
        create(store, session("s2", principal="intruder"))


def episode(result: int, reward: float, player: str = "p1", game: str = GAME) -> EpisodeRecord:
    return EpisodeRecord(player, "studio", game, result, reward, now_ms=50)


def test_episodes_update_the_profile_inside_the_commit(store):
    create(store, session("s1"))
    results = [(AGENT_WON, 1.0), (PLAYER_WON, -1.0), (DRAW, 0.0)]
    for turn, (result, reward) in enumerate(results, start=1):
        record = session("s1", next_turn=turn + 1)
        store.commit([Commit(record, expected_turn=turn, episode=episode(result, reward))])
    profile = store.load_profile("p1")
    assert (profile.episodes, profile.agent_wins, profile.player_wins, profile.draws) == (
        3,
        1,
        1,
        1,
    )
    rating = 1500.0
    for result, _ in results:
        rating = updated_rating(rating, result)
    assert profile.skill_rating == pytest.approx(rating)
    stats = profile.games[GAME]
    assert stats.recent_rewards == (1.0, -1.0, 0.0) and stats.episodes == 3
    # A conflicting commit leaves the profile alone.
    stale = Commit(session("s1", next_turn=9), expected_turn=1, episode=episode(AGENT_WON, 5.0))
    assert store.commit([stale]) == [CommitStatus.CONFLICT]
    assert store.load_profile("p1").episodes == 3


def test_concurrent_sessions_of_one_player_never_lose_an_episode(store):
    for sid in ("x", "y"):
        create(store, session(sid))

    def finish(sid: str) -> None:
        for turn in range(1, 21):
            record = session(sid, next_turn=turn + 1)
            store.commit([Commit(record, expected_turn=turn, episode=episode(AGENT_WON, 1.0))])

    threads = [threading.Thread(target=finish, args=(sid,)) for sid in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    profile = store.load_profile("p1")
    assert profile.episodes == profile.agent_wins == 40


def test_adaptation_records(store):
    create(store, session("s1"))
    assert store.load_adaptation("p1", GAME) is None
    record = AdaptationRecord("p1", GAME, "rl2", "ab" * 32, b"adapted-bytes")
    pending = session("s1", pending_outcome='{"total_reward": 1.0}')
    store.commit([Commit(pending, expected_turn=1)])
    assert store.pending_adaptations() == ["s1"]
    done = Commit(session("s1"), expected_turn=1, adaptation=record)
    assert store.commit([done]) == [CommitStatus.APPLIED]
    assert store.pending_adaptations() == []
    assert store.load_adaptation("p1", GAME) == record
    newer = dataclasses.replace(record, state=b"newer")
    store.commit([Commit(session("s1"), expected_turn=1, adaptation=newer)])
    assert store.load_adaptation("p1", GAME).state == b"newer"


def test_deleting_a_player_forgets_everything(store):
    create(store, session("s1"))
    create(store, session("s2"))
    store.end_session("s2")
    record = AdaptationRecord("p1", GAME, "rl2", "ab" * 32, b"bytes")
    store.commit([Commit(session("s1"), expected_turn=1, adaptation=record)])
    existed, ended = store.delete_player("p1")
    assert existed and ended == ["s1"]
    assert store.load_profile("p1") is None
    assert store.load_session("s1") is None and store.load_session("s2") is None
    assert store.load_adaptation("p1", GAME) is None
    assert store.delete_player("p1") == (False, [])
    # The player's slots are free again.
    create(store, session("s3"))
    create(store, session("s4"))


def test_sqlite_store_survives_reopening(tmp_path):
    path = tmp_path / "store.sqlite3"
    first = SqliteStore(path)
    create(first, session("s1"))
    first.commit([Commit(session("s1", next_turn=2, state=b"kept"), expected_turn=1)])
    first.close()
    second = SqliteStore(path)
    assert second.load_session("s1").state == b"kept"
    mode = second._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    second.close()


@requires_redis
def test_an_unreachable_redis_is_named(tmp_path):
    from server.stores.redis import RedisStore

    with pytest.raises(ConnectionError, match=r"cannot reach the Redis store at redis://"):
        RedisStore(f"redis://127.0.0.1:{free_port()}/0")


@requires_redis
@pytest.mark.redis
def test_a_redis_that_cannot_be_reached_is_unavailable_and_reconnected(tmp_path):
    from server.stores.redis import RedisStore

    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    store = RedisStore(server.url, prefix="down:")
    try:
        create(store, session("s1"))
        server.process.kill()
        server.process.wait(10)
        for call, args in ((store.load_session, ("s1",)), (store.load_profile, ("p1",))):
            with pytest.raises(Unavailable, match=r"cannot be reached.*retry"):
                call(*args)
        server.kill_and_restart()  # same port and append-only file: the session is still there
        assert store.load_session("s1") == session("s1")
    finally:
        store.close()
        server.stop()


@pytest.mark.parametrize(("options", "level"), [({}, 1), ({"sync_commits": True}, 2)])
def test_sqlite_syncs_commits_only_when_asked(tmp_path, options, level):
    # NORMAL (1) by default: the WAL is written before a commit returns, so a killed
    # process loses nothing; FULL (2) also fsyncs, for power cuts.
    store = SqliteStore(tmp_path / "s.sqlite3", **options)
    try:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        store.close()


def test_session_json_holds_every_field_but_the_state():
    record = session("s1", last_reply='{"kind": "act"}', episode_reward=1.5, ended=True)
    data = json.loads(record.data_json())
    expected = dataclasses.asdict(record)
    del expected["state"]
    assert data == expected
    assert SessionRecord.from_stored(record.data_json(), record.state, True) == record


def test_a_batch_is_written_in_one_statement_when_every_write_applies(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    for sid in ("a", "b", "c"):
        create(store, session(sid, player=sid))
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    episode = EpisodeRecord("b", "studio", GAME, AGENT_WON, 1.0, 5)
    adaptation = AdaptationRecord("c", GAME, "rl2", "ab" * 32, b"learned")
    commits = [
        Commit(session("a", player="a", next_turn=2, state=b"A"), expected_turn=1),
        Commit(session("b", player="b", next_turn=2, state=b"B"), expected_turn=1, episode=episode),
        Commit(session("c", player="c", next_turn=2), expected_turn=1, adaptation=adaptation),
    ]
    assert store.commit(commits) == [CommitStatus.APPLIED] * 3
    store._db.set_trace_callback(None)
    assert sum(s.startswith("UPDATE sessions") for s in statements) == 1
    assert [store.load_session(s).state for s in "ab"] == [b"A", b"B"]
    assert store.load_profile("b").agent_wins == 1
    assert store.load_adaptation("c", GAME).state == b"learned"
    store.close()


def test_a_batch_of_turns_is_one_statement_that_reports_each_write(tmp_path):
    # Without the turn log, session writes without records: one autocommitted UPDATE (no
    # BEGIN/COMMIT) whose RETURNING says which applied; the refused ones are told apart by
    # their rows.
    store = SqliteStore(tmp_path / "s.sqlite3", turn_log=False)
    for sid in ("a", "b", "c"):
        create(store, session(sid, player=sid))
    store.end_session("c")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    commits = [
        Commit(session("a", player="a", next_turn=2, state=b"A"), expected_turn=1),
        Commit(session("b", player="b", next_turn=2, state=b"B"), expected_turn=4),
        Commit(session("c", player="c", next_turn=2, state=b"C"), expected_turn=1),
        Commit(session("ghost", next_turn=2), expected_turn=1),
    ]
    statuses = store.commit(commits)
    store._db.set_trace_callback(None)
    assert statuses == [
        CommitStatus.APPLIED,
        CommitStatus.CONFLICT,
        CommitStatus.GONE,
        CommitStatus.GONE,
    ]
    assert [s.split()[0] for s in statements] == ["UPDATE", "SELECT", "SELECT", "SELECT"]
    assert [store.load_session(s).state for s in "abc"] == [
        b"A",
        b"\x00state\xff",
        b"\x00state\xff",
    ]
    assert store.load_session("a").next_turn == 2
    # One turn alone is the same single statement, and is durable: a new connection sees it.
    statements.clear()
    store._db.set_trace_callback(statements.append)
    again = Commit(session("a", player="a", next_turn=3, state=b"A3"), expected_turn=2)
    assert store.commit([again]) == [CommitStatus.APPLIED]
    store._db.set_trace_callback(None)
    assert len(statements) == 1 and not store._db.in_transaction
    reader = SqliteStore(tmp_path / "s.sqlite3", turn_log=False)
    assert reader.load_session("a").state == b"A3"
    reader.close()
    store.close()


def test_a_batch_with_a_refused_write_is_redone_write_by_write(tmp_path):
    # Two writes for one session in one batch: the first applies, the second is stale;
    # a missing session is gone; nothing of the one-statement attempt survives.
    store = SqliteStore(tmp_path / "s.sqlite3")
    create(store, session("a", player="a"))
    episode = EpisodeRecord("a", "studio", GAME, PLAYER_WON, -1.0, 5)
    commits = [
        Commit(session("a", player="a", next_turn=2, state=b"first"), expected_turn=1),
        Commit(session("a", player="a", next_turn=2, state=b"second"), expected_turn=1),
        Commit(session("ghost", next_turn=2), expected_turn=1, episode=episode),
    ]
    statuses = store.commit(commits)
    assert statuses == [CommitStatus.APPLIED, CommitStatus.CONFLICT, CommitStatus.GONE]
    assert store.load_session("a").state == b"first"
    assert store.load_profile("a").player_wins == 0  # the gone session's episode is not counted
    store.close()


def test_evolve_is_replace():
    record = session("s1", last_reply='{"kind": "act"}')
    changes = {"next_turn": 9, "state": b"new", "episode_reward": -2.5, "awaiting_reward": True}
    evolved = record.evolve(**changes)
    assert evolved == dataclasses.replace(record, **changes)
    assert record.next_turn == 1 and record.state != b"new"  # the original is untouched
    with pytest.raises(TypeError, match="no field"):
        record.evolve(next_trun=3)


def test_sqlite_leaves_a_kept_expiry_and_its_indexes_alone(tmp_path):
    # The writes that keep their expiry go in a statement that does not name the column
    # (SQLite rewrites index entries for any assigned column); the others write it. (With
    # the turn log, turns reach SQLite only when folded, a few at a time.)
    store = SqliteStore(tmp_path / "s.sqlite3", turn_log=False)
    for sid in ("a", "b"):
        create(store, session(sid, player=sid, expires_ms=5_000))
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    # "a" claims a kept expiry while carrying another: the stored one must stay.
    commits = [
        Commit(session("a", player="a", next_turn=2, expires_ms=7_000), 1, expiry_changed=False),
        Commit(session("b", player="b", next_turn=2, expires_ms=7_000), 1),
    ]
    assert store.commit(commits) == [CommitStatus.APPLIED] * 2
    store._db.set_trace_callback(None)
    updates = [s for s in statements if s.startswith("UPDATE")]
    assert len(updates) == 2 and ["expires_ms = " in s for s in updates] == [False, True]
    stored = dict(store._db.execute("SELECT session_id, expires_ms FROM sessions").fetchall())
    assert stored == {"a": 5_000, "b": 7_000}
    assert store.load_session("a").next_turn == 2
    store.close()
