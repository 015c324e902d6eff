"""Pong demo frame rate: the demo asks the agent for a move every frame at a 60 FPS cap.

Runs the headless pong demo (SDL dummy driver) for a fixed number of frames
against (a) a scripted tracker and (b) the in-process RL2 agent when a pong
checkpoint is found under ``models/``, and reports the achieved frame rate and
the agent's milliseconds per move, with the cap on (60) and off.

Usage::

    python -m benchmarks.demo_fps [--frames 600] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks.kernel_bench import machine


def measure(opponent, frames: int, cap: int | None) -> tuple[float, float]:
    from clients.demos import make_demo
    from clients.demos.ui import run

    demo = make_demo("pong", opponent, "pong", seed=0)
    result = run(demo, max_frames=frames, fps=cap)
    return result.fps, demo.agent_ms


def opponents() -> list[tuple[str, object]]:
    from clients.opponent import PopulationOpponent

    found = [("scripted tracker_delay2", PopulationOpponent("pong", "tracker_delay2", seed=0))]
    from game_agent.errors import CheckpointError
    from game_agent.local import local_opponent_factory
    from games import parse_spec

    try:
        agent = local_opponent_factory(None)(parse_spec("pong"), 1, None)
        found.append(("RL2 in-process (--local)", agent))
    except CheckpointError as exc:
        print(f"skipping the in-process agent: {exc}", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    rows = ["| opponent | cap | achieved FPS | agent ms/move |", "|---|---:|---:|---:|"]
    for name, opponent in opponents():
        for cap in (60, 0):
            fps, agent_ms = measure(opponent, args.frames, cap)
            rows.append(f"| {name} | {cap or 'none'} | {fps:.1f} | {agent_ms:.2f} |")
    info = machine()
    table = "\n".join([f"Machine: {info}", "", *rows])
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
