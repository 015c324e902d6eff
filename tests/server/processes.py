"""Server processes for the restart tests: start, find the port in the logs, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from server.logs import read_until_serving

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """A server in a child process; its JSON log lines on stderr tell the bound port."""

    def __init__(self, module: str, *args: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = self._wait_for_port(timeout=120)
        threading.Thread(target=self._drain, daemon=True).start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = pb_grpc.AgentServiceStub(self.channel)

    def _wait_for_port(self, timeout: float) -> int:
        assert self.process.stderr is not None
        serving = read_until_serving(self.process.stderr, self.lines, time.monotonic() + timeout)
        if serving is not None:
            return int(serving["port"])
        self.process.kill()
        raise RuntimeError("the server process did not start:\n" + "".join(self.lines[-30:]))

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.channel.close()

    @staticmethod
    def run_to_exit(module: str, *args: str) -> subprocess.CompletedProcess:
        """Run a server module that is expected to stop by itself (a start-up failure)."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.channel.close()
        return code
