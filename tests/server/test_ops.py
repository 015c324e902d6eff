"""Operations: handshake, discovery, health, reflection, metrics, graceful shutdown."""

from __future__ import annotations

import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from game_agent.errors import ConfigError
from protos.game_agent.v1 import agent_pb2 as pb
from server.config import ServerConfig
from server.models import ModelRegistry
from server.stores.sqlite import SqliteStore
from tests.server.conftest import (
    MATRIX,
    CountingLearner,
    act_request,
    counting_model,
    start_session,
)

RPS_MASK = [True, True, True, False, False]


def test_server_info(stub, served):
    info = stub.GetServerInfo(pb.GetServerInfoRequest(client_protocol_version=1, client_name="t"))
    assert (info.protocol_version, info.min_client_protocol_version) == (1, 1)
    assert "streaming" in info.capabilities and "profiles" in info.capabilities
    assert info.max_request_bytes == served.config.max_request_bytes
    assert not info.requires_api_key
    assert info.server_version


def test_list_games_describes_families_variants_and_models(stub):
    [family] = stub.ListGames(pb.ListGamesRequest()).families
    assert family.name == "matrix" and family.description
    names = {p.name: p for p in family.parameters}
    assert names["rounds"].type == "int" and names["rounds"].default_value == "50"
    assert "rps" in names["name"].choices
    specs = [v.spec for v in family.variants]
    assert specs[0] == "matrix(bias=2.0,history=3,name=rps,rounds=50)"
    rps = family.variants[0]
    assert list(rps.observation_shape) == [81] and rps.num_actions == 5
    assert rps.turn_structure == pb.TURN_STRUCTURE_SIMULTANEOUS
    assert list(rps.action_names) == ["rock", "paper", "scissors"]
    assert (rps.observation_low, rps.observation_high) == (-1.0, 1.0)
    assert rps.split == "train" and family.variants[-1].split == "heldout"
    assert family.model.learner == "counting" and family.model.training_steps == 1234
    assert len(family.model.checkpoint_sha256) == 64


def test_health_reports_serving(served):
    health = health_pb2_grpc.HealthStub(served.channel())
    for service in ("", "game_agent.v1.AgentService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(served):
    reflection = reflection_pb2_grpc.ServerReflectionStub(served.channel())
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [reply] = list(reflection.ServerReflectionInfo(iter([request])))
    names = {s.name for s in reply.list_services_response.service}
    assert {"game_agent.v1.AgentService", "grpc.health.v1.Health"} <= names
    symbol = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="game_agent.v1.ActRequest"
    )
    [reply] = list(reflection.ServerReflectionInfo(iter([symbol])))
    assert reply.file_descriptor_response.file_descriptor_proto


def test_metrics_are_exposed(server_factory):
    served = server_factory(metrics_port=0)
    stub = served.stub()
    session = start_session(stub)
    stub.Act(act_request(session, 1, mask=RPS_MASK))
    with pytest.raises(grpc.RpcError):
        stub.Act(act_request(session, 5, mask=RPS_MASK))
    port = served.server.metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'game_agent_requests_total{code="OK",method="Act"} 1.0' in text
    assert 'game_agent_errors_total{code="FAILED_PRECONDITION",method="Act"} 1.0' in text
    assert 'game_agent_turn_latency_seconds_count{method="Act"} 1.0' in text
    assert 'game_agent_batch_size_count{model="matrix"} 1.0' in text
    assert "game_agent_live_sessions 1.0" in text


def test_graceful_shutdown_drains_turns_and_flushes_adaptation(server_factory, tmp_path):
    learner = CountingLearner(("matrix",), adapt_delay_s=0.3, act_delay_s=0.5)
    served = server_factory(ModelRegistry([counting_model(learner)]))
    stub = served.stub()
    first, second = start_session(stub, player="a"), start_session(stub, player="b")
    stub.Act(act_request(first, 1, mask=RPS_MASK))
    stub.EndEpisode(pb.EndEpisodeRequest(session_id=first.session_id, turn=2))
    watch = health_pb2_grpc.HealthStub(served.channel()).Watch(
        health_pb2.HealthCheckRequest(service="")
    )
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(stub.Act, act_request(second, 1, mask=RPS_MASK))
        time.sleep(0.2)  # the turn is inside the learner now
        stopping = pool.submit(served.stop, 5)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
        assert in_flight.result(30).turn == 1
        stopping.result(30)
    assert learner.adaptations == 1
    store = SqliteStore(served.config.sqlite_path)
    assert store.pending_adaptations() == []
    assert store.load_adaptation("a", first.game.spec) is not None
    assert store.load_session(second.session_id).next_turn == 2
    store.close()


def test_draining_refuses_new_turns_with_unavailable(served, stub):
    session = start_session(stub)
    served.run(_drain(served.server.sessions))
    with pytest.raises(grpc.RpcError) as err:
        stub.Act(act_request(session, 1, mask=RPS_MASK))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as err:
        start_session(stub, player="zed", game=MATRIX)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def _drain(sessions) -> None:
    sessions.begin_draining()


def test_a_taken_port_fails_clearly(served, server_factory, tmp_path):
    # Its own data: a second server on the first one's store is refused before it listens.
    with pytest.raises(ConfigError, match="cannot listen"):
        server_factory(address=served.target, data_dir=tmp_path / "second")


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"store": "postgres://x"}, "store must be"),
        ({"store": "redis://localhost:6379\n"}, "store must be"),
        ({"address": "nohost"}, "HOST:PORT"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"idle_timeout_s": 10, "max_idle_timeout_s": 5}, "must not exceed"),
        ({"metrics_port": 70000}, "metrics_port"),
    ],
)
def test_config_rejects_bad_values(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ServerConfig(**overrides)


def test_a_taken_metrics_port_fails_clearly_and_releases_the_grpc_port(server_factory, tmp_path):
    first = server_factory(metrics_port=0)
    second = tmp_path / "second"
    with pytest.raises(ConfigError, match="cannot serve metrics"):
        server_factory(metrics_port=first.server.metrics_port, data_dir=second)
    # The failed server let go of its store and port: a normal one starts on the same data.
    assert server_factory(data_dir=second).port > 0


def test_a_second_server_on_the_same_data_is_refused_naming_the_store(served, server_factory):
    with pytest.raises(ConfigError, match=r"turn log .* is in use by another server process"):
        server_factory()
