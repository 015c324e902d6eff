"""The SQLite store's turn log: turns are appended, folded later, replayed after a kill.

A "kill" here closes the store's file handles without folding (what SIGKILL leaves);
``tests/reliability`` kills real server processes.
"""

from __future__ import annotations

import argparse
import logging
import random
import sqlite3

import pytest

from game_agent.errors import ConfigError
from server.stores.base import Commit, CommitStatus, EpisodeRecord
from server.stores.sqlite import SqliteStore
from server.stores.turnlog import MAGIC, read_log
from tests.server.test_stores import GAME, create, session

APPLIED, CONFLICT, GONE = CommitStatus.APPLIED, CommitStatus.CONFLICT, CommitStatus.GONE


def kill(store: SqliteStore) -> None:
    """Drop the store as a killed process would: no fold, no log truncation."""
    store._log.close()
    store._db.close()
    store._closed = True


def row_turn(path, session_id: str) -> int | None:
    """``next_turn`` of a row as the SQLite file itself holds it."""
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT next_turn FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
    return None if row is None else row[0]


def turn(sid: str, n: int, player: str = "p1", **kw) -> Commit:
    """The commit of a session's turn ``n`` (it then expects turn ``n + 1``)."""
    record = session(sid, player=player, next_turn=n + 1, state=f"{sid}{n}".encode(), **kw)
    return Commit(record, expected_turn=n)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "s.sqlite3"


def test_turns_are_appended_not_written_to_sqlite_until_folded(path):
    store = SqliteStore(path)
    create(store, session("a"))
    assert store.commit([turn("a", 1)]) == [APPLIED]
    assert store.commit([turn("a", 2)]) == [APPLIED]
    assert row_turn(path, "a") == 1  # SQLite has not seen them
    assert [r.next_turn for r in read_log(store._log.path)] == [2, 3]
    assert store.load_session("a").state == b"a2"
    assert store.session_status("a") == (3, False, 10_000)
    store.close()  # folds
    assert row_turn(path, "a") == 3
    assert read_log(path.with_name(path.name + "-turns")) == []


def test_a_killed_store_replays_its_acknowledged_turns(path):
    store = SqliteStore(path)
    for sid, player in (("a", "p1"), ("b", "p2")):
        create(store, session(sid, player=player))
    store.commit([turn("a", 1), turn("b", 1, player="p2")])
    store.commit([turn("a", 2)])
    kill(store)
    assert row_turn(path, "a") == 1
    reopened = SqliteStore(path)
    assert reopened.load_session("a").next_turn == 3
    assert reopened.load_session("a").state == b"a2"
    assert reopened.load_session("b").next_turn == 2
    assert row_turn(path, "a") == 3  # replayed into SQLite, and the log emptied
    assert path.with_name(path.name + "-turns").read_bytes() == MAGIC
    assert reopened.commit([turn("a", 3)]) == [APPLIED]
    assert reopened.commit([turn("a", 3)]) == [CONFLICT]
    reopened.close()


def test_replay_never_overwrites_a_newer_write_nor_revives_an_ended_or_deleted_session(path):
    store = SqliteStore(path)
    create(store, session("a", player="p1"))
    create(store, session("b", player="p2"))
    create(store, session("c", player="p3"))
    store.commit([turn("a", 1), turn("b", 1, player="p2"), turn("c", 1, player="p3")])
    # "a" ends an episode through SQLite and "b" is ended; their logged turns stay in the log.
    episode = EpisodeRecord("p1", "studio", GAME, 1, 1.0, 5)
    assert store.commit([Commit(turn("a", 2).session, 2, episode=episode)]) == [APPLIED]
    assert store.end_session("b")
    # Deleting a player folds and empties the log; a kill between its commit and the
    # emptying leaves the log as it was.
    log_path = store._log.path
    before = log_path.read_bytes()
    store.delete_player("p3")
    kill(store)
    log_path.write_bytes(before)
    assert [r.session_id for r in read_log(log_path)] == ["a", "b", "c"]
    reopened = SqliteStore(path)
    assert reopened.load_session("a").next_turn == 3
    assert reopened.load_profile("p1").agent_wins == 1
    b = reopened.load_session("b")
    assert b.ended and b.next_turn == 2
    assert reopened.load_session("c") is None
    reopened.close()


def test_a_record_cut_short_is_dropped_and_other_damage_is_refused(path, caplog):
    store = SqliteStore(path)
    create(store, session("a"))
    store.commit([turn("a", 1)])
    store.commit([turn("a", 2)])
    log_path = store._log.path
    kill(store)
    whole = log_path.read_bytes()
    log_path.write_bytes(whole[:-5])  # the second append was cut short by the kill
    with caplog.at_level(logging.WARNING):
        reopened = SqliteStore(path)
    assert "cut short" in caplog.text
    assert reopened.load_session("a").next_turn == 2
    reopened.close()

    damaged = bytearray(whole)
    damaged[len(MAGIC) + 20] ^= 0xFF  # inside the first record's payload
    log_path.write_bytes(bytes(damaged))
    with pytest.raises(ConfigError, match=f"{log_path}.*damaged"):
        SqliteStore(path)
    log_path.write_bytes(b"not a turn log at all\n")
    with pytest.raises(ConfigError, match=f"{log_path} is not a game-agent turn log"):
        SqliteStore(path)


def test_a_full_log_is_folded_and_emptied(path):
    store = SqliteStore(path, fold_bytes=400)
    create(store, session("a"))
    statuses = [store.commit([turn("a", n)])[0] for n in range(1, 8)]
    assert statuses == [APPLIED] * 7
    assert row_turn(path, "a") > 1  # folded at least once on the way
    assert store._log.size < 400
    assert store.load_session("a").next_turn == 8
    store.close()


def test_synced_commits_fsync_the_log(path, monkeypatch):
    store = SqliteStore(path, sync_commits=True)
    create(store, session("a"))
    synced = []
    monkeypatch.setattr("server.stores.turnlog.os.fsync", synced.append)
    store.commit([turn("a", 1)])
    assert synced == [store._log._fd]
    store.close()


@pytest.mark.parametrize("seed", range(4))
def test_the_log_answers_every_operation_as_sqlite_alone_does(tmp_path, seed):
    # Random operations on two stores, one with a tiny fold threshold: the same statuses,
    # records, expiries and limits, and the same records after a kill and a replay.
    rng = random.Random(seed)
    logged = SqliteStore(tmp_path / "log.sqlite3", fold_bytes=rng.choice([300, 2_000, 1 << 20]))
    plain = SqliteStore(tmp_path / "plain.sqlite3", turn_log=False)
    sids = [f"s{i}" for i in range(6)]
    turns = dict.fromkeys(sids, 0)
    limits = {"max_per_player": 3, "max_total": 5}
    for step in range(300):
        op = rng.random()
        sid = rng.choice(sids)
        player = f"p{sids.index(sid) % 3}"
        if op < 0.1:
            record = session(sid, player=player, expires_ms=rng.randrange(1_000, 50_000))
            outcomes = []
            for store in (logged, plain):
                try:
                    store.create_session(record, now_ms=step * 100, **limits)
                    outcomes.append("ok")
                except Exception as exc:  # a duplicate id, a limit
                    outcomes.append(type(exc).__name__)
            assert outcomes[0] == outcomes[1]
        elif op < 0.7:
            batch = rng.sample(sids, rng.randint(1, 3))
            commits = []
            for s in batch:
                n = turns[s] + 1 if rng.random() < 0.9 else turns[s] + 2
                expires = step * 100 + rng.choice([5_000, 20_000])
                owner = f"p{sids.index(s) % 3}"
                record = session(s, player=owner, next_turn=n + 1, expires_ms=expires)
                episode = None
                if rng.random() < 0.25:  # a batch mixing turns with an episode's end
                    result = rng.choice([-1, 0, 1])
                    episode = EpisodeRecord(owner, "studio", GAME, result, result * 2.0, step)
                commits.append(
                    Commit(record, expected_turn=n, expiry_changed=True, episode=episode)
                )
            got = logged.commit(commits)
            assert got == plain.commit(commits)
            for commit, status in zip(commits, got, strict=True):
                if status is APPLIED:
                    turns[commit.session.session_id] = commit.expected_turn
        elif op < 0.8:
            assert logged.end_session(sid) == plain.end_session(sid)
        elif op < 0.9:
            now = step * 100
            assert sorted(logged.expire_sessions(now)) == sorted(plain.expire_sessions(now))
        elif op < 0.93:
            assert logged.delete_player(player) == plain.delete_player(player)
        for s in sids:
            assert logged.load_session(s) == plain.load_session(s)
            assert logged.session_status(s) == plain.session_status(s)
        for p in ("p0", "p1", "p2"):
            assert logged.load_profile(p) == plain.load_profile(p)
    kill(logged)
    replayed = SqliteStore(tmp_path / "log.sqlite3")
    for s in sids:
        assert replayed.load_session(s) == plain.load_session(s)
    replayed.close()
    plain.close()


def test_the_log_is_on_by_default_and_the_serve_flag_turns_it_off(tmp_path):
    from server.cli import add_serve_arguments, config_from_args
    from server.config import ServerConfig
    from server.stores import open_store

    parser = add_serve_arguments(argparse.ArgumentParser())
    assert ServerConfig().turn_log and config_from_args(parser.parse_args([])).turn_log
    off = config_from_args(parser.parse_args(["--no-turn-log", "--data", str(tmp_path)]))
    assert not off.turn_log
    store = open_store(off)
    assert store._log is None
    store.close()
    store = open_store(ServerConfig(data_dir=tmp_path))
    assert store._log.path == tmp_path / (
        ServerConfig(data_dir=tmp_path).sqlite_path.name + "-turns"
    )
    store.close()


def test_a_failed_append_is_cut_off_and_leaves_the_log_readable(path, monkeypatch):
    store = SqliteStore(path)
    create(store, session("a"))
    store.commit([turn("a", 1)])
    real_write = __import__("os").write

    def half_then_full(fd, data):  # the disk fills up halfway through the record
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("server.stores.turnlog.os.write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        store.commit([turn("a", 2)])
    monkeypatch.undo()
    assert store.load_session("a").next_turn == 2  # the failed turn did not happen
    assert store.commit([turn("a", 2)]) == [APPLIED]  # and may be retried
    kill(store)
    assert [r.next_turn for r in read_log(path.with_name(path.name + "-turns"))] == [2, 3]
    reopened = SqliteStore(path)
    assert reopened.load_session("a").next_turn == 3
    reopened.close()


def test_a_second_store_on_the_same_files_is_refused_while_the_first_is_open(path):
    first = SqliteStore(path)
    create(first, session("a"))
    first.commit([turn("a", 1)])
    with pytest.raises(ConfigError, match="in use by another server process"):
        SqliteStore(path)
    assert first.commit([turn("a", 2)]) == [APPLIED]  # the first went on untouched
    assert [r.next_turn for r in read_log(first._log.path)] == [2, 3]
    first.close()
    second = SqliteStore(path)
    assert second.load_session("a").next_turn == 3
    second.close()


def test_a_batch_with_an_episode_end_still_logs_its_turns(path):
    store = SqliteStore(path)
    for sid in ("a", "b"):
        create(store, session(sid))
    episode = EpisodeRecord("p1", "studio", GAME, 1, 2.0, 5)
    ending = Commit(turn("b", 1).session, 1, episode=episode)
    assert store.commit([turn("a", 1), ending]) == [APPLIED, APPLIED]
    assert [r.session_id for r in read_log(store._log.path)] == ["a"]  # a's turn: logged
    assert row_turn(path, "a") == 1 and row_turn(path, "b") == 2  # b's end: in SQLite
    assert store.load_profile("p1").episodes == 1
    kill(store)
    reopened = SqliteStore(path)
    assert reopened.load_session("a").next_turn == 2
    assert reopened.load_session("b").next_turn == 2
    reopened.close()


def test_a_failing_part_of_a_mixed_batch_answers_only_its_own_commits(path, monkeypatch):
    store = SqliteStore(path)
    for sid in ("a", "b"):
        create(store, session(sid))

    def full_disk(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("server.stores.turnlog.os.write", full_disk)
    episode = EpisodeRecord("p1", "studio", GAME, 1, 2.0, 5)
    ending = Commit(turn("b", 1).session, 1, episode=episode)
    logged, ended = store.commit([turn("a", 1), ending])
    assert isinstance(logged, OSError) and ended is APPLIED
    monkeypatch.undo()
    assert store.load_session("a").next_turn == 1 and store.load_session("b").next_turn == 2
    assert store.commit([turn("a", 1)]) == [APPLIED]  # the failed turn may be retried
    store.close()
