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


def test_floor_and_placement_options_reach_the_config():
    args = serve_bench.parse_args(["--floor", "handoff", "--placement", "os"])
    config = serve_bench.config_from_args(args)
    assert (config.floor, config.placement) == ("handoff", "os")
    assert serve_bench.config_from_args(serve_bench.parse_args([])).floor == "plain"
