"""Every malformed request gets the right status code and a message naming the field."""

from __future__ import annotations

import dataclasses
import math
import re

import grpc
import pytest

from games.registry import parse_spec
from protos.game_agent.v1 import agent_pb2 as pb
from server import validation
from server.errors import InvalidArgument
from tests.server.conftest import MATRIX, act_request, start_session

RPS_MASK = [True, True, True, False, False]


def refused(call, request, code: grpc.StatusCode, *fragments: str) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    assert err.value.code() == code, err.value.details()
    for fragment in fragments:
        assert fragment in err.value.details()
    return err.value.details()


@pytest.fixture
def session(stub) -> pb.Session:
    return start_session(stub)


def _act(session, **changes) -> pb.ActRequest:
    request = act_request(session, 1, mask=RPS_MASK)
    for name, value in changes.items():
        if name == "observation":
            request.observation.CopyFrom(value)
        elif name == "action_mask":
            del request.action_mask[:]
            request.action_mask.extend(value)
        else:
            setattr(request, name, value)
    return request


OBS_CASES = [
    ("wrong shape", pb.Tensor(shape=[9, 9], values=[0.0] * 81), "observation.shape is [9, 9]"),
    ("no shape", pb.Tensor(values=[0.0] * 81), "observation.shape is []"),
    ("too few values", pb.Tensor(shape=[81], values=[0.0] * 80), "has 80 values"),
    ("too many values", pb.Tensor(shape=[81], values=[0.0] * 82), "has 82 values"),
    ("nan", pb.Tensor(shape=[81], values=[0.0] * 5 + [math.nan] + [0.0] * 75), "values[5] is nan"),
    ("inf", pb.Tensor(shape=[81], values=[math.inf] + [0.0] * 80), "values[0] is inf"),
    ("out of range", pb.Tensor(shape=[81], values=[0.0] * 80 + [7.0]), "outside [-1, 1]"),
]


@pytest.mark.parametrize("case, tensor, fragment", OBS_CASES, ids=[c[0] for c in OBS_CASES])
def test_bad_observations_are_invalid_arguments(stub, session, case, tensor, fragment):
    refused(stub.Act, _act(session, observation=tensor), grpc.StatusCode.INVALID_ARGUMENT, fragment)


def test_bad_masks_and_rewards_are_invalid_arguments(stub, session):
    refused(
        stub.Act,
        _act(session, action_mask=[True] * 4),
        grpc.StatusCode.INVALID_ARGUMENT,
        "action_mask has 4 entries",
        "5 actions",
    )
    refused(
        stub.Act,
        _act(session, action_mask=[False] * 5),
        grpc.StatusCode.INVALID_ARGUMENT,
        "no legal action",
    )
    refused(stub.Act, _act(session, reward=math.nan), grpc.StatusCode.INVALID_ARGUMENT, "reward")
    refused(
        stub.EndEpisode,
        pb.EndEpisodeRequest(session_id=session.session_id, turn=1, final_reward=math.inf),
        grpc.StatusCode.INVALID_ARGUMENT,
        "final_reward",
    )
    refused(
        stub.EndEpisode,
        pb.EndEpisodeRequest(session_id=session.session_id, turn=1, result=9),
        grpc.StatusCode.INVALID_ARGUMENT,
        "result 9",
    )
    # None of the refused requests advanced the session.
    assert stub.Act(_act(session)).turn == 1


def test_turn_numbers(stub, session):
    refused(stub.Act, _act(session, turn=0), grpc.StatusCode.INVALID_ARGUMENT, "turns start at 1")
    refused(stub.Act, _act(session, turn=-3), grpc.StatusCode.INVALID_ARGUMENT, "turn is -3")
    refused(stub.Act, _act(session, turn=2), grpc.StatusCode.FAILED_PRECONDITION, "expects turn 1")


def test_unknown_and_malformed_sessions(stub, session):
    refused(stub.Act, _act(session, session_id=""), grpc.StatusCode.INVALID_ARGUMENT, "empty")
    refused(
        stub.Act,
        _act(session, session_id="no spaces!"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "malformed",
    )
    refused(
        stub.Act,
        _act(session, session_id="s_doesnotexist"),
        grpc.StatusCode.NOT_FOUND,
        "does not exist",
    )
    refused(
        stub.ResumeSession,
        pb.ResumeSessionRequest(session_id="s_doesnotexist", player_id="alice"),
        grpc.StatusCode.NOT_FOUND,
    )
    refused(stub.EndSession, pb.EndSessionRequest(session_id="s_gone"), grpc.StatusCode.NOT_FOUND)


@pytest.mark.parametrize(
    "player", ["", "has space", "x" * 129, "semi;colon", "ünicode", "alice\n"], ids=repr
)
def test_player_id_format(stub, player):
    refused(
        stub.StartSession,
        pb.StartSessionRequest(player_id=player, game=MATRIX),
        grpc.StatusCode.INVALID_ARGUMENT,
        "player_id",
        "[A-Za-z0-9_.:@-]",
    )
    refused(
        stub.GetProfile, pb.GetProfileRequest(player_id=player), grpc.StatusCode.INVALID_ARGUMENT
    )


def test_player_id_allowed_characters(stub):
    player = "a.B_9:c@d-" + "x" * 118
    assert start_session(stub, player=player).player_id == player


START_CASES = [
    ("unknown family", "chess", 0, grpc.StatusCode.NOT_FOUND, "not a game family"),
    ("family not served", "connect_n", 0, grpc.StatusCode.NOT_FOUND, "no model serves"),
    ("bad parameter", "matrix(name=tennis)", 0, grpc.StatusCode.INVALID_ARGUMENT, "tennis"),
    ("unknown parameter", "matrix(colour=red)", 0, grpc.StatusCode.INVALID_ARGUMENT, "colour"),
    ("unparseable", "matrix(((", 0, grpc.StatusCode.INVALID_ARGUMENT, "cannot parse"),
    ("empty game", "", 0, grpc.StatusCode.INVALID_ARGUMENT, "game is empty"),
    ("seat too high", MATRIX, 2, grpc.StatusCode.INVALID_ARGUMENT, "agent_seat 2"),
    ("negative seat", MATRIX, -1, grpc.StatusCode.INVALID_ARGUMENT, "seats are 0..1"),
]


@pytest.mark.parametrize(
    "case, game, seat, code, fragment", START_CASES, ids=[c[0] for c in START_CASES]
)
def test_start_session_refusals(stub, case, game, seat, code, fragment):
    request = pb.StartSessionRequest(player_id="alice", game=game, agent_seat=seat)
    refused(stub.StartSession, request, code, fragment)


def test_variant_the_model_does_not_support(server_factory):
    from server.models import ModelRegistry
    from tests.server.conftest import CountingLearner, counting_model

    class RpsOnly(CountingLearner):
        def supports(self, spec):
            return spec.family == "matrix" and spec.param("name") == "rps"

    stub = server_factory(ModelRegistry([counting_model(RpsOnly())])).stub()
    refused(
        stub.StartSession,
        pb.StartSessionRequest(player_id="alice", game="matrix(name=rpsls)"),
        grpc.StatusCode.NOT_FOUND,
        "cannot play it",
    )


def test_negative_idle_timeout(stub):
    request = pb.StartSessionRequest(
        player_id="alice", game=MATRIX, options=pb.SessionOptions(idle_timeout_seconds=-1)
    )
    refused(stub.StartSession, request, grpc.StatusCode.INVALID_ARGUMENT, "idle_timeout_seconds")


def test_oversized_messages_are_resource_exhausted(server_factory):
    stub = server_factory(max_request_bytes=4096).stub()
    session = start_session(stub)
    big = pb.Tensor(shape=[81], values=[0.0] * 2000)
    refused(stub.Act, _act(session, observation=big), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert stub.Act(_act(session)).turn == 1


def test_list_games_filter(stub):
    refused(stub.ListGames, pb.ListGamesRequest(family="chess"), grpc.StatusCode.NOT_FOUND)
    assert list(stub.ListGames(pb.ListGamesRequest(family="poker")).families) == []


def test_protocol_version_checks(stub):
    refused(
        stub.GetServerInfo,
        pb.GetServerInfoRequest(client_protocol_version=2),
        grpc.StatusCode.FAILED_PRECONDITION,
        "accepts clients from 1 to 1",
    )
    assert stub.GetServerInfo(pb.GetServerInfoRequest(client_protocol_version=0)).protocol_version
    with pytest.raises(grpc.RpcError) as err:
        stub.ListGames(pb.ListGamesRequest(), metadata=[("x-game-agent-protocol", "7")])
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        stub.ListGames(pb.ListGamesRequest(), metadata=[("x-game-agent-protocol", "one")])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.ListGames(pb.ListGamesRequest(), metadata=[("x-game-agent-protocol", "1")])


TRUNCATED = pb.ActRequest(session_id="s_abc", turn=2, action_mask=[True] * 5).SerializeToString()


@pytest.mark.parametrize(
    "data",
    [b"\xff" * 20, b"\x07\x01", TRUNCATED[:4]],
    ids=["garbage", "bad-wire-type", "truncated"],
)
def test_bytes_that_are_no_message_are_invalid_argument(served, data):
    raw = served.channel().unary_unary("/game_agent.v1.AgentService/Act")
    refused(raw, data, grpc.StatusCode.INVALID_ARGUMENT, "not a valid game_agent.v1.ActRequest")


def test_bytes_that_are_no_message_are_answered_in_band_on_the_stream(served, session):
    play = served.channel().stream_stream("/game_agent.v1.AgentService/Play")
    good = pb.PlayRequest(act=act_request(session, 1, mask=RPS_MASK)).SerializeToString()
    bad, ok = (pb.PlayResponse.FromString(r) for r in play(iter([b"\xff" * 9, good]), timeout=10))
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "not a valid game_agent.v1.PlayRequest" in bad.error.message
    assert ok.act.turn == 1  # the stream stayed open


def test_an_unauthenticated_call_with_bad_bytes_is_unauthenticated(server_factory, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("key-0123456789abcdef studio\n")
    served = server_factory(api_keys_file=keys)
    raw = served.channel().unary_unary("/game_agent.v1.AgentService/Act")
    refused(raw, b"\xff" * 20, grpc.StatusCode.UNAUTHENTICATED, "requires an API key")


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ([0.5, math.nan], "values[1] is nan; observations must be finite"),
        ([math.inf, 0.0], "values[0] is inf; observations must be finite"),
        ([0.0, -math.inf], "values[1] is -inf; observations must be finite"),
        ([0.0, 2.0], "values[1] is 2, outside [0, 1]"),
    ],
)
def test_observation_values_are_finite_and_in_bounds(values, fragment):
    # Directly, with unbounded specs too (PettingZoo Box spaces may be unbounded): the
    # one-pass range check must still refuse infinities there.
    spec = dataclasses.replace(parse_spec(MATRIX), obs_shape=(2,), obs_low=0.0, obs_high=1.0)
    unbounded = dataclasses.replace(spec, obs_low=-math.inf, obs_high=math.inf)
    with pytest.raises(InvalidArgument, match=re.escape(fragment)):
        validation.observation([2], values, spec)
    if "finite" in fragment:
        with pytest.raises(InvalidArgument, match=re.escape(fragment)):
            validation.observation([2], values, unbounded)
    else:
        assert validation.observation([2], values, unbounded).tolist() == values


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " "], ids=repr)
def test_ids_with_a_trailing_line_break_are_refused(suffix):
    # A regex ending in "$" also matches before a final "\n": ids are checked to the end.
    for check, value in ((validation.player_id, "alice"), (validation.session_id, "s_abc")):
        assert check(value) == value
        with pytest.raises(InvalidArgument):
            check(value + suffix)
