"""Sessions: the service's core, between the servicer (protobuf) and the learners and store.

A session is one player playing one game variant against the agent. It holds
the player's :class:`AdaptationState` and a turn counter; every ``Act`` and
``EndEpisode`` call carries the next turn number.

Turns. ``act`` observes the reward that arrived with the turn (when the agent
has acted earlier in the episode; a reward on an episode's first turn only
counts towards the episode total), then the turn engine (:mod:`server.engine`)
answers it together with concurrent sessions' turns in one forward pass and
commits the new state and the reply, in the same worker thread and one
transaction for the whole batch, *before* the reply is returned, so a server
killed at any moment loses no acknowledged turn. A turn repeating
the last acknowledged number is a retry: its stored reply is returned and the
state is not advanced. Any other number is FAILED_PRECONDITION.

Episode ends. ``end_episode`` observes the final reward (done) and records the
result in the player's profile. A learner whose ``end_episode`` is bookkeeping
(RL2, the multi-task baseline: ``has_cheap_end_episode``) runs it right there,
in the engine, and the adapted state, the profile and the player's profile
state are committed together before the reply. Otherwise (MAML's gradient
steps may take a while) the state is committed *with the outcome still to be
adapted to*, the reply goes straight away, and ``learner.end_episode`` runs in
the adaptation thread pool; the next call on that session waits for it only if
it arrives before adaptation has finished. When adaptation finishes, its state
is committed to the session and becomes the player's profile state for the
game. A server killed in between re-runs the adaptation from the committed
state when it starts.

Profiles. A player's profile state for a game is the state after their last
completed episode; a new session starts from it (unless ``ignore_profile``,
or the model changed since: states of another checkpoint are not reused).

Ownership and limits. A session belongs to the principal (API key) that
started it; a player id belongs to the principal that first used it. Live
sessions are limited per player and in total; idle ones expire. A turn moves a
session's expiry to the idle timeout from now, rounded up to a step (a second, or a
hundredth of a timeout shorter than 100 s: :func:`expiry_step_ms`), so a session
playing on writes a new expiry once per step, not once per turn: the store leaves the
stored one, and its indexes, alone in between. A session may outlive its idle timeout
by less than one step; it never expires earlier.

Concurrency. Calls on one session are serialised by its lock; sessions run
concurrently. A turn handed to the engine keeps the lock until its outcome is
delivered on the event loop, where the session's record and state are updated:
a client that hangs up mid-turn cannot let the next call overtake it.
Sessions are cached in memory; every write is compare-and-set on the turn
number, so if another replica sharing a Redis store advanced a session, this
one answers ABORTED (retry) instead of overwriting it. Once handed to the
engine, a turn completes and commits even if its caller is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from game_agent.learner import EpisodeOutcome, has_cheap_end_episode
from game_agent.sampling import seeded_draw
from game_agent.state import AdaptationState
from games.registry import parse_spec
from games.spec import GameSpec
from server.config import ServerConfig
from server.engine import Job, Outcome, TurnEngine, TurnInput, TurnKey, TurnOutput
from server.errors import Aborted, FailedPrecondition, NotFound, PermissionDenied, Unavailable
from server.metrics import Metrics
from server.models import ModelRegistry, ServedModel
from server.profiles import AGENT_WON, DRAW, PLAYER_WON
from server.stores.base import (
    AdaptationRecord,
    Commit,
    CommitStatus,
    EpisodeRecord,
    ProfileRecord,
    SessionRecord,
    Store,
)
from server.validation import SessionSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPIRY_STEP_MS = 1000
"""The longest step expiries are rounded up to (see the module docstring)."""


def expiry_step_ms(timeout_ms: int) -> int:
    """The step a session with this idle timeout keeps its expiry to: a second, or a
    hundredth of the timeout when that is shorter (at least 1 ms)."""
    return max(1, min(EXPIRY_STEP_MS, timeout_ms // 100))


@dataclass(frozen=True)
class SessionView:
    """What ``StartSession``/``ResumeSession`` report about a session."""

    record: SessionRecord
    spec: GameSpec
    model: ServedModel
    episodes_played: int


@dataclass(frozen=True)
class ActResult:
    turn: int
    action: int
    probs: tuple[float, ...]
    value: float
    replayed: bool


@dataclass(frozen=True)
class EpisodeEnd:
    turn: int
    replayed: bool
    profile: ProfileRecord


@dataclass
class _Live:
    """A session held in memory: its stored record plus the decoded state."""

    record: SessionRecord
    state: AdaptationState
    spec: GameSpec
    model: ServedModel
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    adaptation: asyncio.Task[None] | None = None


class SessionManager:
    """Starts, drives and ends sessions; see the module docstring."""

    def __init__(
        self,
        config: ServerConfig,
        models: ModelRegistry,
        store: Store,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._config = config
        self._models = models
        self._store = store
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")
        self._adapt_pool = ThreadPoolExecutor(config.adaptation_threads, thread_name_prefix="adapt")
        self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="store")
        batch_sizes = {m.name: self._metrics.batch_size.labels(m.name) for m in models}
        self._engine = TurnEngine(
            {model.name: model.learner for model in models},
            store.commit,
            threads=config.model_threads,
            max_batch=config.max_batch_size,
            window_s=config.batch_window_s,
            crowd_window_s=config.crowd_window_s,
            inline_lone=config.inline_lone_turns,
            on_batch=lambda key, n: batch_sizes[key.model].observe(n),
            on_commit=self._metrics.commit_batch_size.observe,
        )
        self._live: dict[str, _Live] = {}
        self._load_lock = asyncio.Lock()
        self._adaptations: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._draining = asyncio.Event()
        self._on_draining: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Resume adaptations a previous process committed but did not finish; start expiry."""
        for session_id in await self._in_store(self._store.pending_adaptations):
            try:
                await self._get(session_id)
            except Exception as exc:
                log.error("cannot resume the adaptation of session %s: %s", session_id, exc)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    @property
    def draining(self) -> bool:
        """True once shutdown began: new calls get UNAVAILABLE, in-flight ones finish."""
        return self._draining.is_set()

    def begin_draining(self) -> None:
        if self._draining.is_set():
            return
        self._draining.set()
        for callback in self._on_draining:
            callback()

    def on_draining(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) when draining begins."""
        self._on_draining.append(callback)

    async def close(self) -> None:
        """Refuse new calls, finish in-flight turns and adaptations, flush and close the store."""
        self.begin_draining()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._engine.drain()
        while self._adaptations:
            await asyncio.gather(*list(self._adaptations), return_exceptions=True)
        await self._engine.drain()
        self._engine.close()
        await self._in_store(self._store.close)
        for pool in (self._model_pool, self._adapt_pool, self._store_pool):
            pool.shutdown(wait=True)

    # ------------------------------------------------------------------ sessions

    async def start_session(
        self,
        principal: str,
        player_id: str,
        spec: GameSpec,
        seat: int,
        settings: SessionSettings,
    ) -> SessionView:
        self._check_open()
        model = self._models.for_spec(spec)
        state, returning = await self._initial_state(player_id, spec, model, settings)
        now = self._now_ms()
        record = SessionRecord(
            session_id="s_" + secrets.token_urlsafe(18),
            principal=principal,
            player_id=player_id,
            game=spec.name,
            family=spec.family,
            agent_seat=seat,
            greedy=settings.greedy,
            seed=settings.seed or secrets.randbits(63),
            idle_timeout_s=settings.idle_timeout_s,
            model_sha=model.sha256,
            next_turn=1,
            state=await self._run(self._model_pool, state.to_bytes),
            returning_player=returning,
            created_ms=now,
            expires_ms=now + int(settings.idle_timeout_s * 1000),
        )
        await self._in_store(
            functools.partial(
                self._store.create_session,
                record,
                now_ms=now,
                max_per_player=self._config.max_sessions_per_player,
                max_total=self._config.max_sessions,
            )
        )
        live = _Live(record, state, spec, model)
        self._cache(live)
        log.info(
            "session started",
            extra={"session_id": record.session_id, "player_id": player_id, "game": spec.name},
        )
        return await self._view(live)

    async def resume_session(self, principal: str, session_id: str, player_id: str) -> SessionView:
        self._check_open()
        live = await self._owned(principal, session_id)
        if live.record.player_id != player_id:
            raise PermissionDenied(
                f"player_id {player_id!r} does not match the player of session {session_id}"
            )
        async with live.lock:
            await self._refresh(live)
            self._check_active(live)
            await self._settle(live)
            record = dataclasses.replace(live.record, expires_ms=self._expiry(live.record))
            await self._commit(live, Commit(record, expected_turn=record.next_turn))
            live.record = record
        return await self._view(live)

    async def end_session(self, principal: str, session_id: str) -> ProfileRecord:
        live = await self._owned(principal, session_id)
        async with live.lock:
            await self._refresh(live)
            if live.record.ended:
                raise FailedPrecondition(f"session {session_id} has already ended")
            await self._settle(live)
            await self._in_store(self._store.end_session, session_id)
            live.record = dataclasses.replace(live.record, ended=True)
            self._evict(session_id)
        return await self._profile_of(live.record.player_id)

    async def session_spec(self, principal: str, session_id: str) -> GameSpec:
        """The variant a session plays (checks that it exists and is the caller's)."""
        return (await self._owned(principal, session_id)).spec

    # ------------------------------------------------------------------ turns

    async def act(
        self,
        principal: str,
        session_id: str,
        turn: int,
        obs: np.ndarray,
        mask: np.ndarray,
        reward: float,
    ) -> ActResult:
        self._check_open()
        live = await self._owned(principal, session_id)
        submitted = False
        await live.lock.acquire()
        try:
            await self._refresh(live)
            self._check_active(live)
            stored = self._replay(live, turn, "act")
            if stored is not None:
                return ActResult(
                    stored["turn"], stored["action"], tuple(stored["probs"]), stored["value"], True
                )
            self._check_turn(live, turn)
            await self._settle(live)
            record = live.record
            key = TurnKey(live.model.name, record.game, record.greedy)
            inputs = TurnInput(
                live.state,
                obs,
                mask,
                reward if record.awaiting_reward else None,
                seeded_draw(record.seed, turn),
            )
            future = self._submit(
                live,
                functools.partial(self._acted, record, turn, reward),
                functools.partial(self._apply_act, live),
                (key, inputs),
            )
            submitted = True
        finally:
            if not submitted:
                live.lock.release()
        return await future

    def _acted(
        self, record: SessionRecord, turn: int, reward: float, out: TurnOutput | None
    ) -> tuple[tuple[SessionRecord, AdaptationState, ActResult], Commit]:
        """Engine thread: the record to commit for an answered turn."""
        assert out is not None
        probs = tuple(out.probs.tolist())
        result = ActResult(turn, out.action, probs, out.value, False)
        reply = {"kind": "act", "turn": turn, "action": out.action, "probs": probs}
        reply["value"] = out.value
        new = record.evolve(
            next_turn=turn + 1,
            state=out.state_bytes,
            last_reply=json.dumps(reply),
            awaiting_reward=True,
            episode_steps=record.episode_steps + 1,
            episode_reward=record.episode_reward + reward,
            expires_ms=self._expiry(record),
        )
        commit = Commit(
            new,
            expected_turn=record.next_turn,
            expiry_changed=new.expires_ms != record.expires_ms,
        )
        return (new, out.state, result), commit

    def _apply_act(
        self,
        live: _Live,
        value: tuple[SessionRecord, AdaptationState, ActResult],
        status: CommitStatus,
    ) -> ActResult:
        new, state, result = value
        self._check_committed(live, status)
        live.record, live.state = new, state
        return result

    async def end_episode(
        self,
        principal: str,
        session_id: str,
        turn: int,
        final_reward: float,
        result: int | None,
    ) -> EpisodeEnd:
        """``result``: +1 the agent won, -1 the player won, 0 draw, None to infer from rewards."""
        self._check_open()
        live = await self._owned(principal, session_id)
        replayed = await self._end_episode(live, turn, final_reward, result)
        profile = await self._profile_of(live.record.player_id)
        return EpisodeEnd(turn, replayed, profile)

    async def _end_episode(
        self, live: _Live, turn: int, final_reward: float, result: int | None
    ) -> bool:
        submitted = False
        await live.lock.acquire()
        try:
            await self._refresh(live)
            self._check_active(live)
            if self._replay(live, turn, "end_episode") is not None:
                return True
            self._check_turn(live, turn)
            await self._settle(live)
            future = self._submit(
                live,
                functools.partial(
                    self._ended, live.model, live.record, live.state, turn, final_reward, result
                ),
                functools.partial(self._apply_end, live),
            )
            submitted = True
        finally:
            if not submitted:
                live.lock.release()
        return await future

    def _ended(
        self,
        model: ServedModel,
        record: SessionRecord,
        state: AdaptationState,
        turn: int,
        final_reward: float,
        result: int | None,
        _row: TurnOutput | None,
    ) -> tuple[tuple[SessionRecord, AdaptationState], Commit]:
        """Engine thread: observe the final reward and build the episode's records."""
        total = record.episode_reward + final_reward
        if result is None:
            result = AGENT_WON if total > 0 else PLAYER_WON if total < 0 else DRAW
        if record.awaiting_reward:
            final = np.array([final_reward], dtype=np.float32)
            state = model.learner.observe([state], final, np.array([True]))[0]
        outcome = EpisodeOutcome(total, result, record.episode_steps)
        episode = EpisodeRecord(
            record.player_id, record.principal, record.game, result, total, self._now_ms()
        )
        if has_cheap_end_episode(model.learner):  # bookkeeping: now, in the same transaction
            state = self._adapted(model, state, outcome)
            state_bytes = state.to_bytes()
            pending, adaptation = "", self._adaptation_record(record, model, state_bytes)
        else:  # gradient steps: after the reply, in the adaptation pool (_adapt)
            state_bytes = state.to_bytes()
            pending, adaptation = json.dumps(outcome._asdict()), None
        new = record.evolve(
            next_turn=turn + 1,
            state=state_bytes,
            last_reply=json.dumps({"kind": "end_episode", "turn": turn}),
            awaiting_reward=False,
            episode_steps=0,
            episode_reward=0.0,
            pending_outcome=pending,
            expires_ms=self._expiry(record),
        )
        commit = Commit(
            new,
            expected_turn=record.next_turn,
            episode=episode,
            adaptation=adaptation,
            expiry_changed=new.expires_ms != record.expires_ms,
        )
        return (new, state), commit

    def _apply_end(
        self, live: _Live, value: tuple[SessionRecord, AdaptationState], status: CommitStatus
    ) -> bool:
        self._check_committed(live, status)
        live.record, live.state = value
        if live.record.pending_outcome:
            self._start_adaptation(live)
        return False

    def _adapted(
        self, model: ServedModel, state: AdaptationState, outcome: EpisodeOutcome
    ) -> AdaptationState:
        """``learner.end_episode``, timed for the adaptation metric (any thread)."""
        started = time.perf_counter()
        state = model.learner.end_episode(state, outcome)
        self._metrics.adaptation_seconds.labels(model.name).observe(time.perf_counter() - started)
        return state

    @staticmethod
    def _adaptation_record(
        record: SessionRecord, model: ServedModel, state_bytes: bytes
    ) -> AdaptationRecord:
        """The player's profile state for the game: the state after this episode."""
        return AdaptationRecord(
            record.player_id, record.game, model.learner.name, record.model_sha, state_bytes
        )

    # ------------------------------------------------------------------ profiles

    async def get_profile(self, principal: str, player_id: str) -> ProfileRecord:
        profile = await self._in_store(self._store.load_profile, player_id)
        if profile is None:
            raise NotFound(f"player_id {player_id!r} has no profile (they have never played)")
        if profile.principal != principal:
            raise PermissionDenied(f"player_id {player_id!r} belongs to another principal")
        return profile

    async def delete_profile(self, principal: str, player_id: str) -> tuple[bool, int]:
        """Forget a player; returns (whether they existed, live sessions ended)."""
        profile = await self._in_store(self._store.load_profile, player_id)
        if profile is not None and profile.principal != principal:
            raise PermissionDenied(f"player_id {player_id!r} belongs to another principal")
        existed, ended = await self._in_store(self._store.delete_player, player_id)
        for session_id in [
            s for s, live in self._live.items() if live.record.player_id == player_id
        ]:
            self._evict(session_id)
        log.info("profile deleted", extra={"player_id": player_id, "sessions_ended": len(ended)})
        return existed, len(ended)

    # ------------------------------------------------------------------ internals

    async def _initial_state(
        self, player_id: str, spec: GameSpec, model: ServedModel, settings: SessionSettings
    ) -> tuple[AdaptationState, bool]:
        learner = model.learner
        if not settings.ignore_profile:
            stored = await self._in_store(self._store.load_adaptation, player_id, spec.name)
            if stored is not None and stored.model_sha == model.sha256:
                return await self._decode(stored.state, learner.name, spec.name), True
            if stored is not None:
                log.info(
                    "profile state of %s for %s came from another model; starting afresh",
                    player_id,
                    spec.name,
                )
        return await self._run(self._model_pool, learner.initial_state, spec), False

    async def _get(self, session_id: str) -> _Live:
        live = self._live.get(session_id)
        if live is not None:
            return live
        async with self._load_lock:
            live = self._live.get(session_id)
            if live is not None:
                return live
            record = await self._in_store(self._store.load_session, session_id)
            if record is None:
                raise NotFound(
                    f"session_id {session_id!r} does not exist (or its player was deleted); "
                    "start a new session"
                )
            model = self._models.get(record.family)
            if model is None or model.sha256 != record.model_sha:
                raise FailedPrecondition(
                    f"session {session_id} was started with another {record.family} model "
                    f"({record.model_sha[:12]}); this server serves "
                    f"{model.sha256[:12] if model else 'none'}: start a new session"
                )
            state = await self._decode(record.state, model.learner.name, record.game)
            live = _Live(record, state, parse_spec(record.game), model)
            if not record.ended or record.pending_outcome:
                self._cache(live)
            if record.pending_outcome:
                self._start_adaptation(live)
            return live

    async def _refresh(self, live: _Live) -> None:
        """With a shared store, reload a session that another replica changed since we cached it."""
        if not self._store.shared:
            return
        session_id = live.record.session_id
        status = await self._in_store(self._store.session_status, session_id)
        if status == (live.record.next_turn, live.record.ended, live.record.expires_ms):
            return
        record = (
            None if status is None else await self._in_store(self._store.load_session, session_id)
        )
        if record is None:
            self._evict(session_id)
            raise NotFound(f"session_id {session_id!r} no longer exists (its player was deleted)")
        live.state = await self._decode(record.state, live.model.learner.name, record.game)
        live.record = record
        if record.pending_outcome and (live.adaptation is None or live.adaptation.done()):
            self._start_adaptation(live)

    async def _decode(self, data: bytes, learner: str, game: str) -> AdaptationState:
        """Parse stored state bytes off the event loop (MAML states can be megabytes)."""
        decode = functools.partial(AdaptationState.from_bytes, data, learner=learner, spec=game)
        return await self._run(self._model_pool, decode)

    async def _owned(self, principal: str, session_id: str) -> _Live:
        live = self._live.get(session_id)  # a turn's case: no coroutine to load it
        if live is None:
            live = await self._get(session_id)
        if live.record.principal != principal:
            raise PermissionDenied(f"session {session_id} belongs to another principal")
        return live

    def _check_open(self) -> None:
        if self.draining:
            raise Unavailable("the server is shutting down; retry on another replica")

    def _check_active(self, live: _Live) -> None:
        record = live.record
        if record.ended:
            raise FailedPrecondition(
                f"session {record.session_id} has ended (EndSession, idle expiry or the "
                "deletion of its player); "
                "start a new session: the player's profile is kept"
            )
        if record.expires_ms <= self._now_ms():
            raise FailedPrecondition(
                f"session {record.session_id} expired after {record.idle_timeout_s:g} s idle; "
                "start a new session: the player's profile is kept"
            )

    def _replay(self, live: _Live, turn: int, kind: str) -> dict[str, Any] | None:
        record = live.record
        if turn != record.next_turn - 1 or not record.last_reply:
            return None
        stored = json.loads(record.last_reply)
        if stored["kind"] != kind:
            raise FailedPrecondition(
                f"turn {turn} was answered as {stored['kind']}; a retry must repeat the same call "
                f"(the session expects turn {record.next_turn} next)"
            )
        return stored

    @staticmethod
    def _check_turn(live: _Live, turn: int) -> None:
        expected = live.record.next_turn
        if turn != expected:
            retry = f" (turn {expected - 1} may be retried)" if expected > 1 else ""
            raise FailedPrecondition(
                f"turn {turn} is out of sequence: session {live.record.session_id} expects "
                f"turn {expected}{retry}; ResumeSession tells the expected turn"
            )

    async def _settle(self, live: _Live) -> None:
        """Wait for the session's pending adaptation, restarting it if it failed before."""
        if not live.record.pending_outcome:
            return
        task = live.adaptation
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._start_adaptation(live)
        await asyncio.shield(task)

    def _start_adaptation(self, live: _Live) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._adapt(live))
        live.adaptation = task
        self._adaptations.add(task)
        task.add_done_callback(self._adaptation_done)
        return task

    def _adaptation_done(self, task: asyncio.Task[None]) -> None:
        self._adaptations.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("adaptation failed", exc_info=task.exception())

    async def _adapt(self, live: _Live) -> None:
        record = live.record
        outcome = EpisodeOutcome(**json.loads(record.pending_outcome))
        state = await self._run(self._adapt_pool, self._adapted, live.model, live.state, outcome)
        state_bytes = await self._run(self._adapt_pool, state.to_bytes)
        new = dataclasses.replace(record, state=state_bytes, pending_outcome="")
        profile_state = self._adaptation_record(record, live.model, state_bytes)
        commit = Commit(
            new,
            expected_turn=record.next_turn,
            adaptation=profile_state,
            allow_ended=True,
            expiry_changed=False,
        )
        status = await self._commit_only(commit)
        if status is not CommitStatus.APPLIED:
            self._evict(record.session_id)
            log.info("adaptation of session %s not stored: %s", record.session_id, status.value)
            return
        live.record = dataclasses.replace(new, ended=live.record.ended)
        live.state = state
        if live.record.ended:
            self._evict(record.session_id)

    def _submit(
        self,
        live: _Live | None,
        finish: Callable[[TurnOutput | None], tuple[Any, Commit]],
        apply: Callable[[Any, CommitStatus], T],
        turn: tuple[TurnKey, TurnInput] | None = None,
    ) -> asyncio.Future[T]:
        """Hand a job to the engine; ``apply`` runs on the loop with its commit's status.

        With ``live``, the caller holds the session's lock and the delivery releases it,
        whether or not the caller is still waiting.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def deliver(outcome: Outcome) -> None:
            try:
                if isinstance(outcome, BaseException):
                    raise outcome
                value = apply(*outcome)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(value)
            finally:
                if live is not None:
                    live.lock.release()

        owner = None if live is None else live.record.session_id
        self._engine.submit(Job(finish, deliver, turn, owner))
        return future

    async def _commit_only(self, commit: Commit) -> CommitStatus:
        return await self._submit(None, lambda _row: (None, commit), lambda _v, status: status)

    async def _commit(self, live: _Live, commit: Commit) -> None:
        self._check_committed(live, await self._commit_only(commit))

    def _check_committed(self, live: _Live, status: CommitStatus) -> None:
        session_id = live.record.session_id
        if status is CommitStatus.CONFLICT:
            self._evict(session_id)
            raise Aborted(
                f"session {session_id} was advanced by another request or replica; "
                "call ResumeSession and retry (a retried turn returns its stored reply)"
            )
        if status is CommitStatus.GONE:
            self._evict(session_id)
            live.record = dataclasses.replace(live.record, ended=True)
            self._check_active(live)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._config.expiry_sweep_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("expiry sweep failed; retrying at the next sweep")

    async def sweep(self) -> list[str]:
        """End every session idle past its timeout; returns their ids."""
        expired = await self._in_store(self._store.expire_sessions, self._now_ms())
        for session_id in expired:
            live = self._live.get(session_id)
            if live is None:
                continue
            live.record = dataclasses.replace(live.record, ended=True)
            if not live.record.pending_outcome:
                self._evict(session_id)
        if expired:
            log.info("expired %d idle sessions", len(expired))
        return expired

    async def _view(self, live: _Live) -> SessionView:
        profile = await self._in_store(self._store.load_profile, live.record.player_id)
        stats = profile.games.get(live.record.game) if profile is not None else None
        return SessionView(live.record, live.spec, live.model, stats.episodes if stats else 0)

    async def _profile_of(self, player_id: str) -> ProfileRecord:
        profile = await self._in_store(self._store.load_profile, player_id)
        if profile is None:
            raise NotFound(f"player_id {player_id!r} has no profile (it was deleted)")
        return profile

    def _cache(self, live: _Live) -> None:
        self._live[live.record.session_id] = live
        self._metrics.live_sessions.set(len(self._live))

    def _evict(self, session_id: str) -> None:
        self._live.pop(session_id, None)
        self._metrics.live_sessions.set(len(self._live))

    def _expiry(self, record: SessionRecord) -> int:
        """Now plus the idle timeout, rounded up to the timeout's :func:`expiry_step_ms`."""
        timeout_ms = int(record.idle_timeout_s * 1000)
        step = expiry_step_ms(timeout_ms)
        return -(-(self._now_ms() + timeout_ms) // step) * step

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _in_store(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._store_pool, fn, *args)

    @staticmethod
    async def _run(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
