"""The parts depend on each other only in the directions docs/ARCHITECTURE.md allows.

clients ──> protos, games
server  ──> game_agent, games, protos
game_agent ──> games        (cli.py may import server/clients inside a subcommand)
games   ──> numpy, gymnasium, pettingzoo (pygame only inside render code,
            torch only inside functions that load saved policies)
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("games", "game_agent", "server", "clients", "protos")

FORBIDDEN = {
    "games": {"game_agent", "server", "clients", "grpc"},
    "game_agent": {"server", "clients", "grpc"},
    "server": {"clients"},
    "clients": {"game_agent", "server", "torch", "stable_baselines3"},
    "protos": {"game_agent", "games", "server", "clients", "torch"},
}
# Imports allowed only inside a function body (lazily), never at module level.
LAZY_ONLY = {
    "games": {"torch", "stable_baselines3", "pygame"},
}
# The composition root may reach everything, lazily.
LAZY_EXCEPTIONS = {Path("game_agent/cli.py"): {"server", "clients"}}
RENDER_FILES_MAY_IMPORT = {"pygame"}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    function_nodes = (ast.FunctionDef, ast.AsyncFunctionDef)

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, function_nodes)
            if isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], not nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module.split(".")[0], not nested))
            visit(child, nested)

    visit(tree, False)
    return found


def python_files(part: str) -> list[Path]:
    return [p for p in (ROOT / part).rglob("*.py") if "_pb2" not in p.name]


@pytest.mark.parametrize("part", PARTS)
def test_import_directions(part: str):
    violations = []
    for path in python_files(part):
        rel = path.relative_to(ROOT)
        allowed_lazy = LAZY_EXCEPTIONS.get(rel, set())
        for module, top_level in imports(path):
            if module in FORBIDDEN[part] and (top_level or module not in allowed_lazy):
                violations.append(f"{rel} imports {module}")
            lazy_only = LAZY_ONLY.get(part, set())
            render_ok = path.stem.startswith("render") and module in RENDER_FILES_MAY_IMPORT
            if module in lazy_only and top_level and not render_ok:
                violations.append(f"{rel} imports {module} at module level")
    assert violations == [], "\n".join(violations)


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(','.join(m for m in HEAVY if m in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(filter(None, result.stdout.strip().split(",")))


HEAVY = ("torch", "stable_baselines3", "pygame")


def test_clients_and_games_never_load_torch():
    modules = [
        p for p in python_files("clients") + python_files("games") if p.name != "__main__.py"
    ]
    names = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in modules
    )
    loaded = _loaded_after(f"import importlib\nfor n in {names!r}:\n    importlib.import_module(n)")
    assert loaded.isdisjoint({"torch", "stable_baselines3"}), f"loaded {sorted(loaded)}"


def test_playing_a_game_without_rendering_never_loads_pygame():
    code = (
        "import games\n"
        "for family in set(games.list_families()) - {'pettingzoo'}:  # a user's env is theirs\n"
        "    env = games.make(family)\n"
        "    env.reset(seed=0)\n"
    )
    assert _loaded_after(code) == set()
