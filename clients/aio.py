"""The asyncio twin of :mod:`clients.sdk`, over ``grpc.aio``, for async game backends.

    async with AsyncAgentClient("localhost:50051") as client:
        session = await client.session("alice", "matrix(name=rps,rounds=20)", seat=1)
        turn = await session.act(observation, action_mask)
        await session.end_episode(final_reward=1.0)
        await session.close()

Same turn numbering, retries, errors and optional ``Play`` streaming as the
blocking client; every call is awaited instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import grpc
import grpc.aio

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


class AsyncAgentClient:
    """An asyncio connection to one game-agent server; use ``async with``."""

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
        self._channel: grpc.aio.Channel | None = None
        self._stub: AgentServiceStub | None = None

    async def connect(self) -> ServerInfo:
        """Open the channel and check the server speaks this client's protocol."""
        if self._channel is None:
            kwargs = {"options": self._options, "interceptors": self._interceptors or None}
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.address, **kwargs)
            else:
                self._channel = grpc.aio.secure_channel(self.address, self._credentials, **kwargs)
            self._stub = AgentServiceStub(self._channel)
        try:
            reply = await self.call("GetServerInfo", server_info_request(self._client_name))
            info = server_info_from_proto(reply)
            check_compatible(info, self.address)
        except FailedPrecondition as exc:
            await self.close()
            raise incompatible_from(exc, self.address) from None
        except AgentError:
            await self.close()
            raise
        self.server_info = info
        return info

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._stub = None

    async def __aenter__(self) -> AsyncAgentClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def list_games(self, family: str | None = None) -> list[GameFamily]:
        reply = await self.call("ListGames", pb.ListGamesRequest(family=family or ""))
        return [family_from_proto(f) for f in reply.families]

    async def session(
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
    ) -> AsyncAgentSession:
        """Start a session; ``seat`` is the agent's seat (see ``AgentClient.session``)."""
        request = start_session_request(
            player_id,
            game,
            seat,
            greedy=greedy,
            seed=seed,
            idle_timeout_s=idle_timeout_s,
            ignore_profile=ignore_profile,
        )
        info = session_from_proto(await self.call("StartSession", request, retry=False))
        return AsyncAgentSession(self, info, streaming)

    async def resume_session(
        self, session_id: str, player_id: str, *, streaming: bool = False
    ) -> AsyncAgentSession:
        return AsyncAgentSession(self, await self._resume(session_id, player_id), streaming)

    async def profile(self, player_id: str) -> PlayerProfile:
        check_player_id(player_id)
        reply = await self.call("GetProfile", pb.GetProfileRequest(player_id=player_id))
        return profile_from_proto(reply)

    async def delete_profile(self, player_id: str) -> bool:
        check_player_id(player_id)
        request = pb.DeleteProfileRequest(player_id=player_id)
        return (await self.call("DeleteProfile", request, retry=False)).deleted

    async def call(self, method: str, request: Any, *, retry: bool = True) -> Any:
        """One unary RPC with metadata, timeout, retries and typed errors."""
        if self._stub is None:
            raise AgentError(f"the client for {self.address} is not connected; call connect()")
        rpc = getattr(self._stub, method)
        delays = self.retry.delays() if retry else iter(())
        attempt = 1
        while True:
            try:
                return await rpc(request, metadata=self._metadata, timeout=self.timeout_s)
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
            await asyncio.sleep(delay)
            attempt += 1

    async def _resume(self, session_id: str, player_id: str) -> SessionInfo:
        check_player_id(player_id)
        request = pb.ResumeSessionRequest(session_id=session_id, player_id=player_id)
        return session_from_proto(await self.call("ResumeSession", request))

    def _open_play(self) -> Any:
        if self._stub is None:
            raise AgentError(f"the client for {self.address} is not connected; call connect()")
        return self._stub.Play(metadata=self._metadata)


class AsyncAgentSession:
    """One player's session, awaited; it numbers the turns (see ``AgentSession``)."""

    def __init__(self, client: AsyncAgentClient, info: SessionInfo, streaming: bool = False):
        self.info = info
        self._client = client
        self._next_turn = info.next_turn
        self._turns: _AsyncUnaryTurns | _AsyncStreamTurns = (
            _AsyncStreamTurns(client) if streaming else _AsyncUnaryTurns(client)
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
        return self._next_turn

    async def act(
        self, observation: Any, action_mask: Any = None, reward: float = 0.0
    ) -> TurnResult:
        self._check_open()
        obs, mask = split_observation(observation, action_mask)
        request = act_request(self.session_id, self._next_turn, obs, mask, reward)
        result = turn_from_proto(await self._turns.act(request))
        self._next_turn = request.turn + 1
        return result

    async def end_episode(
        self, final_reward: float = 0.0, result: EpisodeResult | int | None = None
    ) -> EpisodeEnd:
        self._check_open()
        request = end_episode_request(self.session_id, self._next_turn, final_reward, result)
        ended = episode_end_from_proto(await self._turns.end_episode(request))
        self._next_turn = request.turn + 1
        return ended

    async def profile(self) -> PlayerProfile:
        return await self._client.profile(self.player_id)

    async def resume(self) -> SessionInfo:
        self.info = await self._client._resume(self.session_id, self.player_id)
        self._next_turn = self.info.next_turn
        self._turns.close()
        self._closed = False
        return self.info

    async def close(self) -> PlayerProfile | None:
        if self._closed:
            return None
        self._closed = True
        self._turns.close()
        request = pb.EndSessionRequest(session_id=self.session_id)
        reply = await self._client.call("EndSession", request, retry=False)
        return profile_from_proto(reply.profile)

    async def __aenter__(self) -> AsyncAgentSession:
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        try:
            await self.close()
        except AgentError:
            if exc_type is None:
                raise
            log.warning("could not end session %s while handling an error", self.session_id)

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(f"session {self.session_id} is closed; start or resume one")


class _AsyncUnaryTurns:
    def __init__(self, client: AsyncAgentClient):
        self._client = client

    async def act(self, request: pb.ActRequest) -> pb.ActResponse:
        return await self._client.call("Act", request)

    async def end_episode(self, request: pb.EndEpisodeRequest) -> pb.EndEpisodeResponse:
        return await self._client.call("EndEpisode", request)

    def close(self) -> None:
        """Nothing to release."""


class _AsyncStreamTurns:
    """Turns over one ``Play`` stream, reopened (and the turn re-sent) when it drops."""

    def __init__(self, client: AsyncAgentClient):
        self._client = client
        self._call: Any = None

    async def act(self, request: pb.ActRequest) -> pb.ActResponse:
        return await self._exchange(pb.PlayRequest(act=request), "act")

    async def end_episode(self, request: pb.EndEpisodeRequest) -> pb.EndEpisodeResponse:
        return await self._exchange(pb.PlayRequest(end_episode=request), "end_episode")

    def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        self._call = None

    async def _exchange(self, request: pb.PlayRequest, kind: str) -> Any:
        retry = self._client.retry
        delays = retry.delays()
        attempt = 1
        while True:
            outcome = await self._attempt(request)
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
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(self, request: pb.PlayRequest) -> pb.PlayResponse | RpcError:
        if self._call is None:
            self._call = self._client._open_play()
        try:
            await self._call.write(request)
            response = await self._call.read()
        except grpc.RpcError as exc:
            self.close()
            return from_rpc_error(exc)
        if response is grpc.aio.EOF:
            self.close()
            return Unavailable("the server closed the Play stream")
        if response.WhichOneof("response") == "error":
            return error_for_number(response.error.code, response.error.message)
        return response
