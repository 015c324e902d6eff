"""What a served turn costs beyond gRPC: the servicer driven directly, in one process.

The serving benchmark (:mod:`benchmarks.serve_bench`) measures the agent
server and a bare gRPC floor over loopback, so its ratios mix three things:
gRPC's own cost (the floor has it too), the agent's turn path, and how the
processes share the cores. This benchmark measures the middle one alone. It
builds the real ``AgentServicer`` (default ``ServerConfig``: onnxruntime,
SQLite under a temporary directory, one turn-engine worker) and calls its
``Act``/``EndEpisode`` coroutines with real positions of the family's default
variant, ``sessions`` players at once, no channel in between. Reported per
turn: p50 latency of one ``Act``, wall time, this process's CPU time, and
the CPU time of the event loop's thread and of the turn-engine worker.

``--stages`` also times the worker's stages with CPU-time counters around
them (the learner's ``observe_and_act``; the forward pass inside it, onnxruntime's or,
for one player of a vector network, numpy's; state serialisation; the store commit);
a counter costs about a microsecond per call. Usage::

    python -m benchmarks.serve_inprocess [--families matrix,connect_n]
        [--concurrency 1,64] [--turns 1500] [--repeats 3] [--stages]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.serve_bench import GAMES
from benchmarks.serve_load import trajectories
from benchmarks.serve_models import CACHE_DIR, MODELS_DIR, prepare_models
from benchmarks.serve_profile import thread_cpu

FORWARD = "forward pass (onnxruntime or numpy)"
COLUMNS = ("p50 ms", "wall ms/turn", "CPU ms/turn", "loop CPU ms/turn", "worker CPU ms/turn")


class _Context:
    """The two ``ServicerContext`` methods a turn uses (no API keys are configured)."""

    def invocation_metadata(self) -> tuple[()]:
        return ()

    async def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"the servicer refused a benchmark turn: {code} {details}")


async def _player(servicer: Any, game: str, player: str, turns: int, episodes: list, out: list):
    """Play ``turns`` turns of ``episodes`` (ending each episode); ``out`` gets latencies."""
    from protos.game_agent.v1 import agent_pb2 as pb

    context = _Context()
    request = pb.StartSessionRequest(player_id=player, game=game, agent_seat=0)
    session_id = (await servicer.StartSession(request, context)).session_id
    turn = played = 0
    while played < turns:
        for observation, mask in episodes[played % len(episodes)]:
            turn += 1
            act = pb.ActRequest(
                session_id=session_id, turn=turn, observation=observation, action_mask=mask
            )
            started = time.perf_counter()
            await servicer.Act(act, context)
            out.append(time.perf_counter() - started)
            played += 1
        turn += 1
        await servicer.EndEpisode(pb.EndEpisodeRequest(session_id=session_id, turn=turn), context)


async def measure(
    models: Path,
    family: str,
    sessions: int,
    turns: int,
    on_start: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """One run: ``sessions`` players of ``turns`` turns each, after a warm-up round;
    ``on_start`` is called when the measured part begins."""
    from server.auth import Authenticator
    from server.config import ServerConfig
    from server.metrics import Metrics
    from server.models import load_models
    from server.servicer import AgentServicer
    from server.sessions import SessionManager
    from server.stores import open_store

    game = GAMES[family]
    episodes = trajectories(game, seat=0, games=8, seed=0)
    with tempfile.TemporaryDirectory(prefix="serve-inprocess-") as data:
        config = ServerConfig(models_dir=models, data_dir=Path(data))
        registry = load_models(config.models_dir, config.inference)
        metrics = Metrics()
        manager = SessionManager(config, registry, open_store(config), metrics=metrics)
        await manager.start()
        servicer = AgentServicer(config, registry, manager, Authenticator(None), metrics)
        try:
            warm: list[float] = []
            await _play_all(servicer, game, "warm", sessions, 50, episodes, warm)
            latencies: list[float] = []
            on_start()
            cpu_before, wall, cpu = thread_cpu(), time.perf_counter(), time.process_time()
            await _play_all(servicer, game, "p", sessions, turns, episodes, latencies)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            threads = {k: v - cpu_before.get(k, 0.0) for k, v in thread_cpu().items()}
        finally:
            await manager.close()
    per_turn = 1e3 / len(latencies)
    return {
        "p50 ms": statistics.median(latencies) * 1e3,
        "wall ms/turn": wall * per_turn,
        "CPU ms/turn": cpu * per_turn,
        "loop CPU ms/turn": threads.get("MainThread", 0.0) * per_turn,
        "worker CPU ms/turn": sum(v for k, v in threads.items() if k.startswith("turns_"))
        * per_turn,
        "turns": float(len(latencies)),
    }


async def _play_all(servicer, game, prefix, sessions, turns, episodes, out) -> None:
    players = (
        _player(servicer, game, f"{prefix}-{i}-{time.monotonic_ns()}", turns, episodes, out)
        for i in range(sessions)
    )
    await asyncio.gather(*players)


class StageTimers:
    """CPU-time counters wrapped around named callables for the length of a run."""

    def __init__(self) -> None:
        self.cpu: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.cpu[label] += time.thread_time() - started
                self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> None:
        import onnxruntime

        from game_agent.state import AdaptationState
        from game_agent.vector_forward import VectorForward
        from server import engine

        self.wrap(engine, "observe_and_act", "learner observe_and_act (incl. the forward pass)")
        self.wrap(onnxruntime.InferenceSession, "run", FORWARD)
        self.wrap(VectorForward, "run", FORWARD)
        self.wrap(AdaptationState, "to_bytes", "state serialisation")
        self.wrap(engine.TurnEngine, "_commit_all", "store commit")

    def reset(self) -> None:
        self.cpu.clear()
        self.calls.clear()

    def remove(self) -> None:
        while self._undo:
            self._undo.pop()()


def report(rows: list[tuple[str, int, dict[str, float]]], stages: list[str]) -> str:
    lines = [
        "# A served turn without gRPC (servicer called directly)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; medians over repeats.",
        "",
        "| family | sessions | " + " | ".join(COLUMNS) + " |",
        "|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for family, sessions, figures in rows:
        cells = " | ".join(f"{figures[c]:.3f}" for c in COLUMNS)
        lines.append(f"| {family} | {sessions} | {cells} |")
    if stages:
        lines += ["", "Worker stages, CPU ms per turn:", "", *stages]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve_inprocess", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--families", default="matrix,connect_n")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated session counts")
    parser.add_argument("--turns", type=int, default=1500, help="turns per run (all sessions)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="time the worker's stages too")
    parser.add_argument("--train-steps", type=int, default=3_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    args.families = [f for f in args.families.split(",") if f]
    unknown = sorted(set(args.families) - set(GAMES))
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {sorted(GAMES)}")
    try:
        args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    except ValueError:
        parser.error(f"--concurrency must be comma-separated integers, got {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1 or args.turns < 1 or args.repeats < 1:
        parser.error("--concurrency, --turns and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    import torch

    torch.set_num_threads(1)
    rows, stages = [], []
    with tempfile.TemporaryDirectory(prefix="serve-inprocess-models-") as tmp:
        served = Path(tmp)
        prepare_models(tuple(args.families), args.train_steps, served, MODELS_DIR, CACHE_DIR)
        for family in args.families:
            for sessions in args.concurrency:
                timers = StageTimers()
                if args.stages:
                    timers.install()
                runs, stage_cpu = [], collections.Counter()
                try:
                    for _ in range(args.repeats):
                        turns = max(1, args.turns // sessions)
                        run = measure(served, family, sessions, turns, timers.reset)
                        runs.append(asyncio.run(run))
                        stage_cpu.update(timers.cpu)
                finally:
                    timers.remove()
                figures = {c: statistics.median(r[c] for r in runs) for c in COLUMNS}
                rows.append((family, sessions, figures))
                played = sum(r["turns"] for r in runs)
                stages += [
                    f"- {family}, {sessions} sessions, {label}: {cpu * 1e3 / played:.3f}"
                    for label, cpu in stage_cpu.items()
                ]
                print(f"serve_inprocess: {family} x{sessions}: {figures}", flush=True)
    text = report(rows, stages)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
