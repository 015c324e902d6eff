"""Replicas sharing players through Redis: any replica continues any session exactly."""

from __future__ import annotations

import grpc
import pytest

from protos.game_agent.v1 import agent_pb2 as pb
from server.models import ModelRegistry
from tests.server.conftest import (
    MATRIX,
    CountingLearner,
    act_request,
    counting_model,
    expected_actions,
    requires_redis,
    start_session,
)

pytestmark = [requires_redis, pytest.mark.redis]
RPS_MASK = [True, True, True, False, False]


@pytest.fixture
def replicas(server_factory, redis_server):
    """Two servers sharing one freshly emptied Redis database."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return [
        server_factory(ModelRegistry([counting_model(CountingLearner())]), store=redis_server.url)
        for _ in range(2)
    ]


def test_turns_alternate_between_replicas(replicas):
    a, b = (r.stub() for r in replicas)
    session = start_session(a, player="roamer")
    script = [("act", RPS_MASK, 0.0), ("act", RPS_MASK, 1.0), ("end", 1.0), ("act", RPS_MASK, 0.0)]
    actions = [
        a.Act(act_request(session, 1, mask=RPS_MASK)).action,
        b.Act(act_request(session, 2, mask=RPS_MASK, reward=1.0)).action,
    ]
    end = a.EndEpisode(pb.EndEpisodeRequest(session_id=session.session_id, turn=3, final_reward=1))
    assert end.profile.agent_wins == 1
    actions.append(b.Act(act_request(session, 4, mask=RPS_MASK)).action)
    assert actions == expected_actions(CountingLearner(), MATRIX, script)
    # A retry of turn 4 on the other replica gets the stored reply.
    retry = a.Act(act_request(session, 4, mask=RPS_MASK))
    assert retry.replayed and retry.action == actions[-1]
    resumed = a.ResumeSession(
        pb.ResumeSessionRequest(session_id=session.session_id, player_id="roamer")
    )
    assert resumed.next_turn == 5


def test_profiles_and_ownership_are_shared(replicas):
    a, b = (r.stub() for r in replicas)
    first = start_session(a, player="shared")
    a.Act(act_request(first, 1, mask=RPS_MASK))
    a.EndEpisode(pb.EndEpisodeRequest(session_id=first.session_id, turn=2, final_reward=-1))
    a.EndSession(pb.EndSessionRequest(session_id=first.session_id))
    second = start_session(b, player="shared")
    assert second.returning_player and second.episodes_played == 1
    assert b.GetProfile(pb.GetProfileRequest(player_id="shared")).player_wins == 1
    with pytest.raises(grpc.RpcError) as err:
        b.Act(act_request(first, 3, mask=RPS_MASK))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    b.DeleteProfile(pb.DeleteProfileRequest(player_id="shared"))
    with pytest.raises(grpc.RpcError) as err:
        a.Act(act_request(second, 1, mask=RPS_MASK))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
