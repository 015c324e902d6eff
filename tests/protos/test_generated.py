"""The generated stubs import, match the .proto, and the staleness check catches edits."""

import shutil
from pathlib import Path

from protos import generate
from protos.game_agent.v1 import agent_pb2, agent_pb2_grpc


def test_generated_code_is_fresh():
    assert generate.stale_files() == []


def test_staleness_check_catches_an_edited_proto(tmp_path: Path):
    for rel in generate.PROTO_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(generate.REPO_ROOT / rel, tmp_path / rel)
        for path in generate.generated_paths(rel):
            shutil.copy(generate.REPO_ROOT / path, tmp_path / path)
    assert generate.stale_files(tmp_path) == []

    proto = tmp_path / generate.PROTO_FILES[0]
    text = proto.read_text()
    edited = text.replace("float value = 4;", "float value = 4;\n  float confidence = 7;", 1)
    assert edited != text
    proto.write_text(edited)
    stale = generate.stale_files(tmp_path)
    assert "protos/game_agent/v1/agent_pb2.py" in stale
    assert "protos/game_agent/v1/agent_pb2.pyi" in stale


def test_messages_round_trip_through_bytes():
    request = agent_pb2.ActRequest(
        session_id="s1",
        turn=7,
        observation=agent_pb2.Tensor(shape=[2, 3, 3], values=[0.0] * 18),
        action_mask=[True] * 9,
        reward=-1.0,
    )
    parsed = agent_pb2.ActRequest.FromString(request.SerializeToString())
    assert parsed == request
    assert list(parsed.observation.shape) == [2, 3, 3]


def test_removed_field_numbers_are_reserved():
    reserved = agent_pb2.ActRequest.DESCRIPTOR
    assert 6 not in {field.number for field in reserved.fields}
    assert "legal_actions" not in reserved.fields_by_name


def test_service_exposes_every_rpc():
    service = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]
    methods = {m.name for m in service.methods}
    assert methods == {
        "GetServerInfo",
        "ListGames",
        "StartSession",
        "ResumeSession",
        "EndSession",
        "Act",
        "Play",
        "EndEpisode",
        "GetProfile",
        "DeleteProfile",
    }
    play = service.methods_by_name["Play"]
    assert play.client_streaming and play.server_streaming
    assert hasattr(agent_pb2_grpc, "AgentServiceServicer")
    assert hasattr(agent_pb2_grpc, "add_AgentServiceServicer_to_server")
