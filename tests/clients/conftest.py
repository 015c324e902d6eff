"""Fixtures for the client tests: a real game-agent server with a tiny deterministic learner.

The server is the real one (``server.app.create_server``) on 127.0.0.1 port 0,
running on its own event loop in a daemon thread; clients talk to it over
real gRPC channels. It serves every family with
:class:`~tests.clients.step_learner.StepLearner`, whose moves tests recompute
in-process with :func:`~tests.clients.step_learner.replay`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from games import get_split, parse_spec
from server.app import AgentServer, create_server
from server.config import ServerConfig
from server.models import ModelRegistry, ServedModel
from tests.clients.stand_in import start as start_stand_in
from tests.clients.step_learner import FAMILIES, StepLearner

__all__ = ["ServerThread", "served_model", "server_config"]


def served_model(family: str, learner=None) -> ServedModel:
    specs = tuple(parse_spec(v) for v in get_split(family, "train").variants[:2])
    return ServedModel(
        family=family,
        learner=learner or StepLearner(),
        checkpoint=f"step-{family}.safetensors",
        sha256="ab" * 32,
        training_steps=100,
        version="test",
        variants=specs,
        splits={spec.name: "train" for spec in specs},
    )


class ServerThread:
    """A real server on its own event loop in a daemon thread (the tests are synchronous)."""

    def __init__(self, config: ServerConfig, models: ModelRegistry):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: AgentServer
        self.server, self.port = self._run(create_server(config, models=models))

    def _run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._run(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def server_config(root: Path, **overrides) -> ServerConfig:
    base = {
        "models_dir": root / "models",
        "data_dir": root / "var",
        "address": "127.0.0.1:0",
        "sync_commits": False,
        "expiry_sweep_s": 3600.0,
        "batch_window_s": 0.0,
    }
    return ServerConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory) -> Iterator[ServerThread]:
    """One server per test module, serving every family with StepLearner."""
    root = tmp_path_factory.mktemp("server")
    models = ModelRegistry([served_model(family) for family in FAMILIES])
    running = ServerThread(server_config(root), models)
    yield running
    running.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """``start(models=None, **config overrides) -> ServerThread``, stopped at the end."""
    started: list[ServerThread] = []

    def start(models: ModelRegistry | None = None, **overrides) -> ServerThread:
        registry = models or ModelRegistry([served_model(f) for f in FAMILIES])
        running = ServerThread(server_config(tmp_path, **overrides), registry)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def stand_in_server() -> Iterator:
    """``serve(servicer) -> address`` for a stand-in servicer (``tests.clients.stand_in``)."""
    servers = []

    def serve(servicer) -> str:
        server, address = start_stand_in(servicer)
        servers.append(server)
        return address

    yield serve
    for server in servers:
        server.stop(0)
