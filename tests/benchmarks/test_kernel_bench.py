"""benchmarks/kernel_bench.py runs end to end and reports the rows it promises (no timings)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from games import registry

BENCH_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "kernel_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("kernel_bench", BENCH_PATH)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class body runs.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def table_rows(text: str) -> list[list[str]]:
    """Data rows of the markdown table, as lists of stripped cells."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_quick_run_on_connect_n_writes_the_expected_table(bench, tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert bench.main(["--quick", "--families", "connect_n", "--out", str(out)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out
    assert re.search(r"Machine: .+, \d+ cores; .*Python 3\.\d+\.\d+, NumPy \d+\.", text)
    rows = table_rows(text)
    runners = [(row[0], row[2], row[3]) for row in rows]
    assert runners == [
        ("connect_n", "games.make AEC env, Python loop", "1"),
        ("connect_n", "pettingzoo connect_four_v3, Python loop", "1"),
        ("connect_n", "batched kernel", "1"),
        ("connect_n", "batched kernel", "64"),
        ("connect_n", "batched kernel", "4096"),
    ]
    for row in rows:
        assert row[1] == "`connect_n(cols=7,gravity=true,k=4,rows=6)`"
        assert float(row[4].replace(",", "")) > 0
        assert re.fullmatch(r"[\d,]+\.\dx", row[5]) and re.fullmatch(r"[\d,]+\.\dx", row[6])
    assert rows[0][5] == "1.0x" and rows[1][6] == "1.0x"


def test_families_that_cannot_be_imported_are_skipped_with_a_note(bench, tmp_path, monkeypatch):
    monkeypatch.setitem(registry._FAMILY_MODULES, "ghost", "games.ghost_family_not_written_yet")
    out = tmp_path / "bench.md"
    assert bench.main(["--quick", "--families", "ghost", "--out", str(out)]) == 0
    text = out.read_text()
    assert "skipped ghost: its family module cannot be imported yet" in text
    assert table_rows(text) == []


def test_unknown_family_is_refused(bench):
    with pytest.raises(SystemExit, match="unknown families"):
        bench.main(["--quick", "--families", "connect_five"])
