"""The AgentService servicer: protobuf in, a ``SessionManager`` call, protobuf out.

Nothing here decides anything about games or players: requests are validated
by :mod:`server.validation`, handled by :mod:`server.sessions`, answered via
:mod:`server.convert`. Every failure becomes a status code through
:func:`server.errors.status_of`: unary calls abort with it; the Play stream
answers it in-band (``PlayResponse.error``) and keeps going.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from games.registry import get_family
from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from server import convert, validation
from server.auth import Authenticator
from server.config import ServerConfig
from server.errors import InvalidArgument, status_of
from server.metrics import Metrics
from server.models import ModelRegistry
from server.profiles import AGENT_WON, DRAW, PLAYER_WON
from server.sessions import SessionManager

log = logging.getLogger(__name__)
Req = TypeVar("Req")
Resp = TypeVar("Resp")

_RESULTS = {
    pb.EPISODE_RESULT_UNSPECIFIED: None,
    pb.AGENT_WON: AGENT_WON,
    pb.PLAYER_WON: PLAYER_WON,
    pb.DRAW: DRAW,
}
_TURN_METHODS = ("Act", "EndEpisode")


def _unary(method: Callable[[Any, Req, str], Awaitable[Resp]]):
    """Resolve the caller's principal, run ``method``, count it, map failures to a status."""

    @functools.wraps(method)
    async def handler(self: AgentServicer, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        name = method.__name__
        started = time.perf_counter()
        try:
            metadata = context.invocation_metadata() if self._auth.required else None
            principal = self._auth.principal(metadata)
            response = await method(self, request, principal)
        except Exception as exc:
            code, message = status_of(exc)
            self._metrics.record_call(name, code.name)
            await context.abort(code, message)
        self._metrics.record_call(name, "OK")
        if name in _TURN_METHODS:
            self._metrics.observe_turn(name, time.perf_counter() - started)
        return response

    return handler


class AgentServicer(pb_grpc.AgentServiceServicer):
    """Implements every RPC of ``game_agent.v1.AgentService``."""

    def __init__(
        self,
        config: ServerConfig,
        models: ModelRegistry,
        sessions: SessionManager,
        auth: Authenticator,
        metrics: Metrics,
    ):
        self._config = config
        self._models = models
        self._sessions = sessions
        self._auth = auth
        self._metrics = metrics
        self._idle_streams: set[asyncio.Task[Any]] = set()
        sessions.on_draining(self._cancel_idle_streams)

    # ---------------------------------------------------------------- discovery

    @_unary
    async def GetServerInfo(
        self, request: pb.GetServerInfoRequest, principal: str
    ) -> pb.ServerInfo:
        validation.protocol_version(request.client_protocol_version)
        if request.client_name:
            log.info("client connected", extra={"client": request.client_name[:100]})
        return pb.ServerInfo(
            protocol_version=validation.PROTOCOL_VERSION,
            min_client_protocol_version=validation.MIN_CLIENT_PROTOCOL_VERSION,
            server_version=convert.package_version(),
            capabilities=list(convert.CAPABILITIES),
            max_request_bytes=self._config.max_request_bytes,
            requires_api_key=self._auth.required,
        )

    @_unary
    async def ListGames(self, request: pb.ListGamesRequest, principal: str) -> pb.ListGamesResponse:
        if request.family:
            validation.family_name(request.family)
        families = [
            convert.family(get_family(model.family), model)
            for model in self._models
            if not request.family or model.family == request.family
        ]
        return pb.ListGamesResponse(families=families)

    # ---------------------------------------------------------------- sessions

    @_unary
    async def StartSession(self, request: pb.StartSessionRequest, principal: str) -> pb.Session:
        player = validation.player_id(request.player_id)
        spec = validation.game(request.game)
        seat = validation.agent_seat(request.agent_seat, spec)
        options = request.options
        settings = validation.session_options(
            options.greedy,
            options.seed,
            options.idle_timeout_seconds,
            options.ignore_profile,
            self._config,
        )
        view = await self._sessions.start_session(principal, player, spec, seat, settings)
        return convert.session(view)

    @_unary
    async def ResumeSession(self, request: pb.ResumeSessionRequest, principal: str) -> pb.Session:
        session_id = validation.session_id(request.session_id)
        player = validation.player_id(request.player_id)
        return convert.session(await self._sessions.resume_session(principal, session_id, player))

    @_unary
    async def EndSession(
        self, request: pb.EndSessionRequest, principal: str
    ) -> pb.EndSessionResponse:
        session_id = validation.session_id(request.session_id)
        profile = await self._sessions.end_session(principal, session_id)
        return pb.EndSessionResponse(profile=convert.profile(profile))

    # ---------------------------------------------------------------- turns

    @_unary
    async def Act(self, request: pb.ActRequest, principal: str) -> pb.ActResponse:
        return await self._act(request, principal)

    @_unary
    async def EndEpisode(
        self, request: pb.EndEpisodeRequest, principal: str
    ) -> pb.EndEpisodeResponse:
        return await self._end_episode(request, principal)

    async def _act(self, request: pb.ActRequest, principal: str) -> pb.ActResponse:
        session_id = validation.session_id(request.session_id)
        turn = validation.turn_number(request.turn)
        spec = await self._sessions.session_spec(principal, session_id)
        obs = validation.observation(request.observation.shape, request.observation.values, spec)
        mask = validation.action_mask(request.action_mask, spec)
        reward = validation.reward(request.reward)
        result = await self._sessions.act(principal, session_id, turn, obs, mask, reward)
        return pb.ActResponse(
            turn=result.turn,
            action=result.action,
            action_probabilities=list(result.probs),
            value=result.value,
            replayed=result.replayed,
        )

    async def _end_episode(
        self, request: pb.EndEpisodeRequest, principal: str
    ) -> pb.EndEpisodeResponse:
        session_id = validation.session_id(request.session_id)
        turn = validation.turn_number(request.turn)
        final_reward = validation.reward(request.final_reward, "final_reward")
        if request.result not in _RESULTS:
            raise InvalidArgument(
                f"result {request.result} is not an EpisodeResult; use AGENT_WON, PLAYER_WON, "
                "DRAW or leave it unset to infer it from the rewards"
            )
        end = await self._sessions.end_episode(
            principal, session_id, turn, final_reward, _RESULTS[request.result]
        )
        return pb.EndEpisodeResponse(
            turn=end.turn, replayed=end.replayed, profile=convert.profile(end.profile)
        )

    async def Play(
        self, request_iterator: AsyncIterator[pb.PlayRequest], context: grpc.aio.ServicerContext
    ) -> None:
        principal = self._auth.principal(context.invocation_metadata())
        while True:
            request = await self._next_request(context)
            if request is grpc.aio.EOF:
                return
            await context.write(await self._play_one(request, principal))

    async def _next_request(self, context: grpc.aio.ServicerContext) -> Any:
        """The stream's next request; UNAVAILABLE if shutdown begins while waiting for it.

        Between requests a stream is registered as idle, and the start of draining cancels
        idle streams' reads: the engine is told to move now instead of holding the stream
        open until the grace period runs out (a turn in progress is never interrupted).
        """
        if self._sessions.draining:
            await self._refuse_stream(context)
        task = asyncio.current_task()
        assert task is not None
        self._idle_streams.add(task)
        try:
            return await context.read()
        except asyncio.CancelledError:
            if self._sessions.draining and task.cancelling() <= 1:
                task.uncancel()
                await self._refuse_stream(context)
            raise
        finally:
            self._idle_streams.discard(task)

    async def _refuse_stream(self, context: grpc.aio.ServicerContext) -> None:
        self._metrics.record_call("Play", grpc.StatusCode.UNAVAILABLE.name)
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            "the server is shutting down; reconnect (to another replica) and "
            "continue with ResumeSession",
        )

    def _cancel_idle_streams(self) -> None:
        for task in list(self._idle_streams):
            task.cancel()

    async def _play_one(self, request: pb.PlayRequest, principal: str) -> pb.PlayResponse:
        if isinstance(request, validation.Undecodable):
            code, message = status_of(request.error())
            self._metrics.record_call("Play", code.name)
            return pb.PlayResponse(error=pb.Error(code=code.value[0], message=message))
        kind = request.WhichOneof("request")
        name = {"act": "Act", "end_episode": "EndEpisode"}.get(kind or "", "Play")
        started = time.perf_counter()
        try:
            if kind == "act":
                response = pb.PlayResponse(act=await self._act(request.act, principal))
            elif kind == "end_episode":
                end = await self._end_episode(request.end_episode, principal)
                response = pb.PlayResponse(end_episode=end)
            else:
                raise InvalidArgument("PlayRequest sets neither act nor end_episode")
        except Exception as exc:
            code, message = status_of(exc)
            self._metrics.record_call(name, code.name)
            turn = request.act.turn if kind == "act" else request.end_episode.turn
            return pb.PlayResponse(error=pb.Error(code=code.value[0], message=message, turn=turn))
        self._metrics.record_call(name, "OK")
        self._metrics.observe_turn(name, time.perf_counter() - started)
        return response

    # ---------------------------------------------------------------- profiles

    @_unary
    async def GetProfile(self, request: pb.GetProfileRequest, principal: str) -> pb.PlayerProfile:
        player = validation.player_id(request.player_id)
        return convert.profile(await self._sessions.get_profile(principal, player))

    @_unary
    async def DeleteProfile(
        self, request: pb.DeleteProfileRequest, principal: str
    ) -> pb.DeleteProfileResponse:
        player = validation.player_id(request.player_id)
        deleted, ended = await self._sessions.delete_profile(principal, player)
        return pb.DeleteProfileResponse(deleted=deleted, sessions_ended=ended)
