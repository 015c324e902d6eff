"""Errors raised by the ``game_agent`` library.

    GameAgentError
    ├── ConfigError        a training/eval config or CLI option that cannot work
    ├── CheckpointError    a checkpoint that is missing, corrupt, unsafe or mismatched
    ├── StateError         adaptation-state bytes that cannot be parsed or do not
    │                      belong to this learner or game
    └── IncompatibleGameError  a game variant the learner was not built for

Game-level mistakes (bad spec strings, illegal actions) raise ``games.GameError``.
"""


class GameAgentError(Exception):
    """Base class of every error raised by the game_agent library."""


class ConfigError(GameAgentError, ValueError):
    """A configuration value or combination of options that cannot work."""


class CheckpointError(GameAgentError):
    """A checkpoint file that cannot be loaded (missing, corrupt, unsafe or mismatched)."""


class StateError(GameAgentError, ValueError):
    """Serialised adaptation state that is malformed or belongs to another learner or game."""


class IncompatibleGameError(GameAgentError, ValueError):
    """A game variant whose shapes or family the learner cannot play."""
