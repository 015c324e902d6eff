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
import logging
import signal
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
    """``Act``, ``EndEpisode`` and ``Play`` without any state; the rest is unimplemented."""

    async def Act(self, request: pb.ActRequest, context: grpc.aio.ServicerContext):
        return argmax_reply(request)

    async def EndEpisode(self, request: pb.EndEpisodeRequest, context: grpc.aio.ServicerContext):
        return pb.EndEpisodeResponse(turn=request.turn)

    async def Play(self, request_iterator, context: grpc.aio.ServicerContext):
        async for request in request_iterator:
            if request.WhichOneof("request") == "act":
                yield pb.PlayResponse(act=argmax_reply(request.act))
            else:
                yield pb.PlayResponse(
                    end_episode=pb.EndEpisodeResponse(turn=request.end_episode.turn)
                )


async def _serve(conn: Connection) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AgentServiceServicer_to_server(FloorServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    conn.send(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(conn.fileno(), stop.set)  # the parent closed its end, or said stop
    await stop.wait()
    await server.stop(0)


def run_floor(conn: Connection, cpus: tuple[int, ...] = ()) -> None:
    """Child-process entry: serve on a free loopback port, send it down ``conn``, serve until
    SIGTERM or until the parent writes to (or closes) ``conn``; on ``cpus`` when given, as
    the agent server is (``ServerConfig.cpus``)."""
    if cpus:
        pin_process(cpus)
    asyncio.run(_serve(conn))
