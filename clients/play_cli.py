"""``game-agent play FAMILY``: play the agent in a pygame window.

    game-agent play connect_n                          # the agent served at localhost:50051
    game-agent play matrix --variant "matrix(name=rpsls,rounds=15)" --player-id alice
    game-agent play poker --server agents.example.com:443 --tls --api-key KEY
    game-agent play pong --local [--checkpoint models/pong.safetensors]
    game-agent play connect_n --style search_d2        # a scripted style, no model at all

The opponent comes from one of three places: a game-agent server (the
default; the SDK's ServedOpponent), a checkpoint loaded in-process
(``--local``: the ``game-agent`` command builds the LocalOpponent, because
this package never imports torch), or one of the family's scripted styles
(``--style``). ``add_arguments`` and ``run`` are what ``game_agent/cli.py``
wires into its ``play`` subcommand; ``main`` runs the same without ``--local``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from clients.demos import DEFAULT_VARIANTS, DEMOS, DemoResult, demo_spec, run_demo
from clients.errors import AgentError
from clients.insight import GameFacts, PlayerInsight
from clients.opponent import AdaptiveOpponent, PopulationOpponent, ServedOpponent
from clients.retry import TlsConfig
from clients.sdk import AgentClient
from games import GameError, GameSpec, list_opponents

DEFAULT_SERVER = "localhost:50051"
API_KEY_ENV = "GAME_AGENT_API_KEY"

LocalOpponentFactory = Callable[[GameSpec, int, PlayerInsight], AdaptiveOpponent]
"""Builds the in-process opponent: (variant, agent seat, insight tracker) -> opponent."""


class PlayError(Exception):
    """A ``play`` option combination that cannot work."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``play`` subcommand's arguments."""
    parser.add_argument("family", choices=sorted(DEMOS), help="game family to play")
    parser.add_argument(
        "--variant",
        metavar="SPEC",
        help="variant spec string, e.g. 'connect_n(rows=5,cols=6,k=4)'; defaults: "
        + "; ".join(f"{f}: {v}" for f, v in sorted(DEFAULT_VARIANTS.items())),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--server", metavar="ADDRESS", help=f"game-agent server (default {DEFAULT_SERVER})"
    )
    source.add_argument(
        "--local", action="store_true", help="load a checkpoint and play it in-process"
    )
    source.add_argument(
        "--style", metavar="NAME", help="play one of the family's scripted styles instead"
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="with --local: checkpoint file (default: the family's checkpoint under models/)",
    )
    parser.add_argument(
        "--player-id", metavar="ID", help="who you are to the agent (default: your user name)"
    )
    parser.add_argument(
        "--seat", type=int, choices=(0, 1), default=0, help="your seat: 0 moves first (default)"
    )
    parser.add_argument("--api-key", help=f"server API key (default: ${API_KEY_ENV})")
    parser.add_argument("--tls", action="store_true", help="connect with TLS (system roots)")
    parser.add_argument("--tls-ca", metavar="PEM", help="with --tls: trust this CA instead")
    parser.add_argument("--streaming", action="store_true", help="send turns over one stream")
    parser.add_argument("--points", type=int, default=5, help="pong: points to win a match")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for deals, serves and the agent's sampled moves (0..2**64-1; a server "
        "picks its own seed for 0)",
    )


def default_player_id() -> str:
    """The user's login name, reduced to the characters a player id may hold."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    cleaned = re.sub(r"[^A-Za-z0-9_.:@-]", "", name)[:64]
    return cleaned or "player"


def run(
    args: argparse.Namespace,
    local_opponent: LocalOpponentFactory | None = None,
    **demo_options: Any,
) -> int:
    """Play the demo the arguments describe; returns the process exit code.

    ``demo_options`` go to :func:`clients.demos.run_demo` (tests pass an input
    script, a game count and ``fps=0`` to play headless).
    """
    spec = demo_spec(args.family, args.variant)
    agent_seat = 1 - args.seat
    if args.checkpoint and not args.local:
        raise PlayError("--checkpoint only applies with --local")
    if args.seed is not None and not 0 <= args.seed < 2**64:
        raise PlayError(f"--seed must be in 0..2**64-1, got {args.seed}")
    if args.local:
        if local_opponent is None:
            raise PlayError("--local needs the game-agent command: run `game-agent play --local`")
        opponent = local_opponent(spec, agent_seat, PlayerInsight(GameFacts.from_spec(spec)))
        return _report(_play(args, spec, opponent, demo_options))
    if args.style:
        if args.style not in list_opponents(spec.family):
            known = ", ".join(list_opponents(spec.family))
            raise PlayError(f"{spec.family} has no style {args.style!r}; styles: {known}")
        opponent = PopulationOpponent(spec, args.style, seed=args.seed)
        return _report(_play(args, spec, opponent, demo_options))
    client = AgentClient(
        args.server or DEFAULT_SERVER,
        api_key=args.api_key or os.environ.get(API_KEY_ENV),
        tls=_tls(args),
    )
    player = args.player_id or default_player_id()
    seed = args.seed or 0  # 0: the server picks one
    with (
        client,
        ServedOpponent(client, player, spec, agent_seat, streaming=args.streaming, seed=seed) as op,
    ):
        return _report(_play(args, spec, op, demo_options))


def _tls(args: argparse.Namespace) -> TlsConfig | bool | None:
    if args.tls_ca and not args.tls:
        raise PlayError("--tls-ca only applies with --tls")
    if args.tls_ca:
        with open(args.tls_ca, "rb") as handle:
            return TlsConfig(root_certificates=handle.read())
    return True if args.tls else None


def _play(
    args: argparse.Namespace,
    spec: GameSpec,
    opponent: AdaptiveOpponent,
    demo_options: dict[str, Any],
) -> DemoResult:
    options = {"points": args.points} if spec.family == "pong" else {}
    return run_demo(
        spec.family,
        opponent,
        spec.name,
        human_seat=args.seat,
        seed=args.seed,
        **options,
        **demo_options,
    )


def _report(result: DemoResult) -> int:
    print(f"Played {result.games_finished} game(s).")
    for label, value in result.insight.items():
        print(f"  {label}: {value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clients.play_cli``: the same command, for machines without the library."""
    parser = argparse.ArgumentParser(prog="play", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (PlayError, AgentError, GameError) as exc:
        print(f"play: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
