"""The adaptive-opponent gRPC service: sessions, per-player state, stores, batching, auth.

Entry points: :func:`server.app.create_server` (build and start, returns the
bound port), :func:`server.app.serve` (run until SIGTERM/SIGINT), and
``python -m server`` / ``game-agent serve`` (:mod:`server.cli`).
"""
