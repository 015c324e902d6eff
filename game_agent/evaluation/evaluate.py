"""Meta-test evaluation: how fast does each agent adapt to players it has never met?

Every agent (the learners under test and the baselines) plays the same tasks
(variant x opponent x seat of one family's split) with the same seeds, through
the Learner protocol (:mod:`game_agent.evaluation.runner`). The report gives,
per adaptation step k, mean return and win rate with 95% intervals, the gap
closed towards the ceiling (the exact best response where one exists, else
single-task PPO trained 100x longer), and the worst case over opponents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from game_agent.errors import ConfigError
from game_agent.evaluation.report import (
    AgentCurves,
    TaskOutcome,
    ceiling_curve,
    curve_table,
    gap_closed_table,
    per_task_table,
)
from game_agent.evaluation.runner import play_trials
from game_agent.learner import Learner
from game_agent.tasks import Task, TaskDistribution
from games import best_response_value, equilibrium_value, make_opponent, parse_spec

log = logging.getLogger(__name__)

ROUND_AXIS_FAMILIES = frozenset({"matrix"})
"""Families whose episode is a long match: adaptation is read round by round."""


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how much."""

    family: str
    """Game family whose split supplies the tasks."""
    split: str = "heldout"
    """Named split of variants and opponents (``heldout`` = never seen in training)."""
    trials: int = 32
    """Independent trials per task (each a fresh player)."""
    episodes: int = 10
    """Episodes per trial (K); matrix games read adaptation by round within episode 1."""
    seed: int = 0
    """Seeds deals, opponents and the agents' sampling: the report is reproducible."""
    greedy: bool = False
    """Agents pick their most likely action instead of sampling."""
    gap_ks: tuple[int, ...] = (1, 3, 10)
    """The k at which the gap closed is reported (rounds 1, 5, 10, 20, 50 for matrix)."""
    max_tasks: int | None = None
    """Evaluate only the first N tasks of the split (for quick runs)."""
    seats: tuple[int, ...] | None = None
    """Learner seats to evaluate; default every seat."""
    variants: tuple[str, ...] | None = None
    """Evaluate only these variants (spec strings) instead of the split's; its opponents stay."""
    window: int | None = None
    """Points of the axis averaged into R_k for the gap closed (default 5 rounds, 1 episode)."""

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 1:
            raise ConfigError(f"the gap-closed window must be at least 1, got {self.window}")


@dataclass
class FamilyEvaluation:
    """The agents to compare on one family; ``nonadaptive`` anchors the gap closed."""

    learners: Mapping[str, Learner]
    nonadaptive: tuple[str, Learner] | None = None
    extra_agents: Mapping[str, Callable[[Task, int], Learner]] = field(default_factory=dict)
    """Per-task agents built on demand (e.g. SB3 PPO trained from scratch on that task)."""
    fallback_ceiling: str | None = None
    """Name of the extra agent whose level is the ceiling where no exact best response exists."""


def tasks_of(config: EvalConfig) -> list[Task]:
    """Every (variant, opponent, seat) of the split, in a fixed order."""
    dist = TaskDistribution(config.family, config.split, seed=config.seed, seats=config.seats)
    if config.variants is not None:
        offered = {spec.name for spec in dist.specs}
        unknown = sorted({parse_spec(v).name for v in config.variants} - offered)
        if unknown:
            raise ConfigError(
                f"variant(s) {unknown} are not in the {config.split} split of "
                f"{config.family}; it has {sorted(offered)}"
            )
        dist = TaskDistribution(
            config.family,
            config.split,
            seed=config.seed,
            variants=config.variants,
            opponents=dist.opponents,
            seats=config.seats,
        )
    tasks = [
        Task(spec, opponent, seat)
        for spec in dist.specs
        for opponent in dist.opponents
        for seat in dist.seats
    ]
    if config.max_tasks is not None:
        tasks = tasks[: config.max_tasks]
    if not tasks:
        raise ConfigError(f"the {config.split} split of {config.family} has no tasks")
    return tasks


def play_agent(name: str, agent: Learner | Callable, tasks: Sequence[Task], config: EvalConfig):
    curves = AgentCurves(name=name, source=getattr(agent, "name", name))
    for i, task in enumerate(tasks):
        learner = agent if isinstance(agent, Learner) else agent(task, config.seed + i)
        opponent = make_opponent(task.spec, task.opponent, seed=config.seed + 7919 * i)
        results = play_trials(
            learner,
            task.spec,
            opponent,
            seat=task.seat,
            trials=config.trials,
            episodes=config.episodes,
            seed=config.seed + i,
            greedy=config.greedy,
        )
        ceiling = best_response_value(task.spec, task.opponent, task.seat)
        curves.tasks.append(TaskOutcome(task.spec.name, task.opponent, task.seat, results, ceiling))
        log.info("%s on %s: mean return %.3f", name, task.name, results.returns.mean())
    return curves


def evaluate_family(config: EvalConfig, agents: FamilyEvaluation) -> dict[str, Any]:
    """Play every agent on every task of the split; the family's section of the report."""
    tasks = tasks_of(config)
    axis = "round" if config.family in ROUND_AXIS_FAMILIES else "episode"
    played: dict[str, AgentCurves] = {}
    for name, learner in agents.learners.items():
        played[name] = play_agent(name, learner, tasks, config)
    if agents.nonadaptive is not None:
        name, learner = agents.nonadaptive
        played[name] = play_agent(name, learner, tasks, config)
    for name, factory in agents.extra_agents.items():
        played[name] = play_agent(name, factory, tasks, config)

    first = next(iter(played.values()))
    fallback = played.get(agents.fallback_ceiling) if agents.fallback_ceiling else None
    ceilings = ceiling_curve(first, fallback, axis)
    section: dict[str, Any] = {
        "axis": axis,
        "tasks": [t.name for t in tasks],
        "ceiling_per_task": [None if np.isnan(c) else float(c) for c in ceilings],
        "ceiling_mean": None if np.isnan(ceilings).all() else float(np.nanmean(ceilings)),
        "agents": {
            name: {"curve": curve_table(c, axis), "per_task": per_task_table(c, axis)}
            for name, c in played.items()
        },
        "worst_case": {name: worst_case(c, config.family) for name, c in played.items()},
    }
    if agents.nonadaptive is not None:
        base = played[agents.nonadaptive[0]]
        section["gap_closed"] = {
            name: gap_closed_table(played[name], base, ceilings, axis, config.gap_ks, config.window)
            for name in agents.learners
        }
        section["gap_closed_by_variant"] = {
            name: gap_closed_by_variant(
                played[name], base, ceilings, axis, config.gap_ks, config.window
            )
            for name in agents.learners
        }
    return section


def gap_closed_by_variant(
    agent: AgentCurves,
    nonadaptive: AgentCurves,
    ceilings: np.ndarray,
    axis: str,
    ks: tuple[int, ...],
    window: int | None = None,
) -> dict[str, dict[str, float | None]]:
    """The gap closed over each variant's tasks alone (variants differ in how much there is)."""
    table = {}
    for variant in dict.fromkeys(task.variant for task in agent.tasks):
        rows = [i for i, task in enumerate(agent.tasks) if task.variant == variant]
        table[variant] = gap_closed_table(
            _subset(agent, rows), _subset(nonadaptive, rows), ceilings[rows], axis, ks, window
        )
    return table


def _subset(agent: AgentCurves, rows: list[int]) -> AgentCurves:
    return AgentCurves(agent.name, agent.source, [agent.tasks[i] for i in rows])


ADVERSARIAL_STYLES = {
    "matrix": ("adv_freq_br", "adv_last_br2", "adv_reverse_cycle", "echo2"),
    "poker": ("adaptive_exploiter",),
}
"""Held-out styles built to punish an agent that adapts naively (the safety measurement)."""


def worst_case(agent: AgentCurves, family: str) -> dict[str, Any]:
    """Where the agent fared worst, beside the game's equilibrium value (per round or hand).

    The headline entry is the task with the largest shortfall below the equilibrium
    value (level - equilibrium; the lowest level where no value is known), with the
    same read per seat and over the adversarial styles alone. The level is the mean
    reward per round on the round axis (matrix matches), per episode otherwise.
    """
    by_round = family in ROUND_AXIS_FAMILIES
    rows = [_task_level(task, by_round) for task in agent.tasks]
    section = _worst_of(rows)
    section["per_seat"] = {
        str(seat): _worst_of([r for r in rows if r["seat"] == seat])
        for seat in sorted({r["seat"] for r in rows})
    }
    adversarial = [r for r in rows if r["opponent"] in ADVERSARIAL_STYLES.get(family, ())]
    section["adversarial"] = _worst_of(adversarial) if adversarial else None
    return section


def _task_level(task: TaskOutcome, by_round: bool) -> dict[str, Any]:
    results = task.results
    if by_round:
        decisions = max(1, int(np.sum(~np.isnan(results.step_rewards))))
        level = float(results.returns.sum() / decisions)
    else:
        level = float(results.returns.mean())
    eq = equilibrium_value(task.variant, task.seat)
    if eq is not None and by_round:
        eq = eq / max(1, int(np.sum(~np.isnan(results.step_rewards[0, 0]))))
    return {
        "opponent": task.opponent,
        "variant": task.variant,
        "seat": task.seat,
        "reward_per_step": level,
        "equilibrium_value": eq,
        "shortfall": None if eq is None else level - eq,
    }


def _worst_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with the largest shortfall below equilibrium (else the lowest level)."""
    known = [r for r in rows if r["shortfall"] is not None]
    if known:
        return dict(min(known, key=lambda r: r["shortfall"]))
    return dict(min(rows, key=lambda r: r["reward_per_step"]))


def build_report(config: EvalConfig, section: dict[str, Any], sources: dict[str, str]) -> dict:
    return {
        "config": asdict(config),
        "agents": sources,
        "families": {config.family: section},
    }
