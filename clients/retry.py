"""Bounded retries with exponential backoff, and the connection settings they ride on.

Only calls that are safe to repeat are retried: reads, and turns (``Act``,
``EndEpisode``) re-sent with the *same* turn number, which the server answers
from its stored reply instead of advancing the agent twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from clients.errors import ClientConfigError


@dataclass(frozen=True)
class RetryPolicy:
    """When and how often a dropped call is tried again."""

    max_attempts: int = 5
    """Attempts in all, the first included; 1 disables retries."""
    initial_backoff_s: float = 0.05
    """Wait before the second attempt."""
    max_backoff_s: float = 2.0
    """Upper bound of any single wait."""
    multiplier: float = 2.0
    """Each wait is this many times the previous one."""
    retry_on: frozenset[grpc.StatusCode] = frozenset(
        {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}
    )
    """Codes worth repeating the same call for: UNAVAILABLE (the call or its reply was lost),
    ABORTED (another replica advanced the session first; the repeat gets the stored reply)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ClientConfigError(
                f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}"
            )
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.multiplier < 1:
            raise ClientConfigError(
                "RetryPolicy backoffs must be >= 0 and its multiplier >= 1, got "
                f"{self.initial_backoff_s}, {self.max_backoff_s}, {self.multiplier}"
            )

    def delays(self) -> Iterator[float]:
        """The waits before attempts 2..max_attempts."""
        delay = self.initial_backoff_s
        for _ in range(self.max_attempts - 1):
            yield min(delay, self.max_backoff_s)
            delay *= self.multiplier

    def should_retry(self, code: grpc.StatusCode | None) -> bool:
        return code in self.retry_on


@dataclass(frozen=True)
class TlsConfig:
    """TLS material for a secure channel; ``None`` fields use gRPC's defaults."""

    root_certificates: bytes | None = None
    """PEM roots to trust; None trusts the system's roots."""
    private_key: bytes | None = None
    """PEM client key, for mutual TLS."""
    certificate_chain: bytes | None = None
    """PEM client certificate chain, for mutual TLS."""

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            self.root_certificates, self.private_key, self.certificate_chain
        )


def channel_credentials(tls: bool | TlsConfig | None) -> grpc.ChannelCredentials | None:
    """Credentials for ``tls`` (True: system roots), or None for a plaintext channel."""
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, TlsConfig):
        return tls.credentials()
    raise TypeError(f"tls must be None, a bool or a TlsConfig, got {type(tls).__name__}")
