"""The load generator of the serving benchmark, in its own process.

:class:`LoadWorker` starts a child process (``multiprocessing``, spawn) that
holds one ``grpc.aio`` channel to a loopback target and answers commands sent
down a pipe:

- ``run``: N sessions play concurrently, each a closed loop (a turn is sent
  only after the previous one was answered), for a bounded time and a bounded
  number of turns; returns turn latencies and throughput (:class:`LoadResult`);
- ``hold``: start sessions and play one turn in each, keeping them live;
  ``touch`` plays one more turn in every held session; ``release`` ends them;
- ``profiles``: players who each play one episode and end their session, so
  only their profile (and the agent's memory of them) remains.

Sessions play real positions: each is fed the agent seat's observations and
action masks from games played out at random with the family's kernel, with
an ``EndEpisode`` at each game's end. Requests are built the same way for the
real server and the floor (:mod:`benchmarks.serve_floor`), which has no
sessions: there the session ids are made-up strings of the same length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODES = ("unary", "stream")
CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LoadPlan:
    """One measurement: who plays what, how many at once, for how long."""

    game: str
    """Spec string of the variant every session plays."""
    mode: str
    """``unary`` (one Act call per turn) or ``stream`` (turns over one Play stream each)."""
    concurrency: int
    """Sessions playing at once, each a closed loop."""
    seconds: float
    """Measured time; the run stops at this deadline or at ``max_turns``."""
    max_turns: int
    """Bound on measured turns over all sessions."""
    warmup_s: float = 0.5
    """Played before measuring starts (channel, batches and caches warm up); not counted."""
    sessions: bool = True
    """Start real sessions (the agent server); False for the floor."""
    player_prefix: str = "bench"
    seat: int = 0


@dataclass(frozen=True)
class LoadResult:
    """What one :class:`LoadPlan` measured, from the client's side."""

    turns: int
    """Act turns answered inside the measured window."""
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    """Failed calls by gRPC status code name (in-band stream errors included)."""

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class HoldResult:
    """Outcome of a ``hold``, ``touch``, ``release`` or ``profiles`` command."""

    done: int
    """Sessions (or players) for which every call succeeded."""
    seconds: float
    errors: dict[str, int] = field(default_factory=dict)


def trajectories(game: str, seat: int, games: int, seed: int) -> list[list[tuple[Any, list]]]:
    """``games`` random games of ``game`` seen from ``seat``: per game, the agent's
    (observation tensor, action mask) at each of its turns."""
    from games import make_kernel, parse_spec
    from games.opponents.base import random_legal
    from protos.game_agent.v1 import agent_pb2 as pb

    spec = parse_spec(game)
    kernel = make_kernel(spec)
    rng = np.random.default_rng(seed)
    step = kernel.reset(games, seed=seed)
    played: list[list[tuple[Any, list]]] = [[] for _ in range(games)]
    finished = np.zeros(games, dtype=bool)
    while not finished.all():
        for g in np.flatnonzero(~finished & step.acting[:, seat]):
            obs = step.obs[g, seat]
            tensor = pb.Tensor(shape=list(obs.shape), values=obs.ravel().tolist())
            played[g].append((tensor, step.action_mask[g, seat].tolist()))
        masks = step.action_mask.reshape(games * spec.num_agents, spec.num_actions)
        actions = random_legal(masks, rng).reshape(games, spec.num_agents)
        step = kernel.step(actions)
        finished |= step.done
    return [turns for turns in played if turns]


class _Recorder:
    """Turn latencies of calls that started inside the measured window."""

    def __init__(self, plan: LoadPlan):
        now = time.perf_counter()
        self.start = now + plan.warmup_s
        self.deadline = self.start + plan.seconds
        self.max_turns = plan.max_turns
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def running(self) -> bool:
        return time.perf_counter() < self.deadline and len(self.latencies) < self.max_turns

    def record(self, started: float, ended: float) -> None:
        if started >= self.start:
            self.latencies.append(ended - started)

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def result(self) -> LoadResult:
        window = min(time.perf_counter(), self.deadline) - self.start
        ms = np.asarray(self.latencies) * 1e3
        p50, p99 = (float(np.percentile(ms, q)) for q in (50, 99)) if ms.size else (0.0, 0.0)
        return LoadResult(len(self.latencies), max(window, 0.0), p50, p99, dict(self.errors))


class _Driver:
    """The child process's side: one channel, the held sessions, one coroutine per command."""

    def __init__(self, target: str):
        import grpc

        from protos.game_agent.v1 import agent_pb2 as pb
        from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc

        self.grpc, self.pb = grpc, pb
        self.channel = grpc.aio.insecure_channel(target)
        self.stub = pb_grpc.AgentServiceStub(self.channel)
        self.held: list[tuple[str, int]] = []  # (session id, next turn)
        self.held_game = ""
        self.episodes: dict[str, list[list[tuple[Any, list]]]] = {}

    def _episodes(self, game: str, seat: int) -> list[list[tuple[Any, list]]]:
        if game not in self.episodes:
            self.episodes[game] = trajectories(game, seat, games=32, seed=0)
        return self.episodes[game]

    def _act(self, session_id: str, turn: int, position: tuple[Any, list]) -> Any:
        tensor, mask = position
        return self.pb.ActRequest(
            session_id=session_id, turn=turn, observation=tensor, action_mask=mask, reward=0.0
        )

    def _end(self, session_id: str, turn: int) -> Any:
        return self.pb.EndEpisodeRequest(session_id=session_id, turn=turn, final_reward=0.0)

    async def _start(self, player: str, game: str, seat: int) -> str:
        request = self.pb.StartSessionRequest(player_id=player, game=game, agent_seat=seat)
        session = await self.stub.StartSession(request, timeout=CALL_TIMEOUT_S)
        return session.session_id

    async def _guard(self, errors: dict[str, int], call: Awaitable[Any]) -> Any:
        try:
            return await call
        except self.grpc.aio.AioRpcError as exc:
            code = exc.code().name
            errors[code] = errors.get(code, 0) + 1
            return None

    # ---------------------------------------------------------------- run

    async def run(self, plan: LoadPlan) -> LoadResult:
        episodes = self._episodes(plan.game, plan.seat)
        errors: dict[str, int] = {}
        if plan.sessions:
            ids = await self._bounded(
                plan.concurrency,
                [
                    lambda i=i: self._start(f"{plan.player_prefix}-{i}", plan.game, plan.seat)
                    for i in range(plan.concurrency)
                ],
                errors,
            )
        else:
            ids = [f"s_floor{i:017d}" for i in range(plan.concurrency)]
        ids = [i for i in ids if i is not None]
        recorder = _Recorder(plan)
        recorder.errors.update(errors)
        play = self._play_unary if plan.mode == "unary" else self._play_stream
        await asyncio.gather(
            *(play(sid, episodes, k, recorder) for k, sid in enumerate(ids)),
        )
        result = recorder.result()
        if plan.sessions:
            await self._end_sessions(ids, 64, result.errors)
        return result

    async def _play_unary(
        self, session_id: str, episodes: list, offset: int, recorder: _Recorder
    ) -> None:
        turn = 1
        for e in range(offset, offset + 1_000_000):
            for position in episodes[e % len(episodes)]:
                if not recorder.running():
                    return
                started = time.perf_counter()
                reply = await self._guard(
                    recorder.errors,
                    self.stub.Act(self._act(session_id, turn, position), timeout=CALL_TIMEOUT_S),
                )
                if reply is None:
                    return
                recorder.record(started, time.perf_counter())
                turn += 1
            if await self._guard(
                recorder.errors, self.stub.EndEpisode(self._end(session_id, turn))
            ):
                turn += 1
            else:
                return

    async def _play_stream(
        self, session_id: str, episodes: list, offset: int, recorder: _Recorder
    ) -> None:
        call = self.stub.Play(timeout=3600)
        turn = 1
        try:
            for e in range(offset, offset + 1_000_000):
                for position in episodes[e % len(episodes)]:
                    if not recorder.running():
                        return
                    started = time.perf_counter()
                    await call.write(self.pb.PlayRequest(act=self._act(session_id, turn, position)))
                    reply = await call.read()
                    if reply.WhichOneof("response") != "act":
                        recorder.error(_stream_error(self.grpc, reply))
                        return
                    recorder.record(started, time.perf_counter())
                    turn += 1
                await call.write(self.pb.PlayRequest(end_episode=self._end(session_id, turn)))
                reply = await call.read()
                if reply.WhichOneof("response") != "end_episode":
                    recorder.error(_stream_error(self.grpc, reply))
                    return
                turn += 1
        except self.grpc.aio.AioRpcError as exc:
            recorder.error(exc.code().name)
        finally:
            await call.done_writing()
            await call.code()

    async def _bounded(
        self, limit: int, calls: list[Callable[[], Awaitable[Any]]], errors: dict[str, int]
    ) -> list[Any]:
        """Run the calls with at most ``limit`` in flight; None where one failed."""
        gate = asyncio.Semaphore(limit)

        async def one(call: Callable[[], Awaitable[Any]]) -> Any:
            async with gate:
                return await self._guard(errors, call())

        return await asyncio.gather(*(one(call) for call in calls))

    # ---------------------------------------------------------------- hold

    async def hold(self, game: str, count: int, prefix: str, concurrency: int) -> HoldResult:
        """Start ``count`` more sessions, one turn each, and keep them live."""
        started, errors = time.perf_counter(), {}
        episodes = self._episodes(game, 0)
        self.held_game = game

        async def one(i: int) -> tuple[str, int] | None:
            session_id = await self._guard(errors, self._start(f"{prefix}-{i}", game, 0))
            if session_id is None:
                return None
            act = self._act(session_id, 1, episodes[i % len(episodes)][0])
            reply = await self._guard(errors, self.stub.Act(act, timeout=CALL_TIMEOUT_S))
            return None if reply is None else (session_id, 2)

        base = len(self.held)
        results = await self._bounded(
            concurrency, [lambda i=i: one(base + i) for i in range(count)], errors
        )
        fresh = [r for r in results if r is not None]
        self.held.extend(fresh)
        return HoldResult(len(fresh), time.perf_counter() - started, errors)

    async def touch(self, concurrency: int) -> HoldResult:
        """One more turn in every held session (all of them must still be live)."""
        started, errors = time.perf_counter(), {}
        episodes = self._episodes(self.held_game, 0)

        async def one(k: int) -> bool:
            session_id, turn = self.held[k]
            position = episodes[k % len(episodes)][min(1, len(episodes[k % len(episodes)]) - 1)]
            reply = await self._guard(
                errors, self.stub.Act(self._act(session_id, turn, position), timeout=CALL_TIMEOUT_S)
            )
            if reply is None:
                return False
            self.held[k] = (session_id, turn + 1)
            return True

        results = await self._bounded(
            concurrency, [lambda k=k: one(k) for k in range(len(self.held))], errors
        )
        return HoldResult(sum(results), time.perf_counter() - started, errors)

    async def release(self, concurrency: int) -> HoldResult:
        started, errors = time.perf_counter(), {}
        ended = await self._end_sessions([sid for sid, _ in self.held], concurrency, errors)
        self.held = []
        return HoldResult(ended, time.perf_counter() - started, errors)

    async def _end_sessions(self, ids: list[str], concurrency: int, errors: dict[str, int]) -> int:
        replies = await self._bounded(
            concurrency,
            [
                lambda sid=sid: self.stub.EndSession(
                    self.pb.EndSessionRequest(session_id=sid), timeout=CALL_TIMEOUT_S
                )
                for sid in ids
            ],
            errors,
        )
        return sum(1 for reply in replies if reply is not None)

    async def profiles(
        self, game: str, count: int, prefix: str, concurrency: int, turns: int = 2
    ) -> HoldResult:
        """``count`` players each play ``turns`` turns, end the episode and the session."""
        started, errors = time.perf_counter(), {}
        episodes = self._episodes(game, 0)

        async def one(i: int) -> bool:
            session_id = await self._guard(errors, self._start(f"{prefix}-{i}", game, 0))
            if session_id is None:
                return False
            turn = 1
            for position in episodes[i % len(episodes)][:turns]:
                act = self._act(session_id, turn, position)
                if await self._guard(errors, self.stub.Act(act, timeout=CALL_TIMEOUT_S)) is None:
                    return False
                turn += 1
            end = self.stub.EndEpisode(self._end(session_id, turn), timeout=CALL_TIMEOUT_S)
            if await self._guard(errors, end) is None:
                return False
            request = self.pb.EndSessionRequest(session_id=session_id)
            closed = self.stub.EndSession(request, timeout=CALL_TIMEOUT_S)
            return await self._guard(errors, closed) is not None

        results = await self._bounded(
            concurrency, [lambda i=i: one(i) for i in range(count)], errors
        )
        return HoldResult(sum(results), time.perf_counter() - started, errors)


def _stream_error(grpc: Any, reply: Any) -> str:
    if reply.WhichOneof("response") == "error":
        return grpc.StatusCode(_code_tuple(grpc, reply.error.code)).name
    return "UNEXPECTED_REPLY"


def _code_tuple(grpc: Any, number: int) -> Any:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.value
    return grpc.StatusCode.UNKNOWN.value


def _worker_main(target: str, conn: Any, cpus: tuple[int, ...]) -> None:
    """Child-process entry: execute commands from ``conn`` until ``stop`` (or EOF), on
    ``cpus`` when given."""
    logging.basicConfig(level=logging.WARNING)
    if cpus:
        from server.placement import pin_process

        pin_process(cpus)

    async def loop() -> None:
        driver = _Driver(target)
        try:
            while True:
                try:
                    command, kwargs = await asyncio.to_thread(conn.recv)
                except EOFError:
                    return
                if command == "stop":
                    return
                try:
                    conn.send(("ok", await getattr(driver, command)(**kwargs)))
                except Exception as exc:  # the parent reports it; the worker stays usable
                    log.exception("load command %s failed", command)
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            await driver.channel.close()

    asyncio.run(loop())


class LoadWorker:
    """The parent's handle on the load-generator process; see the module docstring."""

    def __init__(self, target: str, cpus: tuple[int, ...] = ()):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_worker_main, args=(target, child, cpus), name="serve-bench-load", daemon=True
        )
        self._process.start()
        child.close()

    def call(self, command: str, timeout_s: float = 900.0, **kwargs: Any) -> Any:
        """Run one command in the worker and return its result (raise on a worker failure)."""
        self._conn.send((command, kwargs))
        if not self._conn.poll(timeout_s):
            self.close()
            raise TimeoutError(f"the load generator did not finish {command} in {timeout_s:g} s")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"the load generator failed in {command}: {value}")
        return value

    def run(self, plan: LoadPlan) -> LoadResult:
        bound = plan.warmup_s + plan.seconds + 120.0
        return self.call("run", timeout_s=bound, plan=plan)

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # the worker may have died already
                self._conn.send(("stop", {}))
            self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)
        self._conn.close()

    def __enter__(self) -> LoadWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
