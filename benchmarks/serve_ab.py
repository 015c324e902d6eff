"""Serving A/B: several agent servers against one floor, interleaved in one run.

The serving benchmark (:mod:`benchmarks.serve_bench`) measures one agent server
against the floor. Whether a change pays is a question about two servers, and
on a shared machine whose speed moves by tens of percent between runs, two
separate runs cannot answer it. Here every variant is started at once, and each
round measures the floor, then each variant in turn, with the same load, so
every figure has a floor from its own round. A variant is a checkout of this
project (the code before a change, as a ``git worktree`` of another commit) and
extra ``serve`` options::

    python -m benchmarks.serve_ab --variant before=../before --variant after=. \\
        --variant no-log=.::--no-turn-log [--families matrix,connect_n]
        [--modes unary,stream] [--concurrency 1,64] [--repeats 3] [--seconds 3]
        [--out FILE]

``NAME=TREE[::ARGS]`` runs ``python -m server`` from TREE, with TREE first on
``PYTHONPATH``, and ARGS (split like a shell's) added to its command line. All
servers, the floor included, are pinned to one core and the load generators to
the others, as :mod:`benchmarks.serve_bench` places them. The report gives, per
family, mode and number of sessions, the median over rounds of p50 latency (one
session) or turns per second (several) and each round's ratio to its floor.

``--model-floor`` adds the model floor (:mod:`benchmarks.serve_floor`: each reply
the served model's batch-1 forward pass as the agent runs it, numpy for a vector
network and onnxruntime for a board one, nothing else) as one more column, so the
same rounds say how much of the floor ratio the model alone takes.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.serve_bench import GAMES, ServeBenchConfig, _ints, served_models
from benchmarks.serve_load import MODES, LoadPlan, LoadResult, LoadWorker
from benchmarks.serve_models import CACHE_DIR, MODELS_DIR, prepare_models
from benchmarks.serve_processes import FloorProcess, _ServerProcess
from server.logs import read_until_serving

logger = logging.getLogger("serve_ab")

MODEL_FLOOR = "floor+model"
"""The model floor's column (``--model-floor``)."""
FLOORS = ("floor", MODEL_FLOOR)
"""Servers measured without sessions (the load generator's floor plan)."""


@dataclass(frozen=True)
class Variant:
    """One agent server to measure: a checkout to run and extra ``serve`` arguments."""

    name: str
    tree: Path
    args: tuple[str, ...] = ()


def parse_variant(text: str) -> Variant:
    """``NAME=TREE[::ARGS]`` (see the module docstring); ValueError naming what is wrong."""
    name, sep, rest = text.partition("=")
    tree, _, args = rest.partition("::")
    if not sep or not name or not tree:
        raise ValueError(f"a variant is NAME=TREE[::ARGS], got {text!r}")
    path = Path(tree).resolve()
    if not (path / "server" / "__main__.py").is_file():
        raise ValueError(f"variant {name!r}: {path} is not a checkout of this project")
    return Variant(name, path, tuple(shlex.split(args)))


class VariantServer(_ServerProcess):
    """``python -m server`` run from a variant's tree; the port comes from its log."""

    def __init__(self, variant: Variant, models: Path, data: Path, cpus: tuple[int, ...]):
        command = [sys.executable, "-m", "server", "--models", str(models), "--data", str(data)]
        command += ["--address", "127.0.0.1:0", *variant.args]
        if cpus:
            command += ["--cpus", ",".join(map(str, cpus))]
        env = {**os.environ, "PYTHONPATH": str(variant.tree), "PYTHONUNBUFFERED": "1"}
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command, cwd=variant.tree, env=env, stderr=subprocess.PIPE, text=True
        )
        self.pid = self.process.pid
        self.port = self._wait_for_port(variant.name)
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_port(self, name: str, timeout_s: float = 300.0) -> int:
        assert self.process.stderr is not None
        serving = read_until_serving(self.process.stderr, self.lines, time.monotonic() + timeout_s)
        if serving is not None:
            return int(serving["port"])
        self.stop()
        tail = "".join(self.lines[-20:])
        raise RuntimeError(f"variant {name!r}: the server did not start; its log ends:\n{tail}")

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass(frozen=True)
class Cell:
    """One server's runs of one (family, mode, sessions), and the floor's of the same rounds."""

    runs: list[LoadResult]
    floors: list[LoadResult]

    def figure(self, concurrency: int) -> float:
        if concurrency == 1:
            return statistics.median(r.p50_ms for r in self.runs)
        return statistics.median(r.turns_per_s for r in self.runs)

    def ratios(self, concurrency: int) -> list[float]:
        if concurrency == 1:
            return [r.p50_ms / f.p50_ms for r, f in zip(self.runs, self.floors, strict=True)]
        return [r.turns_per_s / f.turns_per_s for r, f in zip(self.runs, self.floors, strict=True)]


def measure(
    servers: dict[str, _ServerProcess],
    loads: dict[str, LoadWorker],
    plan: LoadPlan,
    repeats: int,
) -> dict[str, list[LoadResult]]:
    """Every server's runs of ``plan``, round by round, the floor first in each round."""
    runs: dict[str, list[LoadResult]] = {name: [] for name in servers}
    for repeat in range(repeats):
        for name in servers:
            floor = name in FLOORS
            prefix = f"ab-{name}-{plan.game[:6]}-{plan.mode}-{plan.concurrency}-{repeat}"
            result = loads[name].run(replace(plan, sessions=not floor, player_prefix=prefix))
            if result.errors:
                raise RuntimeError(f"{name}: {plan.mode} x{plan.concurrency}: {result.errors}")
            runs[name].append(result)
    return runs


def report(rows: list[tuple[str, str, int, dict[str, Cell]]], names: list[str]) -> str:
    lines = [
        "# Serving A/B: agent servers against one floor, interleaved",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. One session: p50 ms "
        "(ratio to the floor per round); several: turns/s (ratio per round). Medians over rounds.",
        "",
        "| family | mode | sessions | floor | " + " | ".join(names) + " |",
        "|---|---|---:|---|" + "---|" * len(names),
    ]
    for family, mode, concurrency, cells in rows:
        unit, form = ("ms", "{:.2f}") if concurrency == 1 else ("turns/s", "{:,.0f}")
        floor = f"{form.format(cells['floor'].figure(concurrency))} {unit}"
        shown = []
        for name in names:
            cell = cells[name]
            ratios = ", ".join(f"{r:.2f}x" for r in cell.ratios(concurrency))
            shown.append(f"{form.format(cell.figure(concurrency))} ({ratios})")
        lines.append(f"| {family} | {mode} | {concurrency} | {floor} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> str:
    variants: list[Variant] = args.variant
    servers_cpus, load_cpus = ServeBenchConfig(placement=args.placement).cores()
    with tempfile.TemporaryDirectory(prefix="serve-ab-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        models = root / "models"
        chosen = prepare_models(tuple(args.families), 0, models, MODELS_DIR, CACHE_DIR)
        servers: dict[str, _ServerProcess] = {"floor": FloorProcess(servers_cpus)}
        stack.callback(servers["floor"].stop)
        if args.model_floor:
            servers[MODEL_FLOOR] = FloorProcess(servers_cpus, models=served_models(chosen))
            stack.callback(servers[MODEL_FLOOR].stop)
        for variant in variants:
            server = VariantServer(variant, models, root / variant.name, servers_cpus)
            stack.callback(server.stop)
            servers[variant.name] = server
        loads = {
            name: stack.enter_context(LoadWorker(server.target, load_cpus))
            for name, server in servers.items()
        }
        rows = []
        for family in args.families:
            for mode in args.modes:
                for concurrency in args.concurrency:
                    plan = LoadPlan(GAMES[family], mode, concurrency, args.seconds, args.max_turns)
                    runs = measure(servers, loads, plan, args.repeats)
                    cells = {name: Cell(runs[name], runs["floor"]) for name in servers}
                    rows.append((family, mode, concurrency, cells))
                    logger.info("%s %s x%d measured", family, mode, concurrency)
    return report(rows, [name for name in servers if name != "floor"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve_ab", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        required=True,
        help="NAME=TREE[::SERVE_ARGS], repeatable",
    )
    parser.add_argument("--families", type=_families, default=["matrix", "connect_n"])
    parser.add_argument("--modes", type=_modes, default=list(MODES))
    parser.add_argument("--concurrency", type=_ints, default=(1, 64))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-turns", type=int, default=200_000)
    parser.add_argument("--placement", choices=("split", "os"), default="split")
    parser.add_argument(
        "--model-floor",
        action="store_true",
        help="also measure the model floor (the served model's forward pass alone)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    names = [v.name for v in args.variant]
    if len(set(names)) != len(names) or set(names) & set(FLOORS):
        parser.error(f"variant names must be distinct and not {list(FLOORS)}, got {names}")
    if args.repeats < 1 or args.seconds <= 0:
        parser.error("--repeats must be >= 1 and --seconds > 0")
    return args


def _variant(text: str) -> Variant:
    try:
        return parse_variant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _families(text: str) -> list[str]:
    names = text.split(",")
    unknown = [n for n in names if n not in GAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown families {unknown}; known: {sorted(GAMES)}")
    return names


def _modes(text: str) -> list[str]:
    names = text.split(",")
    if not set(names) <= set(MODES):
        raise argparse.ArgumentTypeError(f"modes are {list(MODES)}, got {names}")
    return names


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="serve_ab: %(message)s")
    args = parse_args(argv)
    text = run(args)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
