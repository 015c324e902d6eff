"""Meta-RL learners, registered by name for the CLI's ``--algo`` and for checkpoints.

Each learner lives in its own module exposing ``LEARNER``, a class with a
``name``, a ``config_class`` (a frozen dataclass with ``from_dict``/``to_dict``)
and the training interface used by :func:`game_agent.train.train`. Modules are
imported only when their learner is asked for, so adding one (``maml``) is one
line here, or one :func:`register_learner` call from outside.
"""

from __future__ import annotations

import importlib
from typing import Any

from game_agent.errors import ConfigError

_LEARNER_MODULES: dict[str, str] = {
    "rl2": "game_agent.learners.rl2",
    "multitask": "game_agent.learners.multitask",
    "maml": "game_agent.learners.maml",
}


def register_learner(name: str, module: str) -> None:
    """Make ``name`` available to ``--algo`` and ``game_agent.load``; ``module`` has LEARNER."""
    _LEARNER_MODULES[name] = module


def list_learners() -> list[str]:
    return sorted(_LEARNER_MODULES)


def get_learner_class(name: str) -> Any:
    """The learner class registered under ``name``."""
    module = _LEARNER_MODULES.get(name)
    if module is None:
        raise ConfigError(f"unknown learner {name!r}; known: {', '.join(list_learners())}")
    return importlib.import_module(module).LEARNER
