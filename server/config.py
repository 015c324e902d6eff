"""ServerConfig: every knob of the adaptive-opponent service, in one frozen dataclass.

The CLI (``game-agent serve``) builds one from its flags; tests build one
directly with a temporary data dir and ``address="127.0.0.1:0"``. Values are
checked once, in ``__post_init__``, so a bad combination fails at start with
a message naming the option rather than on the first request.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from game_agent.errors import ConfigError

_REDIS_RE = re.compile(r"^redis://[^\s:/]+:\d{1,5}(/\d+)?\Z")


@dataclass(frozen=True)
class ServerConfig:
    """Configuration of one server replica (see ``game-agent serve --help``)."""

    models_dir: Path = Path("models")
    """Directory whose checkpoints are served, one learner per game family."""
    data_dir: Path = Path("var")
    """Directory for the SQLite store (``var/game_agent.sqlite3``) and other local state,
    such as the cache of traced onnxruntime graphs (``var/graphs``)."""
    address: str = "127.0.0.1:50051"
    """``host:port`` to listen on; port 0 picks a free port (``create_server`` returns it)."""
    store: str = "sqlite"
    """``sqlite`` (one file under ``data_dir``) or ``redis://HOST:PORT[/DB]`` shared by replicas."""
    api_keys_file: Path | None = None
    """File of API keys (``server.auth`` documents the format); None serves without auth."""
    tls_cert: Path | None = None
    """PEM certificate chain for TLS; given together with ``tls_key``, else plaintext."""
    tls_key: Path | None = None
    """PEM private key matching ``tls_cert``."""
    metrics_port: int | None = None
    """Port of the Prometheus ``/metrics`` endpoint (0 picks a free one); None disables it."""
    metrics_host: str = "127.0.0.1"
    """Interface the metrics endpoint binds to."""
    idle_timeout_s: float = 15 * 60.0
    """Default idle time after which a session expires (its profile is kept)."""
    max_idle_timeout_s: float = 24 * 3600.0
    """Largest idle timeout a client may ask for in ``SessionOptions``."""
    expiry_sweep_s: float = 30.0
    """How often expired sessions are swept from the store."""
    batch_window_s: float = 0.0
    """How long a turn engine worker waits for more turns after the first of a batch, always.
    0 (the default) adds no fixed wait: under load, turns still share forward passes, because
    those arriving while the workers are busy form the next batch, and ``crowd_window_s``
    gathers more while several sessions play (``server.engine``); a lone session never
    waits for company that is not coming."""
    crowd_window_s: float = 0.002
    """While several sessions are playing, how long a turn engine worker may keep taking
    turns for one batch, as long as they keep coming (it stops at the first 0.5 ms without
    one; ``server.engine``). A lone session never waits. 0 disables it."""
    inline_lone_turns: bool = True
    """Run a lone session's turn on the event loop instead of a turn engine worker, when
    nothing else is pending and no other session played in the last 50 ms: the turn skips
    two thread hand-offs. Turns of several sessions always go to the workers, which batch
    them (``server.engine``; BENCHMARKS.md, Fourth round). False sends every turn to them."""
    max_batch_size: int = 64
    """Most turns answered by one forward pass and committed in one transaction."""
    model_threads: int = 1
    """Turn engine workers, each running a batch end to end (forward pass, serialisation,
    commit). One keeps batches largest; a second overlaps one batch's commit (an fsync with
    ``sync_commits``) with the next batch's forward pass."""
    inference: str = "onnxruntime"
    """``onnxruntime`` serves each model through its verified ONNX graph (a tenth of torch's
    per-turn cost at small batches; MAML stays on torch); ``torch`` serves every model by torch."""
    adaptation_threads: int = 1
    """Worker threads running ``end_episode`` (MAML gradient steps), off the turn path."""
    max_sessions_per_player: int = 8
    """Live sessions one player may hold at once (RESOURCE_EXHAUSTED beyond it)."""
    max_sessions: int = 10_000
    """Live sessions in total across the store (RESOURCE_EXHAUSTED beyond it)."""
    max_request_bytes: int = 1 << 20
    """Largest request message accepted; gRPC answers RESOURCE_EXHAUSTED beyond it."""
    sync_commits: bool = False
    """SQLite ``synchronous=FULL``: each commit is fsynced, so even a power cut keeps every
    acknowledged turn. The default (``NORMAL``, SQLite's recommendation for WAL mode) writes
    the WAL before a commit returns, so a killed or crashed server loses nothing; a power cut
    or kernel crash may lose the last transactions. FULL costs an fsync per batch."""
    turn_log: bool = True
    """SQLite: append each batch's turns to ``<store>-turns`` and copy every session's latest
    record into SQLite later, instead of writing a row per turn (``server.stores.sqlite``,
    ``server.stores.turnlog``). As durable as the row writes at the same ``sync_commits``;
    a restarted server replays the log. False writes every turn's row."""
    shutdown_grace_s: float = 10.0
    """On SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled."""
    cpus: tuple[int, ...] = ()
    """CPU cores the serving process runs on (Linux; applied by ``server.app.serve``), e.g.
    ``(2,)`` for one replica per core. Empty (the default) leaves placement to the OS. The
    turn path's Python threads (gRPC's poller, the event loop, the turn worker) hand every
    turn's objects to each other; on one core those objects stay in its caches, and a
    one-session turn costs markedly less (BENCHMARKS.md, Serving)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "models_dir", Path(self.models_dir))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "cpus", tuple(self.cpus))
        for name in ("api_keys_file", "tls_cert", "tls_key"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        self._check()

    def _check(self) -> None:
        if self.store != "sqlite" and not _REDIS_RE.match(self.store):
            raise ConfigError(
                f"store must be 'sqlite' or 'redis://HOST:PORT[/DB]', got {self.store!r}"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        host, sep, port = self.address.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"address must be HOST:PORT, got {self.address!r}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port must be in 0..65535, got {self.metrics_port}")
        positive = {
            "idle_timeout_s": self.idle_timeout_s,
            "max_idle_timeout_s": self.max_idle_timeout_s,
            "expiry_sweep_s": self.expiry_sweep_s,
            "max_batch_size": self.max_batch_size,
            "model_threads": self.model_threads,
            "adaptation_threads": self.adaptation_threads,
            "max_sessions_per_player": self.max_sessions_per_player,
            "max_sessions": self.max_sessions,
            "max_request_bytes": self.max_request_bytes,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.inference not in ("onnxruntime", "torch"):
            raise ConfigError(f"inference must be 'onnxruntime' or 'torch', got {self.inference!r}")
        if self.batch_window_s < 0:
            raise ConfigError(f"batch_window_s must be >= 0, got {self.batch_window_s}")
        if self.crowd_window_s < 0:
            raise ConfigError(f"crowd_window_s must be >= 0, got {self.crowd_window_s}")
        if not isinstance(self.inline_lone_turns, bool):
            raise ConfigError(
                f"inline_lone_turns must be True or False, got {self.inline_lone_turns!r}"
            )
        if self.idle_timeout_s > self.max_idle_timeout_s:
            raise ConfigError("idle_timeout_s must not exceed max_idle_timeout_s")
        if self.cpus:
            _check_cpus(self.cpus)

    @property
    def sqlite_path(self) -> Path:
        """Where the SQLite store lives."""
        return self.data_dir / "game_agent.sqlite3"

    @property
    def graphs_dir(self) -> Path:
        """Where traced onnxruntime graphs are cached across restarts
        (:mod:`game_agent.graph_cache`); safe to delete, rebuilt as needed."""
        return self.data_dir / "graphs"


def _check_cpus(cpus: tuple[int, ...]) -> None:
    """``cpus`` are distinct cores this process may run on (and the platform can pin)."""
    if not hasattr(os, "sched_getaffinity"):
        raise ConfigError("cpus (pinning the server to cores) needs Linux; leave it empty")
    allowed = sorted(os.sched_getaffinity(0))
    if any(type(c) is not int for c in cpus) or len(set(cpus)) != len(cpus):
        raise ConfigError(f"cpus must be distinct core numbers, got {list(cpus)}")
    outside = sorted(set(cpus) - set(allowed))
    if outside:
        raise ConfigError(
            f"cpus {outside} are not cores this process may use; choose from {allowed}"
        )
