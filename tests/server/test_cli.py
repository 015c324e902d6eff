"""``game-agent serve`` / ``python -m server``: options map onto ServerConfig; bad ones exit 2."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from protos.game_agent.v1 import agent_pb2 as pb
from server.cli import add_serve_arguments, config_from_args
from server.config import ServerConfig
from tests.server.processes import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    return add_serve_arguments(argparse.ArgumentParser()).parse_args(list(argv))


def test_defaults_match_the_config_defaults():
    assert config_from_args(parse()) == ServerConfig()


def test_options_map_onto_the_config(tmp_path):
    config = config_from_args(
        parse(
            "--models", str(tmp_path / "m"),
            "--data", str(tmp_path / "d"),
            "--address", "0.0.0.0:6000",
            "--store", "redis://cache:6379/2",
            "--api-keys", str(tmp_path / "keys"),
            "--tls-cert", "c.pem", "--tls-key", "k.pem",
            "--metrics-port", "9100",
            "--idle-timeout", "90",
            "--batch-window-us", "250",
            "--crowd-window-us", "1500",
            "--max-batch", "16",
            "--turn-threads", "2",
            "--sync-commits",
            "--inference", "torch",
            "--max-sessions-per-player", "3",
            "--max-sessions", "50",
            "--max-request-bytes", "65536",
            "--cpus", "0",
        )
    )  # fmt: skip
    assert config.models_dir == tmp_path / "m" and config.data_dir == tmp_path / "d"
    assert (config.address, config.store) == ("0.0.0.0:6000", "redis://cache:6379/2")
    assert config.api_keys_file == tmp_path / "keys"
    assert (config.tls_cert, config.tls_key) == (Path("c.pem"), Path("k.pem"))
    assert (config.metrics_port, config.idle_timeout_s) == (9100, 90.0)
    assert config.batch_window_s == 250e-6 and config.max_batch_size == 16
    assert config.crowd_window_s == 1500e-6
    assert config.model_threads == 2 and config.sync_commits and config.inference == "torch"
    assert (config.max_sessions_per_player, config.max_sessions) == (3, 50)
    assert config.max_request_bytes == 65536 and config.cpus == (0,)


def run_module(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_options_exit_2_with_a_message(tmp_path):
    result = run_module("--store", "mysql://x", "--data", str(tmp_path), "--log-format", "text")
    assert result.returncode == 2
    assert "store must be 'sqlite' or 'redis://HOST:PORT[/DB]'" in result.stderr


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("x", "expected comma-separated core numbers"),
        ("0,0", "cpus must be distinct core numbers"),
        ("4096", "cpus [4096] are not cores this process may use"),
    ],
)
def test_bad_cpus_are_refused_at_start(tmp_path, value, fragment):
    result = run_module("--cpus", value, "--data", str(tmp_path), "--log-format", "text")
    assert result.returncode == 2 and fragment in result.stderr


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU pinning is Linux-only")
def test_cpus_pin_every_thread_of_the_serving_process(rl2_models_dir, tmp_path):
    core = max(os.sched_getaffinity(0))  # not core 0 where there is another, so it shows
    args = ("--models", str(rl2_models_dir), "--data", str(tmp_path), "--address", "127.0.0.1:0")
    server = ServerProcess("server", *args, "--cpus", str(core))
    try:
        reply = server.stub.GetServerInfo(pb.GetServerInfoRequest(client_name="cpus test"))
        assert reply.server_version
        tasks = Path(f"/proc/{server.process.pid}/task")
        masks = {}
        for task in tasks.iterdir():
            status = (task / "status").read_text()
            line = next(x for x in status.splitlines() if x.startswith("Cpus_allowed_list:"))
            masks[task.name] = line.split(":", 1)[1].strip()
        assert len(masks) > 3  # gRPC's and the store's threads among them, not only this one
        assert set(masks.values()) == {str(core)}
    finally:
        server.terminate()


def test_help_lists_the_options():
    result = run_module("--help")
    assert result.returncode == 0
    for option in ("--models", "--data", "--address", "--store", "--api-keys", "--metrics-port"):
        assert option in result.stdout


def test_game_agent_serve_is_wired_to_this_module():
    from game_agent.cli import build_parser

    argv = ["--log-level", "WARNING", "serve", "--metrics-port", "9100", "--store", "sqlite"]
    args = build_parser(argv).parse_args(argv)
    assert args.log_level == "WARNING"  # the top-level option is not shadowed by serve's
    assert config_from_args(args).metrics_port == 9100
