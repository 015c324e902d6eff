"""benchmarks/serve_bench.py runs end to end and reports what it promises (no timing claims).

A quick run on ``matrix`` with a checkpoint it trains itself (a few hundred
decisions): both servers start in their own processes, every row has the
floor and the agent with nonzero throughput and no errors, the memory
measurement holds and releases its sessions, and each target gets a verdict.
"""

from __future__ import annotations

import re

import pytest

from benchmarks import serve_bench
from benchmarks.serve_floor import argmax_reply
from benchmarks.serve_models import find_rl2
from game_agent.bench_cli import load_benchmark
from game_agent.cli import build_parser
from protos.game_agent.v1 import agent_pb2 as pb


def table_rows(text: str, header: str) -> list[list[str]]:
    """Data rows of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.slow
def test_a_quick_run_reports_turns_memory_and_targets(tmp_path):
    out = tmp_path / "serve.md"
    argv = [
        "--quick",
        *("--families", "matrix", "--concurrency", "1,4", "--seconds", "0.3"),
        *("--hold-sessions", "40", "--profile-players", "10", "--train-steps", "200"),
        *("--models", str(tmp_path / "none"), "--cache", str(tmp_path / "cache")),
        *("--out", str(out)),
    ]
    assert serve_bench.main(argv) == 0
    text = out.read_text()
    assert find_rl2("matrix", tmp_path / "cache") is not None  # trained and cached
    assert "matrix RL2 trained by the benchmark" in text
    rows = table_rows(text, "| family | mode | sessions |")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("matrix", mode, n) for mode in ("unary", "stream") for n in ("1", "4")
    ]
    for row in rows:
        floor_rate, agent_rate = (float(row[i].replace(",", "")) for i in (6, 7))
        assert floor_rate > 0 and agent_rate > 0
        ratio = float(row[8].rstrip("x"))
        assert ratio == pytest.approx(agent_rate / floor_rate, rel=0.02, abs=0.01)
        assert row[-1] == "0"  # no errors
    memory = dict((r[0], r[1]) for r in table_rows(text, "| measure | value |"))
    assert memory["players who played and left"] == "10 of 10"
    assert memory["live sessions started (one turn each)"] == "40 of 40"
    assert memory["of those answering another turn"] == "40"
    assert memory["live-session gauge while held / after EndSession"] == "40 / 0"
    assert memory["errors"] == "0"
    verdicts = re.findall(r"\*\*(met|missed)\*\*", text.split("## Targets")[1])
    assert len(verdicts) == 2 + 1  # p50 per mode at 1 session; the sessions held
    assert "turns/s at 64 sessions: not measured in this run" in text
    assert "only 40 held" in text


def test_the_floor_answers_the_best_legal_action_with_a_one_hot_reply():
    request = pb.ActRequest(
        turn=7,
        observation=pb.Tensor(shape=[4], values=[0.5, 0.9, 0.1, 0.7]),
        action_mask=[True, False, True, True],
    )
    reply = argmax_reply(request)
    assert (reply.turn, reply.action) == (7, 3)
    assert list(reply.action_probabilities) == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("handoff", [False, True])
def test_both_floors_answer_unary_and_stream_turns_alike(handoff):
    # The hand-off floor makes its replies on a worker thread: the replies, including
    # several turns answered in one round of the worker, are the plain floor's.
    import grpc

    from benchmarks.serve_processes import FloorProcess
    from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc

    requests = [
        pb.ActRequest(
            turn=t, observation=pb.Tensor(shape=[3], values=[t % 3, 1, 0.5]), action_mask=[1] * 3
        )
        for t in range(1, 9)
    ]
    floor = FloorProcess(handoff=handoff)
    try:
        with grpc.insecure_channel(floor.target) as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            futures = [stub.Act.future(r) for r in requests]
            assert [f.result(timeout=30) for f in futures] == [argmax_reply(r) for r in requests]
            stream = stub.Play(iter([pb.PlayRequest(act=r) for r in requests]), timeout=30)
            assert [reply.act for reply in stream] == [argmax_reply(r) for r in requests]
    finally:
        floor.stop()


@pytest.mark.parametrize(
    "option, value",
    [
        ("sync_commits=false", ("sync_commits", False)),
        ("batch_window_s=0", ("batch_window_s", 0.0)),
    ],
)
def test_server_options_are_typed_config_fields(option, value):
    assert serve_bench.server_option(option) == value


@pytest.mark.parametrize(
    "option", ["tls_cert=x", "nonsense", "sync_commits=maybe", "max_sessions=x"]
)
def test_bad_server_options_are_refused(option):
    with pytest.raises(SystemExit, match="--server-option"):
        serve_bench.server_option(option)


def test_unknown_families_are_refused():
    with pytest.raises(SystemExit, match="unknown families"):
        serve_bench.main(["--families", "chess"])


def test_game_agent_bench_serve_reaches_the_benchmark():
    args = build_parser(["bench", "serve", "--quick"]).parse_args(["bench", "serve", "--quick"])
    assert (args.benchmark, args.options) == ("serve", ["--quick"])
    assert load_benchmark("serve") is serve_bench


def test_split_placement_gives_the_servers_one_core_and_the_load_the_others(monkeypatch):
    monkeypatch.setattr(serve_bench, "allowed_cpus", lambda: [2, 5, 7])
    split = serve_bench.ServeBenchConfig()
    assert split.cores() == ((7,), (2, 5))
    assert serve_bench.agent_settings(split)["cpus"] == [7]
    assert "pinned to core 7" in serve_bench.placement_line(split)
    unpinned = serve_bench.ServeBenchConfig(placement="os")
    assert unpinned.cores() == ((), ())
    assert "cpus" not in serve_bench.agent_settings(unpinned)
    monkeypatch.setattr(serve_bench, "allowed_cpus", lambda: [0])
    assert split.cores() == ((), ())  # one core: nothing to split


@pytest.mark.parametrize("floor", ["handoff", "model"])
def test_floor_and_placement_options_reach_the_config(floor):
    args = serve_bench.parse_args(["--floor", floor, "--placement", "os"])
    config = serve_bench.config_from_args(args)
    assert (config.floor, config.placement) == (floor, "os")
    assert serve_bench.config_from_args(serve_bench.parse_args([])).floor == "plain"


# ---------------------------------------------------------------- the model floor


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory):
    """A tiny RL2 checkpoint of each family the benchmark plays, as ``prepare_models``
    would find them under ``models/`` (so no run has to train one)."""
    from tests.clients.tiny_models import save_tiny_checkpoint

    root = tmp_path_factory.mktemp("serve-bench-models")
    for family in serve_bench.GAMES:
        save_tiny_checkpoint(root / f"rl2-{family}", family)
    return root


EXPECTED_FORWARD = {"connect_n": "onnxruntime", "matrix": "numpy"}
"""What the agent answers one player of each family with: the batch-1 onnxruntime session
of a board network's graph, a vector network's numpy forward pass."""


@pytest.fixture(scope="module")
def served_models(tiny_models_dir):
    """Each family's checkpoint and the variant the benchmark plays, as the floor is sent them."""
    from benchmarks.serve_models import ModelChoice

    choices = [ModelChoice(f, tiny_models_dir / f"rl2-{f}", False, 0) for f in serve_bench.GAMES]
    return dict(zip(serve_bench.GAMES, serve_bench.served_models(choices), strict=True))


@pytest.fixture(scope="module")
def model_floor(served_models):
    from benchmarks.serve_processes import FloorProcess

    floor = FloorProcess(models=list(served_models.values()))
    yield floor
    floor.stop()


@pytest.fixture(scope="module")
def direct_forwards(served_models):
    """Each family's batch-1 forward pass built here from its parts, not by ``accelerate``
    (what the floor builds), and the size of its recurrent memory."""
    from game_agent import load
    from game_agent.export import ExportedPolicy, trace_graph
    from game_agent.inference import new_session
    from game_agent.vector_forward import VectorForward
    from games import parse_spec

    forwards = {}
    for family, (checkpoint, game) in served_models.items():
        policy, spec = load(checkpoint, safety=False).policy, parse_spec(game)
        if EXPECTED_FORWARD[family] == "numpy":
            forward = VectorForward(policy, spec)
        else:
            forward = new_session(trace_graph(ExportedPolicy(policy, spec), spec), batch=1)
        forwards[family] = (forward, policy.memory_size)
    return forwards


def model_requests(family: str, n: int) -> list[pb.ActRequest]:
    """Random turns of ``family``'s benchmark variant, each with some legal action."""
    import numpy as np

    from games import parse_spec

    spec = parse_spec(serve_bench.GAMES[family])
    rng = np.random.default_rng(len(family))
    requests = []
    for turn in range(1, n + 1):
        obs = (rng.random(spec.obs_shape) > 0.6).astype(np.float32)
        mask = rng.random(spec.num_actions) > 0.4
        mask[rng.integers(spec.num_actions)] = True
        tensor = pb.Tensor(shape=list(obs.shape), values=obs.ravel().tolist())
        requests.append(pb.ActRequest(turn=turn, observation=tensor, action_mask=mask.tolist()))
    return requests


def direct_reply(forward, hidden: int, request: pb.ActRequest) -> tuple[int, list[float], float]:
    """``forward`` run directly for a fresh player: greedy action, probabilities, value."""
    import numpy as np

    values = np.asarray(request.observation.values, dtype=np.float32)
    feed = {
        "observation": values.reshape(1, *request.observation.shape),
        "action_mask": np.asarray([request.action_mask], dtype=np.float32),
        "hidden_state": np.zeros((1, hidden), dtype=np.float32),
        "prev_action": np.array([-1], dtype=np.int64),
        "prev_reward": np.zeros(1, dtype=np.float32),
        "prev_done": np.zeros(1, dtype=np.float32),
    }
    action, probs, value = forward.run(["greedy_action", "action_probs", "value"], feed)
    return int(action[0]), probs[0].tolist(), float(value[0])


def test_the_model_floor_is_sent_paths_and_variants_as_strings(served_models, tiny_models_dir):
    # Plain data, never an object of ours: the child builds the forward pass from them.
    assert served_models == {
        family: (str(tiny_models_dir / f"rl2-{family}"), game)
        for family, game in serve_bench.GAMES.items()
    }


@pytest.mark.parametrize("family", ["connect_n", "matrix"])
def test_the_model_floor_answers_what_the_agents_batch_1_forward_answers(
    family, model_floor, direct_forwards
):
    # One floor serves both families; each request goes to its own family's model, over
    # unary calls and a Play stream alike. The replies are the forward pass's bit for bit
    # (float32 travels exactly): numpy's for matrix, where onnxruntime's differ in the
    # last bits, so a floor running onnxruntime there fails here.
    import grpc

    from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc

    requests = model_requests(family, 6)
    with grpc.insecure_channel(model_floor.target) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        unary = [stub.Act(r, timeout=30) for r in requests]
        stream = stub.Play(iter([pb.PlayRequest(act=r) for r in requests]), timeout=30)
        streamed = [reply.act for reply in stream]
    assert streamed == unary
    for request, reply in zip(requests, unary, strict=True):
        action, probs, value = direct_reply(*direct_forwards[family], request)
        assert (reply.turn, reply.action) == (request.turn, action)
        assert (list(reply.action_probabilities), reply.value) == (probs, value)
        assert request.action_mask[reply.action]


@pytest.mark.parametrize("family", ["connect_n", "matrix"])
def test_the_model_floor_decides_as_the_served_agent_does_for_a_new_player(
    family, tiny_models_dir, served_models
):
    # The floor runs the very object the server's accelerated learner answers one player
    # with (numpy's VectorForward for matrix, onnxruntime for connect_n): for a player's
    # first turn, the same action, probabilities and value, bit for bit.
    import numpy as np
    import onnxruntime

    from benchmarks.serve_floor import ModelForward, ModelReplies
    from game_agent import load
    from game_agent.inference import accelerate
    from game_agent.vector_forward import VectorForward
    from games import parse_spec

    kinds = {"numpy": VectorForward, "onnxruntime": onnxruntime.InferenceSession}
    assert type(ModelForward(*served_models[family]).forward) is kinds[EXPECTED_FORWARD[family]]
    spec = parse_spec(serve_bench.GAMES[family])
    agent = accelerate(load(tiny_models_dir / f"rl2-{family}"), [spec])
    floor = ModelReplies([served_models[family]])
    for request in model_requests(family, 4):
        obs = np.asarray(request.observation.values, dtype=np.float32).reshape(1, *spec.obs_shape)
        mask = np.asarray([request.action_mask])
        decision, _ = agent.act([agent.initial_state(spec)], obs, mask, greedy=True)
        reply = floor.reply(request)
        assert reply.action == decision.actions[0]
        assert list(reply.action_probabilities) == decision.probs[0].tolist()
        assert reply.value == decision.values[0]


def test_the_model_floor_refuses_an_observation_no_model_takes(model_floor):
    import grpc

    from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc

    odd = pb.ActRequest(
        turn=3, observation=pb.Tensor(shape=[5], values=[0.0] * 5), action_mask=[True] * 3
    )
    good = model_requests("matrix", 1)[0]
    with grpc.insecure_channel(model_floor.target) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Act(odd, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "5 observation values" in refused.value.details()
        # On Play the refusal is in-band, and the stream goes on.
        stream = stub.Play(iter([pb.PlayRequest(act=odd), pb.PlayRequest(act=good)]), timeout=30)
        error, after = list(stream)
    assert (error.error.code, error.error.turn) == (grpc.StatusCode.INVALID_ARGUMENT.value[0], 3)
    assert after.act.turn == good.turn


@pytest.mark.slow
def test_a_run_against_the_model_floor_reports_it(tiny_models_dir, tmp_path):
    out = tmp_path / "serve.md"
    argv = [
        "--quick",
        *("--floor", "model", "--modes", "unary", "--concurrency", "1", "--seconds", "0.3"),
        *("--hold-sessions", "0", "--models", str(tiny_models_dir)),
        *("--cache", str(tmp_path / "cache"), "--out", str(out)),
    ]
    assert serve_bench.main(argv) == 0
    text = out.read_text()
    assert "(--floor model)" in text
    rows = table_rows(text, "| family | mode | sessions |")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("connect_n", "unary", "1"),
        ("matrix", "unary", "1"),
    ]
    for row in rows:
        assert float(row[6].replace(",", "")) > 0 and float(row[7].replace(",", "")) > 0
        assert row[-1] == "0"  # no errors, from the floor or the agent
