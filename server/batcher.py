"""Micro-batching: many sessions' turns answered by one forward pass, off the event loop.

:class:`MicroBatcher` is the generic part. The first item submitted under a key
opens a batch and starts a short window (``window_s``; zero means the next
event-loop tick); items submitted under the same key while it is open join it;
the batch runs when the window closes or as soon as it holds ``max_batch`` items.
It runs in an executor thread, so the event loop keeps accepting requests while
torch computes, and each submitter gets back its own row of the result.

With ``max_in_flight`` (the executor's thread count), a batcher never has more
batches running than threads to run them: while every thread is busy, new
items keep joining the open batch instead of queueing behind the running ones
as batches of one, and the open batch runs as soon as a thread frees up. Under
load, batches therefore grow to what arrived during the previous one (one
forward pass, one store transaction and one fsync for all of them), without a
longer window; an idle batcher still answers after ``window_s``.

:class:`TurnBatcher` applies it to turns: the key is (model, variant, greedy),
one ``learner.observe`` (for the rewards that arrived with the turns) and one
``learner.act`` per batch. The service also uses a :class:`MicroBatcher` with a
zero window to group store commits (``server.sessions``): turns answered by one
forward pass are committed in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import numpy as np

from game_agent.learner import Learner
from game_agent.state import AdaptationState

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the conventional name of an item type
R = TypeVar("R")


class MicroBatcher(Generic[K, I, R]):
    """Gathers items per key for a short window, then runs ``run(key, items)`` in a thread.

    ``run`` returns one result per item, in order; a result that is an exception
    is raised to that item's submitter alone, an exception raised by ``run``
    itself to every submitter of the batch.
    """

    def __init__(
        self,
        run: Callable[[K, list[I]], Sequence[R | BaseException]],
        executor: Executor,
        *,
        window_s: float,
        max_batch: int,
        on_batch: Callable[[K, int], None] | None = None,
        max_in_flight: int | None = None,
    ):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1 or None, got {max_in_flight}")
        self._run = run
        self._executor = executor
        self._window_s = window_s
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._max_in_flight = max_in_flight
        self._open: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._timers: dict[K, asyncio.Handle] = {}
        self._due: dict[K, None] = {}
        """Open batches whose window closed while every thread was busy, oldest first."""
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: I) -> R:
        """Add ``item`` to the open batch of ``key`` and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        batch = self._open.setdefault(key, [])
        batch.append((item, future))
        if len(batch) >= self._max_batch:
            self._flush(key)
        elif len(batch) == 1:
            if self._window_s > 0:
                self._timers[key] = loop.call_later(self._window_s, self._flush, key)
            else:
                self._timers[key] = loop.call_soon(self._flush, key)
        return await future

    def _busy(self) -> bool:
        return self._max_in_flight is not None and len(self._running) >= self._max_in_flight

    def _flush(self, key: K, *, force: bool = False) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        batch = self._open.get(key)
        if not batch:
            self._due.pop(key, None)
            return
        if self._busy() and not force and len(batch) < self._max_batch:
            self._due[key] = None  # keep gathering; runs when a thread frees up
            return
        del self._open[key]
        self._due.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._execute(key, batch))
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        while self._due and not self._busy():
            self._flush(next(iter(self._due)))

    async def _execute(self, key: K, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        if self._on_batch is not None:
            self._on_batch(key, len(items))
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._run, key, items)
            if len(results) != len(items):
                raise RuntimeError(f"batch of {len(items)} items returned {len(results)} results")
        except BaseException as exc:  # every submitter must hear about the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the submitter was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def drain(self) -> None:
        """Run every open batch now and wait for all running batches to finish."""
        for key in list(self._open):
            self._flush(key, force=True)
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)


class TurnKey(NamedTuple):
    """Turns that can share one forward pass: same model, same variant, same sampling mode."""

    model: str
    game: str
    greedy: bool


@dataclass(frozen=True)
class TurnInput:
    """One session's turn, as the batcher needs it."""

    state: AdaptationState
    obs: np.ndarray
    mask: np.ndarray
    reward: float | None
    """Reward since the agent's previous action, to observe before acting; None when the
    agent has not acted yet in this episode."""


@dataclass(frozen=True)
class TurnOutput:
    """One session's answer: the decision's row and the state after it."""

    action: int
    probs: np.ndarray
    value: float
    state: AdaptationState
    state_bytes: bytes


class TurnBatcher:
    """One ``observe`` + ``act`` per (model, variant, greedy) batch; see the module docstring."""

    def __init__(
        self,
        learners: dict[str, Learner],
        executor: Executor,
        *,
        window_s: float,
        max_batch: int,
        on_batch: Callable[[TurnKey, int], None] | None = None,
        max_in_flight: int | None = None,
    ):
        self._learners = learners
        self._batcher: MicroBatcher[TurnKey, TurnInput, TurnOutput] = MicroBatcher(
            self._forward,
            executor,
            window_s=window_s,
            max_batch=max_batch,
            on_batch=on_batch,
            max_in_flight=max_in_flight,
        )

    async def act(self, key: TurnKey, turn: TurnInput) -> TurnOutput:
        return await self._batcher.submit(key, turn)

    async def drain(self) -> None:
        await self._batcher.drain()

    def _forward(self, key: TurnKey, turns: list[TurnInput]) -> list[TurnOutput]:
        learner = self._learners[key.model]
        states = [turn.state for turn in turns]
        rewarded = [i for i, turn in enumerate(turns) if turn.reward is not None]
        if rewarded:
            rewards = np.array([turns[i].reward for i in rewarded], dtype=np.float32)
            observed = learner.observe(
                [states[i] for i in rewarded], rewards, np.zeros(len(rewarded), dtype=bool)
            )
            for i, state in zip(rewarded, observed, strict=True):
                states[i] = state
        obs = np.stack([turn.obs for turn in turns])
        masks = np.stack([turn.mask for turn in turns])
        decision, new_states = learner.act(states, obs, masks, greedy=key.greedy)
        actions = np.asarray(decision.actions)
        legal = masks[np.arange(len(turns)), actions]
        if not legal.all():
            bad = int(np.flatnonzero(~legal)[0])
            raise RuntimeError(
                f"learner {key.model!r} chose masked action {int(actions[bad])} for {key.game}"
            )
        return [
            TurnOutput(
                action=int(actions[i]),
                probs=np.asarray(decision.probs[i], dtype=np.float32),
                value=float(decision.values[i]),
                state=new_states[i],
                state_bytes=new_states[i].to_bytes(),
            )
            for i in range(len(turns))
        ]
