"""``game-agent eval``: the meta-test report for one or more checkpoints of one family."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from game_agent.errors import ConfigError

log = logging.getLogger(__name__)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        type=Path,
        help="checkpoint to evaluate (repeat to compare RL2 and MAML on the same tasks)",
    )
    parser.add_argument("--split", default="heldout", help="task split (default: heldout)")
    parser.add_argument("--trials", type=int, default=32, help="trials per task (default: 32)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per trial (K)")
    parser.add_argument(
        "--baselines",
        nargs="*",
        default=[],
        metavar="BASELINE",
        help="multitask=CKPT (the non-adaptive baseline), sb3 (PPO from scratch for K "
        "episodes and for 100x K); the exact best response is always the ceiling where known",
    )
    parser.add_argument("--out", type=Path, default=Path("reports/eval"), help="report folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tasks", type=int, default=None, help="only the first N tasks")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="points averaged into the reward at k for the gap closed "
        "(default 5 rounds in matrix games, 1 episode elsewhere)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        metavar="SPEC",
        help="evaluate only this variant of the split (repeat for several)",
    )
    parser.add_argument("--greedy", action="store_true", help="agents play their likeliest move")
    parser.add_argument(
        "--compare-unwrapped",
        action="store_true",
        help="also evaluate the adaptive learner inside each safety-wrapped checkpoint on its "
        "own, to show what the safety wrapper costs and buys",
    )
    parser.add_argument(
        "--gap-at",
        type=int,
        nargs="*",
        default=None,
        help="k at which to report the gap closed (default 1 3 10; rounds 1 5 10 20 50 for matrix)",
    )


def run_eval(args: argparse.Namespace) -> int:
    from game_agent import load
    from game_agent.evaluation.baselines import SB3FromScratch
    from game_agent.evaluation.evaluate import (
        ROUND_AXIS_FAMILIES,
        EvalConfig,
        FamilyEvaluation,
        build_report,
        evaluate_family,
    )
    from game_agent.evaluation.recovery import switching_recovery
    from game_agent.evaluation.report import write_report
    from game_agent.learners.safe import SafeLearner

    learners = {}
    sources = {}
    for path in args.checkpoint:
        learner = load(path)
        name = _unique_name(learner.name, learners)
        learners[name], sources[name] = learner, str(path)
        if args.compare_unwrapped and isinstance(learner, SafeLearner):
            name = _unique_name(learner.base.name, learners)
            learners[name], sources[name] = learner.base, f"{path} without its safety wrapper"
    families = {learner.layout.family for learner in learners.values()}
    if len(families) != 1:
        raise ConfigError(f"all checkpoints must play one family; got {sorted(families)}")
    family = families.pop()

    by_round = family in ROUND_AXIS_FAMILIES
    # A matrix trial is one match, read round by round: K = 1 there, for SB3's budget too.
    episodes = 1 if by_round else args.episodes
    nonadaptive, extra, fallback = None, {}, None
    for item in args.baselines:
        kind, _, value = item.partition("=")
        if kind == "multitask" and value:
            nonadaptive = ("multitask", load(Path(value)))
            sources["multitask"] = value
        elif kind == "sb3":
            work = args.out / "sb3_models"
            for factor in (1, 100):
                baseline = SB3FromScratch(episodes * factor, work)
                extra[baseline.name] = baseline
                sources[baseline.name] = f"stable-baselines3 PPO, {baseline.episodes} episodes"
            fallback = SB3FromScratch(episodes * 100).name
        else:
            raise ConfigError(f"unknown baseline {item!r}; use multitask=CKPT or sb3")

    default_ks = (1, 5, 10, 20, 50) if by_round else (1, 3, 10)
    config = EvalConfig(
        family=family,
        split=args.split,
        trials=args.trials,
        episodes=episodes,
        seed=args.seed,
        greedy=args.greedy,
        gap_ks=tuple(args.gap_at) if args.gap_at else default_ks,
        max_tasks=args.max_tasks,
        variants=tuple(args.variant) if args.variant else None,
        window=args.window,
    )
    section = evaluate_family(
        config, FamilyEvaluation(learners, nonadaptive, extra, fallback_ceiling=fallback)
    )
    if by_round:
        variant = "matrix(name=rps)"
        agents = {**learners, **({nonadaptive[0]: nonadaptive[1]} if nonadaptive else {})}
        section["recovery"] = {
            name: switching_recovery(agent, variant, trials=args.trials, seed=args.seed)
            for name, agent in agents.items()
        }
    write_report(build_report(config, section, sources), args.out)
    print(f"report written to {args.out}/report.md")
    return 0


def _unique_name(name: str, taken: dict) -> str:
    if name not in taken:
        return name
    i = 2
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"
