"""AdaptationState bytes: exact round trips, identical bytes for equal states, clear errors."""

import numpy as np
import pytest

from game_agent.errors import StateError
from game_agent.state import AdaptationState


def _state(**meta):
    arrays = {
        "hidden": np.arange(6, dtype=np.float32).reshape(2, 3),
        "prev_action": np.array([4], dtype=np.int64),
        "a_first_by_name": np.array([1.5], dtype=np.float64),
    }
    return AdaptationState("rl2", "matrix(name=rps)", arrays, {"episodes": 3, **meta})


def test_round_trip_keeps_names_dtypes_and_values():
    state = _state(note="x")
    back = AdaptationState.from_bytes(state.to_bytes(), learner="rl2", spec="matrix(name=rps)")
    assert back.meta == state.meta
    assert set(back.arrays) == set(state.arrays)
    for name, array in state.arrays.items():
        assert back.arrays[name].dtype == array.dtype
        np.testing.assert_array_equal(back.arrays[name], array)


def test_equal_states_give_identical_bytes():
    # Built with keys in different orders: the bytes must not depend on it.
    first = _state(a=1, b=2, c=3)
    second = AdaptationState(
        "rl2",
        "matrix(name=rps)",
        dict(reversed(list(first.arrays.items()))),
        {"c": 3, "b": 2, "a": 1, "episodes": 3},
    )
    assert all(first.to_bytes() == second.to_bytes() for _ in range(5))


@pytest.mark.parametrize(
    "data", [b"", b"garbage bytes that are not safetensors", b"\xff" * 64, 12345]
)
def test_malformed_bytes_raise_state_error(data):
    with pytest.raises(StateError):
        AdaptationState.from_bytes(data)


def test_owner_and_game_are_checked():
    data = _state().to_bytes()
    with pytest.raises(StateError, match="learner 'rl2', not 'maml'"):
        AdaptationState.from_bytes(data, learner="maml")
    with pytest.raises(StateError, match="not connect_n"):
        AdaptationState.from_bytes(data, spec="connect_n()")
