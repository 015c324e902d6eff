"""The bidirectional Play stream: one reply per request, in order, errors in-band."""

from __future__ import annotations

import math
import queue
import threading
import time

import grpc
import pytest

from protos.game_agent.v1 import agent_pb2 as pb
from tests.server.conftest import (
    MATRIX,
    CountingLearner,
    act_request,
    expected_actions,
    start_session,
)

RPS_MASK = [True, True, True, False, False]


def test_a_game_over_the_stream_matches_unary_play(stub):
    session = start_session(stub)
    requests = [
        pb.PlayRequest(act=act_request(session, 1, mask=RPS_MASK)),
        pb.PlayRequest(act=act_request(session, 2, mask=RPS_MASK, reward=1.0)),
        pb.PlayRequest(
            end_episode=pb.EndEpisodeRequest(session_id=session.session_id, turn=3, final_reward=1)
        ),
        pb.PlayRequest(act=act_request(session, 4, mask=RPS_MASK)),
    ]
    replies = list(stub.Play(iter(requests)))
    assert [r.WhichOneof("response") for r in replies] == ["act", "act", "end_episode", "act"]
    assert [r.act.turn for r in replies if r.HasField("act")] == [1, 2, 4]
    script = [
        ("act", RPS_MASK, 0.0),
        ("act", RPS_MASK, 1.0),
        ("end", 1.0),
        ("act", RPS_MASK, 0.0),
    ]
    served = [r.act.action for r in replies if r.HasField("act")]
    assert served == expected_actions(CountingLearner(), MATRIX, script)
    assert replies[2].end_episode.profile.agent_wins == 1


def test_bad_requests_get_in_band_errors_and_the_stream_stays_open(stub):
    session = start_session(stub)
    bad_obs = act_request(session, 1, mask=RPS_MASK)
    bad_obs.observation.values[3] = math.nan
    requests = [
        pb.PlayRequest(act=bad_obs),
        pb.PlayRequest(act=act_request(session, 5, mask=RPS_MASK)),
        pb.PlayRequest(),
        pb.PlayRequest(act=act_request(session, 1, mask=RPS_MASK)),
        pb.PlayRequest(act=act_request(session, 1, mask=RPS_MASK)),
        pb.PlayRequest(act=pb.ActRequest(session_id="s_unknown", turn=1)),
        pb.PlayRequest(act=act_request(session, 2, mask=[False] * 5)),
        pb.PlayRequest(act=act_request(session, 2, mask=RPS_MASK)),
    ]
    replies = list(stub.Play(iter(requests)))
    kinds = [r.WhichOneof("response") for r in replies]
    assert kinds == ["error", "error", "error", "act", "act", "error", "error", "act"]
    codes = [r.error.code for r in replies if r.HasField("error")]
    assert codes == [
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.NOT_FOUND.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
    ]
    assert replies[0].error.turn == 1 and "values[3] is nan" in replies[0].error.message
    assert replies[1].error.turn == 5 and "expects turn 1" in replies[1].error.message
    assert "neither act nor end_episode" in replies[2].error.message
    assert not replies[3].act.replayed and replies[4].act.replayed
    assert replies[7].act.turn == 2


def test_stream_and_unary_calls_share_the_session(stub):
    session = start_session(stub)
    stub.Act(act_request(session, 1, mask=RPS_MASK))
    [reply] = list(stub.Play(iter([pb.PlayRequest(act=act_request(session, 2, mask=RPS_MASK))])))
    assert reply.act.turn == 2
    assert stub.Act(act_request(session, 3, mask=RPS_MASK)).turn == 3


def test_shutdown_closes_idle_streams_with_unavailable(served, stub):
    session = start_session(stub)
    outbox: queue.Queue = queue.Queue()
    replies = stub.Play(iter(outbox.get, None))
    outbox.put(pb.PlayRequest(act=act_request(session, 1, mask=RPS_MASK)))
    assert next(replies).act.turn == 1
    started = time.perf_counter()
    stopper = threading.Thread(target=served.stop, kwargs={"grace": 20})
    stopper.start()
    with pytest.raises(grpc.RpcError) as err:
        next(replies)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "ResumeSession" in err.value.details()
    outbox.put(None)
    stopper.join(30)
    assert time.perf_counter() - started < 10, "shutdown waited for the idle stream's grace"
