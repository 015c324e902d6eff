"""What every call carries (metadata), the version check made on connect, and the
checks of a new session's arguments.

Shared by the blocking and the asyncio clients so both refuse an incompatible
server, or a bad argument, with the same message.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from clients.errors import (
    ClientConfigError,
    FailedPrecondition,
    IncompatibleServerError,
    InvalidArgument,
)
from clients.types import PROTOCOL_VERSION, ServerInfo
from protos.game_agent.v1 import agent_pb2 as pb

CLIENT_NAME = "game-agent-python/0.1.0"
_PLAYER_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}\Z")


def call_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: the protocol version and, when set, the API key."""
    metadata = [("x-game-agent-protocol", str(PROTOCOL_VERSION))]
    if api_key is not None:
        if not api_key or any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in api_key):
            raise ClientConfigError(
                "api_key must be a non-empty string of printable ASCII characters"
            )
        metadata.append(("x-api-key", api_key))
    return tuple(metadata)


def server_info_request(client_name: str = CLIENT_NAME) -> pb.GetServerInfoRequest:
    return pb.GetServerInfoRequest(
        client_protocol_version=PROTOCOL_VERSION, client_name=client_name
    )


def check_compatible(info: ServerInfo, address: str) -> None:
    """Raise :class:`IncompatibleServerError` unless the server accepts this client's protocol."""
    if info.protocol_version < PROTOCOL_VERSION:
        raise IncompatibleServerError(
            f"the server at {address} speaks protocol {info.protocol_version} "
            f"(version {info.server_version or 'unknown'}), older than this client's "
            f"protocol {PROTOCOL_VERSION}; upgrade the server or use an older SDK"
        )
    if info.min_client_protocol_version > PROTOCOL_VERSION:
        raise IncompatibleServerError(
            f"the server at {address} (version {info.server_version or 'unknown'}) accepts "
            f"client protocol {info.min_client_protocol_version} or newer; this client speaks "
            f"protocol {PROTOCOL_VERSION}: upgrade the game-agent SDK"
        )


def incompatible_from(error: FailedPrecondition, address: str) -> IncompatibleServerError:
    """The handshake was refused: the server says our protocol is too old."""
    return IncompatibleServerError(
        f"the server at {address} refused this client's protocol {PROTOCOL_VERSION}: "
        f"{error.details}"
    )


def start_session_request(
    player_id: str,
    game: Any,
    seat: int,
    *,
    greedy: bool,
    seed: int,
    idle_timeout_s: int,
    ignore_profile: bool,
) -> pb.StartSessionRequest:
    """The ``StartSession`` request for ``AgentClient.session``'s arguments, each checked
    first: a bad one raises InvalidArgument naming it, before a round trip is spent."""
    check_player_id(player_id)
    _check_int("seat", seat, 0, 2**31 - 1)
    _check_int("seed", seed, 0, 2**64 - 1)
    _check_int("idle_timeout_s", idle_timeout_s, 0, 2**31 - 1)
    options = pb.SessionOptions(
        greedy=bool(greedy),
        seed=seed,
        idle_timeout_seconds=idle_timeout_s,
        ignore_profile=bool(ignore_profile),
    )
    return pb.StartSessionRequest(
        player_id=player_id, game=str(game), agent_seat=seat, options=options
    )


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= value <= high)
    ):
        raise InvalidArgument(f"{name} must be an integer in {low}..{high}, got {value!r}")


def check_player_id(player_id: str) -> None:
    """Reject a player id the server would refuse, before a round trip is spent on it."""
    if not isinstance(player_id, str) or not _PLAYER_ID.match(player_id):
        raise InvalidArgument(
            f"player_id must be 1-128 characters from [A-Za-z0-9_.:@-], got {player_id!r}"
        )
