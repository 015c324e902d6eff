"""The README's Python snippets run as written (the SDK one against a real server)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)


def test_games_snippet_runs():
    snippet = next(s for s in python_snippets() if "games.make" in s)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # the README's own code
    assert namespace["step"].obs.shape[0] == 4096


def test_sdk_snippet_runs_against_a_server(agent_server):
    snippet = next(s for s in python_snippets() if "AgentClient" in s)
    snippet = snippet.replace('"127.0.0.1:50051"', repr(agent_server.address))
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    turn = namespace["turn"]
    assert turn.action in (0, 1, 2)
    assert abs(sum(turn.probabilities) - 1.0) < 1e-5
