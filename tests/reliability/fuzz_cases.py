"""Hypothesis strategies for malformed and adversarial requests, each with the status it must get.

Every :class:`Case` is wrong in at least one way that the contract (``agent.proto``)
assigns a status code to, and in no way that could succeed: a case never starts a
session, advances one, ends one or deletes a profile. The expected code follows the
order in which the server checks a request: API key, protocol header, bytes that are
no message, then the fields (``server.validation``), then the session (ownership,
ended, turn sequence).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from hypothesis import assume
from hypothesis import strategies as st

from games.registry import list_families
from protos.game_agent.v1 import agent_pb2 as pb

KEY_A = "fuzz-key-a-0123456789"
KEY_B = "fuzz-key-b-0123456789"
MATRIX = "matrix(name=rps)"
OBS_SIZE, ACTIONS = 81, 5
MAX_REQUEST_BYTES = 1 << 20
SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PLAYER_ID_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
INVALID, NOT_FOUND, FAILED, DENIED, UNAUTHENTICATED, EXHAUSTED = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)
REQUEST_TYPES = {
    "GetServerInfo": pb.GetServerInfoRequest,
    "ListGames": pb.ListGamesRequest,
    "StartSession": pb.StartSessionRequest,
    "ResumeSession": pb.ResumeSessionRequest,
    "EndSession": pb.EndSessionRequest,
    "Act": pb.ActRequest,
    "EndEpisode": pb.EndEpisodeRequest,
    "GetProfile": pb.GetProfileRequest,
    "DeleteProfile": pb.DeleteProfileRequest,
}


@dataclass(frozen=True)
class Case:
    """One request, how to send it, and the status code it must be answered with."""

    kind: str
    """What is wrong with it (for the failure message and the tally)."""
    method: str
    request: Any
    """A request message, or raw bytes sent through a generic (non-decoding) call."""
    expected: grpc.StatusCode
    key: str | None = KEY_A
    protocol: str | None = None
    """Value of the ``x-game-agent-protocol`` metadata entry, when sent."""


@dataclass(frozen=True)
class Targets:
    """Real ids for the cases to aim at (principal A owns them all)."""

    session_id: str
    """A live session that has answered ``next_turn - 1`` turns."""
    next_turn: int
    player_id: str
    ended_session_id: str
    known_ids: frozenset[str]
    """Every session and player id in use, so made-up ones never hit a real one."""


def _obs(values: list[float] | None = None, shape: list[int] | None = None) -> pb.Tensor:
    return pb.Tensor(
        shape=[OBS_SIZE] if shape is None else shape,
        values=[0.0] * OBS_SIZE if values is None else values,
    )


def _act(t: Targets, **fields: Any) -> pb.ActRequest:
    base: dict[str, Any] = {
        "session_id": t.session_id,
        "turn": t.next_turn,
        "observation": _obs(),
        "action_mask": [True] * ACTIONS,
        "reward": 0.0,
    }
    return pb.ActRequest(**{**base, **fields})


def _with(values: list[float], index: int, value: float) -> list[float]:
    values = list(values)
    values[index] = value
    return values


NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
OUT_OF_RANGE = st.floats(1.001, 1e30).flatmap(lambda v: st.sampled_from([v, -v]))
INDEX = st.integers(0, OBS_SIZE - 1)
METADATA_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1)


def act_cases(t: Targets) -> st.SearchStrategy[Case]:
    zeros = [0.0] * OBS_SIZE
    out_of_order = st.one_of(st.integers(t.next_turn + 1, 2**62), st.integers(1, t.next_turn - 2))
    bad_shape = st.lists(st.integers(-5, 2**40), max_size=4).filter(lambda s: s != [OBS_SIZE])
    return st.one_of(
        bad_shape.map(
            lambda s: Case("obs shape", "Act", _act(t, observation=_obs(shape=s)), INVALID)
        ),
        st.integers(0, 400)
        .filter(lambda n: n != OBS_SIZE)
        .map(lambda n: Case("obs size", "Act", _act(t, observation=_obs([0.5] * n)), INVALID)),
        st.tuples(INDEX, NON_FINITE).map(
            lambda iv: Case(
                "obs NaN/inf", "Act", _act(t, observation=_obs(_with(zeros, *iv))), INVALID
            )
        ),
        st.tuples(INDEX, OUT_OF_RANGE).map(
            lambda iv: Case(
                "obs range", "Act", _act(t, observation=_obs(_with(zeros, *iv))), INVALID
            )
        ),
        st.lists(st.booleans(), max_size=40)
        .filter(lambda m: len(m) != ACTIONS)
        .map(lambda m: Case("mask size", "Act", _act(t, action_mask=m), INVALID)),
        st.just(Case("mask empty", "Act", _act(t, action_mask=[False] * ACTIONS), INVALID)),
        NON_FINITE.map(lambda r: Case("reward", "Act", _act(t, reward=r), INVALID)),
        st.integers(-(2**63), 0).map(lambda n: Case("turn <= 0", "Act", _act(t, turn=n), INVALID)),
        out_of_order.map(lambda n: Case("turn order", "Act", _act(t, turn=n), FAILED)),
        st.integers(1, 2**40).map(
            lambda n: Case(
                "ended session", "Act", _act(t, session_id=t.ended_session_id, turn=n), FAILED
            )
        ),
        st.integers(MAX_REQUEST_BYTES // 4 + 100, MAX_REQUEST_BYTES // 3).map(
            lambda n: Case(
                "huge tensor", "Act", _act(t, observation=_obs([0.0] * n, [n])), EXHAUSTED
            )
        ),
        st.just(Case("other principal", "Act", _act(t), DENIED, key=KEY_B)),
    )


def id_cases(t: Targets) -> st.SearchStrategy[Case]:
    unknown = st.from_regex(SESSION_ID_RE, fullmatch=True).filter(lambda s: s not in t.known_ids)
    malformed = st.one_of(
        st.just(""),
        st.text(min_size=1, max_size=80).filter(lambda s: not SESSION_ID_RE.fullmatch(s)),
        st.text("ab_-9", min_size=65, max_size=200),
    )
    bad_player = st.text(max_size=200).filter(lambda s: not PLAYER_ID_RE.fullmatch(s))
    other_player = st.from_regex(PLAYER_ID_RE, fullmatch=True).filter(
        lambda p: p not in t.known_ids
    )
    return st.one_of(
        unknown.map(lambda s: Case("unknown session", "Act", _act(t, session_id=s), NOT_FOUND)),
        malformed.map(lambda s: Case("bad session id", "Act", _act(t, session_id=s), INVALID)),
        unknown.map(
            lambda s: Case(
                "unknown session", "EndSession", pb.EndSessionRequest(session_id=s), NOT_FOUND
            )
        ),
        st.just(
            Case(
                "ended twice",
                "EndSession",
                pb.EndSessionRequest(session_id=t.ended_session_id),
                FAILED,
            )
        ),
        st.just(
            Case(
                "other principal",
                "EndSession",
                pb.EndSessionRequest(session_id=t.session_id),
                DENIED,
                key=KEY_B,
            )
        ),
        other_player.map(
            lambda p: Case(
                "other player",
                "ResumeSession",
                pb.ResumeSessionRequest(session_id=t.session_id, player_id=p),
                DENIED,
            )
        ),
        st.just(
            Case(
                "other principal",
                "ResumeSession",
                pb.ResumeSessionRequest(session_id=t.session_id, player_id=t.player_id),
                DENIED,
                key=KEY_B,
            )
        ),
        other_player.map(
            lambda p: Case(
                "unknown player", "GetProfile", pb.GetProfileRequest(player_id=p), NOT_FOUND
            )
        ),
        bad_player.map(
            lambda p: Case(
                "bad player id", "GetProfile", pb.GetProfileRequest(player_id=p), INVALID
            )
        ),
        st.sampled_from(["GetProfile", "DeleteProfile"]).map(
            lambda m: Case(
                "other principal", m, REQUEST_TYPES[m](player_id=t.player_id), DENIED, key=KEY_B
            )
        ),
    )


def _end(t: Targets, **fields: Any) -> pb.EndEpisodeRequest:
    base = {"session_id": t.session_id, "turn": t.next_turn, "final_reward": 0.0}
    return pb.EndEpisodeRequest(**{**base, **fields})


def episode_cases(t: Targets) -> st.SearchStrategy[Case]:
    wrong_turn = st.integers(1, 2**62).filter(lambda n: n not in (t.next_turn, t.next_turn - 1))
    return st.one_of(
        st.one_of(st.integers(4, 2**31 - 1), st.integers(-(2**31), -1)).map(
            lambda r: Case("result enum", "EndEpisode", _end(t, result=r), INVALID)
        ),
        NON_FINITE.map(
            lambda r: Case("final reward", "EndEpisode", _end(t, final_reward=r), INVALID)
        ),
        wrong_turn.map(lambda n: Case("turn order", "EndEpisode", _end(t, turn=n), FAILED)),
        st.just(Case("retry as other call", "EndEpisode", _end(t, turn=t.next_turn - 1), FAILED)),
    )


BAD_SPECS = [
    "matrix(name=zzz)",
    "matrix(rounds=-3)",
    "matrix(nope=1)",
    "matrix(rounds=abc)",
    "matrix(",
    "(rounds=3)",
    "   ",
]


def start_cases(t: Targets) -> st.SearchStrategy[Case]:
    families = set(list_families())
    unknown_family = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True).filter(
        lambda f: f not in families
    )
    bad_player = st.text(max_size=200).filter(lambda s: not PLAYER_ID_RE.fullmatch(s))

    def start(kind: str, expected: grpc.StatusCode, **fields: Any) -> Case:
        base: dict[str, Any] = {"player_id": "fuzz-new", "game": MATRIX, "agent_seat": 0}
        return Case(kind, "StartSession", pb.StartSessionRequest(**{**base, **fields}), expected)

    return st.one_of(
        bad_player.map(lambda p: start("bad player id", INVALID, player_id=p)),
        unknown_family.map(lambda f: start("unknown family", NOT_FOUND, game=f + "(x=1)")),
        st.just(start("family not served", NOT_FOUND, game="connect_n(rows=4,cols=4,k=3)")),
        st.sampled_from(BAD_SPECS).map(lambda g: start("bad spec", INVALID, game=g)),
        st.one_of(st.integers(2, 2**31 - 1), st.integers(-(2**31), -1)).map(
            lambda s: start("seat", INVALID, agent_seat=s)
        ),
        st.integers(-(2**31), -1).map(
            lambda s: start(
                "idle timeout", INVALID, options=pb.SessionOptions(idle_timeout_seconds=s)
            )
        ),
    )


def header_cases(t: Targets) -> st.SearchStrategy[Case]:
    methods = st.sampled_from(sorted(REQUEST_TYPES))
    wrong_key = METADATA_TEXT.filter(lambda k: k not in (KEY_A, KEY_B))
    bad_version = st.integers(-(2**40), 2**40).filter(lambda v: v not in (0, 1))
    return st.one_of(
        methods.map(lambda m: Case("no key", m, _plausible(m, t), UNAUTHENTICATED, key=None)),
        st.tuples(methods, wrong_key).map(
            lambda mk: Case("wrong key", mk[0], _plausible(mk[0], t), UNAUTHENTICATED, key=mk[1])
        ),
        st.tuples(methods, bad_version).map(
            lambda mv: Case("protocol", mv[0], _plausible(mv[0], t), FAILED, protocol=str(mv[1]))
        ),
        st.text("abcdefghijklmnopqrstuvwxyz", min_size=1).map(
            lambda v: Case("protocol text", "ListGames", pb.ListGamesRequest(), INVALID, protocol=v)
        ),
        bad_version.map(
            lambda v: Case(
                "client version",
                "GetServerInfo",
                pb.GetServerInfoRequest(client_protocol_version=max(min(v, 2**31 - 1), -(2**31))),
                FAILED,
            )
        ),
        st.text(max_size=30)
        .filter(lambda f: f and f not in list_families())
        .map(
            lambda f: Case("unknown family", "ListGames", pb.ListGamesRequest(family=f), NOT_FOUND)
        ),
    )


def _plausible(method: str, t: Targets) -> Any:
    """A request that would be worth answering if the headers were right."""
    if method == "Act":
        return _act(t)
    if method == "EndEpisode":
        return _end(t)
    if method in ("ResumeSession", "EndSession"):
        fields = {"session_id": t.session_id}
        if method == "ResumeSession":
            fields["player_id"] = t.player_id
        return REQUEST_TYPES[method](**fields)
    if method in ("GetProfile", "DeleteProfile"):
        return REQUEST_TYPES[method](player_id=t.player_id)
    if method == "StartSession":
        return pb.StartSessionRequest(player_id="fuzz-new", game=MATRIX)
    return REQUEST_TYPES[method]()


def _decodes(method: str, data: bytes) -> bool:
    try:
        REQUEST_TYPES[method].FromString(data)
    except DecodeError:
        return False
    return True


def garbage_cases(t: Targets) -> st.SearchStrategy[Case]:
    """Raw bytes that no request type decodes: a field-number-0 tag, or a message cut short."""
    methods = st.sampled_from(sorted(REQUEST_TYPES))

    @st.composite
    def garbage(draw: Any) -> Case:
        method = draw(methods)
        if draw(st.booleans()):
            data = bytes([draw(st.integers(0, 7))]) + draw(st.binary(max_size=300))
        else:
            whole = _plausible(method, t).SerializeToString() + b"\x0a\x40" + b"x" * 64
            data = whole[: draw(st.integers(1, len(whole) - 1))]
        assume(not _decodes(method, data))
        return Case("garbage bytes", method, data, INVALID, key=draw(st.sampled_from([KEY_A])))

    return garbage()


def all_cases(t: Targets) -> st.SearchStrategy[Case]:
    return st.one_of(
        act_cases(t),
        id_cases(t),
        episode_cases(t),
        start_cases(t),
        header_cases(t),
        garbage_cases(t),
    )
