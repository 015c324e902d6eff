"""Errors the service answers with, and the one place library errors become status codes.

    ServiceError                 carries a gRPC status code and a message for the developer
    ├── InvalidArgument          INVALID_ARGUMENT     malformed input (names the field)
    ├── NotFound                 NOT_FOUND            unknown game, variant, session or player
    ├── FailedPrecondition       FAILED_PRECONDITION  turn out of sequence, session ended,
    │                                                 protocol version not supported
    ├── ResourceExhausted        RESOURCE_EXHAUSTED   session limits
    ├── PermissionDenied         PERMISSION_DENIED    another principal's session or player
    ├── Unauthenticated          UNAUTHENTICATED      missing or wrong API key
    ├── Aborted                  ABORTED              another replica advanced the session
    │                                                 first; retry the same turn
    └── Unavailable              UNAVAILABLE          the server is draining; retry elsewhere

:func:`status_of` maps any exception (these, ``games.GameError``,
``game_agent.GameAgentError``, anything else) to ``(code, message)``; the
servicer uses it for unary calls and for in-band errors on the Play stream, so
the mapping lives here and nowhere else.
"""

from __future__ import annotations

import logging

import grpc

from game_agent.errors import (
    CheckpointError,
    ConfigError,
    GameAgentError,
    IncompatibleGameError,
    StateError,
)
from games.errors import GameError

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A request the service refuses; ``code`` is the gRPC status it is answered with."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Aborted(ServiceError):
    code = grpc.StatusCode.ABORTED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


_LIBRARY_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    # A spec string, parameter, opponent or action the caller got wrong.
    (GameError, grpc.StatusCode.INVALID_ARGUMENT),
    # A variant the family exists for but the served model cannot play.
    (IncompatibleGameError, grpc.StatusCode.FAILED_PRECONDITION),
    # Stored state the server wrote and can no longer read: data, not the caller, is at fault.
    (StateError, grpc.StatusCode.DATA_LOSS),
    (CheckpointError, grpc.StatusCode.INTERNAL),
    (ConfigError, grpc.StatusCode.INTERNAL),
    (GameAgentError, grpc.StatusCode.INTERNAL),
)


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a caller gets for ``exc``."""
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    for kind, code in _LIBRARY_CODES:
        if isinstance(exc, kind):
            if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS):
                log.error("request failed: %s", exc, exc_info=exc)
            return code, str(exc)
    log.error("unexpected error while serving a request", exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"
