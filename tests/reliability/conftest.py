"""Reliability tests reuse the service tests' fixtures: a tiny RL2 checkpoint trained in the
session, a throw-away redis-server, and servers on their own event loop or in child processes
(``tests/server/conftest.py``, ``tests/server/processes.py``)."""

from tests.server.conftest import redis_server, rl2_models_dir, server_factory

__all__ = ["redis_server", "rl2_models_dir", "server_factory"]
