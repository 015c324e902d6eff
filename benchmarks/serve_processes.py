"""The two servers the serving benchmark measures, each in a child process on loopback.

:class:`AgentServerProcess` runs the real service (``server.app.serve``, what
``game-agent serve`` runs, with a :class:`~server.config.ServerConfig` built
here instead of from flags, so every knob can be set) on a models directory
and a fresh data directory, with its JSON log in a file there; the
``serving`` log line tells the bound gRPC and metrics ports. SIGTERM shuts it
down gracefully, as in production. :class:`FloorProcess` runs
:mod:`benchmarks.serve_floor` (any of its variants; the model floor is sent
checkpoint paths and game variants as strings, with its other arguments, and
builds the agent's forward passes itself). Both report their resident memory
and CPU time from ``/proc``, and the agent server its live sessions from its
Prometheus endpoint and its store size from the SQLite file.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.serve_floor import ServedModel, run_floor
from server.logs import serving_fields

STORE_FILE = "game_agent.sqlite3"
"""The SQLite store's file name under the data directory (``ServerConfig.sqlite_path``)."""


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from ``/proc/PID/status``."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"process {pid} reports no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_agent_server(settings: dict[str, Any], log_path: str, torch_threads: int) -> None:
    """Child-process entry: log JSON lines to ``log_path`` and serve until SIGTERM."""
    import sys

    sys.stderr = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - the process's stderr
    import torch

    from server.app import serve
    from server.config import ServerConfig
    from server.logs import configure_logging

    torch.set_num_threads(torch_threads)
    configure_logging("INFO")
    serve(ServerConfig(**settings))


class _ServerProcess:
    """What both measured servers report: where to reach them and what they use."""

    pid: int
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


class AgentServerProcess(_ServerProcess):
    """The real server in a child process; see the module docstring.

    ``settings`` are :class:`~server.config.ServerConfig` fields (plain values);
    ``models_dir``, ``data_dir``, ``address`` and ``metrics_port`` are set here.
    """

    def __init__(
        self,
        models_dir: Path,
        data_dir: Path,
        settings: dict[str, Any] | None = None,
        *,
        torch_threads: int = 1,
        start_timeout_s: float = 300.0,
    ):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.log_path = data_dir / "server.log"
        self.log_path.write_text("")
        config = {
            **(settings or {}),
            "models_dir": str(models_dir),
            "data_dir": str(data_dir),
            "address": "127.0.0.1:0",
            "metrics_port": 0,
        }
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=_run_agent_server,
            args=(config, str(self.log_path), torch_threads),
            name="serve-bench-agent",
            daemon=True,
        )
        self.process.start()
        assert self.process.pid is not None
        self.pid: int = self.process.pid
        self.port, self.metrics_port = self._wait_for_ports(start_timeout_s)

    def _wait_for_ports(self, timeout_s: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.is_alive():
            for line in self.log_path.read_text().splitlines():
                serving = serving_fields(line)
                if serving is not None:
                    return int(serving["port"]), int(serving["metrics_port"])
            time.sleep(0.1)
        self.stop()
        tail = "\n".join(self.log_path.read_text().splitlines()[-20:])
        raise RuntimeError(f"the agent server did not start; its log ends:\n{tail}")

    def live_sessions(self) -> int:
        """The server's ``game_agent_live_sessions`` gauge."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        for line in text.splitlines():
            if line.startswith("game_agent_live_sessions "):
                return int(float(line.split()[1]))
        raise RuntimeError("the metrics endpoint has no game_agent_live_sessions")

    def store_bytes(self) -> int:
        """Size of the SQLite store once its write-ahead log is folded into the file."""
        path = self.data_dir / STORE_FILE
        db = sqlite3.connect(path, timeout=30)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        return sum(p.stat().st_size for p in self.data_dir.glob(STORE_FILE + "*") if p.is_file())

    def stop(self) -> int | None:
        """SIGTERM (graceful shutdown) and wait; returns the exit code."""
        if self.process.is_alive():
            os.kill(self.pid, signal.SIGTERM)
            self.process.join(60)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)
        return self.process.exitcode


class FloorProcess(_ServerProcess):
    """:mod:`benchmarks.serve_floor` in a child process: the bare floor, or with ``handoff``
    the hand-off floor, or with ``models`` (checkpoint directories and the variants they
    serve, see :data:`~benchmarks.serve_floor.ServedModel`) the model floor, which builds
    their forward passes as the agent does before it reports its port."""

    def __init__(
        self,
        cpus: tuple[int, ...] = (),
        handoff: bool = False,
        models: Sequence[ServedModel] = (),
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=run_floor,
            args=(child, cpus, handoff, tuple((str(c), str(g)) for c, g in models)),
            name="serve-bench-floor",
            daemon=True,
        )
        self.process.start()
        child.close()
        assert self.process.pid is not None
        self.pid: int = self.process.pid
        if not self._conn.poll(120):
            self.stop()
            raise RuntimeError("the floor server did not start")
        try:
            self.port = int(self._conn.recv())
        except EOFError:  # it died first (a model it could not build): its traceback is above
            self.stop()
            raise RuntimeError("the floor server exited before it started") from None

    def stop(self) -> None:
        self._conn.close()  # the floor stops when its end of the pipe closes
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)
