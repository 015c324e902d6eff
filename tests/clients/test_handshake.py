"""Connecting: version checks against servers of other protocol versions, API keys, metadata.

Servers speaking another protocol version do not exist yet, so a small stand-in
servicer plays them; the API-key tests use the real server.
"""

from __future__ import annotations

import grpc
import pytest

from clients import errors
from clients.errors import error_for, error_for_number
from clients.handshake import call_metadata
from clients.sdk import AgentClient, RetryPolicy
from protos.game_agent.v1 import agent_pb2 as pb
from tests.clients.stand_in import InfoOnly


def test_connect_sends_protocol_and_key_metadata(stand_in_server):
    servicer = InfoOnly(pb.ServerInfo(protocol_version=1, min_client_protocol_version=1))
    with AgentClient(stand_in_server(servicer), api_key="k" * 20) as client:
        assert client.server_info.protocol_version == 1
    [metadata] = servicer.metadata
    assert metadata["x-game-agent-protocol"] == "1"
    assert metadata["x-api-key"] == "k" * 20


@pytest.mark.parametrize(
    ("protocol", "minimum", "message"),
    [(2, 2, "upgrade the game-agent SDK"), (0, 0, "older than this client's protocol 1")],
)
def test_an_incompatible_server_is_refused_with_a_clear_error(
    stand_in_server, protocol, minimum, message
):
    info = pb.ServerInfo(
        protocol_version=protocol, min_client_protocol_version=minimum, server_version="9.0"
    )
    client = AgentClient(stand_in_server(InfoOnly(info)))
    with pytest.raises(errors.IncompatibleServerError, match=message):
        client.connect()
    assert client._channel is None, "a refused connection is closed"


def test_a_server_refusing_the_handshake_is_incompatible(stand_in_server):
    address = stand_in_server(InfoOnly(refuse="client protocol version 1 is not supported"))
    with pytest.raises(errors.IncompatibleServerError, match="not supported"):
        AgentClient(address).connect()


def test_a_server_requiring_keys_refuses_a_missing_or_wrong_key(server_factory, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("# key principal\n" + "s3cret-key-0123456789 studio-a\n")
    running = server_factory(api_keys_file=keys)
    no_retry = RetryPolicy(max_attempts=1)
    with pytest.raises(errors.Unauthenticated):
        AgentClient(running.address, retry=no_retry).connect()
    with pytest.raises(errors.Unauthenticated):
        AgentClient(running.address, api_key="wrong-key-0123456789", retry=no_retry).connect()
    with AgentClient(running.address, api_key="s3cret-key-0123456789") as client:
        assert client.server_info.requires_api_key
        assert [f.name for f in client.list_games("pong")] == ["pong"]


def test_bad_api_keys_are_refused_before_any_call():
    with pytest.raises(errors.ClientConfigError, match="api_key"):
        call_metadata("")
    with pytest.raises(errors.ClientConfigError, match="api_key"):
        call_metadata("key\nwith newline")


def test_every_status_code_has_a_typed_error():
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
        grpc.StatusCode.NOT_FOUND: errors.NotFound,
        grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
        grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
        grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
        grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
        grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
        grpc.StatusCode.ABORTED: errors.Aborted,
        grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
        grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
        grpc.StatusCode.INTERNAL: errors.ServerError,
        grpc.StatusCode.UNIMPLEMENTED: errors.ServerError,
    }
    for code, cls in expected.items():
        error = error_for(code, "what went wrong")
        assert type(error) is cls and error.code == code
        assert str(error) == f"{code.name}: what went wrong"
        assert type(error_for_number(code.value[0], "x")) is cls
    assert type(error_for_number(999, "x")) is errors.ServerError


def test_retry_policy_backoff_is_bounded():
    policy = RetryPolicy(max_attempts=5, initial_backoff_s=0.1, max_backoff_s=0.3, multiplier=2)
    assert list(policy.delays()) == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert list(RetryPolicy(max_attempts=1).delays()) == []
    with pytest.raises(errors.ClientConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
