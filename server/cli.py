"""``game-agent serve``: the command-line face of :class:`server.config.ServerConfig`.

``game_agent/cli.py`` (the composition root) calls :func:`add_serve_arguments`
to build the subcommand and :func:`run_serve` to run it; ``python -m server``
runs the same command on its own.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from game_agent.errors import CheckpointError, ConfigError
from server.config import ServerConfig
from server.logs import configure_logging

log = logging.getLogger(__name__)
_DEFAULTS = ServerConfig()


def add_serve_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``serve`` options to ``parser``."""
    parser.add_argument(
        "--models",
        type=Path,
        default=_DEFAULTS.models_dir,
        help="directory of checkpoints to serve",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=_DEFAULTS.data_dir,
        help="directory for the SQLite store and the cache of traced graphs (graphs/)",
    )
    parser.add_argument(
        "--address", default=_DEFAULTS.address, help="HOST:PORT to listen on (port 0: any free)"
    )
    parser.add_argument(
        "--store", default=_DEFAULTS.store, help="'sqlite' (default) or redis://HOST:PORT[/DB]"
    )
    parser.add_argument(
        "--api-keys", type=Path, default=None, help="file of 'KEY PRINCIPAL' lines; enables auth"
    )
    parser.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate chain")
    parser.add_argument("--tls-key", type=Path, default=None, help="PEM private key")
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=_DEFAULTS.idle_timeout_s,
        help="seconds of inactivity after which a session expires (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-window-us",
        type=float,
        default=_DEFAULTS.batch_window_s * 1e6,
        help="microseconds a batch waits for concurrent turns (default: %(default)s)",
    )
    parser.add_argument(
        "--crowd-window-us",
        type=float,
        default=_DEFAULTS.crowd_window_s * 1e6,
        help="microseconds a batch may keep taking turns while several sessions play "
        "(default: %(default)s; 0: off)",
    )
    parser.add_argument(
        "--no-inline-lone-turns",
        dest="inline_lone_turns",
        action="store_false",
        default=_DEFAULTS.inline_lone_turns,
        help="send a lone session's turns to the turn engine's worker thread too, instead of "
        "running them on the event loop",
    )
    parser.add_argument(
        "--max-batch", type=int, default=_DEFAULTS.max_batch_size, help="turns per forward pass"
    )
    parser.add_argument(
        "--turn-threads",
        type=int,
        default=_DEFAULTS.model_threads,
        help="turn engine worker threads (default: %(default)s)",
    )
    parser.add_argument(
        "--inference",
        choices=("onnxruntime", "torch"),
        default=_DEFAULTS.inference,
        help="run forward passes through verified ONNX graphs or torch (default: %(default)s)",
    )
    parser.add_argument(
        "--sync-commits",
        action="store_true",
        help="fsync every SQLite commit, so a power cut loses no acknowledged turn "
        "(a killed server loses none either way); costs an fsync per batch",
    )
    parser.add_argument(
        "--no-turn-log",
        dest="turn_log",
        action="store_false",
        default=_DEFAULTS.turn_log,
        help="write every turn's SQLite row instead of appending turns to <store>-turns "
        "and folding them into SQLite later",
    )
    parser.add_argument(
        "--max-sessions-per-player", type=int, default=_DEFAULTS.max_sessions_per_player
    )
    parser.add_argument("--max-sessions", type=int, default=_DEFAULTS.max_sessions)
    parser.add_argument("--max-request-bytes", type=int, default=_DEFAULTS.max_request_bytes)
    parser.add_argument(
        "--cpus",
        type=_core_list,
        default=_DEFAULTS.cpus,
        help="comma-separated CPU cores to run on, e.g. 2 for one replica per core "
        "(Linux; default: wherever the OS places it)",
    )
    parser.add_argument(
        "--log-format", choices=("json", "text"), default="json", help="log line format"
    )
    return parser


def _core_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated core numbers such as 0 or 2,3, got {text!r}"
        ) from None


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        models_dir=args.models,
        data_dir=args.data,
        address=args.address,
        store=args.store,
        api_keys_file=args.api_keys,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        metrics_port=args.metrics_port,
        idle_timeout_s=args.idle_timeout,
        batch_window_s=args.batch_window_us / 1e6,
        crowd_window_s=args.crowd_window_us / 1e6,
        inline_lone_turns=args.inline_lone_turns,
        max_batch_size=args.max_batch,
        model_threads=args.turn_threads,
        inference=args.inference,
        sync_commits=args.sync_commits,
        turn_log=args.turn_log,
        max_sessions_per_player=args.max_sessions_per_player,
        max_sessions=args.max_sessions,
        max_request_bytes=args.max_request_bytes,
        cpus=args.cpus,
    )


def run_serve(args: argparse.Namespace) -> int:
    """Run ``game-agent serve`` with parsed ``args``; returns the process exit code."""
    configure_logging(getattr(args, "log_level", "INFO"), json_lines=args.log_format == "json")
    try:
        config = config_from_args(args)
        from server.app import serve  # grpc and torch load only once the options are valid

        serve(config)
    except (ConfigError, CheckpointError, ConnectionError) as exc:
        log.error("cannot serve: %s", exc)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server", description="Serve the adaptive game agent over gRPC."
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return run_serve(add_serve_arguments(parser).parse_args(argv))
