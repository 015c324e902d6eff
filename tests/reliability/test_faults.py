"""Faults under load: the server (and Redis) killed with SIGKILL at random moments lose nothing.

Several players play long scripted games concurrently against a server process
(``tests.server.counting_server``: the real server with the deterministic test
learner). A killer SIGKILLs the server at random moments while turns are in flight,
at least five times, and starts a new process on the same store. Each player, when a
call fails, waits for the new server, resumes its session and checks that it resumes
at its last acknowledged turn (or one further: the turn in flight may have committed
unanswered), re-sends the turn it was on (a retry) and carries on. At the end:

- every player's whole sequence of actions equals the same script replayed on the
  learner in-process, so no turn was lost, doubled or answered differently on retry;
- every retried turn that the server had already committed came back ``replayed``
  with the same action, and so did the re-sent last acknowledged turn;
- each player's profile (episodes, wins, losses, draws, rating, recent rewards)
  equals the profile folded from their script's episodes, and every acknowledged
  episode end reported the profile as of that episode.

The Redis variant runs the same with ``--store redis://...`` against a private
redis-server (``appendonly yes``, ``appendfsync always``) and also SIGKILLs and
restarts Redis itself while the players play.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.game_agent.v1 import agent_pb2 as pb
from server.profiles import apply_episode, new_profile
from server.stores.base import EpisodeRecord
from tests.server.conftest import (
    MATRIX,
    CountingLearner,
    RedisServer,
    act_request,
    expected_actions,
    requires_redis,
)
from tests.server.processes import ServerProcess
from tests.server.test_restart import script_for

pytestmark = pytest.mark.slow

PLAYERS = 4
SERVER_KILLS = 6
PACE_S = 0.01
"""Pause between a player's turns, so that kills land mid-game rather than after it."""
RESULTS = (pb.AGENT_WON, pb.PLAYER_WON, pb.DRAW)
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}
"""What a client sees when the server process dies under it, or while Redis is down."""


def long_script(player: int) -> list[tuple]:
    """Three of the restart tests' games back to back: about 120 turns and 18 episodes."""
    return [step for part in range(3) for step in script_for(player + 4 * part)]


def result_of(episode: int) -> int:
    return RESULTS[episode % len(RESULTS)]


class Cluster:
    """The current server process; replaced (SIGKILL, then a new one) by :meth:`kill`."""

    def __init__(self, start: Callable[[], ServerProcess]):
        self._start = start
        self._changed = threading.Condition()
        self.server = start()
        self.generation = 0
        self.servers = [self.server]

    def current(self) -> tuple[int, Any]:
        with self._changed:
            return self.generation, self.server.stub

    def wait_newer(self, generation: int, timeout: float) -> None:
        """Until a server newer than ``generation`` is up, or ``timeout`` passes."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation > generation, timeout)

    def kill(self) -> None:
        # Not ServerProcess.kill: that closes the channel, and players still holding the
        # old stub must see what an engine sees (UNAVAILABLE), not a closed channel.
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(30)
        replacement = self._start()
        with self._changed:
            self.server = replacement
            self.servers.append(replacement)
            self.generation += 1
            self._changed.notify_all()

    def close(self) -> int:
        """Stop the current server gracefully (its exit code) and close every channel."""
        code = self.server.terminate()
        for server in self.servers[:-1]:
            server.channel.close()
        return code


class Player(threading.Thread):
    """Plays its script to the end across faults; see the module docstring."""

    def __init__(self, cluster: Cluster, number: int):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.number = number
        self.player_id = f"player-{number}"
        self.script = long_script(number)
        self.session: pb.Session | None = None
        self.actions: dict[int, int] = {}
        """Turn -> action of every acknowledged turn (-1 for an episode end)."""
        self.profiles: list[pb.PlayerProfile] = []
        """The profile each acknowledged EndEpisode reported, in episode order."""
        self.recoveries = 0
        self.committed_unanswered = 0
        """Recoveries in which the turn in flight had committed before the kill (its retry
        then came back ``replayed``)."""
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self.play()
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def play(self) -> None:
        _, stub = self.cluster.current()
        self.session = stub.StartSession(
            pb.StartSessionRequest(player_id=self.player_id, game=MATRIX), timeout=30
        )
        turn = 1
        while turn <= len(self.script):
            generation, stub = self.cluster.current()
            try:
                reply = self.send(stub, turn)
            except grpc.RpcError as err:
                if err.code() not in RETRYABLE:
                    raise
                self.recover(turn, generation)
                continue
            self.acknowledge(turn, reply)
            turn += 1
            time.sleep(PACE_S)

    def send(self, stub: Any, turn: int) -> Any:
        step = self.script[turn - 1]
        if step[0] == "act":
            request = act_request(self.session, turn, mask=step[1], reward=step[2])
            return stub.Act(request, timeout=30)
        episode = sum(1 for s in self.script[: turn - 1] if s[0] == "end")
        request = pb.EndEpisodeRequest(
            session_id=self.session.session_id,
            turn=turn,
            final_reward=step[1],
            result=result_of(episode),
        )
        return stub.EndEpisode(request, timeout=30)

    def acknowledge(self, turn: int, reply: Any) -> None:
        step = self.script[turn - 1]
        action = reply.action if step[0] == "act" else -1
        if turn in self.actions:  # a retry of an acknowledged turn: answered from the store
            assert reply.replayed and self.actions[turn] == action, (self.number, turn)
            return
        self.actions[turn] = action
        if step[0] == "end":
            self.profiles.append(reply.profile)

    def recover(self, turn: int, generation: int) -> None:
        """After a failed call: once a server answers again, the session expects ``turn`` (or
        ``turn + 1`` when the turn in flight committed unanswered), and the last acknowledged
        turn, re-sent, comes back unchanged; then ``turn`` is retried by the caller."""
        self.recoveries += 1
        deadline = time.monotonic() + 120
        while True:
            self.cluster.wait_newer(generation, timeout=0.2)  # a kill, or a Redis restart
            generation, stub = self.cluster.current()
            try:
                resumed = stub.ResumeSession(
                    pb.ResumeSessionRequest(
                        session_id=self.session.session_id, player_id=self.player_id
                    ),
                    timeout=30,
                )
                assert resumed.next_turn in (turn, turn + 1), (self.number, turn, resumed)
                self.committed_unanswered += resumed.next_turn == turn + 1
                if resumed.next_turn == turn and turn > 1:
                    self.acknowledge(turn - 1, self.send(stub, turn - 1))
                return
            except grpc.RpcError as err:
                if err.code() not in RETRYABLE or time.monotonic() > deadline:
                    raise


def expected_profile(player: Player) -> object:
    """The player's profile folded from their script, independently of the server."""
    profile = new_profile(player.player_id, "", 0)
    episode, total = 0, 0.0
    game = player.session.game.spec
    snapshots = []
    for step in player.script:
        if step[0] == "act":
            total += step[2]
            continue
        total += step[1]
        record = EpisodeRecord(player.player_id, "", game, _sign(result_of(episode)), total, 0)
        profile = apply_episode(profile, record)
        snapshots.append(profile)
        episode, total = episode + 1, 0.0
    return snapshots


def _sign(result: int) -> int:
    return {pb.AGENT_WON: 1, pb.PLAYER_WON: -1, pb.DRAW: 0}[result]


def assert_profile_matches(reported: pb.PlayerProfile, expected) -> None:
    assert reported.episodes_played == expected.episodes
    assert (reported.agent_wins, reported.player_wins, reported.draws) == (
        expected.agent_wins,
        expected.player_wins,
        expected.draws,
    )
    assert reported.skill_rating == pytest.approx(expected.skill_rating)
    [record] = reported.games
    [stats] = expected.games.values()
    assert record.episodes_played == stats.episodes
    recent = sum(stats.recent_rewards) / len(stats.recent_rewards)
    assert record.recent_agent_reward == pytest.approx(recent)


def play_through_faults(cluster: Cluster, faults: list[Callable[[], None]], seed: int) -> list:
    """Start the players, run ``faults`` one by one at random moments mid-game, then let the
    players finish; returns them."""
    rng = random.Random(seed)
    players = [Player(cluster, n) for n in range(PLAYERS)]
    for player in players:
        player.start()
    for fault in faults:
        progress = sum(len(p.actions) for p in players)
        deadline = time.monotonic() + 60
        while sum(len(p.actions) for p in players) < progress + 3 * PLAYERS:
            assert time.monotonic() < deadline, "the players stopped playing"
            assert not any(p.failure for p in players), [p.failure for p in players]
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))
        assert not all(len(p.actions) == len(p.script) for p in players), "games ended too soon"
        fault()
    for player in players:
        player.join(180)
        assert not player.is_alive(), f"player {player.number} did not finish"
    return players


def check(players: list[Player], cluster: Cluster) -> None:
    _, stub = cluster.current()
    for player in players:
        assert player.failure is None, f"player {player.number}: {player.failure!r}"
        script = player.script
        served = [player.actions[t] for t in range(1, len(script) + 1) if script[t - 1][0] == "act"]
        assert served == expected_actions(CountingLearner(), MATRIX, script)
        snapshots = expected_profile(player)
        assert len(player.profiles) == len(snapshots)
        for reported, expected in zip(player.profiles, snapshots, strict=True):
            assert_profile_matches(reported, expected)
        stored = stub.GetProfile(pb.GetProfileRequest(player_id=player.player_id), timeout=30)
        assert_profile_matches(stored, snapshots[-1])
    # Every fault hit players mid-game (a kill fails every player's call in flight).
    assert sum(p.recoveries for p in players) >= SERVER_KILLS


def counting_servers(data: Path, *extra: str) -> Callable[[], ServerProcess]:
    return lambda: ServerProcess("tests.server.counting_server", "--data", str(data), *extra)


def test_server_killed_under_load_loses_no_turn_and_no_profile(tmp_path):
    cluster = Cluster(counting_servers(tmp_path))
    try:
        players = play_through_faults(cluster, [cluster.kill] * SERVER_KILLS, seed=7)
        assert len(cluster.servers) == SERVER_KILLS + 1
        check(players, cluster)
    finally:
        assert cluster.close() == 0


@requires_redis
@pytest.mark.redis
def test_redis_store_survives_server_and_redis_kills(tmp_path):
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    cluster = Cluster(counting_servers(tmp_path / "var", "--store", redis.url))
    faults = [cluster.kill] * SERVER_KILLS
    faults[2:2] = [redis.kill_and_restart]
    faults[5:5] = [redis.kill_and_restart]
    try:
        players = play_through_faults(cluster, faults, seed=11)
        assert len(cluster.servers) == SERVER_KILLS + 1
        check(players, cluster)
    finally:
        cluster.close()
        redis.stop()
