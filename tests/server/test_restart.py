"""A server process killed with SIGKILL at any moment loses no acknowledged turn.

Server processes run ``python -m tests.server.counting_server`` (the real server
with the test-double learner) on a data directory; after a SIGKILL a new process
on the same directory must continue every session from its last acknowledged
turn with identical state: the whole game's actions, before and after the kill,
equal the same script replayed in-process.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest

from protos.game_agent.v1 import agent_pb2 as pb
from tests.server.conftest import MATRIX, CountingLearner, act_request, expected_actions
from tests.server.processes import ServerProcess

RPS = [True, True, True, False, False]
PAPER_SCISSORS = [False, True, True, False, False]


def counting_server(data: Path, adapt_delay: float = 0.0) -> ServerProcess:
    return ServerProcess(
        "tests.server.counting_server", "--data", str(data), "--adapt-delay", str(adapt_delay)
    )


def script_for(player: int) -> list[tuple]:
    """A long game of acts and episode ends that differs per player."""
    steps: list[tuple] = []
    for episode in range(6):
        for move in range(5 + (player + episode) % 3):
            mask = PAPER_SCISSORS if (move + player) % 4 == 0 else RPS
            steps.append(("act", mask, float((move * (player + 1)) % 3 - 1)))
        steps.append(("end", float(episode % 3 - 1)))
    return steps


def send(stub, session: pb.Session, turn: int, step: tuple):
    if step[0] == "act":
        return stub.Act(act_request(session, turn, mask=step[1], reward=step[2]), timeout=10)
    request = pb.EndEpisodeRequest(session_id=session.session_id, turn=turn, final_reward=step[1])
    return stub.EndEpisode(request, timeout=10)


class Player(threading.Thread):
    """Plays its script until the server dies; remembers every acknowledged reply."""

    def __init__(self, stub, session: pb.Session, script: list[tuple], ready: threading.Barrier):
        super().__init__(daemon=True)
        self.stub, self.session, self.script, self.ready = stub, session, script, ready
        self.acked: dict[int, int] = {}  # turn -> action (-1 for an episode end)

    def run(self) -> None:
        for turn, step in enumerate(self.script, start=1):
            if turn == 10:
                self.ready.wait()
            try:
                reply = send(self.stub, self.session, turn, step)
            except grpc.RpcError:
                return
            self.acked[turn] = reply.action if step[0] == "act" else -1


@pytest.mark.slow
def test_sigkill_mid_game_loses_no_acknowledged_turn(tmp_path):
    server = counting_server(tmp_path)
    scripts = [script_for(p) for p in range(3)]
    sessions = [
        server.stub.StartSession(pb.StartSessionRequest(player_id=f"p{p}", game=MATRIX))
        for p in range(3)
    ]
    ready = threading.Barrier(4)
    players = [Player(server.stub, s, sc, ready) for s, sc in zip(sessions, scripts, strict=True)]
    for player in players:
        player.start()
    ready.wait(60)
    time.sleep(0.05)  # let the players get some turns into flight
    server.kill()
    for player in players:
        player.join(30)

    restarted = counting_server(tmp_path)
    for session, script, player in zip(sessions, scripts, players, strict=True):
        last_acked = max(player.acked)
        assert 9 <= last_acked < len(script), "the kill did not land mid-game"
        resumed = restarted.stub.ResumeSession(
            pb.ResumeSessionRequest(session_id=session.session_id, player_id=session.player_id)
        )
        # Every acknowledged turn survived; at most the one in flight committed unanswered.
        assert resumed.next_turn - 1 in (last_acked, last_acked + 1)
        actions = dict(player.acked)
        for turn in range(last_acked + 1, len(script) + 1):
            reply = send(restarted.stub, session, turn, script[turn - 1])
            assert reply.replayed == (turn < resumed.next_turn)
            actions[turn] = reply.action if script[turn - 1][0] == "act" else -1
        served = [actions[t] for t in sorted(actions) if actions[t] >= 0]
        assert served == expected_actions(CountingLearner(), MATRIX, script)
        profile = restarted.stub.GetProfile(pb.GetProfileRequest(player_id=session.player_id))
        assert profile.episodes_played == sum(1 for step in script if step[0] == "end")
    assert restarted.terminate() == 0


@pytest.mark.slow
def test_sigkill_during_adaptation_reruns_it_exactly_once(tmp_path):
    server = counting_server(tmp_path, adapt_delay=30.0)
    session = server.stub.StartSession(pb.StartSessionRequest(player_id="kai", game=MATRIX))
    script = [("act", RPS, 0.0), ("act", RPS, 1.0), ("end", 1.0), ("act", RPS, 0.0)]
    before = [send(server.stub, session, t, script[t - 1]) for t in (1, 2, 3)]
    assert not before[2].replayed  # the episode end was acknowledged; adaptation is running
    server.kill()

    restarted = counting_server(tmp_path)
    resumed = restarted.stub.ResumeSession(
        pb.ResumeSessionRequest(session_id=session.session_id, player_id="kai")
    )
    assert resumed.next_turn == 4 and resumed.episodes_played == 1
    last = send(restarted.stub, session, 4, script[3])
    served = [before[0].action, before[1].action, last.action]
    assert served == expected_actions(CountingLearner(), MATRIX, script)
    # A new session of the player starts from the adapted state, adapted once.
    again = restarted.stub.StartSession(pb.StartSessionRequest(player_id="kai", game=MATRIX))
    assert again.returning_player and again.episodes_played == 1
    assert restarted.terminate() == 0
