"""benchmarks/serve_inprocess.py drives the real servicer and reports what it promises.

No timing claims: a short run plays real turns (the servicer refuses nothing),
every figure is a positive number, the per-thread split adds up to no more than
the process's CPU time, and ``--stages`` reports each worker stage.
"""

from __future__ import annotations

import os

import pytest

from benchmarks import serve_inprocess
from tests.benchmarks.test_serve_bench import table_rows


@pytest.mark.slow
def test_a_short_run_reports_every_figure_and_stage(tmp_path):
    out = tmp_path / "inprocess.md"
    turns = 300
    argv = ["--families", "matrix", "--concurrency", "1,3", "--turns", str(turns), "--repeats", "1"]
    assert serve_inprocess.main([*argv, "--stages", "--out", str(out)]) == 0
    text = out.read_text()
    rows = table_rows(text, "| family | sessions |")
    assert [(row[0], row[1]) for row in rows] == [("matrix", "1"), ("matrix", "3")]
    for row in rows:
        p50, wall, cpu, loop, worker = (float(cell) for cell in row[2:])
        assert min(p50, wall, cpu, loop, worker) > 0
        # Threads of this process, whose CPU times /proc counts in clock ticks: two
        # threads' rounding, spread over the run's turns, is the allowed excess.
        tick_ms = 1e3 / os.sysconf("SC_CLK_TCK")
        assert loop + worker <= cpu + 2 * tick_ms / (turns // int(row[1]) * int(row[1]))
    for label in (
        serve_inprocess.FORWARD,
        "learner observe_and_act",
        "state serialisation",
        "store commit",
    ):
        assert sum(label in line for line in text.splitlines()) == 2  # one line per row


@pytest.mark.parametrize(
    "argv",
    [["--families", "chess"], ["--concurrency", "0"], ["--concurrency", "x"], ["--turns", "0"]],
)
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        serve_inprocess.parse_args(argv)
