"""SafeLearner's states: never sharing arrays with the states passed in, malformed
counters refused, one guard per variant however its spec is spelt."""

from __future__ import annotations

import numpy as np
import pytest

import games
from game_agent.errors import StateError
from game_agent.learner import Decision, EpisodeOutcome
from game_agent.learners.safe import FALLBACK, SafeLearner, SafetyConfig
from game_agent.state import AdaptationState
from tests.game_agent.test_safe import RuleLearner, maniac, repeat_believer

RPS = games.parse_spec("matrix(name=rps)")
KUHN = games.parse_spec("poker(game=kuhn)")


class SharingLearner(RuleLearner):
    """Keeps the player's arrays as they are and hands the very same objects back
    (allowed: the protocol only asks that inputs are left untouched)."""

    def initial_state(self, spec):
        state = super().initial_state(spec)
        state.arrays = {"memory": np.zeros(3, np.float32), "prev_action": np.zeros(1, np.int64)}
        return state

    def act(self, states, obs, masks, *, greedy=False, draws=None):
        actions = self.rule(games.parse_spec(states[0].spec), obs, masks)
        probs = np.eye(masks.shape[1], dtype=np.float32)[actions]
        decision = Decision(actions, probs, np.zeros(len(actions), np.float32))
        return decision, [_same_arrays(s) for s in states]

    def observe(self, states, rewards, dones):
        return [_same_arrays(s) for s in states]

    def end_episode(self, state, outcome):
        return _same_arrays(state)


def _same_arrays(state: AdaptationState) -> AdaptationState:
    return AdaptationState(state.learner, state.spec, dict(state.arrays), dict(state.meta))


def _first_step(spec, seat=0):
    step = games.make_kernel(spec).reset(2, seed=0)
    return step.obs[:, seat], step.action_mask[:, seat]


def _assert_nothing_shared(before: list[AdaptationState], after: list[AdaptationState]) -> None:
    for old in before:
        for new in after:
            for name, array in new.arrays.items():
                for other in old.arrays.values():
                    assert not np.shares_memory(array, other), name


@pytest.mark.parametrize(
    ("spec", "rule"), [(RPS, repeat_believer), (KUHN, maniac)], ids=["matrix", "poker"]
)
@pytest.mark.parametrize("benched", [False, True])
def test_new_states_share_no_array_with_the_states_passed_in(spec, rule, benched):
    safe = SafeLearner(SharingLearner(rule), SafetyConfig())
    states = [safe.initial_state(spec) for _ in range(2)]
    if benched:
        for state in states:
            state.arrays["safe.mode"][0] = FALLBACK
    obs, masks = _first_step(spec)
    _, acted = safe.act(states, obs, masks)
    _assert_nothing_shared(states, acted)
    observed = safe.observe(acted, np.array([1.0, -1.0]), np.array([False, True]))
    _assert_nothing_shared(acted, observed)
    ended = safe.end_episode(observed[0], EpisodeOutcome(1.0, 1, 1))
    _assert_nothing_shared(observed[:1], [ended])
    # and the inputs kept their values
    assert int(states[0].arrays["safe.units"][0]) == 0
    assert acted[0].arrays["safe.open"][0] == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("safe.deficit", np.zeros(2)),
        ("safe.deficit", np.zeros(1, np.int64)),
        ("safe.mode", np.zeros(1, np.float64)),
        ("safe.units", np.zeros(1, bool)),
        ("safe.open", [0]),
    ],
)
def test_malformed_counters_raise_state_error(name, value):
    safe = SafeLearner(RuleLearner(repeat_believer))
    state = safe.initial_state(RPS)
    state.arrays[name] = value
    obs, masks = _first_step(RPS)
    with pytest.raises(StateError, match="malformed safety counters"):
        safe.act([state], obs[:1], masks[:1])
    with pytest.raises(StateError, match="malformed safety counters"):
        safe.observe([state], np.zeros(1), np.zeros(1, bool))


def test_missing_counters_are_named():
    safe = SafeLearner(RuleLearner(repeat_believer))
    state = safe.initial_state(RPS)
    del state.arrays["safe.units"]
    with pytest.raises(StateError, match=r"lacks its safety counters \['units'\]"):
        safe.observe([state], np.zeros(1), np.zeros(1, bool))


def test_states_read_back_from_bytes_play_on_identically():
    """A state stored as bytes between turns (as the server does) plays on unchanged."""
    safe = SafeLearner(RuleLearner(repeat_believer))
    twin = SafeLearner(RuleLearner(repeat_believer))
    state = safe.initial_state(RPS)
    stored = AdaptationState.from_bytes(state.to_bytes())
    obs, masks = _first_step(RPS)
    for _ in range(3):
        first, [state] = safe.act([state], obs[:1], masks[:1])
        second, [stored] = twin.act([stored], obs[:1], masks[:1])
        stored = AdaptationState.from_bytes(stored.to_bytes())
        assert first.actions.tolist() == second.actions.tolist()
        assert state.to_bytes() == stored.to_bytes()


def test_one_guard_per_variant_however_the_spec_is_spelt():
    safe = SafeLearner(RuleLearner(repeat_believer))
    spelt = ["matrix(name=rps)", "matrix(rounds=50,name=rps)", RPS.name]
    assert len({id(safe._guard_of(text)) for text in spelt}) == 1
    assert safe._guard_of(RPS.name) is safe.guard(RPS)
