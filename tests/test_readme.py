"""Every command the README shows is one that works: the CLI accepts it, the make target
and the module exist. (What each command does is tested where its code is.)"""

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from game_agent.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.DOTALL)


def readme_commands() -> list[str]:
    commands = []
    for block in FENCE.findall((ROOT / "README.md").read_text()):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


COMMANDS = readme_commands()


def test_readme_shows_the_two_setup_commands_first():
    assert COMMANDS[:2] == ["make serve", "make test"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("game-agent ")])
def test_game_agent_commands_parse(command: str):
    argv = shlex.split(command)[1:]
    build_parser(argv).parse_args(argv)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make ")])
def test_make_targets_exist(command: str):
    targets = re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE)
    for target in shlex.split(command)[1:]:
        if "=" not in target:
            assert target in targets, f"README runs `make {target}`, which the Makefile lacks"


@pytest.mark.parametrize("command", [c for c in COMMANDS if ".venv/bin/python -m " in c])
def test_python_modules_exist(command: str):
    module = shlex.split(command)[2]
    assert importlib.util.find_spec(module) is not None, f"no module {module}"
