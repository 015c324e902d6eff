"""SafeLearner decides exactly as it did when ``data/safe_golden.json`` was recorded.

The wrapper's per-call cost was cut after this fixture was recorded from the code
before that work; these tests pin its behaviour: every action, every probability
and every serialised state over long trials of the shipped matrix and poker
agents, and of the rule-based test doubles of ``test_safe.py``, against the
held-out adversaries (fallbacks, switch-backs, Leduc's unprotected play, batches
of one and of several players, greedy play, states stored as bytes between turns
as the server does).

Two levels of comparison, because the shipped agents run torch:

- ``exact``: a sha256 over every decision array and every state's bytes. Torch's
  kernels may round differently on another CPU, so this is enforced where the
  base network reproduces the recording machine's outputs bit for bit (its
  ``fingerprint``), and always for the rule-based doubles (no torch at all);
- ``trace``: actions, modes and the final counters of every trial, compared
  everywhere (counters and summed probabilities to a tolerance).

Regenerate the fixture (only when a behaviour change is intended) with
``python -m tests.game_agent.test_safe_golden``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import games
from game_agent.checkpoint import load
from game_agent.evaluation.runner import play_trials
from game_agent.learner import EpisodeOutcome
from game_agent.learners.safe import SafeLearner, SafetyConfig, read_safety_file
from game_agent.state import AdaptationState
from tests.game_agent.test_safe import (
    POKER_CONFIG,
    AdversaryThenRock,
    RuleLearner,
    maniac,
    repeat_believer,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("data") / "safe_golden.json"
COUNTERS = ("deficit", "threshold", "counterfactual", "pending", "unit_value")
COUNTS = ("mode", "switch_backs", "units", "fallback_decisions", "open")


@dataclass(frozen=True)
class Scenario:
    """One batch of trials: which base, game, opponent and how it is driven."""

    base: str
    """``shipped`` (models/<family>) or ``rule`` (a test double of test_safe.py)."""
    spec: str
    opponent: str
    seat: int
    trials: int
    episodes: int
    greedy: bool = False
    through_bytes: bool = False
    """Store every state as bytes and parse it back between calls, as the server does."""

    @property
    def key(self) -> str:
        flags = "greedy," * self.greedy + "bytes," * self.through_bytes
        return (
            f"{self.base}:{self.spec}:{self.opponent}:seat{self.seat}:"
            f"{self.trials}x{self.episodes}:{flags}"
        )

    @property
    def family(self) -> str:
        return games.parse_spec(self.spec).family


SCENARIOS = (
    Scenario("shipped", "matrix(name=rps)", "adv_last_br2", 0, 1, 2),
    Scenario("shipped", "matrix(name=rps)", "adv_reverse_cycle", 1, 3, 2),
    Scenario("shipped", "matrix(name=rps)", "win_shift", 0, 2, 2, through_bytes=True),
    Scenario("shipped", "matrix(name=biased_rps,bias=3.0)", "adv_freq_br", 1, 2, 2),
    Scenario("shipped", "matrix(name=stag_hunt)", "echo2", 0, 2, 2),
    Scenario("shipped", "matrix(name=rpsls)", "rock_heavy", 1, 2, 1, greedy=True),
    Scenario("shipped", "matrix(name=matching_pennies)", "adv_last_br2", 0, 2, 2),
    Scenario("shipped", "matrix(name=prisoners_dilemma)", "second_order", 1, 2, 1),
    Scenario("shipped", "matrix(name=rps)", "then_rock", 0, 1, 2, through_bytes=True),
    Scenario("shipped", "poker(game=kuhn)", "adaptive_exploiter", 0, 1, 30),
    Scenario("shipped", "poker(game=kuhn)", "adaptive_exploiter", 1, 3, 20),
    Scenario("shipped", "poker(game=kuhn,ranks=4)", "bluffer", 0, 2, 20, through_bytes=True),
    Scenario("shipped", "poker(game=kuhn,max_raises=2)", "trapper", 1, 2, 20, greedy=True),
    Scenario("shipped", "poker(game=kuhn)", "calling_station", 1, 2, 20),
    Scenario("shipped", "poker(game=leduc,bet1=1,bet2=3)", "adaptive_exploiter", 0, 2, 10),
    Scenario("rule", "matrix(name=rps)", "adv_last_br2", 0, 2, 2),
    Scenario("rule", "matrix(name=rps)", "then_rock", 0, 1, 1, through_bytes=True),
    Scenario("rule", "matrix(name=rps)", "then_rock", 1, 2, 2),
    Scenario("rule", "poker(game=kuhn)", "adaptive_exploiter", 0, 2, 30),
    Scenario("rule", "poker(game=kuhn)", "adaptive_exploiter", 1, 1, 30, through_bytes=True),
    Scenario("rule", "poker(game=leduc)", "adaptive_exploiter", 1, 2, 10),
)


# ------------------------------------------------------------------ recording


class Recorder:
    """Forwards the Learner protocol to a SafeLearner and records what comes back."""

    def __init__(self, learner: SafeLearner, through_bytes: bool):
        self.learner = learner
        self.name = learner.name
        self.through_bytes = through_bytes
        self.digest = hashlib.sha256()
        self.trials: dict[int, dict[str, Any]] = {}

    def supports(self, spec: Any) -> bool:
        return self.learner.supports(spec)

    def initial_state(self, spec: Any) -> AdaptationState:
        state = self.learner.initial_state(spec)
        state.meta["base"]["trial"] = len(self.trials)  # a row label the base carries along
        self.trials[len(self.trials)] = {"actions": "", "modes": "", "probs": 0.0}
        return self._states([state])[0]

    def act(self, states, obs, masks, *, greedy=False, draws=None):
        decision, new = self.learner.act(states, obs, masks, greedy=greedy)
        for array in decision:
            self.digest.update(f"{array.dtype}{array.shape}".encode())
            self.digest.update(np.ascontiguousarray(array).tobytes())
        new = self._states(new)
        for i, state in enumerate(new):
            trial = self.trials[state.meta["base"]["trial"]]
            trial["actions"] += str(int(decision.actions[i]))
            trial["modes"] += str(int(state.arrays["safe.mode"][0]))
            trial["probs"] = trial["probs"] + decision.probs[i].astype(np.float64)
        return decision, new

    def observe(self, states, rewards, dones):
        return self._states(self.learner.observe(states, rewards, dones))

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        [state] = self._states([self.learner.end_episode(state, outcome)])
        self.trials[state.meta["base"]["trial"]]["final"] = _counters(state)
        return state

    def _states(self, states: list[AdaptationState]) -> list[AdaptationState]:
        out = []
        for state in states:
            data = state.to_bytes()
            self.digest.update(data)
            out.append(AdaptationState.from_bytes(data) if self.through_bytes else state)
        return out


def _counters(state: AdaptationState) -> dict[str, float | int]:
    values: dict[str, float | int] = {k: float(state.arrays[f"safe.{k}"][0]) for k in COUNTERS}
    values.update({k: int(state.arrays[f"safe.{k}"][0]) for k in COUNTS})
    return values


def _opponent(scenario: Scenario, spec: games.GameSpec):
    if scenario.opponent == "then_rock":
        return AdversaryThenRock(spec, seed=1)
    return games.make_opponent(spec, scenario.opponent, seed=1)


def run_scenario(scenario: Scenario, bases: dict[str, Any]) -> dict[str, Any]:
    """Play the scenario from fresh generators; the exact digest and the per-trial trace."""
    spec = games.parse_spec(scenario.spec)
    if scenario.base == "shipped":
        base, config = bases[scenario.family]
        base.act_generator.manual_seed(1234)
    else:
        rule = repeat_believer if scenario.family == "matrix" else maniac
        base = RuleLearner(rule)
        config = SafetyConfig() if scenario.family == "matrix" else POKER_CONFIG
    recorder = Recorder(SafeLearner(base, config), scenario.through_bytes)
    play_trials(
        recorder,
        spec,
        _opponent(scenario, spec),
        seat=scenario.seat,
        trials=scenario.trials,
        episodes=scenario.episodes,
        seed=7,
        greedy=scenario.greedy,
    )
    _open_unit_then_end(recorder, spec)
    trials = [
        {**t, "probs": np.round(t["probs"], 6).tolist()} for _, t in sorted(recorder.trials.items())
    ]
    return {"exact": recorder.digest.hexdigest(), "trials": trials}


def _open_unit_then_end(recorder: Recorder, spec: games.GameSpec) -> None:
    """An episode cut short: end_episode with a unit still open (a dropped player)."""
    step = games.make_kernel(spec).reset(1, seed=3)
    [state] = [recorder.initial_state(spec)]
    for seat in range(spec.num_agents):
        if not step.acting[0, seat]:
            continue
        _, [state] = recorder.act([state], step.obs[:, seat], step.action_mask[:, seat])
        break
    recorder.end_episode(state, EpisodeOutcome(0.0, 0, 1))


def fingerprint(base: Any, spec_name: str) -> str:
    """sha256 of the base network's greedy outputs over a fixed game: its float rounding."""
    spec = games.parse_spec(spec_name)
    kernel = games.make_kernel(spec)
    step = kernel.reset(2, seed=0)
    states = [base.initial_state(spec) for _ in range(2)]
    digest = hashlib.sha256()
    for _ in range(12):
        seat = int(np.argmax(step.acting[0]))
        decision, states = base.act(
            states, step.obs[:, seat], step.action_mask[:, seat], greedy=True
        )
        digest.update(decision.probs.tobytes() + decision.values.tobytes())
        digest.update(np.stack([s.arrays["memory"] for s in states]).tobytes())
        actions = np.zeros((2, spec.num_agents), dtype=np.int64)
        actions[:, seat] = decision.actions
        step = kernel.step(actions)
        if step.done.any():
            step = kernel.reset(2, seed=1)
    return digest.hexdigest()


FINGERPRINT_SPECS = {"matrix": "matrix(name=rps)", "poker": "poker(game=kuhn)"}


def load_bases() -> dict[str, tuple[Any, SafetyConfig]]:
    bases = {}
    for family in ("matrix", "poker"):
        config = read_safety_file(ROOT / "models" / family)
        assert config is not None
        bases[family] = (load(ROOT / "models" / family, safety=False), config)
    return bases


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """The recording ran single-threaded, as the server's latency runs do."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def record() -> dict[str, Any]:
    bases = load_bases()
    return {
        "fingerprints": {
            family: fingerprint(base, FINGERPRINT_SPECS[family])
            for family, (base, _) in bases.items()
        },
        "scenarios": {s.key: run_scenario(s, bases) for s in SCENARIOS},
    }


# ---------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def played(one_thread) -> dict[str, Any]:
    return record()


def test_fixture_covers_fallbacks_switch_backs_and_unprotected_play(golden):
    scenarios = golden["scenarios"]
    assert set(scenarios) == {s.key for s in SCENARIOS}
    finals = [t["final"] for s in scenarios.values() for t in s["trials"] if "final" in t]
    assert sum(f["fallback_decisions"] for f in finals) > 100
    assert any(f["switch_backs"] for f in finals)
    for scenario in SCENARIOS:
        modes = "".join(t["modes"] for t in scenarios[scenario.key]["trials"])
        if "leduc" in scenario.spec:
            assert set(modes) == {"0"}, scenario.key  # no equilibrium to fall back on


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.key)
def test_actions_modes_and_counters_match_the_recording(scenario, golden, played):
    expected = golden["scenarios"][scenario.key]["trials"]
    got = played["scenarios"][scenario.key]["trials"]
    assert len(got) == len(expected)
    for trial, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have["actions"] == want["actions"], f"trial {trial}: actions differ"
        assert have["modes"] == want["modes"], f"trial {trial}: modes differ"
        np.testing.assert_allclose(have["probs"], want["probs"], atol=1e-4)
        if "final" in want:
            for name, value in want["final"].items():
                assert have["final"][name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.key)
def test_decisions_and_state_bytes_are_identical(scenario, golden, played):
    if scenario.base == "shipped":
        family = scenario.family
        if played["fingerprints"][family] != golden["fingerprints"][family]:
            pytest.skip(f"torch rounds the {family} network differently on this machine")
    assert played["scenarios"][scenario.key]["exact"] == golden["scenarios"][scenario.key]["exact"]


if __name__ == "__main__":
    torch.set_num_threads(1)
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
