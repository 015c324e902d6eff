"""game_agent: meta-RL learners that adapt to each player, and the tools to train them.

``game_agent.load(path)`` returns a trained learner from a checkpoint directory,
ready to ``act``. It is resolved lazily, so importing a light submodule such as
``game_agent.errors`` or ``game_agent.state`` never pulls in torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from game_agent.checkpoint import load

        return load
    raise AttributeError(f"module 'game_agent' has no attribute {name!r}")
