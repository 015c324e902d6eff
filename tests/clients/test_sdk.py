"""The blocking SDK against a real server: discovery, turns, errors, retries, streaming."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from clients import errors
from clients.sdk import AgentClient, RetryPolicy
from clients.types import EpisodeResult, GameFamily, GameVariant, TurnResult
from games import parse_spec
from tests.clients.faults import CuttingProxy, DropReply
from tests.clients.step_learner import FAMILIES, replay

RPS = "matrix(name=rps)"
RPS_MASK = np.array([True, True, True, False, False])
FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)


def rps_obs(fill: float = 0.0) -> np.ndarray:
    return np.full(parse_spec(RPS).obs_shape, fill, dtype=np.float32)


@pytest.fixture
def client(agent_server):
    with AgentClient(agent_server.address, retry=FAST_RETRY) as connected:
        yield connected


def test_connect_reads_the_servers_protocol(client):
    assert client.server_info.protocol_version == 1
    assert client.server_info.min_client_protocol_version == 1
    assert "streaming" in client.server_info.capabilities


def test_list_games_returns_plain_dataclasses_that_match_the_registry(client):
    families = client.list_games()
    assert [f.name for f in families] == sorted(FAMILIES)
    for family in families:
        assert isinstance(family, GameFamily)
        assert family.model.learner == "step"
        for variant in family.variants:
            assert isinstance(variant, GameVariant)
            spec = parse_spec(variant.spec)
            assert variant.spec == spec.name
            assert variant.observation_shape == spec.obs_shape
            assert variant.num_actions == spec.num_actions
            assert variant.alternating == spec.turn_based
    [matrix] = client.list_games("matrix")
    assert matrix.name == "matrix"
    assert matrix.variants[0].action_names[:3] == ("rock", "paper", "scissors")


def test_turns_are_numbered_by_the_session_and_match_the_learner(client):
    rewards = [0.0, 1.0, -1.0, 0.0]
    with client.session("turns", RPS) as session:
        assert session.next_turn == 1
        results = [session.act(rps_obs(), RPS_MASK, reward=r) for r in rewards]
        assert [r.turn for r in results] == [1, 2, 3, 4]
        ended = session.end_episode(final_reward=1.0, result=EpisodeResult.AGENT_WON)
        assert ended.turn == 5 and session.next_turn == 6
        second = session.act(rps_obs(), RPS_MASK)
    script = [("act", RPS_MASK, r) for r in rewards] + [("end", 1.0), ("act", RPS_MASK, 0.0)]
    assert [r.action for r in [*results, second]] == replay(RPS, script)
    first = results[0]
    assert isinstance(first, TurnResult) and not first.replayed
    np.testing.assert_allclose(first.probabilities, RPS_MASK / 3, atol=1e-6)
    assert ended.profile.player_id == "turns" and ended.profile.agent_wins == 1


def test_act_accepts_a_pettingzoo_observation_dict(client):
    with client.session("dicts", RPS) as session:
        turn = session.act({"observation": rps_obs(), "action_mask": RPS_MASK.astype(np.int8)})
    assert turn.action == replay(RPS, [("act", RPS_MASK, 0.0)])[0]


def test_a_wrong_observation_shape_is_invalid_argument_and_consumes_no_turn(client):
    with client.session("shapes", RPS) as session:
        with pytest.raises(errors.InvalidArgument, match=r"observation\.shape") as caught:
            session.act(np.zeros(3, np.float32), RPS_MASK)
        assert isinstance(caught.value, ValueError)
        assert session.next_turn == 1
        assert session.act(rps_obs(), RPS_MASK).turn == 1


def test_status_codes_map_to_the_error_tree(client):
    with pytest.raises(errors.NotFound, match="nonsense"):
        client.session("codes", "nonsense(x=1)")
    with pytest.raises(errors.InvalidArgument, match="name=foo"):
        client.session("codes", "matrix(name=foo)")
    with pytest.raises(errors.NotFound, match="no-such-session"):
        client.resume_session("no-such-session", "codes")
    with pytest.raises(errors.InvalidArgument, match="player_id"):
        client.session("not a valid id!", RPS)
    session = client.session("codes", RPS)
    session._next_turn = 7
    with pytest.raises(errors.FailedPrecondition, match="out of sequence"):
        session.act(rps_obs(), RPS_MASK)
    session.close()
    with pytest.raises(errors.SessionClosedError):
        session.act(rps_obs(), RPS_MASK)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("seed", -1),
        ("seed", 2**64),
        ("seed", 1.5),
        ("seed", True),
        ("idle_timeout_s", -5),
        ("idle_timeout_s", 2**31),
        ("seat", "1"),
    ],
)
def test_bad_session_arguments_are_named_before_a_round_trip(option, value):
    class Unreachable(AgentClient):
        def call(self, *args, **kwargs):
            raise AssertionError("a request was sent")

    client = Unreachable.__new__(Unreachable)  # no channel: the check must come first
    with pytest.raises(errors.InvalidArgument, match=rf": {option} must be an integer in"):
        client.session("args", RPS, **{option: value})


def test_resume_continues_at_the_turn_the_server_expects(client):
    session = client.session("resumer", RPS)
    session.act(rps_obs(), RPS_MASK)
    again = client.resume_session(session.session_id, "resumer")
    assert again.next_turn == 2
    assert again.act(rps_obs(), RPS_MASK).turn == 2
    session._next_turn = 99
    assert session.resume().next_turn == 3 and session.next_turn == 3


def test_a_lost_reply_is_retried_with_the_same_turn_and_replayed(agent_server):
    dropper = DropReply("Act", drop=2)
    with (
        AgentClient(agent_server.address, retry=FAST_RETRY, interceptors=[dropper]) as client,
        client.session("lost-reply", RPS) as session,
    ):
        results = [session.act(rps_obs(), RPS_MASK, reward=1.0) for _ in range(3)]
    [lost] = dropper.dropped
    assert lost.turn == 2 and not lost.replayed
    assert results[1].turn == 2 and results[1].replayed
    assert results[1].action == lost.action
    assert [r.action for r in results] == replay(RPS, [("act", RPS_MASK, 1.0)] * 3)


def test_a_connection_cut_mid_turn_is_retried_without_advancing_twice(agent_server):
    proxy = CuttingProxy(agent_server.port)
    try:
        with (
            AgentClient(proxy.address, retry=FAST_RETRY) as client,
            client.session("cut", RPS) as session,
        ):
            first = session.act(rps_obs(), RPS_MASK)
            proxy.cut_next_reply()
            second = session.act(rps_obs(), RPS_MASK, reward=-1.0)
            third = session.act(rps_obs(), RPS_MASK)
    finally:
        proxy.close()
    assert proxy.cuts == 1 and proxy.connections_accepted >= 2
    assert [first.turn, second.turn, third.turn] == [1, 2, 3]
    script = [("act", RPS_MASK, 0.0), ("act", RPS_MASK, -1.0), ("act", RPS_MASK, 0.0)]
    assert [first.action, second.action, third.action] == replay(RPS, script)


def test_an_unreachable_server_raises_unavailable_after_bounded_retries():
    # A bound socket that never listens: connecting is refused, and no one else can take
    # the port while the test holds it.
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed_port.getsockname()[1]}"
        retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.01)
        client = AgentClient(address, retry=retry, timeout_s=2.0)
        with pytest.raises(errors.Unavailable, match="after 3 attempts"):
            client.connect()


def test_streaming_mode_plays_the_same_turns_and_survives_in_band_errors(client):
    rewards = [0.0, 1.0, 0.0]
    with client.session("streamer", RPS, streaming=True) as session:
        assert session.streaming
        results = [session.act(rps_obs(), RPS_MASK, reward=r) for r in rewards[:2]]
        with pytest.raises(errors.InvalidArgument, match=r"observation\.shape"):
            session.act(np.zeros(2, np.float32), RPS_MASK)
        results.append(session.act(rps_obs(), RPS_MASK, reward=rewards[2]))
        ended = session.end_episode(-2.0)
        after = session.act(rps_obs(), RPS_MASK)
    assert [r.turn for r in results] == [1, 2, 3] and ended.turn == 4 and after.turn == 5
    script = [("act", RPS_MASK, r) for r in rewards] + [("end", -2.0), ("act", RPS_MASK, 0.0)]
    assert [r.action for r in [*results, after]] == replay(RPS, script)
    assert ended.profile.player_wins == 1, "the server infers the result: 1 + 0 - 2 < 0"


def test_a_stream_cut_mid_turn_is_reopened_and_the_turn_resent(agent_server):
    proxy = CuttingProxy(agent_server.port)
    try:
        with (
            AgentClient(proxy.address, retry=FAST_RETRY) as client,
            client.session("stream-cut", RPS, streaming=True) as session,
        ):
            first = session.act(rps_obs(), RPS_MASK)
            proxy.cut_next_reply()
            second = session.act(rps_obs(), RPS_MASK, reward=1.0)
    finally:
        proxy.close()
    assert proxy.cuts == 1
    script = [("act", RPS_MASK, 0.0), ("act", RPS_MASK, 1.0)]
    assert [first.action, second.action] == replay(RPS, script)


def test_profile_and_delete_profile(client):
    with client.session("forgetful", RPS) as session:
        session.act(rps_obs(), RPS_MASK)
        session.end_episode(0.0, EpisodeResult.DRAW)
        assert session.profile().draws == 1
    assert client.delete_profile("forgetful") is True
    with pytest.raises(errors.NotFound, match="forgetful"):
        client.profile("forgetful")
