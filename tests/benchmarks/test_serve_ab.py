"""benchmarks/serve_ab.py: variants are parsed strictly, and a short A/B runs each variant's
own checkout with its own options against one floor (no timing claims)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import serve_ab
from tests.benchmarks.test_serve_bench import table_rows

ROOT = Path(__file__).resolve().parents[2]


def test_a_variant_is_a_name_a_checkout_and_serve_options():
    variant = serve_ab.parse_variant(f"nolog={ROOT}::--no-turn-log --max-batch 8")
    assert variant == serve_ab.Variant("nolog", ROOT, ("--no-turn-log", "--max-batch", "8"))
    assert serve_ab.parse_variant("here=.").tree == Path(".").resolve()


@pytest.mark.parametrize("text", ["noequals", "=.", "name=", "name=/nonexistent/dir"])
def test_bad_variants_are_refused_naming_the_problem(text):
    with pytest.raises(ValueError, match="variant"):
        serve_ab.parse_variant(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["--variant", "a=.", "--variant", "a=."],
        ["--variant", "floor=."],
        ["--variant", "floor+model=."],
        ["--variant", "a=.", "--repeats", "0"],
        ["--variant", "a=.", "--families", "chess"],
    ],
)
def test_bad_command_lines_are_refused(argv):
    with pytest.raises(SystemExit):
        serve_ab.parse_args(argv)


@pytest.mark.slow
def test_each_variant_runs_its_own_checkout_with_its_own_options(tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    for package in ("server", "game_agent", "games", "protos"):
        shutil.copytree(
            ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    marker = copy / "ran-with"
    (copy / "server" / "__main__.py").write_text(
        "import pathlib, sys\n"
        f"pathlib.Path({str(marker)!r}).write_text(' '.join(sys.argv[1:]))\n"
        "from server.cli import main\n"
        "sys.exit(main())\n"
    )
    floors = record_floors(monkeypatch)
    out = tmp_path / "ab.md"
    argv = ["--variant", f"here={ROOT}", "--variant", f"copy={copy}::--no-turn-log"]
    argv += ["--families", "matrix", "--modes", "unary", "--concurrency", "1,3"]
    argv += ["--repeats", "1", "--seconds", "0.5", "--model-floor", "--out", str(out)]
    assert serve_ab.main(argv) == 0
    assert "--no-turn-log" in marker.read_text()  # the copy ran, with its option
    # The plain floor, then the model floor, sent the checkpoint and variant as strings.
    assert [len(models) for models in floors] == [0, 1]
    [(checkpoint, game)] = floors[1]
    assert (type(checkpoint), game) == (str, serve_ab.GAMES["matrix"])
    text = out.read_text()
    assert "| family | mode | sessions | floor | floor+model | here | copy |" in text
    rows = table_rows(text, "| family | mode | sessions |")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("matrix", "unary", "1"),
        ("matrix", "unary", "3"),
    ]
    for row in rows:
        assert float(row[3].split()[0].replace(",", "")) > 0  # the floor
        for cell in row[4:]:
            figure, ratio = cell.split(" (")
            assert float(figure.replace(",", "")) > 0 and float(ratio.rstrip("x)")) > 0


def record_floors(monkeypatch) -> list[tuple]:
    """The ``models`` each floor serve_ab starts is sent (empty for the plain floor)."""
    from benchmarks.serve_processes import FloorProcess

    sent: list[tuple] = []

    def start(*args, models=(), **kwargs):
        sent.append(tuple(models))
        return FloorProcess(*args, models=models, **kwargs)

    monkeypatch.setattr(serve_ab, "FloorProcess", start)
    return sent
