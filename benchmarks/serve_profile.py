"""Where a served turn's time goes: the server under load, profiled thread by thread.

Runs the real server in this process (``server.app.create_server``) with
``cProfile`` enabled in every thread it starts (the event loop, the model,
store and adaptation pools), drives it from the serving benchmark's load
generator in a separate process, and reports:

- the CPU time each server thread used per turn (from ``/proc/self/task``);
- the mean turns per forward pass and per store transaction (from the metrics);
- each thread group's most expensive functions (own time), where waiting for
  work shows up as ``get`` of a queue and the event loop's idle time as ``poll``.

Profiling slows Python code down, so absolute times are inflated; the split
between threads and functions is what this is for. Usage::

    python -m benchmarks.serve_profile [--family matrix] [--mode unary] [--concurrency 64]
        [--seconds 4] [--server-option NAME=VALUE ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import tempfile
import threading
from pathlib import Path
from typing import Any

from benchmarks.serve_bench import GAMES, server_option
from benchmarks.serve_load import MODES, LoadPlan, LoadResult, LoadWorker
from benchmarks.serve_models import CACHE_DIR, MODELS_DIR, prepare_models

logger = logging.getLogger("serve_profile")
_profiles: dict[str, cProfile.Profile] = {}


def _profile_this_thread(*_: Any) -> None:
    """``threading.setprofile`` hook: the first event in a new thread starts its profiler
    (which then replaces this hook for that thread)."""
    profile = cProfile.Profile()
    _profiles[threading.current_thread().name] = profile
    profile.enable()


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each thread of this process, by Python thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{tid}/comm", encoding="ascii") as comm:
                name = names.get(int(tid), comm.read().strip())
        except OSError:
            continue  # the thread ended meanwhile
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


SERVER_POOLS = ("turns", "model", "store", "adapt")
"""Thread-name prefixes of the server's own pools (``server.sessions``)."""
NOT_SERVER = ("asyncio",)
"""This process's default executor, which only waits for the load generator here."""


def _group(name: str) -> str:
    return name.rsplit("_", 1)[0] if name[-1:].isdigit() else name


def _top(profiles: list[cProfile.Profile], limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for profile in profiles[1:]:
        stats.add(profile)
    stats.sort_stats("tottime").print_stats(limit)
    body = out.getvalue()
    return body[body.index("   ncalls") :] if "   ncalls" in body else body


async def _profiled_run(
    models: Path, settings: dict[str, Any], plan: LoadPlan, profile_functions: bool
) -> dict[str, Any]:
    from server.app import create_server
    from server.config import ServerConfig

    with tempfile.TemporaryDirectory(prefix="serve-profile-") as data:
        config = ServerConfig(
            **{**settings, "models_dir": models, "data_dir": Path(data), "address": "127.0.0.1:0"}
        )
        server, port = await create_server(config)
        loop = asyncio.get_running_loop()
        worker = LoadWorker(f"127.0.0.1:{port}")
        try:
            before = thread_cpu()
            main = cProfile.Profile()
            if profile_functions:
                main.enable()
            result: LoadResult = await loop.run_in_executor(None, worker.run, plan)
            main.disable()
            for profile in _profiles.values():
                profile.disable()
            after = thread_cpu()
        finally:
            worker.close()
            registry = server.metrics.registry
            await server.stop(0)
    family = plan.game.split("(")[0]
    batches = {
        "turns per forward pass": ("game_agent_batch_size", {"model": family}),
        "commits per store transaction": ("game_agent_commit_batch_size", {}),
    }
    means = {}
    for label, (metric, labels) in batches.items():
        count = registry.get_sample_value(metric + "_count", labels) or 0.0
        total = registry.get_sample_value(metric + "_sum", labels) or 0.0
        means[label] = total / count if count else 0.0
    cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    return {
        "result": result,
        "cpu": cpu,
        "main": main,
        "means": means,
        "profiled": profile_functions,
    }


def report(plan: LoadPlan, measured: dict[str, Any], limit: int) -> str:
    result: LoadResult = measured["result"]
    turns = max(result.turns, 1)
    lines = [
        f"# Server profile: {plan.game}, {plan.mode}, {plan.concurrency} sessions",
        "",
        f"{result.turns} turns in {result.seconds:.1f} s ({result.turns_per_s:,.0f}/s), "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
        + (" (under cProfile); " if measured["profiled"] else "; ")
        + ", ".join(f"{k} {v:.1f}" for k, v in measured["means"].items())
        + ".",
        "",
        "| server thread | CPU ms per turn |",
        "|---|---:|",
    ]
    by_group: dict[str, float] = {}
    for name, seconds in measured["cpu"].items():
        if _group(name) not in NOT_SERVER:
            by_group[_group(name)] = by_group.get(_group(name), 0.0) + seconds
    for name, seconds in sorted(by_group.items(), key=lambda kv: -kv[1]):
        if seconds * 1e3 / turns >= 0.01:
            lines.append(f"| {name} | {seconds * 1e3 / turns:.2f} |")
    lines.append(f"| **all** | {sum(by_group.values()) * 1e3 / turns:.2f} |")
    sections = {"event loop (MainThread)": [measured["main"]]}
    for name, profile in sorted(_profiles.items()):
        if _group(name) in SERVER_POOLS:
            sections.setdefault(f"{_group(name)} threads", []).append(profile)
    for title, profiles in sections.items():
        if not any(profile.getstats() for profile in profiles):
            continue
        lines += ["", f"## {title}", "", "```", _top(profiles, limit).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve_profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--family", choices=sorted(GAMES), default="matrix")
    parser.add_argument("--mode", choices=MODES, default="unary")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--top", type=int, default=15, help="functions listed per thread group")
    parser.add_argument("--server-option", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--train-steps", type=int, default=3_000)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="no cProfile: only each thread's CPU time per turn, undistorted by profiling",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.concurrency < 1 or args.seconds <= 0:
        raise SystemExit("--concurrency must be >= 1 and --seconds > 0")
    settings = dict(server_option(text) for text in args.server_option)
    plan = LoadPlan(
        GAMES[args.family], args.mode, args.concurrency, args.seconds, 10**7, warmup_s=0.5
    )
    with tempfile.TemporaryDirectory(prefix="serve-profile-models-") as tmp:
        served = Path(tmp)
        prepare_models((args.family,), args.train_steps, served, MODELS_DIR, CACHE_DIR)
        import torch

        torch.set_num_threads(1)
        if not args.cpu_only:
            threading.setprofile(_profile_this_thread)
        try:
            measured = asyncio.run(_profiled_run(served, settings, plan, not args.cpu_only))
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]
    text = report(plan, measured, args.top)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
