"""The Python SDK: ask a game-agent server for moves, turn by turn, from any game loop.

    from clients.sdk import AgentClient

    with AgentClient("localhost:50051", api_key="...") as client:
        print([family.name for family in client.list_games()])
        with client.session("alice", "connect_n(rows=6,cols=7,k=4,gravity=true)", seat=1) as s:
            turn = s.act(observation, action_mask, reward=0.0)   # numpy in
            turn.action, turn.probabilities, turn.value         # plain values out
            s.end_episode(final_reward=1.0)                     # drives adaptation

The session numbers the turns. A turn whose connection drops (``UNAVAILABLE``)
is re-sent with the same number, a bounded number of times with backoff; the
server answers a repeated number from its stored reply, so a retry never moves
the agent twice. ``streaming=True`` sends the turns over one ``Play`` stream
instead of one call each. :class:`AsyncAgentClient` is the asyncio twin, and
:class:`clients.opponent.ServedOpponent` drops the agent into a PettingZoo loop.

Errors are the typed exceptions of :mod:`clients.errors`. The SDK needs only
grpc, numpy and the generated stubs: never torch.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Sequence
from typing import Any

import grpc

from clients.aio import AsyncAgentClient, AsyncAgentSession
from clients.errors import (
    AgentError,
    FailedPrecondition,
    RpcError,
    SessionClosedError,
    Unavailable,
    after_attempts,
    error_for_number,
    from_rpc_error,
)
from clients.handshake import (
    CLIENT_NAME,
    call_metadata,
    check_compatible,
    check_player_id,
    incompatible_from,
    server_info_request,
    start_session_request,
)
from clients.retry import RetryPolicy, TlsConfig, channel_credentials
from clients.types import (
    EpisodeEnd,
    EpisodeResult,
    GameFamily,
    PlayerProfile,
    ServerInfo,
    SessionInfo,
    TurnResult,
    act_request,
    end_episode_request,
    episode_end_from_proto,
    family_from_proto,
    profile_from_proto,
    server_info_from_proto,
    session_from_proto,
    split_observation,
    turn_from_proto,
    unwrap_play,
)
from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1.agent_pb2_grpc import AgentServiceStub

log = logging.getLogger(__name__)

__all__ = [
    "AgentClient",
    "AgentSession",
    "AsyncAgentClient",
    "AsyncAgentSession",
    "RetryPolicy",
    "TlsConfig",
]


class AgentClient:
    """A blocking connection to one game-agent server; use it as a context manager."""

    def __init__(
        self,
        address: str,
        api_key: str | None = None,
        tls: bool | TlsConfig | None = None,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        client_name: str = CLIENT_NAME,
        interceptors: Sequence[Any] = (),
        channel_options: Sequence[tuple[str, Any]] = (),
    ):
        self.address = address
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.server_info: ServerInfo | None = None
        self._metadata = call_metadata(api_key)
        self._credentials = channel_credentials(tls)
        self._client_name = client_name
        self._interceptors = tuple(interceptors)
        self._options = tuple(channel_options)
        self._channel: grpc.Channel | None = None
        self._stub: AgentServiceStub | None = None

    def connect(self) -> ServerInfo:
        """Open the channel and check the server speaks this client's protocol."""
        if self._channel is None:
            if self._credentials is None:
                channel = grpc.insecure_channel(self.address, options=self._options)
            else:
                channel = grpc.secure_channel(self.address, self._credentials, self._options)
            self._channel = channel
            self._stub = AgentServiceStub(grpc.intercept_channel(channel, *self._interceptors))
        try:
            reply = self.call("GetServerInfo", server_info_request(self._client_name))
            info = server_info_from_proto(reply)
            check_compatible(info, self.address)
        except FailedPrecondition as exc:
            self.close()
            raise incompatible_from(exc, self.address) from None
        except AgentError:
            self.close()
            raise
        self.server_info = info
        return info

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = None

    def __enter__(self) -> AgentClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_games(self, family: str | None = None) -> list[GameFamily]:
        """The families and variants served (only ``family`` when given)."""
        reply = self.call("ListGames", pb.ListGamesRequest(family=family or ""))
        return [family_from_proto(f) for f in reply.families]

    def session(
        self,
        player_id: str,
        game: Any,
        seat: int = 1,
        *,
        greedy: bool = False,
        seed: int = 0,
        idle_timeout_s: int = 0,
        ignore_profile: bool = False,
        streaming: bool = False,
    ) -> AgentSession:
        """Start a session in which the agent plays ``seat`` of ``game`` against ``player_id``.

        ``game`` is a spec string (or a ``games.GameSpec``); ``seat`` is the
        *agent's* seat (by default 1: the player moves first). ``greedy`` plays the
        most probable move; otherwise moves are sampled, and a nonzero ``seed`` makes
        them reproducible: the same seed, model, starting memory (a new player, or
        ``ignore_profile``) and moves of yours give the same moves of the agent.
        """
        request = start_session_request(
            player_id,
            game,
            seat,
            greedy=greedy,
            seed=seed,
            idle_timeout_s=idle_timeout_s,
            ignore_profile=ignore_profile,
        )
        # Not retried: a lost reply would leave a second, orphaned session behind.
        info = session_from_proto(self.call("StartSession", request, retry=False))
        return AgentSession(self, info, streaming)

    def resume_session(
        self, session_id: str, player_id: str, *, streaming: bool = False
    ) -> AgentSession:
        """Pick up a session after a disconnect or restart, at the turn the server expects."""
        info = self._resume(session_id, player_id)
        return AgentSession(self, info, streaming)

    def profile(self, player_id: str) -> PlayerProfile:
        """What the agent has learned about a player, and their record."""
        check_player_id(player_id)
        return profile_from_proto(
            self.call("GetProfile", pb.GetProfileRequest(player_id=player_id))
        )

    def delete_profile(self, player_id: str) -> bool:
        """Forget a player entirely; False when there was no such player."""
        check_player_id(player_id)
        request = pb.DeleteProfileRequest(player_id=player_id)
        return self.call("DeleteProfile", request, retry=False).deleted

    def call(self, method: str, request: Any, *, retry: bool = True) -> Any:
        """One unary RPC with metadata, timeout, retries and typed errors."""
        if self._stub is None:
            raise AgentError(f"the client for {self.address} is not connected; call connect()")
        rpc = getattr(self._stub, method)
        delays = self.retry.delays() if retry else iter(())
        attempt = 1
        while True:
            try:
                return rpc(request, metadata=self._metadata, timeout=self.timeout_s)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = next(delays, None) if self.retry.should_retry(error.code) else None
                if delay is None:
                    raise after_attempts(error, attempt, self.address) from exc
            log.info(
                "%s to %s failed (%s); attempt %d in %.2fs",
                method,
                self.address,
                error.code.name,
                attempt + 1,
                delay,
            )
            time.sleep(delay)
            attempt += 1

    def _resume(self, session_id: str, player_id: str) -> SessionInfo:
        check_player_id(player_id)
        request = pb.ResumeSessionRequest(session_id=session_id, player_id=player_id)
        return session_from_proto(self.call("ResumeSession", request))

    def _open_play(self, requests: Any) -> Any:
        if self._stub is None:
            raise AgentError(f"the client for {self.address} is not connected; call connect()")
        return self._stub.Play(requests, metadata=self._metadata)


class AgentSession:
    """One player's session with the agent; it numbers the turns for you.

    Every ``act`` and ``end_episode`` consumes one turn number once the server
    has answered it; a refused call (bad input) consumes none.
    """

    def __init__(self, client: AgentClient, info: SessionInfo, streaming: bool = False):
        self.info = info
        self._client = client
        self._next_turn = info.next_turn
        self._turns: _UnaryTurns | _StreamTurns = (
            _StreamTurns(client) if streaming else _UnaryTurns(client)
        )
        self._closed = False

    @property
    def session_id(self) -> str:
        return self.info.session_id

    @property
    def player_id(self) -> str:
        return self.info.player_id

    @property
    def next_turn(self) -> int:
        """The turn number the next ``act`` or ``end_episode`` will carry."""
        return self._next_turn

    @property
    def streaming(self) -> bool:
        return isinstance(self._turns, _StreamTurns)

    def act(self, observation: Any, action_mask: Any = None, reward: float = 0.0) -> TurnResult:
        """The agent's move for its observation (a numpy array, or a PettingZoo obs dict).

        ``reward`` is what the agent received since its previous turn (0 on an
        episode's first turn).
        """
        self._check_open()
        obs, mask = split_observation(observation, action_mask)
        request = act_request(self.session_id, self._next_turn, obs, mask, reward)
        result = turn_from_proto(self._turns.act(request))
        self._next_turn = request.turn + 1
        return result

    def end_episode(
        self, final_reward: float = 0.0, result: EpisodeResult | int | None = None
    ) -> EpisodeEnd:
        """Close the episode: ``final_reward`` since the agent's last turn, and how it ended.

        ``result`` is an :class:`EpisodeResult`, or an int from the agent's side
        (+1 agent won, -1 player won, 0 draw), or None to let the server infer it.
        """
        self._check_open()
        request = end_episode_request(self.session_id, self._next_turn, final_reward, result)
        ended = episode_end_from_proto(self._turns.end_episode(request))
        self._next_turn = request.turn + 1
        return ended

    def profile(self) -> PlayerProfile:
        return self._client.profile(self.player_id)

    def resume(self) -> SessionInfo:
        """Re-synchronise with the server (after a restart): its next expected turn wins."""
        self.info = self._client._resume(self.session_id, self.player_id)
        self._next_turn = self.info.next_turn
        self._turns.reset()
        self._closed = False
        return self.info

    def close(self) -> PlayerProfile | None:
        """End the session on the server (the profile is kept); None if already closed."""
        if self._closed:
            return None
        self._closed = True
        self._turns.close()
        request = pb.EndSessionRequest(session_id=self.session_id)
        return profile_from_proto(self._client.call("EndSession", request, retry=False).profile)

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.close()
        except AgentError:
            if exc_type is None:
                raise
            log.warning("could not end session %s while handling an error", self.session_id)

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(f"session {self.session_id} is closed; start or resume one")


class _UnaryTurns:
    """Turns as one unary call each (the default)."""

    def __init__(self, client: AgentClient):
        self._client = client

    def act(self, request: pb.ActRequest) -> pb.ActResponse:
        return self._client.call("Act", request)

    def end_episode(self, request: pb.EndEpisodeRequest) -> pb.EndEpisodeResponse:
        return self._client.call("EndEpisode", request)

    def reset(self) -> None:
        """Nothing is kept between calls."""

    def close(self) -> None:
        """Nothing to release."""


_END_OF_REQUESTS = None


class _StreamTurns:
    """Turns over one ``Play`` stream, reopened (and the turn re-sent) when it drops."""

    def __init__(self, client: AgentClient):
        self._client = client
        self._requests: queue.SimpleQueue | None = None
        self._responses: Any = None

    def act(self, request: pb.ActRequest) -> pb.ActResponse:
        return self._exchange(pb.PlayRequest(act=request), "act")

    def end_episode(self, request: pb.EndEpisodeRequest) -> pb.EndEpisodeResponse:
        return self._exchange(pb.PlayRequest(end_episode=request), "end_episode")

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        if self._requests is not None:
            self._requests.put(_END_OF_REQUESTS)
            self._responses.cancel()
        self._requests = self._responses = None

    def _exchange(self, request: pb.PlayRequest, kind: str) -> Any:
        retry = self._client.retry
        delays = retry.delays()
        attempt = 1
        while True:
            outcome = self._attempt(request)
            if not isinstance(outcome, RpcError):
                return unwrap_play(outcome, kind)
            delay = next(delays, None) if retry.should_retry(outcome.code) else None
            if delay is None:
                raise after_attempts(outcome, attempt, self._client.address)
            log.info(
                "Play stream to %s dropped (%s); attempt %d in %.2fs",
                self._client.address,
                outcome.code.name,
                attempt + 1,
                delay,
            )
            time.sleep(delay)
            attempt += 1

    def _attempt(self, request: pb.PlayRequest) -> pb.PlayResponse | RpcError:
        """One send-and-receive; a broken stream is closed and returned as an error."""
        if self._requests is None:
            self._requests = queue.SimpleQueue()
            self._responses = self._client._open_play(iter(self._requests.get, _END_OF_REQUESTS))
        self._requests.put(request)
        try:
            response = next(self._responses)
        except grpc.RpcError as exc:
            self.close()
            return from_rpc_error(exc)
        except StopIteration:
            self.close()
            return Unavailable("the server closed the Play stream")
        if response.WhichOneof("response") == "error":
            return error_for_number(response.error.code, response.error.message)
        return response
