"""The served vector forward pass: onnxruntime's session against numpy's VectorForward.

For the shipped matrix model (``models/matrix``, its first training variant), one
call of the forward pass the server makes each turn, with the same random
inputs on both sides:

- batch 1: an onnxruntime session with the batch fixed at 1, built on the traced graph
  as :mod:`game_agent.inference` builds sessions (``new_session``: single-threaded), what
  served a vector network's lone turns before ``VectorForward``, against
  ``VectorForward.run`` (:mod:`game_agent.vector_forward`), what serves them now;
- batch 64: onnxruntime's dynamic-batch session, what serves batches, against the
  same ``VectorForward``.

Each repeat times ``calls`` calls of one side then the other (the order
alternating between repeats, so drift in the machine's speed hits both alike);
the table gives the median over repeats of the microseconds per call, the ratio
onnxruntime / numpy, and the largest difference between their outputs. BLAS,
torch and onnxruntime are held to one thread, as the server runs them. Usage::

    python -m benchmarks.forward_bench [--repeats 7] [--calls 1000]
"""

from __future__ import annotations

import os

# Before numpy loads OpenBLAS: the server runs single-threaded BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "matrix"
BATCHES = (1, 64)
FEEDS = 8
"""Distinct random inputs per batch size, cycled through, so no call repeats the last."""


@dataclass(frozen=True)
class Row:
    batch: int
    onnxruntime_us: float
    numpy_us: float
    max_difference: float


def per_call_us(run: Callable[[dict[str, np.ndarray]], object], feeds: list, calls: int) -> float:
    """Microseconds per call of ``run`` over ``calls`` calls cycling through ``feeds``."""
    started = time.perf_counter()
    for i in range(calls):
        run(feeds[i % len(feeds)])
    return (time.perf_counter() - started) / calls * 1e6


def random_feeds(policy, spec, batch: int) -> list[dict[str, np.ndarray]]:
    """``FEEDS`` random inputs of ``batch`` players, as verify_session draws them."""
    import torch

    from game_agent.export import example_inputs, input_names

    generator = torch.Generator().manual_seed(batch)
    names = input_names(policy)
    feeds = []
    for _ in range(FEEDS):
        inputs = example_inputs(policy, spec, batch, generator)
        feeds.append({n: t.numpy() for n, t in zip(names, inputs, strict=True)})
    return feeds


def largest_difference(ort_run, numpy_run, feeds: list) -> float:
    """The largest output difference between the two sides over ``feeds``."""
    worst = 0.0
    for feed in feeds:
        for a, b in zip(ort_run(feed), numpy_run(feed), strict=True):
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b))))
    return worst


def onnxruntime_sessions(policy, spec) -> dict[int, Any]:
    """Per batch size, the onnxruntime session the numpy pass is compared with: the traced
    graph with its batch fixed at 1, and with a dynamic batch for 64."""
    from game_agent.export import ExportedPolicy, trace_graph
    from game_agent.inference import new_session

    model = trace_graph(ExportedPolicy(policy, spec), spec)
    return {1: new_session(model, batch=1), 64: new_session(model)}


def measure(repeats: int, calls: int) -> tuple[str, list[Row]]:
    """The variant measured and one row per batch size."""
    import torch

    import game_agent
    from game_agent.export import output_names
    from game_agent.vector_forward import VectorForward
    from games import parse_spec

    torch.set_num_threads(1)
    learner = game_agent.load(MODEL_DIR)
    meta = json.loads((MODEL_DIR / "meta.json").read_text())
    spec = parse_spec(meta["distribution"]["variants"][0])
    policy = learner.base.policy.eval()
    baseline = onnxruntime_sessions(policy, spec)
    forward = VectorForward(policy, spec)
    outputs = list(output_names(policy))
    rows = []
    for batch in BATCHES:
        session = baseline[batch]
        feeds = random_feeds(policy, spec, batch)

        def ort_run(feed, session=session):
            return session.run(outputs, feed)

        def numpy_run(feed):
            return forward.run(outputs, feed)

        difference = largest_difference(ort_run, numpy_run, feeds)
        for run in (ort_run, numpy_run):  # warm-up
            per_call_us(run, feeds, max(1, calls // 10))
        ort_times, numpy_times = [], []
        for repeat in range(repeats):
            order = [(ort_run, ort_times), (numpy_run, numpy_times)]
            for run, times in order if repeat % 2 == 0 else order[::-1]:
                times.append(per_call_us(run, feeds, calls))
        rows.append(
            Row(batch, statistics.median(ort_times), statistics.median(numpy_times), difference)
        )
    return spec.name, rows


def report(variant: str, rows: list[Row], repeats: int, calls: int) -> str:
    """The result as markdown: a header saying where and how, then the table."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = f"{platform.processor() or platform.machine()}/{os.cpu_count()}"
    lines = [
        "# Vector forward pass: onnxruntime vs numpy",
        "",
        f"Measured {now} on {cpu} (processor/CPUs); models/matrix, `{variant}`; "
        f"median over {repeats} repeats of {calls} calls; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}.",
        "",
        "| batch | onnxruntime us/call | numpy us/call | onnxruntime / numpy | max abs diff |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.batch} | {row.onnxruntime_us:.1f} | {row.numpy_us:.1f} "
            f"| {row.onnxruntime_us / row.numpy_us:.2f}x | {row.max_difference:.1e} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.forward_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per side")
    parser.add_argument("--calls", type=int, default=1000, help="calls per repeat")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.calls < 1:
        parser.error("--repeats and --calls must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    variant, rows = measure(args.repeats, args.calls)
    print(report(variant, rows, args.repeats, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
