"""Prometheus metrics of one replica, on their own registry and HTTP port.

Each :class:`Metrics` owns a ``CollectorRegistry`` instead of using the
process-global one, so several servers in one process (tests) never collide,
and ``/metrics`` shows exactly this replica's series.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from game_agent.errors import ConfigError

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The service's counters, gauges and histograms."""

    def __init__(self) -> None:
        self._http = None
        self._calls: dict[tuple[str, str], list[Counter]] = {}
        self._turns: dict[str, Histogram] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "game_agent_requests",
            "Requests answered, by RPC method and gRPC status code (OK included)",
            ["method", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "game_agent_errors",
            "Requests refused or failed, by RPC method and gRPC status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.turn_latency = Histogram(
            "game_agent_turn_latency_seconds",
            "Time from receiving a turn (Act or EndEpisode) to having its reply committed",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "game_agent_batch_size",
            "Turns answered by one forward pass, by model",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.commit_batch_size = Histogram(
            "game_agent_commit_batch_size",
            "Session writes committed in one store transaction",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.adaptation_seconds = Histogram(
            "game_agent_adaptation_seconds",
            "Duration of learner.end_episode (adaptation between episodes), by model",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.live_sessions = Gauge(
            "game_agent_live_sessions",
            "Sessions this replica holds in memory (started or resumed here, not ended)",
            registry=self.registry,
        )

    def record_call(self, method: str, code: str) -> None:
        """Count one answered call; ``code`` is the status code name (``OK``, ``NOT_FOUND``...)."""
        counters = self._calls.get((method, code))
        if counters is None:  # labels() takes a lock and builds a key: once per series
            counters = [self.requests.labels(method, code)]
            if code != "OK":
                counters.append(self.errors.labels(method, code))
            self._calls[(method, code)] = counters
        for counter in counters:
            counter.inc()

    def observe_turn(self, method: str, seconds: float) -> None:
        """Record one turn's latency (``Act`` or ``EndEpisode``)."""
        histogram = self._turns.get(method)
        if histogram is None:
            histogram = self._turns[method] = self.turn_latency.labels(method)
        histogram.observe(seconds)

    def serve(self, host: str, port: int) -> int:
        """Expose ``/metrics`` over HTTP on ``host:port`` (0: a free port); returns the port."""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        bound = int(server.server_port)
        log.info("prometheus metrics on http://%s:%d/metrics", host, bound)
        self._http = server
        return bound

    def close(self) -> None:
        """Stop the HTTP endpoint, if one was started."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
