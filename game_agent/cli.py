"""The ``game-agent`` command: the composition root that wires the parts into subcommands.

Each subcommand lives in the part it belongs to and is imported only when it
is the one being run (or its ``--help`` is asked for), so ``game-agent play``
against a server never imports torch and ``game-agent train`` never imports
grpc. Adding a subcommand is one :class:`Command` entry naming its module and
the two functions that add its arguments and run it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Command:
    """A subcommand and where its code lives (``module:function`` targets)."""

    name: str
    help: str
    add_arguments: str
    """``module:function`` taking the subcommand's ArgumentParser."""
    run: str
    """``module:function`` taking the parsed arguments, returning the exit code."""

    def resolve(self, target: str) -> Callable[..., Any]:
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)


COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            "train",
            "meta-train a learner (rl2, multitask, maml) on a game family",
            "game_agent.train_cli:add_train_arguments",
            "game_agent.train_cli:run_train",
        ),
        Command(
            "eval",
            "measure how fast trained agents adapt to players they have never met",
            "game_agent.evaluation.cli:add_eval_arguments",
            "game_agent.evaluation.cli:run_eval",
        ),
        Command(
            "serve",
            "serve trained agents over gRPC",
            "server.cli:add_serve_arguments",
            "server.cli:run_serve",
        ),
        Command(
            "export",
            "export a trained policy to ONNX for in-engine inference without a server",
            "game_agent.export:add_export_arguments",
            "game_agent.export:run_export",
        ),
        Command(
            "play",
            "play an agent (served, local or scripted) in a pygame window",
            "clients.play_cli:add_arguments",
            "game_agent.cli:run_play",
        ),
        Command(
            "bench",
            "run a benchmark of the source checkout (serve, kernels)",
            "game_agent.bench_cli:add_bench_arguments",
            "game_agent.bench_cli:run_bench",
        ),
    )
}


def run_play(args: argparse.Namespace) -> int:
    """``play``: the clients' demo, handed an in-process learner when ``--local``."""
    from clients.errors import AgentError
    from clients.play_cli import PlayError, run

    factory = None
    if args.local:
        from game_agent.local import local_opponent_factory

        factory = local_opponent_factory(args.checkpoint, seed=args.seed)
    try:
        return run(args, local_opponent=factory)
    except (PlayError, AgentError) as exc:
        print(f"game-agent play: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The top-level parser; only the subcommand named in ``argv`` gets its options loaded."""
    parser = argparse.ArgumentParser(
        prog="game-agent",
        description="Meta-trained game agents that adapt to each player.",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging verbosity (default INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for command in COMMANDS.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        if command.name == chosen:
            command.resolve(command.add_arguments)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``game-agent`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from game_agent.errors import GameAgentError
    from games.errors import GameError

    command = COMMANDS[args.command]
    try:
        return int(command.resolve(command.run)(args) or 0)
    except (GameAgentError, GameError) as exc:
        print(f"game-agent {command.name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"game-agent {command.name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
