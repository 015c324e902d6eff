"""Errors raised by the game-agent Python SDK, mapped from gRPC status codes.

    AgentError
    ├── ClientConfigError         a client setting that cannot work (retry policy, API key)
    ├── SessionClosedError        a call on a session this client already closed
    ├── IncompatibleServerError   the server does not speak this client's protocol
    └── RpcError                  the server refused or failed a call (.code, .details)
        ├── InvalidArgument       INVALID_ARGUMENT: malformed input (bad shape, empty mask, ...)
        ├── NotFound              NOT_FOUND: unknown game, session or player
        ├── FailedPrecondition    FAILED_PRECONDITION: turn out of sequence, session ended
        ├── AlreadyExists         ALREADY_EXISTS
        ├── ResourceExhausted     RESOURCE_EXHAUSTED: limits, oversized messages
        ├── Unauthenticated       UNAUTHENTICATED: missing or wrong API key
        ├── PermissionDenied      PERMISSION_DENIED: another player's session
        ├── Aborted               ABORTED: another replica advanced the session, retries spent
        ├── Unavailable           UNAVAILABLE: server unreachable or draining, retries spent
        ├── DeadlineExceeded      DEADLINE_EXCEEDED: the call took longer than its timeout
        └── ServerError           INTERNAL, UNKNOWN and every other code: the server's fault

``InvalidArgument`` is also a ``ValueError`` so input-validating callers can
catch one type. Every ``RpcError`` keeps the server's message, which names the
field at fault.
"""

from __future__ import annotations

import grpc


class AgentError(Exception):
    """Base class of every error the SDK raises."""


class ClientConfigError(AgentError, ValueError):
    """A client setting that cannot work, caught before anything is sent."""


class SessionClosedError(AgentError):
    """The session was closed (or its episode ended) on this client; start or resume one."""


class IncompatibleServerError(AgentError):
    """The server's protocol version is outside what this client speaks."""


class RpcError(AgentError):
    """A call the server refused or failed; ``code`` is the gRPC status code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str, code: grpc.StatusCode | None = None):
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"


class InvalidArgument(RpcError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RpcError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(RpcError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(RpcError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(RpcError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(RpcError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(RpcError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Aborted(RpcError):
    code = grpc.StatusCode.ABORTED


class Unavailable(RpcError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(RpcError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ServerError(RpcError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        AlreadyExists,
        ResourceExhausted,
        Unauthenticated,
        PermissionDenied,
        Aborted,
        Unavailable,
        DeadlineExceeded,
    )
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def error_for(code: grpc.StatusCode, details: str) -> RpcError:
    """The SDK exception for a status code (ServerError for codes without their own class)."""
    return _BY_CODE.get(code, ServerError)(details or code.name.lower(), code)


def error_for_number(number: int, details: str) -> RpcError:
    """Like :func:`error_for`, from the numeric code of an in-band ``Play`` stream error."""
    return error_for(_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN), details)


def from_rpc_error(error: grpc.RpcError) -> RpcError:
    """Translate a grpc error (sync or aio) into the SDK's exception tree."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    details = error.details() if callable(getattr(error, "details", None)) else str(error)
    return error_for(code or grpc.StatusCode.UNKNOWN, details or "")


def after_attempts(error: RpcError, attempts: int, address: str) -> RpcError:
    """The error to raise once retries are spent; says how many attempts were made."""
    if attempts == 1 or not isinstance(error, Unavailable):
        return error
    return Unavailable(f"{address} still unavailable after {attempts} attempts: {error.details}")
