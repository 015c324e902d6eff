"""Building the gRPC server (:func:`create_server`) and running it (:func:`serve`).

Why ``grpc.aio`` rather than a thread-pool ``grpc.server``: engines keep Play
streams open for whole games, and a thread-pool server spends one thread per
open stream, so a few hundred players would exhaust it. On one asyncio event
loop an idle stream costs nothing, and gathering concurrent turns into one
batch is a matter of futures rather than locks and condition variables. The
loop itself never runs model or store work: turns are computed and committed
by the turn engine's worker (``server.engine``), slow adaptation and other
store calls run in their own thread pools (``server.sessions``), so a slow
batch delays only the turns in it.

:func:`create_server` loads the models, opens the store, binds the address,
starts serving and reports the bound port (``address`` may say port 0). Health
(``grpc.health.v1``) says SERVING only once all of that has succeeded, for the
overall server ("") and for ``game_agent.v1.AgentService``. :func:`serve` runs
it until SIGTERM or SIGINT, then shuts down gracefully: health goes
NOT_SERVING (load balancers stop routing here), new calls get UNAVAILABLE,
in-flight turns finish (up to ``shutdown_grace_s``), pending adaptations are
committed and the store is closed.

:func:`serve` owns its process, so it also settles the heap once the server is
built (:func:`settle_heap`): everything allocated so far (torch, the models,
the store) is frozen out of the cyclic garbage collector's reach, and its first
generation waits for 10,000 new containers instead of 700. A turn's objects die
by reference counting; with the defaults, 64 sessions' in-flight turns made a
collection every 65 turns or so (about 0.4 ms each, 17 us a turn) and, every few
thousand turns, a full collection of the whole heap: a 100 ms pause for every
session at once (BENCHMARKS.md, ninth round). ``create_server`` alone, as tests
use it in-process, leaves the collector as it is.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from game_agent.errors import ConfigError
from protos.game_agent.v1 import agent_pb2, agent_pb2_grpc
from server.auth import ApiKeys, Authenticator, CallChecks
from server.config import ServerConfig
from server.logs import SERVING
from server.metrics import Metrics
from server.models import ModelRegistry, load_models
from server.placement import pin_process
from server.servicer import AgentServicer
from server.sessions import SessionManager
from server.stores import open_store

log = logging.getLogger(__name__)

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


@dataclass
class AgentServer:
    """A started server and the parts :meth:`stop` shuts down in order."""

    grpc_server: grpc.aio.Server
    port: int
    sessions: SessionManager
    health: health.aio.HealthServicer
    metrics: Metrics
    metrics_port: int | None

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: NOT_SERVING, refuse new calls, drain, flush, close."""
        await self.health.enter_graceful_shutdown()
        self.sessions.begin_draining()
        await self.grpc_server.stop(grace)
        await self.sessions.close()
        self.metrics.close()
        log.info("server stopped", extra={"port": self.port})

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()


GEN0_THRESHOLD = 10_000
"""New containers between two young-generation collections of a settled heap (CPython's
default is 700)."""


async def create_server(
    config: ServerConfig, *, models: ModelRegistry | None = None, settle: bool = False
) -> tuple[AgentServer, int]:
    """Build, bind and start the server; returns it and the bound port.

    ``models`` replaces loading ``config.models_dir`` (tests pass learners built in
    memory). ``settle``: :func:`settle_heap` once built, before health says SERVING (for
    a process that is only this server; see the module docstring). Raises
    ``CheckpointError``/``ConfigError`` naming the file or option at fault.
    """
    loop = asyncio.get_running_loop()
    if models is None:
        load = functools.partial(
            load_models, config.models_dir, config.inference, trace_dir=config.graphs_dir
        )
        models = await loop.run_in_executor(None, load)
    keys = ApiKeys.from_file(config.api_keys_file) if config.api_keys_file else None
    auth = Authenticator(keys)
    metrics = Metrics()
    store = await loop.run_in_executor(None, open_store, config)
    sessions = SessionManager(config, models, store, metrics=metrics)
    server = grpc.aio.server(
        interceptors=[CallChecks(auth, metrics)],
        options=[
            ("grpc.max_receive_message_length", config.max_request_bytes),
            # Without this, a second server on a taken port would silently share it.
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    try:
        agent_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentServicer(config, models, sessions, auth, metrics), server
        )
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        port = _bind(server, config)
        await sessions.start()
        await server.start()
        metrics_port = None
        if config.metrics_port is not None:
            metrics_port = metrics.serve(config.metrics_host, config.metrics_port)
    except BaseException:
        # Whatever started before the failure (threads, store, port) is released again.
        await server.stop(None)
        await sessions.close()
        metrics.close()
        raise
    frozen = settle_heap() if settle else 0
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        SERVING,
        extra={
            "address": config.address,
            "port": port,
            "tls": config.tls_cert is not None,
            "families": [m.family for m in models],
            "metrics_port": metrics_port,
            "frozen_objects": frozen,
        },
    )
    return AgentServer(server, port, sessions, health_servicer, metrics, metrics_port), port


def _bind(server: grpc.aio.Server, config: ServerConfig) -> int:
    try:
        if config.tls_cert is not None and config.tls_key is not None:
            credentials = grpc.ssl_server_credentials(
                [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())]
            )
            port = server.add_secure_port(config.address, credentials)
        else:
            port = server.add_insecure_port(config.address)
    except OSError as exc:
        raise ConfigError(f"cannot read the TLS certificate or key: {exc}") from None
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {config.address}: {exc}") from None
    if port == 0:
        raise ConfigError(f"cannot listen on {config.address} (in use or not a local address)")
    return port


def serve(config: ServerConfig, *, models: ModelRegistry | None = None) -> None:
    """Run the server until SIGTERM or SIGINT, then shut it down gracefully.

    ``models`` as in :func:`create_server` (default: load ``config.models_dir``). With
    ``config.cpus``, the process is pinned to those cores first, so every thread it starts
    runs there (``create_server`` leaves the calling process's placement alone).
    """
    if config.cpus:
        pin_process(config.cpus)
    asyncio.run(_serve(config, models))


def settle_heap() -> int:
    """Collect, then freeze every object alive (``gc.freeze``: the collector never visits
    them again) and raise the young generation's threshold to ``GEN0_THRESHOLD``; returns
    the number of objects frozen. For a process whose startup heap lives as long as it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
    return gc.get_freeze_count()


async def _serve(config: ServerConfig, models: ModelRegistry | None) -> None:
    server, _port = await create_server(config, models=models, settle=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_s": config.shutdown_grace_s})
    await server.stop(config.shutdown_grace_s)
