"""The floor of the serving benchmark: the same contract with nothing behind it.

A bare ``grpc.aio`` server for ``game_agent.v1.AgentService`` whose ``Act``
answers with the argmax of the observation (among the legal actions) and a
one-hot probability vector: the same request and reply sizes as the agent,
but no sessions, no validation, no model and no store. ``EndEpisode`` and the
``Play`` stream answer the same way, so a load generator drives it with
exactly the calls it sends the real server. Whatever the real server costs
beyond this floor is what sessions, batching, the model and durability cost.

It runs in a child process (:func:`run_floor`), like the real server, so both
pay for their own interpreter and neither shares a core with the load
generator's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import signal
import threading
from multiprocessing.connection import Connection

import grpc
import numpy as np

from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from server.placement import pin_process

log = logging.getLogger(__name__)


def argmax_reply(request: pb.ActRequest) -> pb.ActResponse:
    """The floor's whole decision: the legal action with the largest observation value."""
    values = np.asarray(request.observation.values, dtype=np.float32)
    mask = np.asarray(request.action_mask, dtype=bool)
    scores = np.full(mask.shape[0], -np.inf, dtype=np.float32)
    usable = min(values.shape[0], mask.shape[0])
    scores[:usable] = values[:usable]
    scores[~mask] = -np.inf
    action = int(np.argmax(scores)) if mask.any() else 0
    probs = np.zeros(mask.shape[0], dtype=np.float32)
    probs[action] = 1.0
    return pb.ActResponse(
        turn=request.turn, action=action, action_probabilities=probs.tolist(), value=0.0
    )


class FloorServicer(pb_grpc.AgentServiceServicer):
    """``Act``, ``EndEpisode`` and ``Play`` without any state; the rest is unimplemented.

    With ``handoff``, each ``Act`` reply is made by a worker thread instead, handed over
    and back the way the agent's turn engine does it (a queue in, every waiting request
    per round, one loop wake-up per round): the floor plus the agent's thread hand-offs.
    """

    def __init__(self, handoff: bool = False):
        self._handoff = Handoff() if handoff else None

    async def _reply(self, request: pb.ActRequest) -> pb.ActResponse:
        if self._handoff is None:
            return argmax_reply(request)
        return await self._handoff.reply(request)

    async def Act(self, request: pb.ActRequest, context: grpc.aio.ServicerContext):
        return await self._reply(request)

    async def EndEpisode(self, request: pb.EndEpisodeRequest, context: grpc.aio.ServicerContext):
        return pb.EndEpisodeResponse(turn=request.turn)

    async def Play(self, request_iterator, context: grpc.aio.ServicerContext):
        async for request in request_iterator:
            if request.WhichOneof("request") == "act":
                yield pb.PlayResponse(act=await self._reply(request.act))
            else:
                yield pb.PlayResponse(
                    end_episode=pb.EndEpisodeResponse(turn=request.end_episode.turn)
                )


class Handoff:
    """A worker thread answering ``argmax_reply`` for requests queued from the event loop."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[asyncio.Future, pb.ActRequest]] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def reply(self, request: pb.ActRequest) -> pb.ActResponse:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            threading.Thread(target=self._work, name="floor-handoff", daemon=True).start()
        future = self._loop.create_future()
        self._queue.put((future, request))
        return await future

    def _work(self) -> None:
        assert self._loop is not None
        while True:
            jobs = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    jobs.append(self._queue.get_nowait())
            replies = [(future, argmax_reply(request)) for future, request in jobs]
            self._loop.call_soon_threadsafe(_deliver, replies)


def _deliver(replies: list[tuple[asyncio.Future, pb.ActResponse]]) -> None:
    for future, reply in replies:
        if not future.done():
            future.set_result(reply)


async def _serve(conn: Connection, handoff: bool) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AgentServiceServicer_to_server(FloorServicer(handoff), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    conn.send(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(conn.fileno(), stop.set)  # the parent closed its end, or said stop
    await stop.wait()
    await server.stop(0)


def run_floor(conn: Connection, cpus: tuple[int, ...] = (), handoff: bool = False) -> None:
    """Child-process entry: serve on a free loopback port, send it down ``conn``, serve until
    SIGTERM or until the parent writes to (or closes) ``conn``; on ``cpus`` when given, as
    the agent server is (``ServerConfig.cpus``); ``handoff`` as in :class:`FloorServicer`."""
    if cpus:
        pin_process(cpus)
    asyncio.run(_serve(conn, handoff))
