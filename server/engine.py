"""The turn engine: each batch of turns is computed and committed by one worker thread.

A turn's work is a forward pass, the serialisation of the new state and a
durable commit. The engine does all three in a worker thread and hands the
results back to the event loop in *one* callback per batch, so a turn costs
the loop one queue ``put`` and one wake-up, whatever the load (a lone session's
turn can skip both; see below).

Batching needs no fixed timer. Workers take every job waiting in the queue (up to
``max_batch``) when they become free: at low load a turn runs the moment it
arrives, and under load the turns that arrived during the previous batch share
the next forward pass (one ``game_agent.learner.observe_and_act`` per (model,
variant, greedy) key) and one store transaction. ``window_s`` > 0 makes
a worker wait that long for company after the first job (a throughput knob for
machines where a forward pass of one costs nearly as much as one of many).

``crowd_window_s`` > 0 waits only when company is coming: while several
sessions are playing (two submissions in a row came from different sessions
within the last ``crowd_recent_s``), a worker keeps taking turns after the first until
none arrives for ``crowd_gap_s`` or ``crowd_window_s`` has passed. A lone
session never waits. This matters for unary calls: grpc.aio accepts one new
call per event-loop iteration, so without it a busy worker takes turns one or
two at a time and each pays a whole forward pass and commit (BENCHMARKS.md).

``inline_lone`` runs a lone session's turn on the event loop itself: when a job
arrives with nothing pending (no worker busy, the queue empty) and no crowd (the
test above), ``submit`` schedules it with ``call_soon`` instead of queueing it,
and that callback runs the same batch of one and delivers it. The turn skips the
two thread hand-offs (the worker's wake-up, then the loop's), which on a server
pinned to one core are a large part of a small turn. Only a lone session: the
loop runs nothing else meanwhile, and grpc.aio accepts one call per loop
iteration, so running every batch on the loop shrank batches at 64 sessions
(BENCHMARKS.md, Fourth round: p50 at one session 7-14% lower, unary throughput
at 64 sessions 12-25% lower). A job submitted before the scheduled one ran
finds something pending: the scheduled job moves to the queue ahead of it and
the two go to the workers together, keeping the engine's first-in, first-out
order. The workers start on the first job queued, so a lone session never
starts a thread.

A :class:`Job` optionally carries a turn for the forward pass, and always a
``finish`` that runs after it, on the same thread (it turns the forward pass's
row into the record to commit), and a ``deliver`` that runs on the event loop
with the commit's outcome. Jobs that only commit (an episode's end) ride in the same
transaction as the turns of their batch.

Thread safety: stores lock internally (``server.stores``), learners are only
read by forward passes, and jobs of one session never overlap because the
session holds its lock until ``deliver`` ran (``server.sessions``). That lock
also keeps one session's jobs in order whether they run on the loop or in a
worker: its next job is submitted only after the previous one was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from game_agent.learner import Learner, first_illegal, observe_and_act
from game_agent.state import AdaptationState
from server.stores.base import Commit, CommitStatus

log = logging.getLogger(__name__)


class TurnKey(NamedTuple):
    """Turns that can share one forward pass: same model, same variant, same sampling mode."""

    model: str
    game: str
    greedy: bool


@dataclass(frozen=True)
class TurnInput:
    """One session's turn, as the forward pass needs it."""

    state: AdaptationState
    obs: np.ndarray
    mask: np.ndarray
    reward: float | None
    """Reward since the agent's previous action, to observe before acting; None when the
    agent has not acted yet in this episode."""
    draw: float
    """The uniform in [0, 1) a sampled action is chosen by (``Learner.act``'s ``draws``)."""


@dataclass(frozen=True)
class TurnOutput:
    """One session's answer: the decision's row and the state after it."""

    action: int
    probs: np.ndarray
    value: float
    state: AdaptationState
    state_bytes: bytes


Outcome = tuple[Any, CommitStatus] | BaseException
"""What ``deliver`` gets: ``finish``'s value and the commit's status, or the failure."""


@dataclass(eq=False)
class Job:
    """One unit of engine work; see the module docstring."""

    finish: Callable[[TurnOutput | None], tuple[Any, Commit]]
    """Worker thread (the event loop for a lone session's job): (value for ``deliver``,
    record to commit) from the forward pass's row (None for a job without a turn)."""
    deliver: Callable[[Outcome], None]
    """Event loop: called exactly once with the outcome."""
    turn: tuple[TurnKey, TurnInput] | None = None
    owner: str | None = None
    """The session the job belongs to (tells one session from several playing)."""


_STOP = object()


class TurnEngine:
    """Worker threads running batches of :class:`Job`; see the module docstring."""

    def __init__(
        self,
        learners: dict[str, Learner],
        commit: Callable[[Sequence[Commit]], Sequence[CommitStatus | BaseException]],
        *,
        threads: int,
        max_batch: int,
        window_s: float = 0.0,
        crowd_window_s: float = 0.0,
        crowd_gap_s: float = 0.0005,
        crowd_recent_s: float = 0.05,
        inline_lone: bool = False,
        on_batch: Callable[[TurnKey, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
    ):
        waits = (window_s, crowd_window_s, crowd_gap_s, crowd_recent_s)
        if threads < 1 or max_batch < 1 or min(waits) < 0:
            raise ValueError(
                f"bad engine settings: {threads=}, {max_batch=}, {window_s=}, "
                f"{crowd_window_s=}, {crowd_gap_s=}, {crowd_recent_s=}"
            )
        self._learners = learners
        self._commit = commit
        self._max_batch = max_batch
        self._window_s = window_s
        self._crowd_window_s = crowd_window_s
        self._crowd_gap_s = crowd_gap_s
        self._crowd_recent_s = crowd_recent_s
        self._last_owner: str | None = None
        self._crowded_at = -float("inf")
        """``time.monotonic()`` when a job last followed one of another session."""
        self._inline_lone = inline_lone
        self._inline: Job | None = None
        """The job scheduled to run on the loop, until it runs or moves to the queue."""
        self._on_batch = on_batch
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = 0
        self._closed = False
        self._idle: asyncio.Event | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"turns_{i}", daemon=True)
            for i in range(threads)
        ]
        self._started = False

    def submit(self, job: Job) -> None:
        """Queue ``job`` (event loop only); its ``deliver`` runs on this loop later."""
        if self._closed:
            raise RuntimeError("the turn engine is closed")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._idle = asyncio.Event()
        assert self._idle is not None
        lone = not self._pending
        self._pending += 1
        self._idle.clear()
        if job.owner != self._last_owner:
            if self._last_owner is not None and job.owner is not None:
                self._crowded_at = time.monotonic()
            self._last_owner = job.owner
        if self._inline_lone and lone and not self._crowded(time.monotonic()):
            self._inline = job
            self._loop.call_soon(self._run_inline, job)
            return
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()
        if self._inline is not None:  # company came before it ran: both go to the workers
            self._queue.put(self._inline)
            self._inline = None
        self._queue.put(job)

    async def drain(self) -> None:
        """Wait until every submitted job has been delivered."""
        if self._idle is not None and self._pending:
            await self._idle.wait()

    def close(self) -> None:
        """Stop the workers (after :meth:`drain`; jobs still queued are never run, and a job
        scheduled on the loop is delivered a RuntimeError)."""
        self._closed = True
        if not self._started:
            return
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()

    def _crowded(self, now: float) -> bool:
        """Whether several sessions are playing: a job followed one of another session
        within the last ``crowd_recent_s``."""
        return now - self._crowded_at < self._crowd_recent_s

    # ---------------------------------------------------------------- worker side

    def _work(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            outcomes = self._run(jobs)
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._deliver, jobs, outcomes)
            except RuntimeError:  # the loop was closed under us: nobody is waiting
                return

    def _take(self) -> list[Job] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        jobs = [first]
        start = time.monotonic()
        fixed_until = start + self._window_s
        crowded = self._crowd_window_s and self._crowded(start)
        crowd_until = start + self._crowd_window_s if crowded else start
        while len(jobs) < self._max_batch:
            now = time.monotonic()
            # The fixed window waits out its time; the crowd window only while turns keep coming.
            wait = max(fixed_until - now, min(crowd_until - now, self._crowd_gap_s))
            try:
                job = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                self._queue.put(_STOP)  # for this worker's next round
                break
            jobs.append(job)
        return jobs

    def _run(self, jobs: list[Job]) -> list[Outcome]:
        rows = self._forward_all(jobs)
        outcomes: list[Outcome | None] = [None] * len(jobs)
        staged: list[tuple[int, Any, Commit]] = []
        for i, job in enumerate(jobs):
            row = rows.get(i)
            if isinstance(row, BaseException):
                outcomes[i] = row
                continue
            try:
                value, commit = job.finish(row)
            except Exception as exc:
                outcomes[i] = exc
                continue
            staged.append((i, value, commit))
        if staged:
            statuses = self._commit_all([commit for _, _, commit in staged])
            for (i, value, _), status in zip(staged, statuses, strict=True):
                outcomes[i] = status if isinstance(status, BaseException) else (value, status)
        return outcomes  # type: ignore[return-value]  # every slot is filled above

    def _commit_all(self, commits: list[Commit]) -> Sequence[CommitStatus | BaseException]:
        if self._on_commit is not None:
            self._on_commit(len(commits))
        try:
            statuses = self._commit(commits)
            if len(statuses) != len(commits):
                raise RuntimeError(f"{len(commits)} commits returned {len(statuses)} statuses")
            return statuses
        except Exception as exc:
            return [exc] * len(commits)

    def _forward_all(self, jobs: list[Job]) -> dict[int, TurnOutput | BaseException]:
        groups: dict[TurnKey, list[int]] = {}
        for i, job in enumerate(jobs):
            if job.turn is not None:
                groups.setdefault(job.turn[0], []).append(i)
        rows: dict[int, TurnOutput | BaseException] = {}
        for key, members in groups.items():
            if self._on_batch is not None:
                self._on_batch(key, len(members))
            try:
                turns = [jobs[i].turn[1] for i in members]  # type: ignore[index]
                outputs = forward(self._learners[key.model], key, turns)
                rows.update(zip(members, outputs, strict=True))
            except Exception as exc:
                log.exception("forward pass for %s failed", key.game)
                rows.update((i, exc) for i in members)
        return rows

    # ---------------------------------------------------------------- loop side

    def _run_inline(self, job: Job) -> None:
        """Run a lone session's job on the loop (scheduled by :meth:`submit`)."""
        if self._inline is not job:
            return  # it moved to the queue when company came
        self._inline = None
        if self._closed:
            outcomes: list[Outcome] = [RuntimeError("the turn engine is closed")]
        else:
            try:
                outcomes = self._run([job])
            except Exception as exc:  # a failing metrics hook, say: the job still gets an answer
                log.exception("running a turn on the event loop failed")
                outcomes = [exc]
        self._deliver([job], outcomes)

    def _deliver(self, jobs: list[Job], outcomes: list[Outcome]) -> None:
        for job, outcome in zip(jobs, outcomes, strict=True):
            try:
                job.deliver(outcome)
            except Exception:
                log.exception("delivering a turn's outcome failed")
        self._pending -= len(jobs)
        if not self._pending and self._idle is not None:
            self._idle.set()


def forward(learner: Learner, key: TurnKey, turns: Sequence[TurnInput]) -> list[TurnOutput]:
    """Observe the rewards that came with ``turns`` and act, in one learner call."""
    rewards = np.array([0.0 if t.reward is None else t.reward for t in turns], dtype=np.float32)
    rewarded = np.array([t.reward is not None for t in turns], dtype=bool)
    obs = _stacked([turn.obs for turn in turns])
    masks = _stacked([turn.mask for turn in turns])
    draws = np.array([turn.draw for turn in turns], dtype=np.float64)
    states = [turn.state for turn in turns]
    decision, new_states = observe_and_act(
        learner, states, rewards, rewarded, obs, masks, greedy=key.greedy, draws=draws
    )
    actions = np.asarray(decision.actions)
    bad = first_illegal(masks, actions)
    if bad is not None:
        raise RuntimeError(
            f"learner {key.model!r} chose masked action {int(actions[bad])} for {key.game}"
        )
    actions = actions.tolist()
    probs = np.asarray(decision.probs, dtype=np.float32)
    values = np.asarray(decision.values, dtype=np.float32).tolist()
    return [
        TurnOutput(actions[i], probs[i], values[i], state, state.to_bytes())
        for i, state in enumerate(new_states)
    ]


def _stacked(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.stack(arrays)``; one array becomes a view with a batch axis, not a copy."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)
