"""Sessions over a real channel: turns, retries, resumption, profiles, expiry and limits.

The test-double learner's actions depend on its whole state (turns, rewards,
episodes), so a state advanced twice or lost changes a later action: every
check compares the served actions with the same script replayed in-process.
"""

from __future__ import annotations

import time

import grpc
import pytest

from protos.game_agent.v1 import agent_pb2 as pb
from server.models import ModelRegistry
from server.profiles import updated_rating
from tests.server.conftest import (
    MATRIX,
    CountingLearner,
    act_request,
    counting_model,
    expected_actions,
    start_session,
)

RPS_MASK = [True, True, True, False, False]


def play(stub, session: pb.Session, script, first_turn: int = 1) -> list[int]:
    """Send ``script`` (("act", mask, reward) / ("end", reward)); return the actions."""
    turn, actions = first_turn, []
    for step in script:
        if step[0] == "act":
            reply = stub.Act(act_request(session, turn, mask=step[1], reward=step[2]))
            assert reply.turn == turn and not reply.replayed
            actions.append(reply.action)
        else:
            reply = stub.EndEpisode(
                pb.EndEpisodeRequest(session_id=session.session_id, turn=turn, final_reward=step[1])
            )
            assert reply.turn == turn and not reply.replayed
        turn += 1
    return actions


SCRIPT = [
    ("act", RPS_MASK, 0.0),
    ("act", RPS_MASK, 1.0),
    ("act", [True, False, True, False, False], -1.0),
    ("act", RPS_MASK, 1.0),
    ("end", 1.0),
    ("act", RPS_MASK, 0.0),
    ("act", [False, True, False, False, False], 2.0),
    ("end", -1.0),
    ("act", RPS_MASK, 0.0),
]


def test_turns_follow_the_learner_state_exactly(stub):
    session = start_session(stub)
    assert session.next_turn == 1 and not session.returning_player
    assert session.game.spec.startswith("matrix(") and session.model.learner == "counting"
    actions = play(stub, session, SCRIPT)
    assert actions == expected_actions(CountingLearner(), MATRIX, SCRIPT)


def test_a_retried_turn_returns_the_stored_reply_and_does_not_advance(stub):
    session = start_session(stub)
    first = stub.Act(act_request(session, 1, mask=RPS_MASK))
    again = stub.Act(act_request(session, 1, mask=RPS_MASK, reward=5.0))
    assert again.replayed and not first.replayed
    assert (again.action, list(again.action_probabilities), again.value) == (
        first.action,
        list(first.action_probabilities),
        first.value,
    )
    end = stub.EndEpisode(pb.EndEpisodeRequest(session_id=session.session_id, turn=2))
    end_again = stub.EndEpisode(pb.EndEpisodeRequest(session_id=session.session_id, turn=2))
    assert end_again.replayed and not end.replayed
    assert end_again.profile.episodes_played == end.profile.episodes_played == 1
    rest = play(stub, session, SCRIPT[1:4], first_turn=3)
    script = [SCRIPT[0], ("end", 0.0), *SCRIPT[1:4]]
    assert [first.action, *rest] == expected_actions(CountingLearner(), MATRIX, script)


def test_out_of_sequence_turns_are_refused(stub):
    session = start_session(stub)
    stub.Act(act_request(session, 1, mask=RPS_MASK))
    for turn in (3, 7):
        with pytest.raises(grpc.RpcError) as err:
            stub.Act(act_request(session, turn, mask=RPS_MASK))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "expects turn 2" in err.value.details()
    # turn 1 was an Act; retrying it as an EndEpisode is a different call
    with pytest.raises(grpc.RpcError) as err:
        stub.EndEpisode(pb.EndEpisodeRequest(session_id=session.session_id, turn=1))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "answered as act" in err.value.details()
    assert stub.Act(act_request(session, 2, mask=RPS_MASK)).turn == 2


def test_resume_reports_the_next_turn(stub):
    session = start_session(stub)
    play(stub, session, SCRIPT[:3])
    resumed = stub.ResumeSession(
        pb.ResumeSessionRequest(session_id=session.session_id, player_id="alice")
    )
    assert resumed.next_turn == 4 and resumed.session_id == session.session_id
    assert resumed.expires_at_unix_ms >= session.expires_at_unix_ms
    with pytest.raises(grpc.RpcError) as err:
        stub.ResumeSession(pb.ResumeSessionRequest(session_id=session.session_id, player_id="bob"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_session_reports_the_seed_its_moves_follow(stub):
    chosen = start_session(stub, "seeded", seed=2**64 - 1)
    assert chosen.seed == 2**64 - 1
    drawn = start_session(stub, "unseeded")  # 0: the server picks one and says which
    assert drawn.seed != 0 and drawn.seed != start_session(stub, "unseeded-2").seed
    resumed = stub.ResumeSession(
        pb.ResumeSessionRequest(session_id=drawn.session_id, player_id="unseeded")
    )
    assert resumed.seed == drawn.seed
    info = stub.GetServerInfo(pb.GetServerInfoRequest(client_protocol_version=1))
    assert "seeded_sampling" in info.capabilities


def test_a_returning_player_continues_from_their_adaptation_state(stub):
    first = start_session(stub, player="carol")
    play(stub, first, SCRIPT[:5])  # four acts, then the end of episode 1
    stub.EndSession(pb.EndSessionRequest(session_id=first.session_id))

    second = start_session(stub, player="carol")
    assert second.returning_player and second.episodes_played == 1
    later = play(stub, second, SCRIPT[5:])
    assert later == expected_actions(CountingLearner(), MATRIX, SCRIPT)[4:]

    fresh = start_session(stub, player="carol", ignore_profile=True)
    assert not fresh.returning_player
    assert play(stub, fresh, SCRIPT[5:]) == expected_actions(CountingLearner(), MATRIX, SCRIPT[5:])


def test_profiles_keep_results_and_an_elo_rating(stub):
    session = start_session(stub, player="dave")
    sid = session.session_id
    stub.Act(act_request(session, 1, mask=RPS_MASK, reward=0.0))
    stub.EndEpisode(pb.EndEpisodeRequest(session_id=sid, turn=2, final_reward=-1.0))
    stub.Act(act_request(session, 3, mask=RPS_MASK))
    stub.EndEpisode(pb.EndEpisodeRequest(session_id=sid, turn=4, final_reward=3.0, result=pb.DRAW))
    stub.EndEpisode(pb.EndEpisodeRequest(session_id=sid, turn=5, final_reward=0.0))
    profile = stub.GetProfile(pb.GetProfileRequest(player_id="dave"))
    assert (profile.episodes_played, profile.agent_wins, profile.player_wins, profile.draws) == (
        3,
        0,
        1,
        2,
    )
    # Player won (score 1), then two draws (0.5), against the agent's fixed 1500.
    rating = 1500.0
    for result in (-1, 0, 0):
        rating = updated_rating(rating, result)
    assert profile.skill_rating == pytest.approx(rating)
    # By hand: 1500 + 32 * (1 - 0.5) = 1516; expected 0.52301 at 1516 -> -0.7363;
    # expected 0.52195 at 1515.2637 -> -0.7025.
    assert profile.skill_rating == pytest.approx(1516 - 0.7363 - 0.7025, abs=1e-3)
    [record] = profile.games
    assert record.episodes_played == 3
    assert record.recent_agent_reward == pytest.approx((-1.0 + 3.0 + 0.0) / 3)


def test_end_session_keeps_the_profile_and_refuses_further_turns(stub):
    session = start_session(stub, player="erin")
    stub.Act(act_request(session, 1, mask=RPS_MASK))
    ended = stub.EndSession(pb.EndSessionRequest(session_id=session.session_id))
    assert ended.profile.player_id == "erin"
    with pytest.raises(grpc.RpcError) as err:
        stub.Act(act_request(session, 2, mask=RPS_MASK))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "has ended" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.EndSession(pb.EndSessionRequest(session_id=session.session_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_delete_profile_forgets_the_player_and_ends_their_sessions(stub):
    one = start_session(stub, player="frank")
    start_session(stub, player="frank")
    play(stub, one, SCRIPT[:5])
    deleted = stub.DeleteProfile(pb.DeleteProfileRequest(player_id="frank"))
    assert deleted.deleted and deleted.sessions_ended == 2
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProfile(pb.GetProfileRequest(player_id="frank"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.Act(act_request(one, 6, mask=RPS_MASK))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    again = start_session(stub, player="frank")
    assert not again.returning_player and again.episodes_played == 0
    assert not stub.DeleteProfile(pb.DeleteProfileRequest(player_id="nobody")).deleted


def test_idle_sessions_expire_but_profiles_remain(server_factory):
    served = server_factory(idle_timeout_s=0.3)
    stub = served.stub()
    session = start_session(stub, player="gina")
    stub.Act(act_request(session, 1, mask=RPS_MASK))
    time.sleep(0.4)
    with pytest.raises(grpc.RpcError) as err:
        stub.Act(act_request(session, 2, mask=RPS_MASK))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in err.value.details()
    assert served.run(served.server.sessions.sweep()) == [session.session_id]
    assert served.run(served.server.sessions.sweep()) == []
    assert stub.GetProfile(pb.GetProfileRequest(player_id="gina")).player_id == "gina"
    # Expired sessions no longer count against the player's limit.
    assert start_session(stub, player="gina").next_turn == 1


def test_a_client_chosen_idle_timeout_is_capped(server_factory):
    served = server_factory(idle_timeout_s=60, max_idle_timeout_s=120)
    stub = served.stub()
    before = time.time() * 1000
    short = start_session(stub, player="h1", idle_timeout_seconds=5)
    capped = start_session(stub, player="h2", idle_timeout_seconds=10_000)
    default = start_session(stub, player="h3")
    assert 5_000 <= short.expires_at_unix_ms - before < 6_000
    assert 120_000 <= capped.expires_at_unix_ms - before < 121_000
    assert 60_000 <= default.expires_at_unix_ms - before < 61_000


def test_session_limits(server_factory):
    stub = server_factory(max_sessions_per_player=2, max_sessions=3).stub()
    first = start_session(stub, player="ivan")
    start_session(stub, player="ivan")
    with pytest.raises(grpc.RpcError) as err:
        start_session(stub, player="ivan")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 2" in err.value.details()
    start_session(stub, player="jane")
    with pytest.raises(grpc.RpcError) as err:
        start_session(stub, player="kim")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "maximum of 3" in err.value.details()
    stub.EndSession(pb.EndSessionRequest(session_id=first.session_id))
    assert start_session(stub, player="kim").next_turn == 1


def test_adaptation_runs_off_the_request_path(server_factory):
    learner = CountingLearner(("matrix",), adapt_delay_s=0.5)
    stub = server_factory(ModelRegistry([counting_model(learner)])).stub()
    session = start_session(stub, player="lee")
    stub.Act(act_request(session, 1, mask=RPS_MASK))
    started = time.perf_counter()
    stub.EndEpisode(pb.EndEpisodeRequest(session_id=session.session_id, turn=2))
    assert time.perf_counter() - started < 0.4, "EndEpisode waited for adaptation"
    reply = stub.Act(act_request(session, 3, mask=RPS_MASK))
    assert time.perf_counter() - started >= 0.5, "the next turn did not wait for adaptation"
    script = [("act", RPS_MASK, 0.0), ("end", 0.0), ("act", RPS_MASK, 0.0)]
    assert reply.action == expected_actions(CountingLearner(), MATRIX, script)[-1]
    assert learner.adaptations == 1


def test_concurrent_sessions_share_forward_passes(server_factory):
    from concurrent.futures import ThreadPoolExecutor

    learner = CountingLearner(("matrix",))
    served = server_factory(ModelRegistry([counting_model(learner)]), batch_window_s=0.05)
    stub = served.stub()
    sessions = [start_session(stub, player=f"p{i}") for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda s: stub.Act(act_request(s, 1, mask=RPS_MASK)), sessions))
    assert all(r.action == 0 for r in replies)  # a fresh state picks the first legal action
    assert max(learner.act_batches) > 1, learner.act_batches
    assert sum(learner.act_batches) == 6
