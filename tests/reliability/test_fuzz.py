"""Bad input: over 10,000 malformed or adversarial requests, each answered with its exact code.

Hypothesis draws the requests (:mod:`tests.reliability.fuzz_cases`): wrong shapes,
NaN and infinities, out-of-range values, tensors past the size limit, turns out of
order, unknown and malformed ids, other principals' sessions and players, missing or
wrong API keys and protocol headers, and bytes that are no message at all, sent
through a raw generic call. Meanwhile an honest player keeps playing on the same
server; afterwards its every action must equal the in-process reference, the health
check must still say SERVING, and the sessions the fuzzer aimed at must be exactly as
they were (no refused request moved one).
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from tests.reliability.fuzz_cases import (
    KEY_A,
    KEY_B,
    MATRIX,
    MAX_REQUEST_BYTES,
    Case,
    Targets,
    all_cases,
)
from tests.server.conftest import CountingLearner, act_request, expected_actions
from tests.server.test_restart import script_for, send

REQUESTS = 10_000
BATCH = 10
HONEST_PACE_S = 0.002
"""The honest player's pause between turns: it plays throughout, but leaves the GIL to the
fuzzer most of the time."""
SERVICE = "/game_agent.v1.AgentService/"


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.write_text(f"{KEY_A} studio-a\n{KEY_B} studio-b\n")
    return path


class Caller:
    """Sends a :class:`Case` the way it says: typed stub or raw bytes, with its metadata."""

    def __init__(self, channel: grpc.Channel):
        self.stub = pb_grpc.AgentServiceStub(channel)
        self.raw = {
            name: channel.unary_unary(SERVICE + name)
            for name in pb.DESCRIPTOR.services_by_name["AgentService"].methods_by_name
        }

    def code(self, case: Case) -> grpc.StatusCode:
        metadata = []
        if case.key is not None:
            metadata.append(("x-api-key", case.key))
        if case.protocol is not None:
            metadata.append(("x-game-agent-protocol", case.protocol))
        call = (
            self.raw[case.method]
            if isinstance(case.request, bytes)
            else getattr(self.stub, case.method)
        )
        try:
            call(case.request, metadata=metadata, timeout=30)
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK


class HonestPlayer(threading.Thread):
    """Plays scripted games (one new player per game) until told to stop."""

    def __init__(self, target: str):
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(target)
        self.stub = _Keyed(pb_grpc.AgentServiceStub(self.channel), KEY_A)
        self.stop = threading.Event()
        self.games: list[tuple[list[tuple], list[int]]] = []  # (script, served actions)
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.games.append(self.play(len(self.games)))
        except BaseException as exc:  # reported by the test
            self.failure = exc
        finally:
            self.channel.close()

    def play(self, number: int) -> tuple[list[tuple], list[int]]:
        script = script_for(number % 7)
        session = self.stub.StartSession(
            pb.StartSessionRequest(player_id=f"honest-{number}", game=MATRIX)
        )
        actions = []
        for turn, step in enumerate(script, start=1):
            reply = send(self.stub, session, turn, step)
            if step[0] == "act":
                actions.append(reply.action)
            time.sleep(HONEST_PACE_S)
        self.stub.EndSession(pb.EndSessionRequest(session_id=session.session_id))
        return script, actions


class _Keyed:
    def __init__(self, stub: pb_grpc.AgentServiceStub, key: str):
        self._stub, self._metadata = stub, [("x-api-key", key)]

    def __getattr__(self, name: str):
        method = getattr(self._stub, name)
        return lambda request, **kw: method(request, metadata=self._metadata, **kw)


def aim(stub: _Keyed) -> Targets:
    """A live session with three answered turns and an ended one, both principal A's."""
    live = stub.StartSession(pb.StartSessionRequest(player_id="fuzz-target", game=MATRIX))
    for turn in (1, 2, 3):
        stub.Act(act_request(live, turn))
    ended = stub.StartSession(pb.StartSessionRequest(player_id="fuzz-ended", game=MATRIX))
    stub.Act(act_request(ended, 1))
    stub.EndSession(pb.EndSessionRequest(session_id=ended.session_id))
    known = {live.session_id, ended.session_id, "fuzz-target", "fuzz-ended", "fuzz-new"}
    known |= {f"honest-{n}" for n in range(10_000)}
    return Targets(live.session_id, 4, "fuzz-target", ended.session_id, frozenset(known))


@pytest.mark.slow
def test_ten_thousand_bad_requests_get_their_codes_and_harm_nobody(server_factory, tmp_path):
    served = server_factory(api_keys_file=keys_file(tmp_path), max_request_bytes=MAX_REQUEST_BYTES)
    stub = _Keyed(served.stub(), KEY_A)
    targets = aim(stub)
    caller = Caller(served.channel())
    health = health_pb2_grpc.HealthStub(served.channel())
    honest = HonestPlayer(served.target)
    honest.start()
    tally: collections.Counter[str] = collections.Counter()
    wrong: list[str] = []

    @settings(
        max_examples=REQUESTS // BATCH + 20,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(all_cases(targets), min_size=BATCH, max_size=BATCH))
    def fuzz(cases: list[Case]) -> None:
        for case in cases:
            got = caller.code(case)
            tally[case.kind] += 1
            if got != case.expected:
                wrong.append(f"{case.kind} {case.method}: expected {case.expected}, got {got}")
            assert got == case.expected, wrong[-1]
        if sum(tally.values()) % 1000 < BATCH:
            assert _serving(health)

    started = time.perf_counter()
    try:
        fuzz()
    finally:
        honest.stop.set()
        honest.join(60)
    elapsed = time.perf_counter() - started
    assert sum(tally.values()) >= REQUESTS, tally
    assert not wrong
    assert _serving(health)
    # The honest player was never disturbed, and played throughout.
    assert honest.failure is None, honest.failure
    assert len(honest.games) >= 2
    for script, actions in honest.games:
        assert actions == expected_actions(CountingLearner(), MATRIX, script)
    # Nothing the fuzzer sent moved the sessions or profiles it aimed at.
    resumed = stub.ResumeSession(
        pb.ResumeSessionRequest(session_id=targets.session_id, player_id=targets.player_id)
    )
    assert resumed.next_turn == targets.next_turn
    assert stub.GetProfile(pb.GetProfileRequest(player_id=targets.player_id)).episodes_played == 0
    print(f"\n{sum(tally.values())} requests in {elapsed:.0f} s; by kind: {dict(tally)}")


def _serving(health: health_pb2_grpc.HealthStub) -> bool:
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    return reply.status == health_pb2.HealthCheckResponse.SERVING
