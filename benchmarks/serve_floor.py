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

Two diagnostic variants answer the same calls with more behind them:

- **handoff** (:class:`Handoff`): the argmax replies are made on a worker thread
  and handed back the way the agent's turn engine does it.
- **model** (:class:`ModelReplies`): each ``Act`` runs the served model's own
  batch-1 forward pass, the very object the agent answers one player with: the
  child is sent each checkpoint's path and variant (strings), loads and
  accelerates it as the server does (:func:`game_agent.inference.accelerate`)
  and keeps the compiled graph's ``single``: numpy's
  :class:`~game_agent.vector_forward.VectorForward` for a vector network, the
  onnxruntime batch-1 session for a board one. It is fed a fresh player (zero
  hidden state, no previous action, reward or episode end) and the reply is its
  greedy action, probabilities and value. No sessions, no state carried between
  turns, no validation beyond finding the model: what the model alone adds to the
  floor. Models are found by the number of observation values; a request matching
  none is refused with INVALID_ARGUMENT (in-band on ``Play``, as the agent does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import signal
import threading
from collections.abc import Sequence
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


class Refused(ValueError):
    """A request the model floor has no model for (answered INVALID_ARGUMENT)."""


ServedModel = tuple[str, str]
"""A checkpoint directory and the game variant it is served for: all the model floor's
child is sent of a model (plain strings, so nothing of ours is pickled)."""

REPLY_OUTPUTS = ["greedy_action", "action_probs", "value"]
"""The forward pass's outputs a model-floor reply is made of (``game_agent.export``'s names)."""


class ModelForward:
    """One served model's batch-1 forward pass, fed a fresh player's recurrent inputs.

    Built as the server builds it (``load``, then ``accelerate`` for the variant), in
    this process, so the floor runs whatever the agent answers one player with, numpy
    or onnxruntime, and follows the agent when that changes."""

    def __init__(self, checkpoint: str, game: str):
        from game_agent import load
        from game_agent.inference import AcceleratedLearner, accelerate
        from games import parse_spec

        spec = parse_spec(game)
        agent = accelerate(load(checkpoint, safety=False), [spec])
        if not isinstance(agent, AcceleratedLearner):
            raise ValueError(f"the agent serves {checkpoint} with torch: no forward pass to run")
        self.forward = agent.graph(spec).single
        self.obs_shape = (1, *spec.obs_shape)
        self.size = math.prod(self.obs_shape)
        self.actions = spec.num_actions
        self.fresh = fresh_player(agent.policy.memory_size) if agent.recurrent else {}

    def reply(self, request: pb.ActRequest, values: np.ndarray) -> pb.ActResponse:
        mask = np.asarray(request.action_mask, dtype=np.float32)
        if mask.shape[0] != self.actions:
            raise Refused(
                f"action_mask has {mask.shape[0]} entries; the model takes {self.actions}"
            )
        feed = {"observation": values.reshape(self.obs_shape), "action_mask": mask[None]}
        action, probs, value = self.forward.run(REPLY_OUTPUTS, {**feed, **self.fresh})
        return pb.ActResponse(
            turn=request.turn,
            action=int(action[0]),
            action_probabilities=probs[0].tolist(),
            value=float(value[0]),
        )


def fresh_player(hidden_size: int) -> dict[str, np.ndarray]:
    """A new player's recurrent inputs (the export sidecar's ``recurrent.initial``)."""
    return {
        "hidden_state": np.zeros((1, hidden_size), dtype=np.float32),
        "prev_action": np.full(1, -1, dtype=np.int64),
        "prev_reward": np.zeros(1, dtype=np.float32),
        "prev_done": np.zeros(1, dtype=np.float32),
    }


class ModelReplies:
    """The model floor's decision: the model for the request's number of observation values."""

    def __init__(self, models: Sequence[ServedModel]):
        built = [ModelForward(checkpoint, game) for checkpoint, game in models]
        self._models = {model.size: model for model in built}
        if len(self._models) < len(built):
            raise ValueError("two served models take the same number of observation values")

    def reply(self, request: pb.ActRequest) -> pb.ActResponse:
        values = np.asarray(request.observation.values, dtype=np.float32)
        model = self._models.get(values.shape[0])
        if model is None:
            raise Refused(
                f"no served model takes {values.shape[0]} observation values "
                f"(they take {sorted(self._models)})"
            )
        return model.reply(request, values)


class FloorServicer(pb_grpc.AgentServiceServicer):
    """``Act``, ``EndEpisode`` and ``Play`` without any state; the rest is unimplemented.

    With ``handoff``, each ``Act`` reply is made by a worker thread instead, handed over
    and back the way the agent's turn engine does it (a queue in, every waiting request
    per round, one loop wake-up per round): the floor plus the agent's thread hand-offs.
    With ``models`` (checkpoint directories and their variants), each reply is
    :class:`ModelReplies`' instead: the floor plus the model's forward pass.
    """

    def __init__(self, handoff: bool = False, models: Sequence[ServedModel] = ()):
        if handoff and models:
            raise ValueError("the floor is either the hand-off floor or the model floor")
        self._handoff = Handoff() if handoff else None
        self._model = ModelReplies(models) if models else None

    async def _reply(self, request: pb.ActRequest) -> pb.ActResponse:
        if self._model is not None:
            return self._model.reply(request)
        if self._handoff is None:
            return argmax_reply(request)
        return await self._handoff.reply(request)

    async def Act(self, request: pb.ActRequest, context: grpc.aio.ServicerContext):
        try:
            return await self._reply(request)
        except Refused as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def EndEpisode(self, request: pb.EndEpisodeRequest, context: grpc.aio.ServicerContext):
        return pb.EndEpisodeResponse(turn=request.turn)

    async def Play(self, request_iterator, context: grpc.aio.ServicerContext):
        async for request in request_iterator:
            if request.WhichOneof("request") != "act":
                yield pb.PlayResponse(
                    end_episode=pb.EndEpisodeResponse(turn=request.end_episode.turn)
                )
                continue
            try:
                reply = pb.PlayResponse(act=await self._reply(request.act))
            except Refused as exc:
                reply = pb.PlayResponse(error=refusal(request.act, exc))
            yield reply


def refusal(request: pb.ActRequest, exc: Refused) -> pb.Error:
    """``exc`` as the in-band INVALID_ARGUMENT error the agent answers on ``Play``."""
    code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
    return pb.Error(code=code, message=str(exc), turn=request.turn)


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


async def _serve(conn: Connection, handoff: bool, models: Sequence[ServedModel]) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AgentServiceServicer_to_server(FloorServicer(handoff, models), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    conn.send(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(conn.fileno(), stop.set)  # the parent closed its end, or said stop
    await stop.wait()
    await server.stop(0)


def run_floor(
    conn: Connection,
    cpus: tuple[int, ...] = (),
    handoff: bool = False,
    models: Sequence[ServedModel] = (),
) -> None:
    """Child-process entry: serve on a free loopback port, send it down ``conn``, serve until
    SIGTERM or until the parent writes to (or closes) ``conn``; on ``cpus`` when given, as
    the agent server is (``ServerConfig.cpus``); ``handoff`` and ``models`` as in
    :class:`FloorServicer`."""
    if cpus:
        pin_process(cpus)
    asyncio.run(_serve(conn, handoff, models))
