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
  batch-1 forward pass, the very ONNX graph the agent serves (traced in the
  parent by :func:`served_graph`, sent to the child as bytes) in a session built
  as the agent builds its batch-1 one, for a fresh player (zero hidden state, no
  previous action, reward or episode end), and replies with the graph's greedy
  action, probabilities and value. No sessions, no state carried between turns,
  no validation beyond finding the graph: what the model alone adds to the floor.
  Graphs are found by the number of observation values; a request matching none
  is refused with INVALID_ARGUMENT (in-band on ``Play``, as the agent does).
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
from pathlib import Path

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
    """A request the model floor has no graph for (answered INVALID_ARGUMENT)."""


def served_graph(checkpoint: Path, game: str) -> bytes:
    """The ONNX graph the agent serves for ``game`` from ``checkpoint``: the learner as
    ``game_agent.load`` gives it, traced as :mod:`game_agent.inference` traces it. Called in
    the benchmark's process: the floor only opens sessions on the bytes (its import of
    ``game_agent.inference``, for the agent's session settings, loads torch but runs none)."""
    from game_agent import load
    from game_agent.export import ExportedPolicy, trace_graph
    from games import parse_spec

    learner = load(checkpoint, safety=False)
    spec = parse_spec(game)
    learner.layout.check(spec)
    return trace_graph(ExportedPolicy(learner.policy, spec), spec)


REPLY_OUTPUTS = ["greedy_action", "action_probs", "value"]
"""The graph outputs a model-floor reply is made of (``game_agent.export``'s names)."""


class ModelGraph:
    """One served graph in a batch-1 session, fed a fresh player's recurrent inputs."""

    def __init__(self, model: bytes):
        from game_agent.inference import new_session

        self.session = new_session(model, batch=1)
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        self.obs_shape = (1, *inputs["observation"][1:])
        self.size = math.prod(self.obs_shape)
        self.actions = int(inputs["action_mask"][1])
        self.fresh = fresh_player(inputs["hidden_state"][1]) if "hidden_state" in inputs else {}

    def reply(self, request: pb.ActRequest, values: np.ndarray) -> pb.ActResponse:
        mask = np.asarray(request.action_mask, dtype=np.float32)
        if mask.shape[0] != self.actions:
            raise Refused(
                f"action_mask has {mask.shape[0]} entries; the graph takes {self.actions}"
            )
        feed = {"observation": values.reshape(self.obs_shape), "action_mask": mask[None]}
        action, probs, value = self.session.run(REPLY_OUTPUTS, {**feed, **self.fresh})
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
    """The model floor's decision: the graph for the request's number of observation values."""

    def __init__(self, graphs: Sequence[bytes]):
        compiled = [ModelGraph(model) for model in graphs]
        self._graphs = {graph.size: graph for graph in compiled}
        if len(self._graphs) < len(compiled):
            raise ValueError("two served graphs take the same number of observation values")

    def reply(self, request: pb.ActRequest) -> pb.ActResponse:
        values = np.asarray(request.observation.values, dtype=np.float32)
        graph = self._graphs.get(values.shape[0])
        if graph is None:
            raise Refused(
                f"no served graph takes {values.shape[0]} observation values "
                f"(they take {sorted(self._graphs)})"
            )
        return graph.reply(request, values)


class FloorServicer(pb_grpc.AgentServiceServicer):
    """``Act``, ``EndEpisode`` and ``Play`` without any state; the rest is unimplemented.

    With ``handoff``, each ``Act`` reply is made by a worker thread instead, handed over
    and back the way the agent's turn engine does it (a queue in, every waiting request
    per round, one loop wake-up per round): the floor plus the agent's thread hand-offs.
    With ``graphs`` (serialised ONNX models), each reply is :class:`ModelReplies`' instead:
    the floor plus the model's forward pass.
    """

    def __init__(self, handoff: bool = False, graphs: Sequence[bytes] = ()):
        if handoff and graphs:
            raise ValueError("the floor is either the hand-off floor or the model floor")
        self._handoff = Handoff() if handoff else None
        self._model = ModelReplies(graphs) if graphs else None

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


async def _serve(conn: Connection, handoff: bool, graphs: Sequence[bytes]) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AgentServiceServicer_to_server(FloorServicer(handoff, graphs), server)
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
    graphs: Sequence[bytes] = (),
) -> None:
    """Child-process entry: serve on a free loopback port, send it down ``conn``, serve until
    SIGTERM or until the parent writes to (or closes) ``conn``; on ``cpus`` when given, as
    the agent server is (``ServerConfig.cpus``); ``handoff`` and ``graphs`` as in
    :class:`FloorServicer`."""
    if cpus:
        pin_process(cpus)
    asyncio.run(_serve(conn, handoff, graphs))
