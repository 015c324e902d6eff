"""Kernel throughput: env-steps per second of every family's batched kernel vs PettingZoo loops.

For each registered family that can be imported, its default variant is
played with uniformly random legal actions:

- by the batched kernel at batch 1, 64 and 4096 (actions drawn for the whole
  batch in one vectorised call, finished games re-dealt with ``reset_where``);
- by the family's own PettingZoo env (``games.make``) stepped in a Python loop;
- by PettingZoo's reference env for the same game where one exists (Connect
  Four for ``connect_n``, rps_v2 for ``matrix``), also in a Python loop.

One env-step is one move of one game: one ``env.step`` of an AEC or Parallel
env, and ``batch`` env-steps per kernel step. Ratios are against the Python
loops of the same run, so they compare like with like on this machine.

Usage::

    python benchmarks/kernel_bench.py [--quick] [--families connect_n,matrix] [--out FILE]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import games
from games.opponents.base import random_legal

logger = logging.getLogger("kernel_bench")

BATCHES = (1, 64, 4096)


@dataclass(frozen=True)
class Reference:
    """A PettingZoo env that plays exactly one of our variants."""

    variant: str
    """Our spec string for the same game."""
    label: str
    """How the table names it."""
    factory: Callable[[], Any]
    """Builds the env (imported lazily: some need optional packages)."""
    parallel: bool


def _connect_four() -> Any:
    from pettingzoo.classic import connect_four_v3

    return connect_four_v3.env()


def _rps() -> Any:
    from pettingzoo.classic import rps_v2

    return rps_v2.parallel_env(num_actions=3, max_cycles=50)


REFERENCES = {
    "connect_n": Reference(
        "connect_n(rows=6,cols=7,k=4,gravity=true)",
        "pettingzoo connect_four_v3",
        _connect_four,
        parallel=False,
    ),
    "matrix": Reference("matrix(name=rps,rounds=50)", "pettingzoo rps_v2", _rps, parallel=True),
}


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run measures."""

    families: tuple[str, ...]
    """Families to measure (those that cannot be imported are skipped)."""
    seconds: float
    """Wall time spent on each measurement."""
    batches: tuple[int, ...] = BATCHES
    """Kernel batch sizes."""
    seed: int = 0
    """Seeds the random actions, so runs play the same games."""


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    family: str
    variant: str
    runner: str
    batch: int
    steps_per_second: float
    family_env_rate: float
    reference_rate: float | None


def kernel_rate(spec: games.GameSpec, batch: int, seconds: float, seed: int) -> float:
    """Env-steps/s of the kernel over ``batch`` games with random legal moves and auto-reset."""
    kernel = games.make_kernel(spec)
    rng = np.random.default_rng(seed)
    step = kernel.reset(batch, seed=seed)
    seats, actions_n = spec.num_agents, spec.num_actions
    steps, start = 0, time.perf_counter()
    while True:
        actions = random_legal(step.action_mask.reshape(batch * seats, actions_n), rng)
        step = kernel.step(actions.reshape(batch, seats))
        steps += batch
        if step.done.any():
            step = kernel.reset_where(step.done)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def _random_action(observation: Any, space: Any, rng: np.random.Generator) -> int:
    if isinstance(observation, dict) and "action_mask" in observation:
        return int(rng.choice(np.flatnonzero(observation["action_mask"])))
    return int(rng.integers(space.n))


def aec_rate(env: Any, seconds: float, seed: int) -> float:
    """Env-steps/s of an AEC env driven move by move from Python, re-dealt when a game ends."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    steps, start = 0, time.perf_counter()
    while True:
        observation, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.reset()
        else:
            env.step(_random_action(observation, env.action_space(env.agent_selection), rng))
            steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps:
            return steps / elapsed


def parallel_rate(env: Any, seconds: float, seed: int) -> float:
    """Env-steps/s of a Parallel env driven from Python (one joint move is one step)."""
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    steps, start = 0, time.perf_counter()
    while True:
        if not env.agents:
            observations, _ = env.reset()
        else:
            actions = {
                agent: _random_action(observations[agent], env.action_space(agent), rng)
                for agent in env.agents
            }
            observations, *_ = env.step(actions)
            steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps:
            return steps / elapsed


def bench_family(name: str, config: BenchConfig) -> list[Row]:
    """Rows for one family: its env loop, the reference loop if any, then each kernel batch."""
    family = games.get_family(name)
    spec = games.parse_spec(name)
    loop = "parallel" if family.parallel else "AEC"
    env_rate = (parallel_rate if family.parallel else aec_rate)(
        games.make(spec), config.seconds, config.seed
    )
    measured = [(f"games.make {loop} env, Python loop", 1, env_rate)]
    reference = REFERENCES.get(name)
    reference_rate = None
    if reference is not None and games.parse_spec(reference.variant) == spec:
        drive = parallel_rate if reference.parallel else aec_rate
        reference_rate = drive(reference.factory(), config.seconds, config.seed)
        measured.append((f"{reference.label}, Python loop", 1, reference_rate))
    for batch in config.batches:
        measured.append(
            ("batched kernel", batch, kernel_rate(spec, batch, config.seconds, config.seed))
        )
    return [
        Row(name, spec.name, runner, batch, rate, env_rate, reference_rate)
        for runner, batch, rate in measured
    ]


def run(config: BenchConfig) -> tuple[list[Row], list[str]]:
    """Measure every requested family; returns the rows and one note per skipped family."""
    rows, skipped = [], []
    for name in config.families:
        try:
            games.get_family(name)
        except (ImportError, AttributeError) as error:
            note = f"skipped {name}: its family module cannot be imported yet ({error})"
            logger.warning(note)
            skipped.append(note)
            continue
        logger.info("benchmarking %s", name)
        rows.extend(bench_family(name, config))
    return rows, skipped


def machine() -> dict[str, str]:
    """CPU model (from /proc/cpuinfo), core count, and the versions that matter for speed."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def _ratio(rate: float, base: float | None) -> str:
    return "—" if base is None else f"{rate / base:,.1f}x"


def table(rows: list[Row]) -> str:
    """The result as a markdown table."""
    lines = [
        "| family | variant | runner | batch | env-steps/s "
        "| vs games.make loop | vs PettingZoo ref |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.family} | `{row.variant}` | {row.runner} | {row.batch} "
            f"| {row.steps_per_second:,.0f} | {_ratio(row.steps_per_second, row.family_env_rate)} "
            f"| {_ratio(row.steps_per_second, row.reference_rate)} |"
        )
    return "\n".join(lines)


def report(rows: list[Row], skipped: list[str], config: BenchConfig) -> str:
    """Table plus the machine and settings it was measured on."""
    facts = machine()
    header = [
        "# Kernel throughput",
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores; {facts['platform']}; "
        f"Python {facts['python']}, NumPy {facts['numpy']}.",
        f"Each figure: {config.seconds:g} s of random legal play; kernels auto-reset "
        "finished games with reset_where.",
        "",
    ]
    notes = [f"- {note}" for note in skipped]
    return "\n".join([*header, table(rows), "", *notes]).rstrip() + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="0.05 s per figure (a smoke run)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per figure")
    parser.add_argument(
        "--families",
        default=",".join(games.list_families()),
        help="comma-separated families (default: every registered family)",
    )
    parser.add_argument("--out", default=None, help="also write the report to this file")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    unknown = sorted(set(families) - set(games.list_families()))
    if unknown:
        raise SystemExit(
            f"unknown families {unknown}; registered: {', '.join(games.list_families())}"
        )
    seconds = args.seconds if args.seconds is not None else (0.05 if args.quick else 2.0)
    config = BenchConfig(families=families, seconds=seconds, seed=args.seed)
    rows, skipped = run(config)
    text = report(rows, skipped, config)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
