"""Serving benchmark: turn latency, throughput and memory of the agent server vs a bare floor.

What it measures, in one run, on loopback:

- **Turns.** Sessions of an RL2 agent (``connect_n`` and ``matrix``) play
  real positions, 1, 16, 64 and 256 at once, over unary ``Act`` calls and over
  ``Play`` streams. Each is a closed loop: a turn is sent when the previous one
  is answered. Reported: p50/p99 turn latency and turns/s as the client sees
  them, and the server's CPU time per turn.
- **The floor**, measured the same way and interleaved with the agent's runs:
  a bare ``grpc.aio`` server for the same contract whose ``Act`` only takes an
  argmax over the observation (:mod:`benchmarks.serve_floor`). The headline
  numbers are the agent's ratios to it.
- **Memory.** On a fresh server: resident-memory growth and store bytes per
  player profile (players who played and left), then per live session while
  holding up to 10,000 of them, each of which must then answer another turn
  without error. From the per-session figure: how many live sessions fit in
  2 GiB.

The server is the real one (``server.app.serve``) in its own process with its
default settings unless told otherwise; the load generator is a separate
process (:mod:`benchmarks.serve_load`), so neither shares an interpreter with
the other. Every measurement is bounded in time and in calls.

Placement: on a machine with two or more cores the servers (the floor and the
agent alike, one at a time) run pinned to one core and the load generator to
the others (``--placement os`` leaves it to the OS). A Python server's turn
path hands objects between its threads; pinned, those hand-offs stay in one
core's caches, and neither server competes with the load for a core, which
also steadies the figures on a shared machine. The agent is pinned by its own
``ServerConfig.cpus`` (``game-agent serve --cpus``), as in a deployment of one
replica per core.

``--floor handoff`` is a diagnostic: the floor's replies are made on a worker
thread and handed back the way the agent's turn engine does it, which measures
what the thread hand-offs alone cost. ``--floor model`` is another: each floor
reply is the served model's own batch-1 forward pass (what the agent answers one
player of the family's variant with, for a fresh player: numpy for a vector
network, onnxruntime for a board one), which measures how much of the latency
target the model alone uses.

Usage::

    python -m benchmarks.serve_bench [--quick] [--out FILE] [--families connect_n,matrix]
    game-agent bench serve [same options]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import os
import statistics
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.kernel_bench import machine
from benchmarks.serve_floor import ServedModel
from benchmarks.serve_load import MODES, LoadPlan, LoadResult, LoadWorker
from benchmarks.serve_models import CACHE_DIR, MODELS_DIR, ModelChoice, prepare_models
from benchmarks.serve_processes import AgentServerProcess, FloorProcess
from server.placement import allowed_cpus

logger = logging.getLogger("serve_bench")

GAMES = {
    "connect_n": "connect_n(rows=6,cols=7,k=4,gravity=true)",
    "matrix": "matrix(name=rps,rounds=50)",
}
"""The variant each family plays (the family's default, which its training split holds)."""
GIB = 1 << 30
P50_TARGET = 1.5
"""At concurrency 1, the agent's p50 within this multiple of the floor's."""
THROUGHPUT_TARGET = 0.7
"""At concurrency 64, the agent's turns/s at least this fraction of the floor's."""


@dataclass(frozen=True)
class ServeBenchConfig:
    """What one run measures; ``--quick`` shrinks every bound for a smoke run."""

    families: tuple[str, ...] = ("connect_n", "matrix")
    concurrency: tuple[int, ...] = (1, 16, 64, 256)
    modes: tuple[str, ...] = MODES
    seconds: float = 3.0
    """Measured time per (server, family, mode, concurrency) run."""
    warmup_s: float = 0.5
    repeats: int = 2
    """Floor/agent run pairs per row; the row reports the median of each figure."""
    max_turns: int = 100_000
    """Bound on turns per run."""
    hold_sessions: int = 10_000
    """Live sessions held at once in the memory measurement."""
    profile_players: int = 1_000
    """Players who play and leave, for the per-profile memory."""
    train_steps: int = 3_000
    """Decisions for a tiny RL2 checkpoint when a family has none under models/."""
    server: dict[str, Any] = field(default_factory=dict)
    """ServerConfig overrides (e.g. ``sync_commits``); empty: the server's defaults."""
    torch_threads: int = 1
    """Intra-op threads of the server's torch (forward passes are tiny; cores are shared)."""
    memory_budget_bytes: int = 2 * GIB
    models_dir: Path = MODELS_DIR
    """Where to look for RL2 checkpoints first."""
    cache_dir: Path = CACHE_DIR
    """Where tiny checkpoints trained by the benchmark are kept for later runs."""
    floor: str = "plain"
    """``plain``: the floor of the issue, its handler an argmax; ``handoff``: the same reply
    made by a worker thread and handed back as the turn engine does (a diagnostic: the floor
    plus the agent's thread hand-offs); ``model``: the reply of the served model's batch-1
    forward pass (a diagnostic: the floor plus the model)."""
    placement: str = "split"
    """``split``: both servers (floor and agent alike) on the last core this process may
    use, the load generator on the others, so that neither server shares a core with the
    load and both are placed the same way (``ServerConfig.cpus`` for the agent); ``os``:
    wherever the OS puts them. One core only: ``os``. The last core, because the first
    tends to take the machine's interrupts (here the servers measured slower on core 0)."""

    def cores(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(the servers' cores, the load generator's cores); empty: not pinned."""
        allowed = allowed_cpus()
        if self.placement == "os" or len(allowed) < 2:
            return (), ()
        return (allowed[-1],), tuple(allowed[:-1])


@dataclass(frozen=True)
class Row:
    """One (family, mode, concurrency): the floor and the agent, medians over repeats."""

    family: str
    mode: str
    concurrency: int
    floor: LoadResult
    agent: LoadResult
    floor_cpu_ms: float
    """Server CPU time per turn."""
    agent_cpu_ms: float

    @property
    def p50_ratio(self) -> float:
        return self.agent.p50_ms / self.floor.p50_ms if self.floor.p50_ms else float("inf")

    @property
    def throughput_ratio(self) -> float:
        floor = self.floor.turns_per_s
        return self.agent.turns_per_s / floor if floor else 0.0


@dataclass(frozen=True)
class Memory:
    """The memory measurement (see the module docstring)."""

    game: str
    base_rss: int
    players: int
    players_ok: int
    rss_per_profile: float
    store_per_profile: float
    sessions: int
    sessions_ok: int
    touched_ok: int
    live_gauge: int
    live_after_end: int
    rss_per_session: float
    store_per_session: float
    errors: dict[str, int]
    budget_bytes: int

    @property
    def sessions_in_budget(self) -> int:
        if self.rss_per_session <= 0:
            return 0
        return int((self.budget_bytes - self.base_rss) / self.rss_per_session)

    @property
    def held_without_errors(self) -> bool:
        return (
            self.sessions_ok == self.touched_ok == self.live_gauge == self.sessions
            and self.live_after_end == 0
            and not self.errors
        )


# ---------------------------------------------------------------- turns


def _median_result(results: list[LoadResult]) -> LoadResult:
    errors: dict[str, int] = {}
    for result in results:
        for code, n in result.errors.items():
            errors[code] = errors.get(code, 0) + n
    rates = statistics.median(r.turns_per_s for r in results)
    seconds = statistics.mean(r.seconds for r in results)
    return LoadResult(
        turns=round(rates * seconds),
        seconds=seconds,
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=errors,
    )


def _measure(worker: LoadWorker, server: Any, plan: LoadPlan) -> tuple[LoadResult, float]:
    """One run and the server's CPU milliseconds per measured turn (warm-up included
    in the CPU time, so the figure errs high)."""
    before = server.cpu()
    result = worker.run(plan)
    cpu = server.cpu() - before
    return result, 1e3 * cpu / max(result.turns, 1)


def measure_turns(
    config: ServeBenchConfig, agent: AgentServerProcess, floor: FloorProcess
) -> list[Row]:
    rows = []
    load_cpus = config.cores()[1]
    with (
        LoadWorker(agent.target, load_cpus) as agent_load,
        LoadWorker(floor.target, load_cpus) as floor_load,
    ):
        for family in config.families:
            for mode in config.modes:
                for concurrency in config.concurrency:
                    rows.append(
                        _row(
                            config,
                            family,
                            mode,
                            concurrency,
                            (agent, agent_load),
                            (floor, floor_load),
                        )
                    )
    return rows


def _row(
    config: ServeBenchConfig,
    family: str,
    mode: str,
    concurrency: int,
    agent: tuple[AgentServerProcess, LoadWorker],
    floor: tuple[FloorProcess, LoadWorker],
) -> Row:
    plan = LoadPlan(
        game=GAMES[family],
        mode=mode,
        concurrency=concurrency,
        seconds=config.seconds,
        max_turns=config.max_turns,
        warmup_s=config.warmup_s,
    )
    measured: dict[str, list[tuple[LoadResult, float]]] = {"floor": [], "agent": []}
    for repeat in range(config.repeats):
        # Interleaved, so that both see the same machine (the cores may be shared).
        floor_plan = dataclasses.replace(plan, sessions=False)
        measured["floor"].append(_measure(floor[1], floor[0], floor_plan))
        prefix = f"{family}-{mode}-{concurrency}-{repeat}"
        agent_plan = dataclasses.replace(plan, player_prefix=prefix)
        measured["agent"].append(_measure(agent[1], agent[0], agent_plan))
    row = Row(
        family,
        mode,
        concurrency,
        _median_result([r for r, _ in measured["floor"]]),
        _median_result([r for r, _ in measured["agent"]]),
        statistics.median(c for _, c in measured["floor"]),
        statistics.median(c for _, c in measured["agent"]),
    )
    logger.info(
        "%s %s x%d: agent p50 %.2f ms (%.1fx floor), %.0f turns/s (%.2fx floor)",
        family,
        mode,
        concurrency,
        row.agent.p50_ms,
        row.p50_ratio,
        row.agent.turns_per_s,
        row.throughput_ratio,
    )
    return row


# ---------------------------------------------------------------- memory


def measure_memory(config: ServeBenchConfig, models: Path, data: Path) -> Memory:
    """Profiles first (on a fresh heap), then live sessions held at once; see the docstring."""
    game = GAMES[config.families[-1]]
    settings = {**agent_settings(config), "max_sessions": max(config.hold_sessions, 10_000)}
    server = AgentServerProcess(models, data, settings, torch_threads=config.torch_threads)
    errors: dict[str, int] = {}
    try:
        with LoadWorker(server.target, config.cores()[1]) as load:
            warm = load.call("profiles", game=game, count=64, prefix="warm", concurrency=16)
            _merge(errors, warm.errors)
            base_rss, base_store = server.rss(), server.store_bytes()
            players = load.call(
                "profiles", game=game, count=config.profile_players, prefix="player", concurrency=64
            )
            _merge(errors, players.errors)
            rss_p, store_p = server.rss(), server.store_bytes()
            held = load.call(
                "hold", game=game, count=config.hold_sessions, prefix="held", concurrency=64
            )
            _merge(errors, held.errors)
            rss_s, store_s = server.rss(), server.store_bytes()
            touched = load.call("touch", concurrency=64)
            _merge(errors, touched.errors)
            gauge = server.live_sessions()
            released = load.call("release", concurrency=64)
            _merge(errors, released.errors)
            after = server.live_sessions()
    finally:
        server.stop()
    n_players, n_sessions = max(config.profile_players, 1), max(config.hold_sessions, 1)
    return Memory(
        game=game,
        base_rss=base_rss,
        players=config.profile_players,
        players_ok=players.done,
        rss_per_profile=(rss_p - base_rss) / n_players,
        store_per_profile=(store_p - base_store) / n_players,
        sessions=config.hold_sessions,
        sessions_ok=held.done,
        touched_ok=touched.done,
        live_gauge=gauge,
        live_after_end=after,
        rss_per_session=(rss_s - rss_p) / n_sessions,
        store_per_session=(store_s - store_p) / n_sessions,
        errors=errors,
        budget_bytes=config.memory_budget_bytes,
    )


def _merge(into: dict[str, int], more: dict[str, int]) -> None:
    for code, n in more.items():
        into[code] = into.get(code, 0) + n


# ---------------------------------------------------------------- report


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def turns_table(rows: list[Row]) -> str:
    lines = [
        "| family | mode | sessions | floor p50 / p99 ms | agent p50 / p99 ms | p50 vs floor "
        "| floor turns/s | agent turns/s | turns/s vs floor | server CPU ms/turn (floor, agent) "
        "| errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        errors = {**r.floor.errors, **{f"agent {k}": v for k, v in r.agent.errors.items()}}
        lines.append(
            f"| {r.family} | {r.mode} | {r.concurrency} "
            f"| {r.floor.p50_ms:.2f} / {r.floor.p99_ms:.2f} "
            f"| {r.agent.p50_ms:.2f} / {r.agent.p99_ms:.2f} | {r.p50_ratio:.2f}x "
            f"| {r.floor.turns_per_s:,.0f} | {r.agent.turns_per_s:,.0f} "
            f"| {r.throughput_ratio:.2f}x | {r.floor_cpu_ms:.2f}, {r.agent_cpu_ms:.2f} "
            f"| {errors or 0} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row], memory: Memory | None) -> list[str]:
    """One line per target of the issue, saying whether this run met it."""
    lines = []
    for r in (r for r in rows if r.concurrency == 1):
        lines.append(
            f"- p50 at 1 session within {P50_TARGET}x the floor ({r.family}, {r.mode}): "
            f"{r.p50_ratio:.2f}x, {_verdict(r.p50_ratio <= P50_TARGET)}"
        )
    for r in (r for r in rows if r.concurrency == 64):
        lines.append(
            f"- turns/s at 64 sessions at least {THROUGHPUT_TARGET}x the floor "
            f"({r.family}, {r.mode}): {r.throughput_ratio:.2f}x, "
            f"{_verdict(r.throughput_ratio >= THROUGHPUT_TARGET)}"
        )
    if not any(r.concurrency == 64 for r in rows):
        lines.append("- turns/s at 64 sessions: not measured in this run")
    if memory is not None:
        lines.append(
            f"- {memory.sessions:,} live sessions held without errors: "
            f"{_verdict(memory.held_without_errors and memory.sessions >= 10_000)}"
            + ("" if memory.sessions >= 10_000 else f" (only {memory.sessions:,} held: --quick)")
        )
    return lines


def memory_lines(m: Memory) -> list[str]:
    mib = 1 << 20
    return [
        f"Game `{m.game}`; server RSS after warm-up {m.base_rss / mib:,.0f} MiB.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| players who played and left | {m.players_ok:,} of {m.players:,} |",
        f"| RSS growth per player profile | {m.rss_per_profile / 1024:,.2f} KiB |",
        f"| store bytes per player (profile, agent memory, ended session) "
        f"| {m.store_per_profile / 1024:,.2f} KiB |",
        f"| live sessions started (one turn each) | {m.sessions_ok:,} of {m.sessions:,} |",
        f"| of those answering another turn | {m.touched_ok:,} |",
        f"| live-session gauge while held / after EndSession | {m.live_gauge:,} / "
        f"{m.live_after_end:,} |",
        f"| RSS growth per live session | {m.rss_per_session / 1024:,.2f} KiB |",
        f"| store bytes per live session | {m.store_per_session / 1024:,.2f} KiB |",
        f"| live sessions in {m.budget_bytes / GIB:g} GiB (extrapolated from RSS per session) "
        f"| {m.sessions_in_budget:,} |",
        f"| errors | {m.errors or 0} |",
    ]


def report(
    config: ServeBenchConfig,
    models: list[ModelChoice],
    rows: list[Row],
    memory: Memory | None,
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    facts = machine()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    settings = ", ".join(f"{k}={v}" for k, v in sorted(config.server.items())) or "defaults"
    lines = [
        "# Serving: the agent server against a bare gRPC floor",
        "",
        f"Measured {now}. Machine: {facts['cpu']}, {facts['cores']} cores; {facts['platform']}; "
        f"Python {facts['python']}. Load average before/after: "
        f"{'/'.join(f'{x:.1f}' for x in load[0])} -> {'/'.join(f'{x:.1f}' for x in load[1])}.",
        f"Server settings: {settings}; torch threads {config.torch_threads}. Each figure: "
        f"median of {config.repeats} runs of {config.seconds:g} s (after {config.warmup_s:g} s "
        "warm-up), floor and agent interleaved; latency as the load-generator process sees it.",
        placement_line(config) + FLOOR_NOTES.get(config.floor, ""),
        "Models: "
        + "; ".join(
            f"{m.family} RL2 {'trained by the benchmark' if m.trained_here else 'from models/'} "
            f"({m.decisions:,} decisions)"
            for m in models
        )
        + ".",
        "",
        "## Turns",
        "",
        turns_table(rows),
        "",
    ]
    if memory is not None:
        lines += ["## Memory", "", *memory_lines(memory), ""]
    lines += ["## Targets", "", *targets(rows, memory), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def agent_settings(config: ServeBenchConfig) -> dict[str, Any]:
    """The agent server's ServerConfig fields: the overrides, and its cores when placed."""
    servers = config.cores()[0]
    return {**config.server, "cpus": list(servers)} if servers else dict(config.server)


FLOOR_NOTES = {
    "handoff": " Floor: argmax replies made on a worker thread (--floor handoff).",
    "model": " Floor: each reply the served model's batch-1 forward pass as the agent runs "
    "it (numpy for a vector network, onnxruntime for a board one), for a fresh player "
    "(--floor model).",
}
"""What the report says of a diagnostic floor (nothing of the plain one)."""


def placement_line(config: ServeBenchConfig) -> str:
    servers, load = config.cores()
    if not servers:
        return "Placement: left to the OS (every process may run on every core)."
    return (
        f"Placement: the floor and the agent server each pinned to core {servers[0]} (they "
        f"run one at a time), the load generator to {', '.join(map(str, load))}."
    )


def start_floor(config: ServeBenchConfig, models: list[ModelChoice]) -> FloorProcess:
    """The floor ``config.floor`` names; the model floor gets each family's served model."""
    served = served_models(models) if config.floor == "model" else ()
    return FloorProcess(config.cores()[0], handoff=config.floor == "handoff", models=served)


def served_models(models: list[ModelChoice]) -> tuple[ServedModel, ...]:
    """What the model floor is sent of each checkpoint: its path and the variant the
    benchmark plays, as strings; the floor builds the forward pass from them itself."""
    return tuple((str(m.path), GAMES[m.family]) for m in models)


def run(config: ServeBenchConfig) -> str:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        root = Path(tmp)
        served = root / "models"
        models = prepare_models(
            config.families, config.train_steps, served, config.models_dir, config.cache_dir
        )
        with ExitStack() as stack:
            agent = AgentServerProcess(
                served, root / "turns", agent_settings(config), torch_threads=config.torch_threads
            )
            stack.callback(agent.stop)
            floor = start_floor(config, models)
            stack.callback(floor.stop)
            rows = measure_turns(config, agent, floor)
        memory = None
        if config.hold_sessions > 0:
            memory = measure_memory(config, served, root / "memory")
    return report(config, models, rows, memory, (load_before, os.getloadavg()))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="serve_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: short, small bounds")
    parser.add_argument("--out", default=None, help="also write the report to this file")
    parser.add_argument("--families", default=",".join(GAMES), help="comma-separated families")
    parser.add_argument("--concurrency", default=None, help="comma-separated session counts")
    parser.add_argument("--modes", default=",".join(MODES), help="unary,stream")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per run")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--hold-sessions", type=int, default=None)
    parser.add_argument("--profile-players", type=int, default=None)
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument(
        "--models", type=Path, default=None, help=f"RL2 checkpoints to serve (default {MODELS_DIR})"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help=f"tiny checkpoints' cache (default {CACHE_DIR})"
    )
    parser.add_argument(
        "--floor",
        choices=("plain", "handoff", "model"),
        default=None,
        help="plain: the bare floor (default); handoff: its replies made on a worker thread; "
        "model: its replies the served model's batch-1 forward pass",
    )
    parser.add_argument(
        "--placement",
        choices=("split", "os"),
        default=None,
        help="split: servers on one core, load on the others (default); os: unpinned",
    )
    parser.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a ServerConfig field for the measured server, e.g. sync_commits=false or "
        "batch_window_s=0 (repeatable; default: the server's defaults)",
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> ServeBenchConfig:
    base = ServeBenchConfig()
    if args.quick:
        base = ServeBenchConfig(
            concurrency=(1, 16, 64),
            seconds=0.5,
            warmup_s=0.2,
            repeats=1,
            hold_sessions=300,
            profile_players=50,
            train_steps=300,
        )
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    unknown = sorted(set(families) - set(GAMES))
    if unknown or not families:
        raise SystemExit(f"unknown families {unknown}; the benchmark plays {', '.join(GAMES)}")
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or set(modes) - set(MODES):
        raise SystemExit(f"--modes must be among {', '.join(MODES)}, got {args.modes!r}")
    server = dict(server_option(text) for text in args.server_option)
    overrides = {
        "families": families,
        "modes": modes,
        "server": server,
        "concurrency": _ints(args.concurrency) if args.concurrency else None,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "hold_sessions": args.hold_sessions,
        "profile_players": args.profile_players,
        "train_steps": args.train_steps,
        "models_dir": args.models,
        "cache_dir": args.cache,
        "placement": args.placement,
        "floor": args.floor,
    }
    return ServeBenchConfig(
        **{**vars(base), **{k: v for k, v in overrides.items() if v is not None}}
    )


_OPTION_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def server_option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` as a ServerConfig field and a value of the field's type."""
    from server.config import ServerConfig

    name, sep, raw = text.partition("=")
    types = {f.name: str(f.type) for f in dataclasses.fields(ServerConfig)}
    kind = _OPTION_TYPES.get(types.get(name.strip(), ""))
    if not sep or kind is None:
        settable = sorted(n for n, t in types.items() if t in _OPTION_TYPES)
        raise SystemExit(
            f"--server-option {text!r}: expected NAME=VALUE with NAME one of {', '.join(settable)}"
        )
    if kind is bool:
        if raw.strip().lower() not in ("true", "false"):
            raise SystemExit(f"--server-option {text!r}: expected true or false")
        return name.strip(), raw.strip().lower() == "true"
    try:
        return name.strip(), kind(raw.strip())
    except ValueError:
        raise SystemExit(f"--server-option {text!r}: {raw!r} is not a {kind.__name__}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise SystemExit(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"expected positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    config = config_from_args(args)
    text = run(config)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
