"""Errors raised by ``games``: a user's mistake gets one of these, never a bare crash.

    GameError (ValueError)
    ├── SpecError            unparseable spec string, unknown family or parameter,
    │                        a value out of range, or an impossible variant
    ├── UnknownOpponentError an opponent name the family does not define
    ├── IllegalActionError   an action that is out of range or masked out
    └── SavedPolicyError     a saved policy file that is missing, is not a
                             stable-baselines3 model, does not fit the game, or
                             carries pickled objects where weights belong

All are ``ValueError`` subclasses, so callers that validate input can catch one type.
"""


class GameError(ValueError):
    """Base class of every error raised by the games package."""


class SpecError(GameError):
    """A game spec string or parameter set that does not describe a playable variant."""


class UnknownOpponentError(GameError):
    """An opponent name that the family's population does not contain."""


class IllegalActionError(GameError):
    """An action outside the action space, or one the action mask forbids."""


class SavedPolicyError(GameError):
    """A saved policy (e.g. a stable-baselines3 ``.zip``) that cannot be loaded as an opponent."""
