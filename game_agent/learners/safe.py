"""SafeLearner: an adaptive policy that falls back to the equilibrium before it can be farmed.

An adaptive agent is exploitable by construction: it follows what it believes
about the player, and a player who knows that (the held-out ``adv_*`` matrix
styles, poker's ``adaptive_exploiter``) can feed it a pattern and punish the
exploit. :class:`SafeLearner` wraps any learner in a conservative switch, in the
spirit of GSCU (Fu et al., ICML 2022) and safe opponent exploitation (Ganzfried
& Sandholm, 2015): it plays the adaptive policy while what it has won or lost
stays within an explicit loss budget of the equilibrium, and the family's
equilibrium policy once it does not.

Accounting, per player (one AdaptationState, so it spans every episode the
player plays). A *unit* is a matrix round or a poker hand. v_t is the reward
the fallback guarantees in unit t (:mod:`game_agent.learners.safe_guards`:
the game value for zero-sum matrix variants and Kuhn, per seat; the security
level in general-sum matrix variants) and g_t is what the played policy earned:

- matrix: the *expected* reward of the mixture actually played against the
  move the opponent actually made (shown in the next observation),
  ``p_t . A[:, o_t]``; the last round of a match, whose opponent move is never
  shown, counts its realised reward. Our own sampling is independent of the
  opponent's simultaneous move, so ``E[realised - g_t] = 0`` and the
  accounting merely drops our own dice from the variance;
- poker: the realised reward of the hand.

The deficit is ``D_t = sum_{s <= t} (v_s - g_s)``. Before each decision:

1. adaptive mode, ``D > tau``: switch to the fallback (tau starts at ``budget``);
2. fallback mode, matrix only: the adaptive policy keeps acting in the shadow
   and its counterfactual gain ``C = sum (q_s . A[:, o_s] - v_s)`` since the
   switch (q_s: its mixture) is tracked; once ``C >= hysteresis`` and fewer
   than ``switch_backs`` switch-backs were used, it plays again with a fresh
   stint budget: ``tau = D + stint_budget``.

The base learner observes every turn (rewards and episode ends), and when the
fallback's move was played it is told so (RL2's previous-action input, MAML's
recorded action), so it keeps adapting to the player while benched.

Worst-case bound. Let Delta = max_t (v_t - min payoff of unit t), the most a
unit can lose against v. Adaptive stint 0 runs while ``D <= budget``, so its
units add at most ``budget + Delta`` to D; stint k >= 1 starts at D = tau - b
(b = ``stint_budget``) and adds at most ``b + Delta``. Fallback units add
``v_t - g_t``, whose conditional expectation is <= 0 (the fallback guarantees
v_t against any move; in matrix games with the expected accounting it is <= 0
outright, except in a match's last round). The mode of unit t is fixed before
unit t is played, so by linearity of expectation, over any number T of units
and against *any* opponent, adaptive or not::

    E[sum_t (v_t - r_t)]  <=  budget + Delta + S * (stint_budget + Delta)

with S = ``switch_backs`` (0 in poker). The mean reward per unit is therefore
at least ``v - (budget + Delta + S (stint_budget + Delta)) / T``. For RPS
(rewards in [-1, 1], v = 0, Delta = 1) with the defaults (0.25, 1 switch-back,
0.25) that is 2.5 per player, 0.05 per round over a 50-round match; for
standard Kuhn (Delta = 2 - 1/18 for player_0, 2 + 1/18 for player_1) with
budget 0.5 it is 2.44 and 2.56 chips per player, about 0.05 per hand after
50 hands. Hysteresis is what
stops farming: the opponent cannot trigger switch-backs at will, only by
letting the shadow policy win ``hysteresis`` in expectation, and S bounds how
often that can be paid for. The price is paid against exploitable players:
an adaptive policy that loses more than the budget while still learning about
the player is benched, and in poker (no counterfactual) stays benched.

Cost per call. The server runs this wrapper on every turn of every player, so
its own work is kept to tens of microseconds: guards are found by the state's
spec text without parsing it, the counters are read into Python numbers
(:class:`_Counters`; the same IEEE arithmetic as the (1,) float64 / int64
arrays they are stored in) and written back once, for the whole batch at a
time (each (1,) array a view of its own element of one new float64 or int64
array, the mixtures last played rows of one new float32 array: a few numpy
calls per batch instead of a dozen per player, and still no two arrays sharing
a byte), the guards read observations from their bytes, and the base learner
gets the player's arrays without a copy (the Learner protocol leaves inputs
untouched), any array it hands back
unchanged being copied then, so that a new state never shares an array with the
one passed in. A server turn (observe the reward, then act) goes through
:meth:`SafeLearner.observe_act`, which unwraps and wraps each state once instead
of twice and lets the base fuse its own two calls; one player's turn of a matrix game,
its inputs as a server sends them, is accounted with scalars rather than batch arrays
(:meth:`SafeLearner._lone_turn`, any other input going to the batch code).
``tests/game_agent/test_safe_golden.py`` pins the decisions and state bytes to
those of the straightforward numpy version this replaced, and
``tests/game_agent/test_observe_act.py`` (and ``test_safe_lone_turn.py``) the fused turn to
the two calls.

Checkpoints: a ``safety.json`` beside ``meta.json`` (:func:`write_safety_file`)
makes :func:`game_agent.checkpoint.load` return the wrapped learner, so the
server and ``play --local`` serve the safe agent without knowing it.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from game_agent.errors import (
    CheckpointError,
    ConfigError,
    GameAgentError,
    IncompatibleGameError,
    StateError,
)
from game_agent.learner import (
    Decision,
    EpisodeOutcome,
    Learner,
    exact_array,
    exact_draw,
    has_cheap_end_episode,
    observe_and_act,
    observe_then_act,
    per_player_rewards,
)
from game_agent.learners.safe_guards import (
    UNIT,
    MatrixGuard,
    PokerGuard,
    StageSolution,
    make_guard,
)
from game_agent.sampling import checked_draws
from game_agent.state import AdaptationState
from games import GameSpec, parse_spec

SAFETY_FILE = "safety.json"
SAFETY_FORMAT = "game-agent-safety/1"
BASE, SAFE = "base.", "safe."
PLAYED, SHADOW = "safe.played_probs", "safe.shadow_probs"
ADAPTIVE, FALLBACK = 0, 1

_SCALARS = {
    "deficit": np.float64,
    "threshold": np.float64,
    "counterfactual": np.float64,
    "pending": np.float64,
    "unit_value": np.float64,
    "mode": np.int64,
    "switch_backs": np.int64,
    "units": np.int64,
    "fallback_decisions": np.int64,
    "open": np.int64,
}
"""Per-player counters, each a (1,) array named ``safe.<name>`` in the state."""
_FLOATS = ("deficit", "threshold", "counterfactual", "pending", "unit_value")
_INTS = ("mode", "switch_backs", "units", "fallback_decisions", "open")
assert tuple(_SCALARS) == _FLOATS + _INTS, "_Counters.store writes them in this order"
_SAFE_FLOATS = tuple(SAFE + name for name in _FLOATS)
_SAFE_INTS = tuple(SAFE + name for name in _INTS)


@dataclass(frozen=True)
class SafetyConfig:
    """How much the adaptive policy may lose before the equilibrium takes over."""

    budget: float = 0.25
    """Deficit (reward units: normalised payoffs in matrix games, chips in poker) below the
    equilibrium value the adaptive policy may run up before the fallback plays."""
    switch_backs: int = 1
    """How often the adaptive policy may return after a fallback (matrix games only)."""
    stint_budget: float = 0.25
    """Further deficit each switch-back may run up before the fallback plays again."""
    hysteresis: float = 2.0
    """Counterfactual gain over v the benched adaptive policy must show before it returns."""
    seed: int = 0
    """Seeds the fallback's sampling."""

    def __post_init__(self) -> None:
        for name in ("budget", "stint_budget", "hysteresis"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ConfigError(f"safety {name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.switch_backs, int) or self.switch_backs < 0:
            raise ConfigError(
                f"safety switch_backs must be a count >= 0, got {self.switch_backs!r}"
            )
        if not isinstance(self.seed, int):
            raise ConfigError(f"safety seed must be an integer, got {self.seed!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SafetyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown safety setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def worst_case_deficit(self, max_loss: float, counterfactual: bool = True) -> float:
        """The bound of the module docstring on the expected total shortfall below v."""
        switch_backs = self.switch_backs if counterfactual else 0
        return self.budget + max_loss + switch_backs * (self.stint_budget + max_loss)


class SafeLearner:
    """Any learner behind the conservative switch of the module docstring."""

    def __init__(self, base: Learner, config: SafetyConfig | None = None):
        self.base = base
        self.config = config or SafetyConfig()
        self.name = f"safe_{base.name}"
        self._guards: dict[str, MatrixGuard | PokerGuard] = {}
        self._guards_by_text: dict[str, MatrixGuard | PokerGuard] = {}
        """Guards by the spec text states carry: parsing a spec costs more than a turn."""

    @property
    def cheap_end_episode(self) -> bool:
        """Closing the hand's accounting is bookkeeping: as cheap as the base's adaptation."""
        return has_cheap_end_episode(self.base)

    # The wrapped learner's network, layout and description stay reachable (eval, export).
    @property
    def layout(self) -> Any:
        return self.base.layout  # type: ignore[attr-defined]

    @property
    def policy(self) -> Any:
        return self.base.policy  # type: ignore[attr-defined]

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "safety": asdict(self.config)}  # type: ignore[attr-defined]

    def supports(self, spec: GameSpec | str) -> bool:
        try:
            spec = parse_spec(spec)
        except ValueError:
            return False
        return spec.family in UNIT and bool(self.base.supports(spec))

    def guard(self, spec: GameSpec | str) -> MatrixGuard | PokerGuard:
        spec = parse_spec(spec)
        if spec.name not in self._guards:
            guard = make_guard(spec, self.config.seed)
            if guard is None:
                raise IncompatibleGameError(
                    f"the safety wrapper protects {sorted(UNIT)} only, not {spec.family}"
                )
            self._guards[spec.name] = guard
        return self._guards[spec.name]

    def _guard_of(self, spec: str) -> MatrixGuard | PokerGuard:
        """:meth:`guard` for a state's spec text (one guard per variant however it is spelt)."""
        guard = self._guards_by_text.get(spec)
        if guard is None:
            guard = self.guard(spec)
            if len(self._guards_by_text) >= 256:
                self._guards_by_text.clear()
            self._guards_by_text[spec] = guard
        return guard

    def initial_state(self, spec: GameSpec | str) -> AdaptationState:
        spec = parse_spec(spec)
        self.guard(spec)
        base = self.base.initial_state(spec)
        counters = _Counters(threshold=float(self.config.budget))
        counters.extra[PLAYED] = np.zeros(spec.num_actions, dtype=np.float32)
        counters.extra[SHADOW] = np.zeros(spec.num_actions, dtype=np.float32)
        [state] = self._wrap_all([base], [counters])
        return state

    # ------------------------------------------------------------------ protocol

    def act(
        self,
        states: Sequence[AdaptationState],
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        """The adaptive move, or the fallback's where the budget is spent.

        ``greedy`` applies to the adaptive policy only: a deterministic equilibrium
        would be exploitable, so the fallback always samples its mixture. A row's draw
        (``draws``) serves whichever of the two plays it.
        """
        bases, counters = self._unwrap_all(states)
        guard = self._guard_of(states[0].spec)
        obs = np.asarray(obs, dtype=np.float32)
        masks = np.asarray(masks).astype(bool)
        draws = checked_draws(draws, len(states))
        decision, new_bases = self.base.act(bases, obs, masks, greedy=greedy, draws=draws)
        return self._decide(guard, bases, counters, obs, masks, draws, decision, new_bases)

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
        """:func:`~game_agent.learner.observe_then_act` with each state unwrapped and
        wrapped once: the base observes and acts in one call (its own ``observe_act``
        where it has one), the rewards are counted as ``observe`` counts them, then
        ``act``'s accounting follows. One player's turn tries :meth:`_lone_turn` first."""
        rewards, rewarded = per_player_rewards(len(states), rewards, rewarded)
        if len(states) == 1:
            turn = self._lone_turn(states[0], rewards, rewarded, obs, masks, greedy, draws)
            if turn is not None:
                return turn
        try:
            bases, counters = self._unwrap_all(states)
            guard = self._guard_of(states[0].spec)
            obs = np.asarray(obs, dtype=np.float32)
            masks = np.asarray(masks).astype(bool)
            draws = checked_draws(draws, len(states))
        except (GameAgentError, ValueError, TypeError):  # the reference raises it in its place
            bases = []
        if not bases or any(s.spec != states[0].spec for s in states):
            return observe_then_act(
                self, states, rewards, rewarded, obs, masks, greedy=greedy, draws=draws
            )
        decision, new_bases = observe_and_act(
            self.base, bases, rewards, rewarded, obs, masks, greedy=greedy, draws=draws
        )
        _add_rewards(counters, rewards, rewarded)
        return self._decide(guard, bases, counters, obs, masks, draws, decision, new_bases)

    def _lone_turn(
        self,
        state: AdaptationState,
        rewards: np.ndarray,
        rewarded: np.ndarray,
        obs: np.ndarray,
        masks: np.ndarray,
        greedy: bool,
        draws: np.ndarray | None,
    ) -> tuple[Decision, list[AdaptationState]] | None:
        """:meth:`observe_act` for one player of a matrix game, its accounting done with
        scalars instead of batch arrays (a server's lone turn is mostly such overhead).
        None, before anything is called or drawn, wherever the batch path would convert
        an input rather than take it as it is, or refuse one: that path then answers.
        The same base call, the same updates in the same order, the same arrays written."""
        if not _lone_inputs(rewards, rewarded, obs, masks, draws):
            return None
        try:
            guard = self._guard_of(state.spec)
            if type(guard) is not MatrixGuard or not guard.protects:
                return None
            [base], [c] = self._unwrap_all([state])
        except (GameAgentError, ValueError, TypeError):
            return None
        masks = masks.copy()  # as the batch path's astype: the base gets a copy
        decision, new_bases = observe_and_act(
            self.base, [base], rewards, rewarded, obs, masks, greedy=greedy, draws=draws
        )
        if rewarded[0]:
            c.pending += float(rewards[0])
        [new_base] = _unshared(new_bases, [base])
        solution, their = guard.read_row(obs.tobytes())
        _settle_round(c, solution, their)
        self._switch(c, shadow=guard.counterfactual)
        actions = decision.actions.copy()
        probs = decision.probs
        if c.mode == FALLBACK:
            probs = probs.copy()
            row_draws = None if draws is None else [float(draws[0])]
            actions[:], probs[:] = guard.draw([solution.strategy], masks, row_draws)
            new_base = _record_played(new_base, base, actions[:1].astype(np.int64))
            c.fallback_decisions += 1
        played, shadow = probs[0].astype(np.float32), decision.probs[0].astype(np.float32)
        _open_round(c, solution, played, shadow)
        new_states = self._wrap_all([new_base], [c])
        return Decision(actions, probs.astype(np.float32), decision.values), new_states

    def _decide(
        self,
        guard: MatrixGuard | PokerGuard,
        bases: list[AdaptationState],
        counters: list[_Counters],
        obs: np.ndarray,
        masks: np.ndarray,
        draws: np.ndarray | None,
        decision: Decision,
        new_bases: list[AdaptationState],
    ) -> tuple[Decision, list[AdaptationState]]:
        """``act`` after the base's decision: settle the accounting, play the fallback where
        the budget is spent, and wrap the new states."""
        new_bases = _unshared(new_bases, bases)
        solutions: list[StageSolution] = []
        if isinstance(guard, MatrixGuard):
            solutions, their = guard.read(obs)
            _settle_rounds(their, solutions, counters)
        else:
            _open_hands(guard, obs, counters)
        if guard.protects:
            for c in counters:
                self._switch(c, shadow=guard.counterfactual)
        benched = [i for i, c in enumerate(counters) if guard.protects and c.mode == FALLBACK]
        actions = decision.actions.copy()
        probs = decision.probs
        if benched:
            probs = probs.copy()
            _play_fallback(guard, benched, obs, masks, draws, solutions, actions, probs)
            played = actions[benched].astype(np.int64).reshape(-1, 1)  # rows: (1,) arrays
            for i, action in zip(benched, played, strict=True):
                new_bases[i] = _record_played(new_bases[i], bases[i], action)
                counters[i].fallback_decisions += 1
        if solutions:
            _open_rounds(solutions, probs, decision.probs, counters)
        new_states = self._wrap_all(new_bases, counters)
        return Decision(actions, probs.astype(np.float32), decision.values), new_states

    def observe(
        self, states: Sequence[AdaptationState], rewards: np.ndarray, dones: np.ndarray
    ) -> list[AdaptationState]:
        if not len(states):
            return []
        bases, counters = self._unwrap_all(states)
        new_bases = _unshared(self.base.observe(bases, rewards, dones), bases)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1).tolist()
        dones = np.asarray(dones, dtype=bool).reshape(-1).tolist()
        protects = self._guard_of(states[0].spec).protects
        for c, reward, done in zip(counters, rewards, dones, strict=True):
            c.pending += reward
            if done:
                c.close_unit(count=protects)
        return self._wrap_all(new_bases, counters)

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        [base], [counters] = self._unwrap_all([state])
        if counters.open:
            counters.close_unit(count=self._guard_of(state.spec).protects)
        [new_base] = _unshared([self.base.end_episode(base, outcome)], [base])
        [new_state] = self._wrap_all([new_base], [counters])
        return new_state

    # ---------------------------------------------------------------- accounting

    def _switch(self, c: _Counters, shadow: bool) -> None:
        if c.mode == ADAPTIVE and c.deficit > c.threshold:
            c.mode = FALLBACK
            c.counterfactual = 0.0
        elif (
            shadow
            and c.mode == FALLBACK
            and c.switch_backs < self.config.switch_backs
            and c.counterfactual >= self.config.hysteresis
        ):
            c.mode = ADAPTIVE
            c.switch_backs += 1
            c.threshold = c.deficit + self.config.stint_budget
            c.counterfactual = 0.0

    # ------------------------------------------------------------------- states

    def _wrap_all(
        self, bases: list[AdaptationState], counters: list[_Counters]
    ) -> list[AdaptationState]:
        """Each base state's arrays as ``base.<name>`` and its player's counters and
        mixtures as ``safe.<name>``, in one state of this learner per player."""
        floats, ints = _counter_arrays(counters)
        states = []
        for base, c in zip(bases, counters, strict=True):
            arrays = {BASE + k: v for k, v in base.arrays.items()}
            for key in _SAFE_FLOATS:
                arrays[key] = next(floats)
            for key in _SAFE_INTS:
                arrays[key] = next(ints)
            c.store_extra(arrays)
            meta = {"base": base.meta, "base_learner": base.learner}
            states.append(AdaptationState(self.name, base.spec, arrays, meta))
        return states

    def _unwrap_all(
        self, states: Sequence[AdaptationState]
    ) -> tuple[list[AdaptationState], list[_Counters]]:
        if not states:
            raise StateError("act needs at least one player state")
        bases, counters = [], []
        base_name = self.base.name
        for state in states:
            if state.learner != self.name:
                raise StateError(f"state belongs to learner {state.learner!r}, not {self.name!r}")
            arrays, base_meta = state.arrays, state.meta.get("base")
            names = _names_of(tuple(arrays))
            if names.missing or not isinstance(base_meta, dict):
                raise StateError(f"{self.name} state lacks its safety counters {names.missing}")
            base_arrays = {short: arrays[key] for key, short in names.base}
            c = _Counters.load(_scalars_of(arrays), arrays, names.extra)
            if c is None:
                raise StateError(f"{self.name} state has malformed safety counters")
            bases.append(AdaptationState(base_name, state.spec, base_arrays, base_meta))
            counters.append(c)
        return bases, counters


class _Names(NamedTuple):
    """Where a wrapped state's arrays go, worked out once per set of array names."""

    base: tuple[tuple[str, str], ...]
    """(``base.<name>``, ``<name>``) of the base learner's arrays."""
    extra: tuple[str, ...]
    """``safe.<name>`` of the other safety arrays (the mixtures last played)."""
    missing: list[str]
    """Counters the state lacks."""


@functools.lru_cache(maxsize=64)
def _names_of(keys: tuple[str, ...]) -> _Names:
    base = tuple((k, k[len(BASE) :]) for k in keys if k.startswith(BASE))
    safe = [k[len(SAFE) :] for k in keys if k.startswith(SAFE)]
    return _Names(
        base,
        tuple(SAFE + k for k in safe if k not in _SCALARS),
        [k for k in _SCALARS if k not in safe],
    )


_scalars_of = operator.itemgetter(*_SAFE_FLOATS, *_SAFE_INTS)
"""A wrapped state's counter arrays, in ``_SCALARS`` order."""
_LOADED_TYPES = (float,) * len(_FLOATS) + (int,) * len(_INTS)
"""What ``item()`` gives for each counter of a well-formed state, in that order."""
_float_values = operator.attrgetter(*_FLOATS)
_int_values = operator.attrgetter(*_INTS)


class _Counters:
    """One player's ``safe.*`` arrays as Python numbers while a call updates them.

    Python floats and ints do the same IEEE double and integer arithmetic the
    (1,) float64 / int64 arrays did, without a numpy call per update.
    """

    __slots__ = (*_FLOATS, *_INTS, "extra", "inherited")

    def __init__(self, threshold: float = 0.0):
        self.deficit = self.counterfactual = self.pending = self.unit_value = 0.0
        self.threshold = threshold
        self.mode = self.switch_backs = self.units = self.fallback_decisions = self.open = 0
        self.extra: dict[str, np.ndarray] = {}
        """Every other ``safe.*`` array by its key (the mixtures last played)."""
        self.inherited: dict[str, np.ndarray] = {}
        """The arrays of the state read, by key: an ``extra`` array still one of them is
        copied when stored."""

    @classmethod
    def load(
        cls, scalars: tuple[Any, ...], arrays: dict[str, np.ndarray], extra: tuple[str, ...]
    ) -> _Counters | None:
        """The counters of the (1,) arrays in ``_SCALARS`` order and the ``extra`` arrays
        of the state's ``arrays``; None if a counter is malformed."""
        try:
            values = [array.item() for array in scalars]
        except (ValueError, AttributeError):  # not one element, not an array
            return None
        if tuple(map(type, values)) != _LOADED_TYPES:
            return None
        c = cls.__new__(cls)
        (
            c.deficit,
            c.threshold,
            c.counterfactual,
            c.pending,
            c.unit_value,
            c.mode,
            c.switch_backs,
            c.units,
            c.fallback_decisions,
            c.open,
        ) = values
        c.extra = {key: arrays[key] for key in extra}
        c.inherited = arrays
        return c

    def store_extra(self, arrays: dict[str, np.ndarray]) -> None:
        """Write the ``extra`` arrays into a new state's ``arrays``, copying any that is
        still the state read's own (a new state never shares an array with it)."""
        inherited = self.inherited
        for key, array in self.extra.items():
            arrays[key] = array.copy() if inherited.get(key) is array else array

    def close_unit(self, count: bool) -> None:
        """Count a unit at its realised reward (a poker hand; a match's unrevealed last
        round)."""
        if count:
            self.deficit += self.unit_value - self.pending
            self.units += 1
        self.pending = 0.0
        self.open = 0


def _counter_arrays(
    counters: list[_Counters],
) -> tuple[Iterator[np.ndarray], Iterator[np.ndarray]]:
    """The players' counters as (1,) arrays: float64 ones in ``_FLOATS`` order, player
    after player, and int64 ones in ``_INTS`` order.

    Two numpy calls per batch instead of ten per player: each array is a view of its
    own element of one new float64 or int64 array, so it shares no bytes with another
    (writing one changes no other) nor with any state passed in.
    """
    floats = np.array(list(map(_float_values, counters)), dtype=np.float64)
    ints = np.array(list(map(_int_values, counters)), dtype=np.int64)
    return iter(floats.reshape(-1, 1)), iter(ints.reshape(-1, 1))


def _unshared(
    states: list[AdaptationState], inputs: list[AdaptationState]
) -> list[AdaptationState]:
    """The base learner's new states, with a copy of any array it handed back unchanged.

    The base gets the player's arrays themselves (the Learner protocol leaves inputs
    untouched), and a state returned here never shares an array with the one passed in.
    """
    out = []
    for state, before in zip(states, inputs, strict=True):
        shared = [k for k, v in state.arrays.items() if before.arrays.get(k) is v]
        if shared:
            arrays = dict(state.arrays)
            arrays.update((k, arrays[k].copy()) for k in shared)
            state = AdaptationState(state.learner, state.spec, arrays, state.meta)
        out.append(state)
    return out


def _lone_inputs(
    rewards: Any, rewarded: Any, obs: Any, masks: Any, draws: np.ndarray | None
) -> bool:
    """Whether one player's turn comes exactly as a server gives it, and as the batch path
    would take it without converting anything: (1,) float32 rewards and bool flags, one
    row of float32 observations and of a bool mask, and no draw or one in [0, 1)."""
    return (
        exact_array(rewards, _F32, (1,))
        and exact_array(rewarded, _BOOL, (1,))
        and exact_array(obs, _F32, None)
        and exact_array(masks, _BOOL, None)
        and obs.ndim == masks.ndim == 2
        and len(obs) == len(masks) == 1
        and exact_draw(draws)
    )


_F32, _BOOL = np.dtype(np.float32), np.dtype(np.bool_)


def _add_rewards(counters: list[_Counters], rewards: Any, rewarded: Any) -> None:
    """Add each rewarded row's reward, as float64, to its player's ``pending``, as
    ``observe`` does (the fused base call has checked that both are one per player)."""
    rewards = np.asarray(rewards, dtype=np.float64).tolist()
    rewarded = np.asarray(rewarded, dtype=bool).tolist()
    for c, reward, got in zip(counters, rewards, rewarded, strict=True):
        if got:
            c.pending += reward


def _play_fallback(
    guard: MatrixGuard | PokerGuard,
    benched: list[int],
    obs: np.ndarray,
    masks: np.ndarray,
    draws: np.ndarray | None,
    solutions: list[StageSolution],
    actions: np.ndarray,
    probs: np.ndarray,
) -> None:
    """Overwrite the benched rows of ``actions`` and ``probs`` with the fallback's play
    (at the rows' ``draws`` when given, else at the guard's own)."""
    rows = slice(None) if len(benched) == len(actions) else np.array(benched)
    row_draws = None if draws is None else draws[rows].tolist()
    if isinstance(guard, MatrixGuard):
        strategies = [solutions[i].strategy for i in benched]
        actions[rows], probs[rows] = guard.draw(strategies, masks[rows], row_draws)
    else:
        actions[rows], probs[rows] = guard.fallback(obs[rows], masks[rows], row_draws)


def _settle_rounds(
    their: list[int], solutions: list[StageSolution], counters: list[_Counters]
) -> None:
    """Account the round just revealed, player by player (:func:`_settle_round`)."""
    for i, c in enumerate(counters):
        _settle_round(c, solutions[i], their[i])


def _settle_round(c: _Counters, solution: StageSolution, their: int) -> None:
    """Account one player's round just revealed (``their``: the opponent's move, -1 when
    none was shown): expected reward of the played and shadow mixtures."""
    if not c.open:
        return
    if their < 0:  # nothing shown: count what was actually received
        c.close_unit(count=True)
        return
    column = solution.columns[their]
    v = c.unit_value
    c.deficit += v - float(c.extra[PLAYED] @ column)
    if c.mode == FALLBACK:
        c.counterfactual += float(c.extra[SHADOW] @ column) - v
    c.units += 1
    c.pending = 0.0
    c.open = 0


def _open_rounds(
    solutions: list[StageSolution],
    played: np.ndarray,
    shadow: np.ndarray,
    counters: list[_Counters],
) -> None:
    """Open every player's next round: its value v and, as float32 rows, the mixture
    ``played`` and the adaptive policy's (``shadow``), both (B, A).

    One copy of each per batch: a player's rows are views of their own bytes in it.
    """
    played_rows = played.astype(np.float32, order="C")
    shadow_rows = shadow.astype(np.float32, order="C")
    for c, solution, p, q in zip(counters, solutions, played_rows, shadow_rows, strict=True):
        _open_round(c, solution, p, q)


def _open_round(
    c: _Counters, solution: StageSolution, played: np.ndarray, shadow: np.ndarray
) -> None:
    """Open one player's next round: the float32 mixtures (A,) ``played`` and ``shadow``,
    arrays of its own, become its ``extra`` ones."""
    c.extra[PLAYED] = played
    c.extra[SHADOW] = shadow
    c.unit_value = solution.value
    c.open = 1


def _open_hands(guard: PokerGuard, obs: np.ndarray, counters: list[_Counters]) -> None:
    """A hand's reference value is fixed by the seat at its first decision."""
    if all(c.open for c in counters):
        return
    values = guard.value(obs)
    for i, c in enumerate(counters):
        if not c.open:
            c.unit_value = float(values[i])
            c.open = 1


def _record_played(
    state: AdaptationState, before: AdaptationState, action: np.ndarray
) -> AdaptationState:
    """Tell the base learner which move was really played (it chose another one):
    ``action``, a (1,) int64 array of its own, becomes its ``prev_action``.

    RL2 and the multi-task baseline feed ``prev_action`` to the network; MAML
    records each decision's action in ``pending.action`` for its next inner loop
    (only while it still adapts, hence the comparison with the state ``before``).
    """
    if "prev_action" in state.arrays:
        state.arrays["prev_action"] = action
    pending = state.arrays.get("pending.action")
    earlier = before.arrays.get("pending.action")
    if pending is not None and earlier is not None and len(pending) > len(earlier):
        pending = pending.copy()
        pending[-1] = int(action[0])
        state.arrays["pending.action"] = pending
    return state


# ------------------------------------------------------------------ checkpoints


def write_safety_file(checkpoint: str | Path, config: SafetyConfig) -> Path:
    """Enable the wrapper for a checkpoint directory: ``load`` returns a SafeLearner."""
    path = Path(checkpoint) / SAFETY_FILE
    payload = {"format": SAFETY_FORMAT, "safety": asdict(config)}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def read_safety_file(checkpoint: str | Path) -> SafetyConfig | None:
    """The checkpoint's safety settings, or None when it has no ``safety.json``."""
    directory = Path(checkpoint)
    if directory.name == "meta.json":
        directory = directory.parent
    path = directory / SAFETY_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        if payload.get("format") != SAFETY_FORMAT:
            raise ValueError(f"format is {payload.get('format')!r}, not {SAFETY_FORMAT!r}")
        return SafetyConfig.from_dict(dict(payload["safety"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path} is not a valid safety file: {exc}") from None


def with_safety(learner: Any, checkpoint: str | Path) -> Any:
    """``learner`` wrapped as the checkpoint's ``safety.json`` says (unchanged without one)."""
    config = read_safety_file(checkpoint)
    return learner if config is None else SafeLearner(learner, config)
