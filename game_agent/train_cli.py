"""``game-agent train``: meta-train a learner on a game family from a TOML config.

    game-agent train --game matrix --algo rl2 --config configs/matrix_rl2.toml
    game-agent train --game connect_n --algo multitask --steps 200000 --out runs/c4_mt
    game-agent train --game matrix --algo rl2 --resume runs/matrix_rl2 --steps 2000000
    game-agent train --config configs/matrix_maml.toml --out runs/matrix_maml
    game-agent train --env pettingzoo.classic.tictactoe_v3:env --algo rl2 --steps 20000

``game_agent/cli.py`` (the composition root) calls :func:`add_train_arguments`
to build the subcommand and :func:`run_train` to run it. Without ``--config``
the command uses ``configs/<game>_<algo>.toml`` when it exists, else the
learner's defaults. Ctrl-C saves a checkpoint and exits cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from game_agent.config import TrainConfig, load_train_config
from game_agent.errors import ConfigError
from game_agent.learners import list_learners

log = logging.getLogger(__name__)

CONFIG_DIR = Path("configs")
EXIT_INTERRUPTED = 130


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` subcommand's options."""
    parser.add_argument(
        "--game", metavar="FAMILY", help="game family to train on (or `game` in the config)"
    )
    parser.add_argument(
        "--env",
        metavar="MODULE:FN",
        help="train on your own PettingZoo env instead of a built-in family: an import path "
        "'package.module:env_fn' returning an AEC or Parallel env with action masks",
    )
    parser.add_argument(
        "--algo", choices=list_learners(), help="meta-learner to train (or `algo` in the config)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML config (default: configs/<game>_<algo>.toml if present, else defaults)",
    )
    parser.add_argument("--steps", type=int, help="total learner decisions (overrides the config)")
    parser.add_argument(
        "--out",
        type=Path,
        help="run directory for checkpoints and TensorBoard (runs/<game>_<algo>)",
    )
    parser.add_argument(
        "--resume", type=Path, metavar="CKPT", help="checkpoint or run directory to continue"
    )
    parser.add_argument("--seed", type=int, help="seed (overrides the config)")
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="torch CPU threads (default: half the cores, at most 4; small nets gain little)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")


def default_threads() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The config file (explicit or conventional) with the command-line overrides applied."""
    path = args.config
    env = getattr(args, "env", None)
    if env and args.game not in (None, "pettingzoo"):
        raise ConfigError("--env trains the 'pettingzoo' adapter family; drop --game")
    game = "pettingzoo" if env else args.game
    if path is None and game and args.algo:
        conventional = CONFIG_DIR / f"{game}_{args.algo}.toml"
        path = conventional if conventional.is_file() else None
    config = load_train_config(path) if path is not None else TrainConfig()
    if path is not None:
        log.info("config: %s", path)
    if env and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: your module in this folder imports
    variants = (f"pettingzoo(env={env})",) if env else None
    config = config.with_overrides(
        game=game, algo=args.algo, steps=args.steps, seed=args.seed, variants=variants
    )
    if not config.game or not config.algo:
        raise ConfigError(
            "name the game and the learner: --game and --algo, or a --config with both"
        )
    return config


def run_train(args: argparse.Namespace) -> int:
    """Train as the arguments say; returns the process exit code."""
    import torch

    from game_agent.train import train_from_config

    torch.set_num_threads(max(1, args.threads))
    config = resolve_config(args)
    out_dir = args.out or Path("runs") / f"{config.game}_{config.algo}"
    result = train_from_config(
        config,
        out_dir=out_dir,
        resume=args.resume,
        progress_bar=not args.no_progress,
        tensorboard=not args.no_tensorboard,
    )
    progress = result.progress
    mean = f"{result.last.mean_return:.3f}" if result.last is not None else "n/a"
    state = "interrupted" if result.interrupted else "done"
    print(
        f"{state}: {progress.decisions} decisions in {progress.iterations} iterations, "
        f"last mean return {mean}; checkpoint {result.checkpoint}"
    )
    return EXIT_INTERRUPTED if result.interrupted else 0
