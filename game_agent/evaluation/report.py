"""Turn trial results into the evaluation report: report.json, report.md and PNG curves.

Adaptation is measured along an *axis*: the episode index k within a trial for
most families, or the round within a match for matrix games (one match is one
episode there, and adaptation happens round by round). The headline number is
the gap closed at k: (R_k - R_nonadaptive,k) / (R_ceiling - R_nonadaptive,k),
from task-averaged rewards. On the round axis R_k is the mean reward over the
five rounds ending at k, so a single noisy round does not decide it; on the
episode axis R_k is episode k alone unless a longer window is asked for (a
poker hand is as noisy as a round).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from game_agent.evaluation.runner import TrialResults
from game_agent.evaluation.stats import gap_closed, mean_interval, rate_interval

log = logging.getLogger(__name__)

ROUND_WINDOW = 5


@dataclass
class TaskOutcome:
    """One (variant, opponent, seat) task played by one agent."""

    variant: str
    opponent: str
    seat: int
    results: TrialResults
    ceiling: float | None = None
    """Best-response reward per episode on this task, when known exactly."""


@dataclass
class AgentCurves:
    """All tasks one agent (a learner or a baseline) played in one family."""

    name: str
    source: str
    tasks: list[TaskOutcome] = field(default_factory=list)

    def curve(self, axis: str) -> np.ndarray:
        """(num_tasks, K) per-task mean reward at each k of the axis."""
        return np.stack([_task_curve(t.results, axis) for t in self.tasks])


def _task_curve(results: TrialResults, axis: str) -> np.ndarray:
    if axis == "round":
        return np.nanmean(results.step_rewards[:, 0, :], axis=0)
    return results.returns.mean(axis=0)


def _smoothed(curve: np.ndarray, axis: str, window: int | None = None) -> np.ndarray:
    """Mean over the ``window`` points ending at each k (default: 5 rounds, 1 episode)."""
    window = window or (ROUND_WINDOW if axis == "round" else 1)
    if window == 1:
        return curve
    out = np.empty_like(curve)
    for k in range(curve.shape[-1]):
        out[..., k] = np.nanmean(curve[..., max(0, k - window + 1) : k + 1], axis=-1)
    return out


def curve_table(agent: AgentCurves, axis: str) -> list[dict[str, Any]]:
    """Per k: mean return (over trials of every task) and win rate, with 95% intervals."""
    rows = []
    length = agent.curve(axis).shape[1]
    for k in range(length):
        if axis == "round":
            values = np.concatenate([t.results.step_rewards[:, 0, k] for t in agent.tasks])
            values = values[~np.isnan(values)]
            wins = values > 0
        else:
            values = np.concatenate([t.results.returns[:, k] for t in agent.tasks])
            wins = np.concatenate([t.results.wins[:, k] for t in agent.tasks])
        rows.append(
            {
                "k": k + 1,
                "return": mean_interval(values).as_dict(),
                "win_rate": rate_interval(wins).as_dict(),
            }
        )
    return rows


def ceiling_curve(agent: AgentCurves, fallback: AgentCurves | None, axis: str) -> np.ndarray:
    """(num_tasks,) ceiling per task: the exact best response, else the fallback's final level."""
    ceilings = []
    for i, task in enumerate(agent.tasks):
        if task.ceiling is not None:
            per = task.ceiling / _decisions(task) if axis == "round" else task.ceiling
            ceilings.append(per)
        elif fallback is not None:
            ceilings.append(float(np.nanmean(fallback.curve(axis)[i])))
        else:
            ceilings.append(np.nan)
    return np.asarray(ceilings)


def _decisions(task: TaskOutcome) -> int:
    return int(np.sum(~np.isnan(task.results.step_rewards[0, 0])))


def gap_closed_table(
    agent: AgentCurves,
    nonadaptive: AgentCurves,
    ceilings: np.ndarray,
    axis: str,
    ks: tuple[int, ...],
    window: int | None = None,
) -> dict[str, float | None]:
    """Gap closed at each k in ``ks`` (tasks without a ceiling are left out)."""
    known = ~np.isnan(ceilings)
    if not known.any():
        return {f"k={k}": None for k in ks}
    mine = _smoothed(agent.curve(axis), axis, window)[known]
    base = _smoothed(nonadaptive.curve(axis), axis, window)[known]
    table = {}
    for k in ks:
        if k > mine.shape[1]:
            continue
        table[f"k={k}"] = gap_closed(
            float(np.nanmean(mine[:, k - 1])),
            float(np.nanmean(base[:, k - 1])),
            float(np.nanmean(ceilings[known])),
        )
    return table


def per_task_table(agent: AgentCurves, axis: str) -> list[dict[str, Any]]:
    rows = []
    for task, curve in zip(agent.tasks, agent.curve(axis), strict=True):
        rows.append(
            {
                "variant": task.variant,
                "opponent": task.opponent,
                "seat": task.seat,
                "first": float(curve[0]),
                "last": float(curve[-1]),
                "mean": float(np.nanmean(curve)),
                "ceiling": task.ceiling,
            }
        )
    return rows


def write_report(report: dict[str, Any], out: Path) -> None:
    """report.json (every number), report.md (tables) and one PNG curve plot per family."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(
        json.dumps(report, indent=2, sort_keys=True, default=_jsonable)
    )
    (out / "report.md").write_text(render_markdown(report))
    for family, section in report["families"].items():
        plot_curves(family, section, out / f"{family}_adaptation.png")
    log.info("wrote %s", out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Evaluation report",
        "",
        f"Split `{report['config']['split']}`; "
        f"{report['config']['trials']} trials per task; seed {report['config']['seed']}.",
        "",
    ]
    for family, section in report["families"].items():
        axis = section["axis"]
        lines += [f"## {family}", "", f"Adaptation axis: **{axis}**.", ""]
        lines += _gap_lines(section)
        lines += _variant_gap_lines(section)
        lines += _curve_lines(section, axis)
        if section.get("recovery"):
            lines += _recovery_lines(section["recovery"])
        if section.get("worst_case"):
            lines += _worst_case_lines(section["worst_case"])
            lines += _trade_off_lines(section)
    return "\n".join(lines) + "\n"


def _gap_lines(section: dict[str, Any]) -> list[str]:
    gaps = section.get("gap_closed", {})
    if not gaps:
        return []
    ks = sorted({k for table in gaps.values() for k in table}, key=lambda s: int(s[2:]))
    lines = ["| agent | " + " | ".join(f"gap closed {k}" for k in ks) + " |"]
    lines.append("|---" * (len(ks) + 1) + "|")
    for name, table in gaps.items():
        cells = [_fmt(table.get(k)) for k in ks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _variant_gap_lines(section: dict[str, Any]) -> list[str]:
    by_variant = section.get("gap_closed_by_variant", {})
    if not by_variant or len(next(iter(by_variant.values()))) < 2:
        return []
    ks = sorted(
        {k for table in by_variant.values() for gaps in table.values() for k in gaps},
        key=lambda s: int(s[2:]),
    )
    lines = ["| agent | variant | " + " | ".join(f"gap closed {k}" for k in ks) + " |"]
    lines.append("|---" * (len(ks) + 2) + "|")
    for name, table in by_variant.items():
        for variant, gaps in table.items():
            cells = [_fmt(gaps.get(k)) for k in ks]
            lines.append(f"| {name} | {variant} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _curve_lines(section: dict[str, Any], axis: str) -> list[str]:
    agents = section["agents"]
    names = list(agents)
    lines = [f"| {axis} | " + " | ".join(f"{n} return (95% CI)" for n in names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    length = max(len(a["curve"]) for a in agents.values())
    shown = [k for k in range(length) if k < 5 or (k + 1) % 10 == 0 or k == length - 1]
    for k in shown:
        cells = []
        for name in names:
            curve = agents[name]["curve"]
            cells.append(_fmt_ci(curve[k]["return"]) if k < len(curve) else "")
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _recovery_lines(recovery: dict[str, Any]) -> list[str]:
    lines = [
        "### Recovery after the opponent switches style",
        "",
        "| agent | reward before switch | dip | rounds to recover |",
        "|---|---|---|---|",
    ]
    for name, entry in recovery.items():
        rounds = entry["rounds_to_recover"]
        lines.append(
            f"| {name} | {_fmt(entry['pre_switch_reward'])} | {_fmt(entry['dip_reward'])} | "
            f"{'not within the match' if rounds is None else rounds} |"
        )
    return [*lines, ""]


def _worst_case_lines(worst: dict[str, Any]) -> list[str]:
    lines = [
        "### Worst case (exploitability)",
        "",
        "Reward per round/hand on the task furthest below the equilibrium value "
        "(shortfall = reward - equilibrium), over every held-out opponent, per seat, "
        "and over the adversarial styles alone.",
        "",
        "| agent | over | worst opponent (variant, seat) | reward | equilibrium | shortfall |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in worst.items():
        reads = [("all", entry)]
        reads += [(f"seat {seat}", e) for seat, e in entry.get("per_seat", {}).items()]
        if entry.get("adversarial"):
            reads.append(("adversaries", entry["adversarial"]))
        for label, e in reads:
            lines.append(
                f"| {name} | {label} | {e['opponent']} ({e['variant']}, {e['seat']}) | "
                f"{_fmt(e['reward_per_step'])} | {_fmt(e.get('equilibrium_value'))} | "
                f"{_fmt(e.get('shortfall'))} |"
            )
    return [*lines, ""]


def _trade_off_lines(section: dict[str, Any]) -> list[str]:
    """Gap closed beside the worst shortfall, per learner: what adapting buys and risks."""
    gaps, worst = section.get("gap_closed", {}), section.get("worst_case", {})
    names = [name for name in gaps if name in worst]
    if not names:
        return []
    ks = sorted({k for name in names for k in gaps[name]}, key=lambda s: int(s[2:]))
    lines = [
        "### Adaptation vs safety trade-off",
        "",
        "| agent | "
        + " | ".join(f"gap closed {k}" for k in ks)
        + " | worst shortfall | worst shortfall vs adversaries |",
        "|---" * (len(ks) + 3) + "|",
    ]
    for name in names:
        adversarial = worst[name].get("adversarial") or {}
        cells = [_fmt(gaps[name].get(k)) for k in ks]
        cells += [_fmt(worst[name].get("shortfall")), _fmt(adversarial.get("shortfall"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _fmt_ci(entry: dict[str, float]) -> str:
    return f"{entry['mean']:.3f} ({entry['ci95_low']:.3f}, {entry['ci95_high']:.3f})"


def plot_curves(family: str, section: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, agent in section["agents"].items():
        ks = [row["k"] for row in agent["curve"]]
        means = np.array([row["return"]["mean"] for row in agent["curve"]])
        low = np.array([row["return"]["ci95_low"] for row in agent["curve"]])
        high = np.array([row["return"]["ci95_high"] for row in agent["curve"]])
        ax.plot(ks, means, label=name)
        ax.fill_between(ks, low, high, alpha=0.15)
    if section.get("ceiling_mean") is not None:
        ax.axhline(section["ceiling_mean"], linestyle="--", color="black", label="ceiling")
    ax.set_xlabel(section["axis"])
    ax.set_ylabel("mean reward" if section["axis"] == "round" else "mean episode return")
    ax.set_title(f"{family}: adaptation on the heldout split")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
