"""Request validation: every field checked before it reaches a learner.

Each function takes protobuf fields (or plain values), returns clean Python or
numpy values, and raises a :mod:`server.errors` exception whose message names
the field, what was wrong and what is allowed: INVALID_ARGUMENT for malformed
values, NOT_FOUND for a game the server does not serve, FAILED_PRECONDITION
for a protocol version it no longer speaks. Turn *sequence* is checked by
``server.sessions`` (it needs the session), with the same message style.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from games.errors import SpecError
from games.registry import list_families, parse_spec
from games.spec import GameSpec
from server.config import ServerConfig
from server.errors import FailedPrecondition, InvalidArgument, NotFound

PROTOCOL_VERSION = 1
MIN_CLIENT_PROTOCOL_VERSION = 1
PROTOCOL_METADATA_KEY = "x-game-agent-protocol"

PLAYER_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}\Z")
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
_FAMILY_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class SessionSettings:
    """Validated ``SessionOptions``."""

    greedy: bool
    seed: int
    idle_timeout_s: float
    ignore_profile: bool


def player_id(value: str, field: str = "player_id") -> str:
    if not PLAYER_ID_RE.match(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise InvalidArgument(
            f"{field} {shown!r} is invalid: use 1-128 characters from [A-Za-z0-9_.:@-]"
        )
    return value


def session_id(value: str) -> str:
    if not value:
        raise InvalidArgument("session_id is empty; pass the id StartSession returned")
    if not SESSION_ID_RE.match(value):
        raise InvalidArgument(
            f"session_id {value[:70]!r} is malformed: session ids are 1-64 characters "
            "from [A-Za-z0-9_-], as returned by StartSession"
        )
    return value


def family_name(value: str, field: str = "family") -> str:
    """A family name that the game registry knows (NOT_FOUND otherwise)."""
    known = list_families()
    if value not in known:
        raise NotFound(
            f"{field} {value!r} is not a game family; known families: {', '.join(known)}"
        )
    return value


def game(value: str) -> GameSpec:
    """Parse a spec string: NOT_FOUND for an unknown family, INVALID_ARGUMENT for bad parameters."""
    if not value.strip():
        raise InvalidArgument(
            "game is empty; pass a spec string such as 'connect_n(rows=6,cols=7,k=4)' "
            "(ListGames lists the served variants)"
        )
    match = _FAMILY_RE.match(value)
    if match is not None:
        family_name(match.group(1).lower(), field="game family")
    try:
        return parse_spec(value)
    except SpecError as exc:
        raise InvalidArgument(f"game {value!r} is invalid: {exc}") from None


def agent_seat(seat: int, spec: GameSpec) -> int:
    if not 0 <= seat < spec.num_agents:
        raise InvalidArgument(
            f"agent_seat {seat} does not exist in {spec.name}: "
            f"seats are 0..{spec.num_agents - 1} ({', '.join(spec.agents)})"
        )
    return seat


def session_options(
    greedy: bool, seed: int, idle_timeout_seconds: int, ignore_profile: bool, config: ServerConfig
) -> SessionSettings:
    if idle_timeout_seconds < 0:
        raise InvalidArgument(
            f"options.idle_timeout_seconds is {idle_timeout_seconds}; use 0 for the server "
            f"default ({config.idle_timeout_s:g} s) or a positive number of seconds"
        )
    timeout = config.idle_timeout_s if idle_timeout_seconds == 0 else float(idle_timeout_seconds)
    return SessionSettings(
        greedy=bool(greedy),
        seed=int(seed),
        idle_timeout_s=min(timeout, config.max_idle_timeout_s),
        ignore_profile=bool(ignore_profile),
    )


def turn_number(turn: int) -> int:
    if turn < 1:
        raise InvalidArgument(
            f"turn is {turn}; turns start at 1 (Session.next_turn says which one is expected)"
        )
    return turn


def observation(shape: Sequence[int], values: Sequence[float], spec: GameSpec) -> np.ndarray:
    """The observation as a float32 array of the variant's shape, with finite in-range values."""
    expected = list(spec.obs_shape)
    if list(shape) != expected:
        raise InvalidArgument(
            f"observation.shape is {list(shape)}; {spec.name} observations have shape {expected}"
        )
    needed = math.prod(expected)
    if len(values) != needed:
        raise InvalidArgument(
            f"observation.values has {len(values)} values; shape {expected} needs exactly {needed}"
        )
    array = np.asarray(values, dtype=np.float32)
    # A NaN makes min and max NaN, which fails both comparisons; finite bounds exclude
    # infinities. Two reductions instead of an elementwise mask per turn.
    low, high = spec.obs_low, spec.obs_high
    valid = array.min() >= low and array.max() <= high
    if valid and not (math.isfinite(low) and math.isfinite(high)):
        valid = bool(np.isfinite(array).all())
    if not valid:
        _explain_bad_observation(array, spec)
    return array.reshape(expected)


def _explain_bad_observation(array: np.ndarray, spec: GameSpec) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(
            f"observation.values[{index}] is {array[index]}; observations must be finite numbers"
        )
    index = int(np.flatnonzero((array < spec.obs_low) | (array > spec.obs_high))[0])
    raise InvalidArgument(
        f"observation.values[{index}] is {array[index]:g}, outside "
        f"[{spec.obs_low:g}, {spec.obs_high:g}] for {spec.name}"
    )


def action_mask(mask: Sequence[bool], spec: GameSpec) -> np.ndarray:
    if len(mask) != spec.num_actions:
        raise InvalidArgument(
            f"action_mask has {len(mask)} entries; {spec.name} has {spec.num_actions} actions"
        )
    if not any(mask):
        raise InvalidArgument(
            "action_mask has no legal action; at least one entry must be true "
            "(call EndEpisode when the game is over)"
        )
    return np.array(list(mask), dtype=bool)


def reward(value: float, field: str = "reward") -> float:
    if not math.isfinite(value):
        raise InvalidArgument(f"{field} is {value}; rewards must be finite numbers")
    return float(value)


def protocol_version(value: int | str | None) -> None:
    """Check a client's protocol version (request field or metadata); 0/None/'' is unchecked."""
    if value is None or value == "":
        return
    try:
        version = int(value)
    except ValueError:
        raise InvalidArgument(
            f"{PROTOCOL_METADATA_KEY} is {value!r}; send the integer PROTOCOL_VERSION "
            "of the agent.proto your client was generated from"
        ) from None
    if version == 0:
        return
    if not MIN_CLIENT_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION:
        raise FailedPrecondition(
            f"client protocol version {version} is not supported: this server speaks "
            f"{PROTOCOL_VERSION} and accepts clients from {MIN_CLIENT_PROTOCOL_VERSION} to "
            f"{PROTOCOL_VERSION}; regenerate your client from the server's agent.proto"
        )


@dataclass(frozen=True)
class Undecodable:
    """Request bytes that are not a valid message of the method's type; what a lenient
    decoder (:func:`lenient_decoder`) hands the handler instead of raising, so that the
    caller gets INVALID_ARGUMENT (gRPC itself would answer UNKNOWN)."""

    type_name: str
    reason: str

    def error(self) -> InvalidArgument:
        return InvalidArgument(
            f"the request is not a valid {self.type_name} message ({self.reason}); "
            f"send a serialized {self.type_name}"
        )


def lenient_decoder(decode: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``decode`` (a message's ``FromString``), returning :class:`Undecodable` on bad bytes."""
    message = getattr(decode, "__self__", None)
    type_name = getattr(getattr(message, "DESCRIPTOR", None), "full_name", "request")

    def decoder(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError as exc:
            return Undecodable(type_name, str(exc) or "cannot be parsed")

    return decoder
