"""API-key authentication and the per-call checks every AgentService call goes through.

The API keys file (``--api-keys FILE``) holds one key per line::

    # KEY                                  PRINCIPAL
    3f9a6c1e0b7d4e2a9c8b5f1d7e3a6c0b      studio-a
    b2e4f6a8c0d2e4f6a8b0c2d4e6f8a0b2      studio-b-staging

``KEY`` is at least 16 characters without whitespace or ``#``; ``PRINCIPAL`` names who
holds it (1-64 characters from ``[A-Za-z0-9_.:@-]``); several keys may share a
principal (key rotation). Blank lines and ``#`` comments are ignored. Clients
send the key as call metadata ``x-api-key``. Keys are kept only as SHA-256
digests, and looked up by digest, so neither memory nor lookup time reveals them.

A principal owns the sessions it starts and the player ids it first uses:
another principal driving them gets PERMISSION_DENIED (``server.sessions``).
Without a keys file every caller is the anonymous principal ``""``.

:class:`CallChecks` is a ``grpc.aio`` interceptor applied to AgentService
methods only (the health and reflection services stay open for load balancers
and tools): it answers UNAUTHENTICATED for a missing or unknown key and
FAILED_PRECONDITION for a ``x-game-agent-protocol`` the server does not speak.
It also decodes requests leniently: bytes that are not a valid message get
INVALID_ARGUMENT (in-band on the Play stream), not gRPC's own UNKNOWN.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc

from game_agent.errors import ConfigError
from server.errors import ServiceError, Unauthenticated
from server.metrics import Metrics
from server.validation import (
    PROTOCOL_METADATA_KEY,
    Undecodable,
    lenient_decoder,
    protocol_version,
)

log = logging.getLogger(__name__)

API_KEY_METADATA_KEY = "x-api-key"
SERVICE_PREFIX = "/game_agent.v1.AgentService/"
ANONYMOUS = ""
_PRINCIPAL_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}\Z")
MIN_KEY_LENGTH = 16


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Principals by the digest of their keys; see the module docstring for the file format."""

    def __init__(self, keys: dict[str, str]):
        self._by_digest = {_digest(key): principal for key, principal in keys.items()}

    @classmethod
    def from_file(cls, path: Path) -> ApiKeys:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the API keys file {path}: {exc.strerror}") from None
        keys: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            parts = content.split()
            where = f"{path}:{number}"
            if len(parts) != 2:
                raise ConfigError(f"{where}: expected 'KEY PRINCIPAL', got {len(parts)} fields")
            key, principal = parts
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigError(f"{where}: keys must be at least {MIN_KEY_LENGTH} characters")
            if not _PRINCIPAL_RE.match(principal):
                raise ConfigError(
                    f"{where}: principal {principal!r} must be 1-64 characters "
                    "from [A-Za-z0-9_.:@-]"
                )
            if key in keys:
                raise ConfigError(f"{where}: this key is listed twice")
            keys[key] = principal
        if not keys:
            raise ConfigError(f"the API keys file {path} lists no keys")
        log.info("loaded %d API keys for %d principals", len(keys), len(set(keys.values())))
        return cls(keys)

    def principal(self, key: str | None) -> str:
        """The principal holding ``key``; UNAUTHENTICATED when it is missing or unknown."""
        if not key:
            raise Unauthenticated(
                "this server requires an API key: send it as call metadata "
                f"{API_KEY_METADATA_KEY!r}"
            )
        principal = self._by_digest.get(_digest(key))
        if principal is None:
            raise Unauthenticated(f"the API key sent in {API_KEY_METADATA_KEY!r} is not valid")
        return principal


def metadata_value(metadata: Iterable[tuple[str, Any]] | None, name: str) -> str | None:
    """The first value of metadata entry ``name`` (keys are lower-case in gRPC)."""
    for key, value in metadata or ():
        if key == name:
            return value if isinstance(value, str) else value.decode()
    return None


class Authenticator:
    """Resolves the principal of a call (``""`` when the server has no API keys)."""

    def __init__(self, keys: ApiKeys | None):
        self.keys = keys

    @property
    def required(self) -> bool:
        return self.keys is not None

    def principal(self, metadata: Iterable[tuple[str, Any]] | None) -> str:
        if self.keys is None:
            return ANONYMOUS
        return self.keys.principal(metadata_value(metadata, API_KEY_METADATA_KEY))


class CallChecks(grpc.aio.ServerInterceptor):
    """Authentication and protocol-version checks before any AgentService handler runs."""

    def __init__(self, auth: Authenticator, metrics: Metrics):
        self._auth = auth
        self._metrics = metrics
        self._decoders: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}
        """Per method: the servicer's handler and its decoding wrapper, built once."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
        method = details.method.removeprefix(SERVICE_PREFIX)
        cached = self._decoders.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._decoders[method] = (handler, self._decoding(handler, method))
        handler = cached[1]
        try:
            self._auth.principal(details.invocation_metadata)
            protocol_version(metadata_value(details.invocation_metadata, PROTOCOL_METADATA_KEY))
        except ServiceError as exc:
            self._metrics.record_call(method, exc.code.name)
            return _refusing(handler, exc)
        return handler

    def _decoding(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """``handler`` with a lenient request decoder; a unary call whose bytes do not
        decode is answered INVALID_ARGUMENT here (Play answers it in-band itself)."""
        serializers = {
            "request_deserializer": lenient_decoder(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(handler.stream_stream, **serializers)
        if handler.request_streaming or handler.response_streaming:
            return handler  # AgentService has no such methods
        behaviour = handler.unary_unary
        metrics = self._metrics

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                metrics.record_call(method, grpc.StatusCode.INVALID_ARGUMENT.name)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error().message)
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, **serializers)


def _refusing(handler: grpc.RpcMethodHandler, error: ServiceError) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that answers ``error`` and nothing else."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(error.code, error.message)

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse, **serializers)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **serializers)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse, **serializers)
    return grpc.unary_unary_rpc_method_handler(refuse, **serializers)
