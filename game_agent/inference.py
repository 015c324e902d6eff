"""Serving through onnxruntime: a learner whose ``act`` runs the exported graph, not torch.

    learner = accelerate(game_agent.load("models/connect_n"), specs=served_variants)
    decision, states = learner.act(states, obs, masks, greedy=True)

At batch 1 a torch forward pass of these small policies is almost all per-op
dispatch overhead (about a millisecond); the same graph in onnxruntime costs a
tenth of that. :func:`accelerate` wraps a PPO-trained actor-critic learner (RL2,
the multi-task baseline) in an :class:`AcceleratedLearner` that keeps the
learner's protocol, its states and its errors, and swaps only the forward pass.

Why it is built this way:

- **One graph, traced from the served network.** Graphs come from
  :class:`~game_agent.export.ExportedPolicy`, the module ``game-agent export``
  writes, traced in memory (:func:`~game_agent.export.trace_graph`). The weights
  are snapshotted when the learner is accelerated, so every graph, eager or lazy,
  serves the same network even if the torch learner trains on afterwards.
- **One graph per board size.** ONNX shapes are fixed apart from the batch, so
  a graph is compiled per key (observation shape, number of actions, the
  policy's :meth:`~game_agent.policies.ActorCritic.forward_key`): eagerly for
  the ``specs`` given, lazily (once, under a lock) for any other supported variant
  on its first ``act``. A vector network has one key for its whole family.
- **A batch-1 session beside the dynamic one.** Most turns answer one player. The
  same graph with its ``batch`` dimension fixed at 1 (an onnxruntime
  free-dimension override, no second trace) lets onnxruntime fold away the shape
  arithmetic a dynamic batch needs: 10 to 25% off every single-player turn, for
  about 15 ms more compile time. A vector network (an MLP and a GRU cell) answers one
  player in numpy instead (:class:`~game_agent.vector_forward.VectorForward`, verified
  like a session): at batch 1 onnxruntime's run is mostly per-node dispatch, and the
  same arithmetic costs a third of it in four BLAS products (``python -m
  benchmarks.forward_bench``); from about 8 players on, onnxruntime is as fast or faster.
- **One player's checks as scalars.** A lone turn's inputs, as a server gives them
  (float32 observations, bool masks, float64 draws, a state in the layout this
  learner writes), are checked one value at a time (``_one_inputs``) instead of
  as batch arrays: the same checks and the same arrays fed, without a dozen numpy
  calls on arrays of one row. Anything else takes the batch checks.
- **Verified before use.** Each compiled session runs next to the torch network on
  random inputs (batches of 1, 3 and 7, or of 1:
  :func:`~game_agent.export.verify_session`) and is refused with
  :class:`GameAgentError` beyond ``VERIFY_TOLERANCE``.
- **Cheap to compile again.** Tracing is most of the compile time (about 0.1 to
  0.25 s a graph; a session and the check add 10 to 30 ms), and a process often
  loads the same checkpoint many times (every server a test starts). Traced
  graphs are therefore kept process-wide under a digest of the weights and the
  key, so an identical network is traced once; its session is still built and
  verified anew.
- **And again after a restart.** Given a ``trace_dir`` (the server passes
  ``<data>/graphs``), traced graphs are also kept on disk
  (:mod:`game_agent.graph_cache`: named so that other weights, code or versions
  never pick one up, written atomically, bounded); a graph from disk is verified
  like a fresh one, and one that fails is deleted with a WARNING and traced
  again. Without a ``trace_dir`` (``accelerate`` from Python, ``game-agent play
  --local``) nothing touches the disk.
- **The learner's own checks.** Inputs go through the wrapped learner's
  ``_batch_spec``, ``_check_inputs`` and ``_memory_of``, so bad input raises the
  very errors torch ``act`` raises, and states stay interchangeable with torch's
  (same learner name, same arrays, ``meta["decisions"]`` counted the same way).
- **Greedy and sampled actions.** Greedy is the graph's ``greedy_action``: the
  argmax of the masked logits, first index on ties, as ``MaskedCategorical.greedy``.
  Sampling is inverse-CDF over the returned probabilities with a numpy
  Generator seeded from the learner's seed: the same distribution as torch's
  ``multinomial``, but not the same random stream (torch's ``act_generator``
  cannot be reproduced outside torch). Masked actions are zeroed before the
  cumulative sum and the rounding edge falls to the last action with positive
  probability, so a masked action is never chosen. Given ``draws``, both learners
  sample by the same inverse CDF (:mod:`game_agent.sampling`) at those draws, so
  they choose alike wherever their probabilities agree to the draw's precision.
- **Single-threaded sessions.** One intra-op and one inter-op thread, sequential
  execution: the server already runs turns on its own threads, and
  ``InferenceSession.run`` releases the GIL while it computes.
- **What cannot be accelerated is returned unchanged**, with an INFO line saying
  why: MAML adapts its weights per player, so no single graph holds them. A
  :class:`~game_agent.learners.safe.SafeLearner` is rebuilt around the
  accelerated base with the same settings (its guards start afresh, as on load).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime
import torch

from game_agent import graph_cache
from game_agent.errors import GameAgentError
from game_agent.export import (
    DEFAULT_OPSET,
    ExportedPolicy,
    input_names,
    output_names,
    trace_graph,
    verify_session,
)
from game_agent.learner import (
    Decision,
    EpisodeOutcome,
    Learner,
    exact_array,
    exact_draw,
    first_illegal,
    has_cheap_end_episode,
    observe_then_act,
    per_player_rewards,
)
from game_agent.learners.base import PPOLearner
from game_agent.learners.safe import SafeLearner
from game_agent.policies import ActorCritic
from game_agent.policies.layout import VECTOR
from game_agent.sampling import checked_draws, sample_actions
from game_agent.state import AdaptationState, _copy_json
from game_agent.vector_forward import VectorForward
from games import GameSpec, parse_spec

log = logging.getLogger(__name__)

VERIFY_SAMPLES = 3
"""Random batches (of 1, 3 and 7 players; of 1 for the batch-1 session) each compiled
graph is checked on."""
TRACE_CACHE_SIZE = 32
"""Traced graphs kept process-wide (a few hundred kB each)."""
TRACED, CACHED, ON_DISK = "traced", "trace cached", "trace cached on disk"
"""Where a compiled graph's trace came from (the words of compile_graph's INFO line)."""

GraphKey = tuple[tuple[int, ...], int, tuple[object, ...]]
"""(observation shape, number of actions, the policy's forward key)."""

_traces: OrderedDict[tuple[str, GraphKey, int], bytes] = OrderedDict()
_traces_lock = threading.Lock()


@dataclass(frozen=True)
class CompiledGraph:
    """One verified onnxruntime session and what compiling it cost."""

    key: GraphKey
    spec: str
    """The variant it was traced for (every variant with the same key shares it)."""
    session: onnxruntime.InferenceSession
    """Any number of players."""
    single: onnxruntime.InferenceSession | VectorForward
    """What answers one player, the common turn: for a board network the same graph with
    its batch fixed at one player (10 to 25% faster, since onnxruntime folds away the
    shape arithmetic of a dynamic batch); for a vector network its numpy forward pass
    (:mod:`game_agent.vector_forward`, about a third of onnxruntime's batch-1 time)."""
    compile_s: float
    """Seconds from tracing (or the trace cache) to a verified session."""
    traced: bool
    """False when the trace came from a cache (the process-wide one or a ``trace_dir``)."""
    max_error: float
    """Largest onnxruntime-vs-torch difference the verification saw."""


def accelerate(
    learner: Any, specs: Iterable[GameSpec | str] = (), *, trace_dir: Path | None = None
) -> Learner:
    """``learner`` answering ``act`` through onnxruntime; see the module docstring.

    Graphs for ``specs`` are compiled (and verified) now, any other variant's on
    first use; ``trace_dir`` keeps their traces on disk across processes. Returns
    ``learner`` itself, with an INFO log line, when it cannot be accelerated.
    Raises ``IncompatibleGameError`` for a spec the learner cannot play and
    :class:`GameAgentError` when a graph does not reproduce torch.
    """
    if isinstance(learner, SafeLearner):
        base = accelerate(learner.base, specs, trace_dir=trace_dir)
        return learner if base is learner.base else SafeLearner(base, learner.config)
    reason = _why_not(learner)
    if reason is not None:
        log.info("serving %s with torch: %s", getattr(learner, "name", learner), reason)
        return learner
    return AcceleratedLearner(learner, specs, trace_dir=trace_dir)


def _why_not(learner: Any) -> str | None:
    """Why ``learner`` cannot be accelerated, or None when it can."""
    if isinstance(learner, AcceleratedLearner):
        return "it is accelerated already"
    if not isinstance(learner, PPOLearner):
        return f"{type(learner).__name__} is not a PPO-trained actor-critic learner"
    if type(learner).act is not PPOLearner.act:
        return (
            f"{type(learner).__name__} acts with per-player weights (adapted between "
            "episodes), which no single graph holds"
        )
    if not isinstance(learner.policy, ActorCritic):
        return f"its policy is a {type(learner.policy).__name__}, not an ActorCritic"
    return None


class AcceleratedLearner:
    """A PPO learner whose forward pass runs in onnxruntime; see the module docstring."""

    def __init__(
        self,
        learner: PPOLearner,
        specs: Iterable[GameSpec | str] = (),
        *,
        verify_samples: int = VERIFY_SAMPLES,
        trace_dir: Path | None = None,
    ):
        self.torch_learner = learner
        self.name = learner.name
        self.layout = learner.layout
        self.config = learner.config
        self.seed = learner.seed
        self.recurrent = learner.recurrent
        self.cheap_end_episode = has_cheap_end_episode(learner)
        self.policy: ActorCritic = copy.deepcopy(learner.policy).requires_grad_(False)
        """The weights as they were when accelerated: what every graph is compiled from."""
        self.verify_samples = verify_samples
        self.trace_dir = trace_dir
        """Where traced graphs are cached on disk (None: only in this process)."""
        self.act_rng = np.random.default_rng(learner.seed + 2)
        """Action sampling (the torch learner seeds its ``act_generator`` with seed + 2)."""
        self._inputs = input_names(self.policy)
        self._outputs = list(output_names(self.policy))
        self._digest = _weights_digest(self.policy)
        self._graphs: dict[GraphKey, CompiledGraph] = {}
        self._by_spec: dict[str, CompiledGraph] = {}
        self._spec_checked: dict[str, GameSpec] = {}
        """Spec strings whose states passed ``_batch_spec``, with their parsed variant."""
        self._lock = threading.Lock()
        for spec in specs:
            self.graph(spec)

    # ------------------------------------------------------------ Learner protocol

    def supports(self, spec: GameSpec | str) -> bool:
        return self.torch_learner.supports(spec)

    def initial_state(self, spec: GameSpec | str) -> AdaptationState:
        return self.torch_learner.initial_state(spec)

    def observe(
        self, states: Sequence[AdaptationState], rewards: np.ndarray, dones: np.ndarray
    ) -> list[AdaptationState]:
        return self.torch_learner.observe(states, rewards, dones)

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        return self.torch_learner.end_episode(state, outcome)

    def describe(self) -> dict[str, Any]:
        return self.torch_learner.describe()

    def act(
        self,
        states: Sequence[AdaptationState],
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        """As the torch learner's ``act``: same checks, same states, same Decision."""
        learner = self.torch_learner
        spec = learner._batch_spec(states)
        obs, masks = learner._check_inputs(spec, len(states), obs, masks)
        draws = checked_draws(draws, len(states))
        memory = learner._memory_of(states, spec.num_actions)
        decision, new_memory = self._decide(states[0].spec, spec, obs, masks, memory, greedy, draws)
        return decision, learner._advance(states, decision.actions, new_memory)

    def observe_act(
        self,
        states: Sequence[AdaptationState],
        rewards: np.ndarray,
        rewarded: np.ndarray,
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        """:func:`~game_agent.learner.observe_then_act` in one pass (see the module
        docstring): the rewards go straight into the network's previous-reward input and
        the new states are built once, from the states given."""
        rewards, rewarded = per_player_rewards(len(states), rewards, rewarded)
        turn = self._fused_turn(states, rewards, rewarded, obs, masks, draws)
        if turn is None:
            return observe_then_act(
                self, states, rewards, rewarded, obs, masks, greedy=greedy, draws=draws
            )
        decision, new_memory = self._decide(
            states[0].spec, turn.spec, turn.obs, turn.masks, turn.memory, greedy, turn.draws
        )
        return decision, self._fused_states(states, turn.metas, decision.actions, new_memory)

    # -------------------------------------------------------------- forward pass

    def _decide(
        self,
        name: str,
        spec: GameSpec,
        obs: np.ndarray,
        masks: np.ndarray,
        memory: tuple[np.ndarray, ...],
        greedy: bool,
        draws: np.ndarray | None,
    ) -> tuple[Decision, np.ndarray | None]:
        """The decision for checked inputs, network memory (``_memory_of``'s four arrays)
        and draws, and the new memory (None for a feed-forward network)."""
        # Feed-forward graphs take the first two inputs only.
        values = (obs, masks.astype(np.float32), *memory)
        feed = dict(zip(self._inputs, values, strict=False))
        graph = self._graph_for(name, spec)
        session = graph.single if len(obs) == 1 else graph.session
        outputs = session.run(self._outputs, feed)
        probs = np.where(masks, outputs[0], np.float32(0.0))
        if greedy:
            actions = np.asarray(outputs[-1], dtype=np.int64)
        else:
            actions = sample_actions(probs, self.act_rng, draws)
        if first_illegal(masks, actions) is not None:  # only a broken graph gets here
            raise GameAgentError(f"{spec.name}: the accelerated graph chose a masked action")
        decision = Decision(actions, probs, np.asarray(outputs[1], dtype=np.float32))
        return decision, (outputs[2] if self.recurrent else None)

    def _fused_turn(self, *inputs: Any) -> _FusedTurn | None:
        """The checked inputs of one fused turn (:meth:`_fused_inputs`' arguments), or None
        where the reference sequence must answer: any input it would refuse (it then raises
        the very error ``observe`` or ``act`` raises) and any state outside the layout this
        learner writes. One player's turn tries :meth:`_one_inputs` first."""
        try:
            lone = self.recurrent and len(inputs[0]) == 1
            turn = self._one_inputs(*inputs) if lone else None
            return turn if turn is not None else self._fused_inputs(*inputs)
        except Exception:  # nothing was changed or drawn: the reference raises it again
            return None

    def _one_inputs(
        self,
        states: Sequence[AdaptationState],
        rewards: np.ndarray,
        rewarded: np.ndarray,
        obs: np.ndarray,
        masks: np.ndarray,
        draws: np.ndarray | None,
    ) -> _FusedTurn | None:
        """:meth:`_fused_inputs` for one player of a recurrent network (the caller checks
        that it is one), checked with scalars instead of batch arrays (a server's lone
        turn is mostly such overhead). None wherever it would convert an input rather than
        take it as it is (the batch path then answers): the same checks, the same arrays
        fed, the same metas."""
        [state] = states
        spec = self._checked_spec(state)
        if spec is None or not _in_written_layout(state):
            return None
        got = bool(rewarded[0])
        reward = rewards[0]
        if got and not math.isfinite(reward):
            return None
        if not (exact_array(obs, _F32, (1, *spec.obs_shape)) and exact_array(masks, _BOOL, None)):
            return None
        if masks.shape != (1, spec.num_actions) or not masks.any() or not np.isfinite(obs).all():
            return None
        if not exact_draw(draws):
            return None
        arrays = state.arrays
        memory, prev_action = arrays["memory"], arrays["prev_action"]
        if not (
            exact_array(memory, _F32, (self.policy.memory_size,))
            and exact_array(prev_action, _I64, (1,))
            and -1 <= prev_action[0] < spec.num_actions
        ):
            return None
        prev_reward, prev_done = arrays["prev_reward"], arrays["prev_done"]
        meta = _copy_json(state.meta)
        if got:  # observe's updates, as the batch path makes them for a rewarded row
            prev_reward = prev_reward + reward
            prev_done = np.maximum(prev_done, np.float32(0.0))
            meta["total_reward"] = float(meta.get("total_reward", 0.0)) + float(reward)
        meta["decisions"] = int(meta.get("decisions", 0)) + 1
        memory_in = (memory.reshape(1, -1), prev_action, prev_reward, prev_done)
        return _FusedTurn(spec, obs, masks, draws, memory_in, [meta])

    def _checked_spec(self, state: AdaptationState) -> GameSpec | None:
        """The variant of a state of this learner, as ``_batch_spec`` checks it (its
        verdict is kept per spec string); None for another learner's state."""
        if state.learner != self.name:
            return None
        spec = self._spec_checked.get(state.spec)
        if spec is None:
            spec = self.torch_learner._batch_spec([state])
            self._spec_checked[state.spec] = spec
        return spec

    def _fused_inputs(
        self,
        states: Sequence[AdaptationState],
        rewards: np.ndarray,
        rewarded: np.ndarray,
        obs: np.ndarray,
        masks: np.ndarray,
        draws: np.ndarray | None,
    ) -> _FusedTurn | None:
        """What ``observe`` then ``act`` would feed the network, checked once per batch."""
        learner = self.torch_learner
        if not states:
            return None
        name, text = self.name, states[0].spec
        if any(s.learner != name or s.spec != text for s in states):
            return None
        spec = learner._batch_spec(states[:1])
        if not np.isfinite(rewards[rewarded]).all():
            return None
        obs, masks = learner._check_inputs(spec, len(states), obs, masks)
        draws = checked_draws(draws, len(states))
        if self.recurrent and not all(map(_in_written_layout, states)):
            return None
        memory, prev_action, prev_reward, prev_done = learner._memory_of(states, spec.num_actions)
        # observe's updates of the rewarded rows; -0.0 and -inf leave the others bit for bit.
        prev_reward += np.where(rewarded, rewards, np.float32(-0.0))
        np.maximum(
            prev_done, np.where(rewarded, np.float32(0.0), np.float32(-np.inf)), out=prev_done
        )
        metas = []
        for state, reward, got in zip(states, rewards.tolist(), rewarded.tolist(), strict=True):
            meta = _copy_json(state.meta)
            if got:
                meta["total_reward"] = float(meta.get("total_reward", 0.0)) + reward
            meta["decisions"] = int(meta.get("decisions", 0)) + 1
            metas.append(meta)
        memory_in = (memory, prev_action, prev_reward, prev_done)
        return _FusedTurn(spec, obs, masks, draws, memory_in, metas)

    def _fused_states(
        self,
        states: Sequence[AdaptationState],
        metas: list[dict[str, Any]],
        actions: np.ndarray,
        memory: np.ndarray | None,
    ) -> list[AdaptationState]:
        """The states after a fused turn, as ``PPOLearner._advance`` writes them. Each array
        is a row of one new batch array: no two states share bytes, none shares an input's."""
        n = len(states)
        if not self.recurrent:
            return [
                AdaptationState(s.learner, s.spec, {k: v.copy() for k, v in s.arrays.items()}, m)
                for s, m in zip(states, metas, strict=True)
            ]
        columns = zip(
            memory,  # onnxruntime's own output array, held by nothing else
            actions.reshape(n, 1).copy(),
            np.zeros((n, 1), dtype=np.float32),
            np.zeros((n, 1), dtype=np.float32),
            strict=True,
        )
        return [
            AdaptationState(
                s.learner,
                s.spec,
                {"memory": m, "prev_action": a, "prev_reward": r, "prev_done": d},
                meta,
            )
            for s, meta, (m, a, r, d) in zip(states, metas, columns, strict=True)
        ]

    # ------------------------------------------------------------------ graphs

    @property
    def graphs(self) -> tuple[CompiledGraph, ...]:
        """The graphs compiled so far, in compile order."""
        return tuple(self._graphs.values())

    def _graph_for(self, name: str, spec: GameSpec) -> CompiledGraph:
        """The graph for a state's spec string ``name`` (parsed: ``spec``), looked up by the
        string itself on every turn but the first."""
        found = self._by_spec.get(name)
        if found is None:  # the first turn of this variant, or a string not in canonical form
            found = self._by_spec[name] = self.graph(spec)
        return found

    def graph(self, spec: GameSpec | str) -> CompiledGraph:
        """The verified graph that plays ``spec``, compiled on first use (once per key)."""
        spec = parse_spec(spec)
        found = self._by_spec.get(spec.name)
        if found is not None:
            return found
        self.layout.check(spec)
        key = graph_key(self.policy, spec)
        with self._lock:
            found = self._graphs.get(key)
            if found is None:
                found = compile_graph(
                    self.policy,
                    spec,
                    samples=self.verify_samples,
                    digest=self._digest,
                    trace_dir=self.trace_dir,
                )
                self._graphs[key] = found
            self._by_spec[spec.name] = found
        return found


def graph_key(policy: ActorCritic, spec: GameSpec) -> GraphKey:
    """Variants with equal keys are played by one graph."""
    return (tuple(spec.obs_shape), spec.num_actions, policy.forward_key(spec))


def compile_graph(
    policy: ActorCritic,
    spec: GameSpec,
    *,
    samples: int = VERIFY_SAMPLES,
    digest: str = "",
    trace_dir: Path | None = None,
) -> CompiledGraph:
    """Trace ``policy`` for ``spec`` (or take the trace cached under ``digest``, in this
    process or in ``trace_dir``), open onnxruntime sessions on it and verify them against
    torch. A graph from ``trace_dir`` that fails is deleted, with a WARNING, and traced
    afresh; a fresh trace that fails raises :class:`GameAgentError`."""
    start = time.perf_counter()
    module = ExportedPolicy(policy, spec)
    key = graph_key(policy, spec)
    label = f"accelerated graph for {spec.name}"
    cache_key = (digest, key, DEFAULT_OPSET) if digest else None
    file = graph_cache.file_for(trace_dir, cache_key)
    model, source = _traced(module, spec, cache_key, file)
    try:
        session, single, max_error = _verified_sessions(module, model, spec, samples, label)
    except Exception as exc:
        if source != ON_DISK or file is None:
            raise
        graph_cache.discard(file, f"{type(exc).__name__}: {exc}")
        model, source = trace_graph(module, spec, DEFAULT_OPSET), TRACED
        session, single, max_error = _verified_sessions(module, model, spec, samples, label)
    _remember(cache_key, model, file, source)
    elapsed = time.perf_counter() - start
    log.info(
        "compiled %s in %.0f ms (%s, max error vs torch %.1g)",
        label,
        elapsed * 1e3,
        source,
        max_error,
    )
    return CompiledGraph(key, spec.name, session, single, elapsed, source == TRACED, max_error)


def _verified_sessions(
    module: ExportedPolicy, model: bytes, spec: GameSpec, samples: int, label: str
) -> tuple[onnxruntime.InferenceSession, onnxruntime.InferenceSession, float]:
    """The dynamic and batch-1 sessions of ``model``, each checked against torch, and the
    largest difference seen."""
    session, single = new_session(model), _single(module, model, spec)
    max_error = max(
        verify_session(module, session, spec, samples=samples, label=label),
        verify_session(module, single, spec, samples=samples, label=label, batches=(1,)),
    )
    return session, single, max_error


def _single(
    module: ExportedPolicy, model: bytes, spec: GameSpec
) -> onnxruntime.InferenceSession | VectorForward:
    """What answers one player: a vector network's numpy forward pass (cheaper than any
    onnxruntime session at batch 1), else the graph with its batch fixed at 1."""
    if module.policy.layout.kind == VECTOR:
        return VectorForward(module.policy, spec)
    return new_session(model, batch=1)


def new_session(model: bytes, batch: int | None = None) -> onnxruntime.InferenceSession:
    """A single-threaded, sequential CPU session (see the module docstring); ``batch``
    fixes the graph's batch dimension."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    if batch is not None:
        options.add_free_dimension_override_by_name("batch", batch)
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _traced(
    module: ExportedPolicy,
    spec: GameSpec,
    cache_key: tuple[str, GraphKey, int] | None,
    file: Path | None,
) -> tuple[bytes, str]:
    """The graph and where it came from: the process-wide cache, ``file`` in a trace
    directory, else a fresh trace (TRACED, CACHED or ON_DISK)."""
    if cache_key is not None:
        with _traces_lock:
            model = _traces.get(cache_key)
            if model is not None:
                _traces.move_to_end(cache_key)
                return model, CACHED
    if file is not None:
        model = graph_cache.read(file)
        if model is not None:
            return model, ON_DISK
    return trace_graph(module, spec, DEFAULT_OPSET), TRACED


def _remember(
    cache_key: tuple[str, GraphKey, int] | None, model: bytes, file: Path | None, source: str
) -> None:
    """Keep a verified graph in the process-wide cache and, if it is not there yet, in
    its trace directory."""
    if cache_key is not None:
        with _traces_lock:
            _traces[cache_key] = model
            _traces.move_to_end(cache_key)
            while len(_traces) > TRACE_CACHE_SIZE:
                _traces.popitem(last=False)
    if file is None or source == ON_DISK or (source == CACHED and file.exists()):
        return
    graph_cache.write(file, model)


def _weights_digest(policy: ActorCritic) -> str:
    """Identifies the network a graph is traced from: its architecture and every weight."""
    digest = hashlib.sha256()
    digest.update(repr((type(policy).__qualname__, policy.layout, policy.recurrent)).encode())
    for name, tensor in policy.state_dict().items():
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _FusedTurn(NamedTuple):
    """The checked inputs of one fused observe-and-act (AcceleratedLearner.observe_act)."""

    spec: GameSpec
    obs: np.ndarray
    masks: np.ndarray
    draws: np.ndarray | None
    memory: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """``_memory_of``'s arrays with the rewarded rows observed."""
    metas: list[dict[str, Any]]
    """Each new state's meta: a copy with the reward and the decision counted."""


_RECURRENT_ARRAYS = 4
"""memory, prev_action, prev_reward and prev_done: all a recurrent PPO state holds."""
_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


def _in_written_layout(state: AdaptationState) -> bool:
    """True when ``state`` holds exactly the arrays a recurrent PPO learner writes, with the
    two ``observe`` updates as (1,) float32 (any other goes through the reference)."""
    arrays = state.arrays
    if len(arrays) != _RECURRENT_ARRAYS:
        return False
    reward, done = arrays["prev_reward"], arrays["prev_done"]
    return reward.dtype is _F32 and done.dtype is _F32 and reward.shape == done.shape == (1,)
