"""End to end with a real RL2 checkpoint: loading, play, memory that continues, restarts.

The checkpoint is trained for a few hundred decisions in the test session
(``rl2_models_dir``), so these tests are marked slow. Sessions play greedily,
which makes the served moves reproducible: every check compares the server
with the same checkpoint driven in-process.
"""

from __future__ import annotations

import json
import shutil

import grpc
import numpy as np
import pytest

from game_agent import load
from game_agent.errors import CheckpointError, ConfigError
from games.registry import parse_spec
from protos.game_agent.v1 import agent_pb2 as pb
from server.models import load_models
from tests.server.conftest import RL2_VARIANTS, ServerThread, make_config
from tests.server.gameplay import LocalAgent, ServedAgent, play
from tests.server.processes import ServerProcess

pytestmark = pytest.mark.slow
GAME = RL2_VARIANTS[0]
STYLE = "copy_last"


@pytest.fixture(scope="module")
def rl2_server(rl2_models_dir, tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("rl2-serve"), models_dir=rl2_models_dir)
    running = ServerThread(config, models=None)  # loads the models directory
    yield running
    running.stop()


def local_agent(models_dir, game: str = GAME) -> LocalAgent:
    return LocalAgent(load(models_dir / "rl2-matrix"), game, greedy=True)


def test_the_models_directory_is_loaded_with_its_metadata(rl2_models_dir):
    [model] = list(load_models(rl2_models_dir))
    meta = json.loads((rl2_models_dir / "rl2-matrix" / "meta.json").read_text())
    assert model.family == "matrix" and model.learner.name == "rl2"
    assert model.checkpoint == "rl2-matrix"
    assert model.sha256 == meta["files"]["model.safetensors"]
    assert model.training_steps == meta["progress"]["decisions"] >= 300
    trained = [parse_spec(v).name for v in RL2_VARIANTS]
    assert [spec.name for spec in model.variants[:2]] == trained
    assert all(model.splits[name] == "train" for name in trained)
    assert "heldout" in model.splits.values()  # the family's held-out variants are listed too


def test_models_are_served_through_onnxruntime_unless_torch_is_asked_for(rl2_models_dir):
    from game_agent.inference import AcceleratedLearner

    [fast] = list(load_models(rl2_models_dir))
    [plain] = list(load_models(rl2_models_dir, inference="torch"))
    assert isinstance(fast.learner, AcceleratedLearner)
    assert not isinstance(plain.learner, AcceleratedLearner) and plain.learner.name == "rl2"
    assert fast.sha256 == plain.sha256 and fast.variants == plain.variants
    with pytest.raises(ConfigError, match="inference must be one of"):
        load_models(rl2_models_dir, inference="tensorflow")


def test_list_games_shows_the_checkpoint(rl2_server):
    [family] = rl2_server.stub().ListGames(pb.ListGamesRequest()).families
    assert family.model.learner == "rl2" and family.model.checkpoint == "rl2-matrix"
    assert family.model.training_steps >= 300


def test_served_games_match_the_checkpoint_in_process(rl2_server, rl2_models_dir):
    for seat in (0, 1):
        served = ServedAgent(rl2_server.stub(), f"rl2-{seat}", GAME, seat, greedy=True)
        local = local_agent(rl2_models_dir)
        assert play(served, GAME, STYLE, seat, seed=3) == play(local, GAME, STYLE, seat, seed=3)
        np.testing.assert_allclose(served.probs, local.probs, atol=1e-6)


def test_one_seed_gives_one_sequence_of_sampled_moves(rl2_server, rl2_models_dir):
    """Sampled sessions with one seed play the moves the checkpoint plays in-process at
    that seed's draws, whatever other sessions drew in between; another seed differs."""
    stub = rl2_server.stub()
    seed = 2**63 + 5
    first = ServedAgent(stub, "seeded-1", GAME, 0, seed=seed)
    assert first.turn == 1
    trace = play(first, GAME, STYLE, 0, seed=3)
    play(ServedAgent(stub, "unseeded", GAME, 0), GAME, STYLE, 0, seed=3)
    again = ServedAgent(stub, "seeded-2", GAME, 0, seed=seed)
    assert play(again, GAME, STYLE, 0, seed=3) == trace
    np.testing.assert_array_equal(again.probs, first.probs)
    local = LocalAgent(load(rl2_models_dir / "rl2-matrix"), GAME, seed=seed)
    assert play(local, GAME, STYLE, 0, seed=3) == trace
    other = ServedAgent(stub, "seeded-3", GAME, 0, seed=seed + 1)
    assert play(other, GAME, STYLE, 0, seed=3) != trace


def test_a_returning_player_continues_the_recurrent_memory(rl2_server, rl2_models_dir):
    stub = rl2_server.stub()
    first = ServedAgent(stub, "regular", GAME, 0, greedy=True)
    local = local_agent(rl2_models_dir)
    play(first, GAME, STYLE, 0, seed=5)
    play(local, GAME, STYLE, 0, seed=5)
    stub.EndSession(pb.EndSessionRequest(session_id=first.session.session_id))

    second = ServedAgent(stub, "regular", GAME, 0, greedy=True)
    assert second.session.returning_player and second.session.episodes_played == 2
    fresh = local_agent(rl2_models_dir)
    assert play(second, GAME, STYLE, 0, seed=9) == play(local, GAME, STYLE, 0, seed=9)
    np.testing.assert_allclose(second.probs, local.probs[-len(second.probs) :], atol=1e-6)
    # The continued memory matters: a stranger is answered differently.
    play(fresh, GAME, STYLE, 0, seed=9)
    assert not np.allclose(second.probs, fresh.probs, atol=1e-4)


def test_a_retried_turn_does_not_advance_the_memory(rl2_server, rl2_models_dir):
    stub = rl2_server.stub()
    spec = parse_spec(GAME)
    session = stub.StartSession(
        pb.StartSessionRequest(
            player_id="retrier", game=GAME, options=pb.SessionOptions(greedy=True)
        )
    )
    local = local_agent(rl2_models_dir)
    rng = np.random.default_rng(0)
    mask = np.zeros(spec.num_actions, bool)
    mask[:3] = True
    for turn in range(1, 6):
        obs = rng.uniform(-1, 1, spec.obs_shape).astype(np.float32)
        request = pb.ActRequest(
            session_id=session.session_id,
            turn=turn,
            observation=pb.Tensor(shape=list(obs.shape), values=obs.ravel().tolist()),
            action_mask=mask.tolist(),
            reward=float(turn % 2),
        )
        reply = stub.Act(request)
        assert stub.Act(request).replayed
        expected = local.act(obs, mask, float(turn % 2))
        assert reply.action == expected
        np.testing.assert_allclose(reply.action_probabilities, local.probs[-1], atol=1e-6)


def test_a_server_process_killed_mid_game_resumes_rl2_sessions_exactly(rl2_models_dir, tmp_path):
    args = ("--models", str(rl2_models_dir), "--data", str(tmp_path), "--address", "127.0.0.1:0")
    servers = [ServerProcess("server", *args)]
    served = ServedAgent(servers[0].stub, "phoenix", GAME, 0, greedy=True)

    def kill_and_restart(decisions: int) -> None:
        if decisions != 7:  # in the middle of the first game (10 rounds)
            return
        servers[-1].kill()
        servers.append(ServerProcess("server", *args))
        resumed = servers[-1].stub.ResumeSession(
            pb.ResumeSessionRequest(session_id=served.session.session_id, player_id="phoenix")
        )
        assert resumed.next_turn == served.turn
        served.stub = servers[-1].stub

    trace = play(served, GAME, STYLE, 0, seed=21, after_decision=kill_and_restart)
    local = local_agent(rl2_models_dir)
    assert len(servers) == 2
    assert trace == play(local, GAME, STYLE, 0, seed=21)
    np.testing.assert_allclose(served.probs, local.probs, atol=1e-6)
    assert servers[-1].terminate() == 0


def test_a_corrupt_checkpoint_stops_the_server_naming_the_file(rl2_models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(rl2_models_dir, models)
    weights = models / "rl2-matrix" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10:] = b"\x00" * 10
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"rl2-matrix/model\.safetensors is corrupt"):
        load_models(models)
    result = ServerProcess.run_to_exit(
        "server", "--models", str(models), "--data", str(tmp_path / "var"), "--log-format", "text"
    )
    assert result.returncode == 2
    assert "model.safetensors is corrupt" in result.stderr


def test_a_checkpoint_without_metadata_is_named(rl2_models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(rl2_models_dir, models)
    (models / "rl2-matrix" / "meta.json").unlink()
    with pytest.raises(CheckpointError, match=r"rl2-matrix/meta\.json is missing"):
        load_models(models)


def test_two_checkpoints_for_one_family_are_refused(rl2_models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(rl2_models_dir / "rl2-matrix", models / "a")
    shutil.copytree(rl2_models_dir / "rl2-matrix", models / "b")
    with pytest.raises(ConfigError, match="two checkpoints serve family 'matrix'"):
        load_models(models)


def test_missing_or_empty_models_directories_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_models(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no checkpoints"):
        load_models(tmp_path / "empty")


def test_sessions_and_profiles_of_a_replaced_model_start_afresh(rl2_models_dir, tmp_path):
    import torch

    from game_agent.checkpoint import TrainingProgress, load_checkpoint, save_checkpoint

    data = tmp_path / "var"
    old = ServerThread(make_config(tmp_path, models_dir=rl2_models_dir, data_dir=data), None)
    played = ServedAgent(old.stub(), "loyal", GAME, 0, greedy=True)
    play(played, GAME, STYLE, 0, seed=1)
    old.stop()

    checkpoint = load_checkpoint(rl2_models_dir / "rl2-matrix")
    with torch.no_grad():
        next(checkpoint.learner.policy.parameters()).add_(0.5)
    retrained = tmp_path / "models"
    save_checkpoint(
        retrained / "rl2-matrix",
        checkpoint.learner,
        distribution=checkpoint.distribution,
        progress=TrainingProgress(decisions=checkpoint.progress.decisions + 1),
    )
    new = ServerThread(make_config(tmp_path, models_dir=retrained, data_dir=data), None)
    stub = new.stub()
    with pytest.raises(grpc.RpcError) as err:
        stub.ResumeSession(
            pb.ResumeSessionRequest(session_id=played.session.session_id, player_id="loyal")
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "started with another matrix model" in err.value.details()
    again = stub.StartSession(pb.StartSessionRequest(player_id="loyal", game=GAME))
    assert not again.returning_player and again.episodes_played == 2
    new.stop()
