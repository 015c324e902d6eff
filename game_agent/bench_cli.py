"""``game-agent bench NAME [options]``: run one of the repository's benchmarks.

The benchmarks live in ``benchmarks/`` at the root of the source checkout (they
are not part of the installed package): ``game-agent bench serve --quick`` is
``python -m benchmarks.serve_bench --quick``. The chosen benchmark's module is
imported only when it runs, so the command costs nothing to the others. With
the package installed in editable mode (``make venv``) the checkout is found
from the package's own location, so the command works from any directory.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from game_agent.errors import ConfigError

BENCHMARKS = {
    "serve": "benchmarks.serve_bench",
    "kernels": "benchmarks.kernel_bench",
}
"""Benchmark name -> module with a ``main(argv) -> int``."""


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark to run")
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="the benchmark's own options (e.g. --quick --out FILE); see NAME --help",
    )


def _checkout() -> Path:
    return Path(__file__).resolve().parents[1]


def load_benchmark(name: str):
    """The benchmark's module, found in the source checkout this package runs from."""
    module = BENCHMARKS[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks":
            raise
    root = _checkout()
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise ConfigError(
            f"the {name} benchmark needs the source checkout (benchmarks/ is not installed); "
            "run it from a clone of the repository"
        ) from None
    sys.path.insert(0, str(root))
    return importlib.import_module(module)


def run_bench(args: argparse.Namespace) -> int:
    """Run the chosen benchmark's ``main`` with the remaining options."""
    return int(load_benchmark(args.benchmark).main(list(args.options)) or 0)
