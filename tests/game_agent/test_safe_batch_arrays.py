"""SafeLearner's new states own every byte they hold, though a call writes a batch at once.

The counters of all the players of one call are views of one new array per dtype,
the mixtures last played rows of one new float32 array, and the fallback's moves
rows of one new int64 array (module docstring, "Cost per call"). These tests check
that no two arrays of the states one call returns share memory, within a player or
across players, and that writing any of them leaves every other array as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

import games
from game_agent.learners.safe import FALLBACK, SafeLearner, SafetyConfig
from game_agent.state import AdaptationState
from tests.game_agent.test_safe import maniac, repeat_believer
from tests.game_agent.test_safe_states import SharingLearner

RPS = games.parse_spec("matrix(name=rps)")
KUHN = games.parse_spec("poker(game=kuhn)")
PLAYERS = 3


def _first_step(spec: games.GameSpec) -> tuple[np.ndarray, np.ndarray]:
    step = games.make_kernel(spec).reset(PLAYERS, seed=0)
    seat = int(np.argmax(step.acting[0]))
    return step.obs[:, seat], step.action_mask[:, seat]


def _arrays(states: list[AdaptationState]) -> list[tuple[int, str, np.ndarray]]:
    return [(i, name, array) for i, s in enumerate(states) for name, array in s.arrays.items()]


def _assert_each_owns_its_bytes(states: list[AdaptationState]) -> None:
    arrays = _arrays(states)
    for at, (i, name, array) in enumerate(arrays):
        for j, other_name, other in arrays[at + 1 :]:
            assert not np.shares_memory(array, other), (i, name, j, other_name)


def _turns(safe: SafeLearner, spec: games.GameSpec, benched: bool):
    """The states of each call of a short game: act, a fused turn, observe, end_episode."""
    states = [safe.initial_state(spec) for _ in range(PLAYERS)]
    if benched:
        for state in states:
            state.arrays["safe.mode"][0] = FALLBACK
    obs, masks = _first_step(spec)
    _, acted = safe.act(states, obs, masks, draws=np.full(PLAYERS, 0.5))
    yield acted
    rewards, rewarded = np.array([1.0, -1.0, 0.5]), np.array([True, False, True])
    _, fused = safe.observe_act(acted, rewards, rewarded, obs, masks)
    yield fused
    yield safe.observe(fused, rewards, np.array([False, True, False]))


@pytest.mark.parametrize(
    ("spec", "rule"), [(RPS, repeat_believer), (KUHN, maniac)], ids=["matrix", "poker"]
)
@pytest.mark.parametrize("benched", [False, True])
def test_no_two_arrays_of_the_states_returned_share_memory(spec, rule, benched):
    safe = SafeLearner(SharingLearner(rule), SafetyConfig())
    for states in _turns(safe, spec, benched):
        _assert_each_owns_its_bytes(states)


@pytest.mark.parametrize("benched", [False, True])
def test_writing_one_array_of_a_state_changes_no_other(benched):
    safe = SafeLearner(SharingLearner(repeat_believer), SafetyConfig())
    for states in _turns(safe, RPS, benched):
        for i, name, array in _arrays(states):
            before = [(j, other_name, other.copy()) for j, other_name, other in _arrays(states)]
            array.fill(7)
            for j, other_name, other in before:
                if (j, other_name) != (i, name):
                    assert np.array_equal(states[j].arrays[other_name], other, equal_nan=True)


def test_states_of_one_call_copy_and_serialise_alone():
    """A state copied or parsed from its bytes no longer depends on the batch it came from."""
    safe = SafeLearner(SharingLearner(repeat_believer), SafetyConfig())
    [acted, *_] = _turns(safe, RPS, benched=True)
    data = [s.to_bytes() for s in acted]
    copies = [s.copy() for s in acted]
    parsed = [AdaptationState.from_bytes(d) for d in data]
    for state in acted:
        for array in state.arrays.values():
            array.fill(3)
    assert [s.to_bytes() for s in copies] == data
    assert [s.to_bytes() for s in parsed] == data
