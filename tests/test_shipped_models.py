"""The bundled agents under models/ serve as `make serve` serves them, and load in-process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import game_agent
from games import get_split, list_families, make_kernel, parse_spec
from protos.game_agent.v1 import agent_pb2, agent_pb2_grpc
from server.logs import serving_fields

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("connect_n", "matrix", "poker", "pong")


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_has_a_small_agent_that_plays_its_heldout_variants(family):
    folder = ROOT / "models" / family
    assert (folder / "README.md").is_file(), "each agent says how to reproduce it"
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 8 * 2**20, f"models/{family} is {size} bytes; keep agents a few MB"
    learner = game_agent.load(folder)
    for variant in get_split(family, "heldout").variants:
        spec = parse_spec(variant)
        assert learner.supports(spec)
        step = make_kernel(spec).reset(2, seed=0)
        seat = int(np.flatnonzero(step.acting[0])[0])
        states = [learner.initial_state(spec) for _ in range(2)]
        decision, _ = learner.act(states, step.obs[:, seat], step.action_mask[:, seat])
        assert step.action_mask[np.arange(2), seat, decision.actions].all()


def _serving_port(process: subprocess.Popen, deadline: float) -> int:
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            time.sleep(0.05)
            continue
        serving = serving_fields(line)
        if serving is not None:
            return int(serving["port"])
    raise AssertionError("the server did not report that it is serving")


def test_serve_on_the_defaults_answers_health_and_lists_every_family(tmp_path):
    command = [sys.executable, "-m", "game_agent.cli", "serve", "--address", "127.0.0.1:0"]
    command += ["--data", str(tmp_path / "var"), "--log-format", "json"]
    process = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        port = _serving_port(process, time.monotonic() + 120)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            served = stub.ListGames(agent_pb2.ListGamesRequest(), timeout=10)
            assert {f.name for f in served.families} == set(FAMILIES)
            assert set(FAMILIES) <= set(list_families())
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
