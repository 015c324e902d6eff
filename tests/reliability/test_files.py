"""Bad files: damaged checkpoints and stores stop the server at start naming the file, and
a pickle planted where weights or states belong is refused, never executed.

The planted pickle is written opcode by opcode (nothing here imports pickle): unpickling
it would call ``builtins.open(MARKER, "w")`` and so create a marker file. ``pickletools``
disassembles it without running it, to show the payload is real; every test then checks
that no marker appeared.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickletools
import shutil
import sqlite3
import zipfile
from pathlib import Path

import grpc
import pytest

from game_agent.errors import CheckpointError, ConfigError, StateError
from game_agent.state import AdaptationState
from protos.game_agent.v1 import agent_pb2 as pb
from server.models import load_models
from server.stores.base import SessionRecord
from server.stores.sqlite import SqliteStore
from tests.server.conftest import act_request, start_session
from tests.server.processes import ServerProcess

CHECKPOINT = "rl2-matrix"
STORE = "game_agent.sqlite3"


def pickle_payload(marker: Path) -> bytes:
    """A protocol-0 pickle whose loading calls ``builtins.open(marker, "w")``."""
    assert "\n" not in str(marker) and str(marker).isascii()
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR."


def test_the_payload_is_a_pickle_that_would_create_the_marker(tmp_path):
    listing = io.StringIO()
    pickletools.dis(pickle_payload(tmp_path / "marker"), out=listing)
    text = listing.getvalue()
    assert "GLOBAL     'builtins open'" in text and "REDUCE" in text
    assert str(tmp_path / "marker") in text


def copy_models(rl2_models_dir: Path, tmp_path: Path) -> Path:
    models = tmp_path / "models"
    shutil.copytree(rl2_models_dir, models)
    return models


def plant(checkpoint: Path, name: str, data: bytes, *, rehash: bool) -> Path:
    """Replace ``checkpoint/name`` with ``data``; ``rehash`` updates meta.json's SHA-256 so
    that the hash check passes and the file's own format is all that stands in the way."""
    target = checkpoint / name
    target.write_bytes(data)
    if rehash:
        meta_file = checkpoint / "meta.json"
        meta = json.loads(meta_file.read_text())
        meta["files"][name] = hashlib.sha256(data).hexdigest()
        meta_file.write_text(json.dumps(meta))
    return target


def start_fails(models: Path, data: Path) -> str:
    """Run ``python -m server``; it must exit 2 (a start-up error); returns its stderr."""
    result = ServerProcess.run_to_exit(
        "server", "--models", str(models), "--data", str(data), "--log-format", "text"
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result.stderr


# ---------------------------------------------------------------- checkpoints


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def scramble_json(path: Path) -> None:
    path.write_text(path.read_text()[:-40] + "\x00garbage")


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage, name, said",
    [
        (truncate, "model.safetensors", "is corrupt"),
        (truncate, "optimizer.safetensors", "is corrupt"),
        (scramble_json, "meta.json", "is not valid JSON"),
    ],
)
def test_a_damaged_checkpoint_stops_the_server_naming_the_file(
    rl2_models_dir, tmp_path, damage, name, said
):
    models = copy_models(rl2_models_dir, tmp_path)
    damage(models / CHECKPOINT / name)
    with pytest.raises(CheckpointError, match=f"{CHECKPOINT}/{name}.*{said}"):
        load_models(models)
    stderr = start_fails(models, tmp_path / "var")
    assert f"{CHECKPOINT}/{name}" in stderr and said in stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors"])
def test_a_pickle_in_place_of_weights_is_refused_not_run(rl2_models_dir, tmp_path, name):
    marker = tmp_path / "marker"
    models = copy_models(rl2_models_dir, tmp_path)
    plant(models / CHECKPOINT, name, pickle_payload(marker), rehash=True)
    with pytest.raises(CheckpointError, match=f"{CHECKPOINT}/{name} cannot be read"):
        load_models(models)
    stderr = start_fails(models, tmp_path / "var")
    assert f"{CHECKPOINT}/{name} cannot be read" in stderr
    assert not marker.exists()


def torch_style_archive(payload: bytes) -> bytes:
    """What ``torch.save`` writes: a zip whose ``data.pkl`` is a pickle."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


@pytest.mark.slow
def test_pt_files_are_never_loaded(rl2_models_dir, tmp_path):
    marker = tmp_path / "marker"
    payload = torch_style_archive(pickle_payload(marker))
    alone = tmp_path / "alone"
    (alone / "evil").mkdir(parents=True)
    (alone / "evil" / "model.pt").write_bytes(payload)
    with pytest.raises(ConfigError, match="holds no checkpoints"):
        load_models(alone)
    # Beside a real checkpoint, a .pt file is ignored: the safetensors weights are served.
    models = copy_models(rl2_models_dir, tmp_path)
    (models / CHECKPOINT / "model.pt").write_bytes(payload)
    (models / "policy.pt").write_bytes(payload)
    [model] = list(load_models(models))
    assert model.checkpoint == CHECKPOINT
    assert not marker.exists()


def test_a_pickle_in_place_of_an_adaptation_state_is_refused_not_run(tmp_path):
    marker = tmp_path / "marker"
    with pytest.raises(StateError, match="adaptation state is corrupt"):
        AdaptationState.from_bytes(pickle_payload(marker))
    assert not marker.exists()


def test_a_stored_session_holding_a_pickle_answers_data_loss(server_factory, tmp_path):
    marker = tmp_path / "marker"
    served = server_factory()
    stub = served.stub()
    session = start_session(stub, player="mallory")
    stub.Act(act_request(session, 1))
    served.stop()
    db = sqlite3.connect(served.config.sqlite_path)
    with db:
        db.execute(
            "UPDATE sessions SET state = ? WHERE session_id = ?",
            (pickle_payload(marker), session.session_id),
        )
    db.close()
    restarted = server_factory()
    with pytest.raises(grpc.RpcError) as err:
        restarted.stub().ResumeSession(
            pb.ResumeSessionRequest(session_id=session.session_id, player_id="mallory")
        )
    assert err.value.code() == grpc.StatusCode.DATA_LOSS
    assert "adaptation state is corrupt" in err.value.details()
    assert not marker.exists()


# ---------------------------------------------------------------- stores


def filled_store(path: Path, sessions: int = 2000) -> None:
    """A store with enough sessions to span many pages, closed cleanly (WAL folded in)."""
    store = SqliteStore(path, sync_commits=False)
    for i in range(sessions):
        record = SessionRecord(
            session_id=f"s_{i:06d}",
            principal="",
            player_id=f"p{i}",
            game="matrix(bias=2.0,history=3,name=rps,rounds=50)",
            family="matrix",
            agent_seat=0,
            greedy=False,
            seed=i,
            idle_timeout_s=60.0,
            model_sha="ab" * 32,
            next_turn=1,
            state=os.urandom(600),
            expires_ms=10**13,
        )
        store.create_session(record, now_ms=0, max_per_player=8, max_total=10**6)
    store.close()
    assert not Path(str(path) + "-wal").exists()


def overwrite_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = bytes(range(256)) * 32
    path.write_bytes(bytes(data))


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 400)


def other_schema(path: Path) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.close()


STORE_DAMAGE = [
    (garbage, "file is not a database"),
    (truncate, "malformed"),
    (overwrite_middle, "is damaged"),
    (other_schema, "has store schema 99"),
]


@pytest.mark.parametrize("damage, said", STORE_DAMAGE)
def test_a_damaged_store_is_refused_when_opened_naming_the_file(tmp_path, damage, said):
    path = tmp_path / STORE
    filled_store(path)
    damage(path)
    with pytest.raises(ConfigError, match=said) as err:
        SqliteStore(path)
    assert str(path) in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("damage, said", STORE_DAMAGE[:3])
def test_a_damaged_store_stops_the_server_at_start_naming_the_file(
    rl2_models_dir, tmp_path, damage, said
):
    data = tmp_path / "var"
    data.mkdir()
    filled_store(data / STORE)
    damage(data / STORE)
    stderr = start_fails(rl2_models_dir, data)
    assert f"the SQLite store {data / STORE}" in stderr and said in stderr


def test_an_intact_store_opens_with_its_sessions(tmp_path):
    path = tmp_path / STORE
    filled_store(path, sessions=50)
    store = SqliteStore(path)
    assert store.load_session("s_000049").seed == 49
    store.close()


@pytest.mark.slow
def test_a_damaged_turn_log_stops_the_server_at_start_naming_the_file(rl2_models_dir, tmp_path):
    # The turn log beside the store (server.stores.turnlog) holds acknowledged turns not
    # yet in SQLite: a damaged one is refused at start, never half-applied or ignored.
    data = tmp_path / "var"
    data.mkdir()
    filled_store(data / STORE)
    log = data / (STORE + "-turns")
    log.write_bytes(b"this is not a turn log\n" * 10)
    stderr = start_fails(rl2_models_dir, data)
    assert f"{log} is not a game-agent turn log" in stderr
