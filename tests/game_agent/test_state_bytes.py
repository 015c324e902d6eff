"""AdaptationState's own safetensors writer and parser against the safetensors library.

``to_bytes`` must give exactly the bytes the library gave before (stores and
retries compare bytes; stored states must keep parsing), and ``from_bytes`` must
refuse everything the library refuses. The reference here is the code the
module replaced: ``safetensors.numpy.save`` / ``load`` with the same header.
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from game_agent.errors import StateError
from game_agent.state import HEADER_KEY, AdaptationState, _write

EXAMPLES = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------ reference


def library_bytes(state: AdaptationState) -> bytes:
    """What ``to_bytes`` returned when it called the library (the previous code)."""
    header = {
        "format": "1",
        "learner": state.learner,
        "spec": state.spec,
        "meta": json.dumps(state.meta, sort_keys=True),
    }
    arrays = {k: np.ascontiguousarray(v) for k, v in sorted(state.arrays.items())}
    return st_save(arrays, metadata={HEADER_KEY: json.dumps(header, sort_keys=True)})


def library_parse(data: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """The library's arrays and our header, or an exception where the library refuses."""
    arrays = st_load(data)
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])["__metadata__"]
    return arrays, json.loads(header[HEADER_KEY])


# ----------------------------------------------------------------- strategies

WRITTEN_DTYPES = [
    np.bool_,
    np.uint8,
    np.int8,
    np.int16,
    np.uint16,
    np.float16,
    np.int32,
    np.uint32,
    np.float32,
    np.float64,
    np.int64,
    np.uint64,
    np.dtype("q"),
    np.dtype("l"),
]
OTHER_DTYPES = [np.complex64, np.dtype(">f4"), np.dtype(">i8")]
"""Left to the library by the writer (the parser reads them back all the same)."""

names = st.text(alphabet=string.printable.strip() + " ", min_size=0, max_size=12)
odd_names = st.text(min_size=1, max_size=6)  # any unicode: left to the library
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def _not_reserved(name: str) -> bool:
    return name != "__metadata__"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def arrays_of(draw, dtypes) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    array = draw(hnp.arrays(dtype, draw(shapes)))
    if draw(st.booleans()) and array.ndim >= 2:
        array = array.T  # not contiguous: to_bytes makes it so
    return array


@st.composite
def states(draw, dtypes=WRITTEN_DTYPES, keys=names) -> AdaptationState:
    arrays = draw(st.dictionaries(keys, arrays_of(dtypes), max_size=20))
    meta = draw(st.dictionaries(st.text(), json_values, max_size=5))
    learner = draw(st.sampled_from(["rl2", "safe_rl2", "maml", 'odd "name" \\ é']))
    spec = draw(st.sampled_from(["matrix(name=rps)", "poker(game=kuhn)", "x\ny"]))
    return AdaptationState(learner, spec, arrays, meta)


def assert_same_arrays(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)  # the library's order is a hash map's
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        assert got[name].tobytes() == array.tobytes(), name
        assert got[name].flags.writeable == array.flags.writeable


# ------------------------------------------------------------------- writing


@EXAMPLES
@given(states())
def test_bytes_are_the_librarys_for_every_dtype_the_writer_covers(state):
    assert _write({k: np.ascontiguousarray(v) for k, v in state.arrays.items()}, "{}") is not None
    assert state.to_bytes() == library_bytes(state)


@EXAMPLES
@given(states(dtypes=WRITTEN_DTYPES + OTHER_DTYPES, keys=names | odd_names))
def test_bytes_are_the_librarys_when_the_library_writes_them(state):
    assert state.to_bytes() == library_bytes(state)


def test_learner_states_take_the_fast_writer():
    arrays = {
        "memory": np.zeros(64, np.float32),
        "prev_action": np.full(1, -1, np.int64),
        "safe.deficit": np.zeros(1, np.float64),
        "mask": np.ones(3, bool),
    }
    assert _write(arrays, json.dumps({"a": 1})) is not None
    assert _write({"é": np.zeros(1)}, "{}") is None
    assert _write({"x": np.zeros(1, ">f8")}, "{}") is None


def test_zero_dimensional_arrays_are_stored_with_shape_one_as_before():
    state = AdaptationState("rl2", "g", {"scalar": np.float32(2.5).reshape(())})
    assert state.to_bytes() == library_bytes(state)
    assert AdaptationState.from_bytes(state.to_bytes()).arrays["scalar"].shape == (1,)


# ------------------------------------------------------------------- reading


@EXAMPLES
@given(states(dtypes=WRITTEN_DTYPES + OTHER_DTYPES, keys=(names | odd_names).filter(_not_reserved)))
def test_parsing_gives_the_librarys_arrays_and_the_state_back(state):
    data = state.to_bytes()
    back = AdaptationState.from_bytes(data)
    arrays, header = library_parse(data)
    assert_same_arrays(back.arrays, arrays)
    assert (back.learner, back.spec) == (header["learner"], header["spec"])
    assert back.meta == json.loads(json.dumps(state.meta)) == json.loads(header["meta"])
    assert back.to_bytes() == data


def test_parsed_arrays_are_writable_and_independent_like_the_librarys():
    state = AdaptationState("rl2", "g", {"a": np.arange(3.0), "b": np.arange(2, dtype=np.int64)})
    data = state.to_bytes()
    back = AdaptationState.from_bytes(data)
    assert all(library.flags.writeable for library in st_load(data).values())
    back.arrays["a"][:] = -1.0
    back.arrays["b"][1] = 7
    assert back.arrays["a"].tolist() == [-1.0, -1.0, -1.0] and back.arrays["b"].tolist() == [0, 7]
    assert AdaptationState.from_bytes(data).arrays["a"].tolist() == [0.0, 1.0, 2.0]
    assert data == state.to_bytes()


def test_an_array_named_like_the_metadata_is_written_but_never_parses():
    """Both writers put two ``__metadata__`` keys in the header; both parsers refuse it."""
    state = AdaptationState("rl2", "g", {"__metadata__": np.zeros(1, np.uint8)})
    assert state.to_bytes() == library_bytes(state)
    with pytest.raises(SafetensorError, match="duplicate field"):
        st_load(state.to_bytes())
    with pytest.raises(StateError, match="corrupt"):
        AdaptationState.from_bytes(state.to_bytes())


@st.composite
def damaged(draw) -> bytes:
    data = bytearray(draw(states()).to_bytes())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["cut", "grow", "flip", "length", "digit"]))
        if how == "cut" and len(data) > 8:
            del data[draw(st.integers(8, len(data) - 1)) :]
        elif how == "grow":
            data += draw(st.binary(min_size=1, max_size=9))
        elif how == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif how == "length":
            data[:8] = draw(st.integers(0, 2**64 - 1)).to_bytes(8, "little")
        else:  # rewrite one digit of the header: shapes and offsets lie
            length = int.from_bytes(data[:8], "little")
            digits = [i for i in range(8, min(8 + length, len(data))) if chr(data[i]).isdigit()]
            if digits:
                data[draw(st.sampled_from(digits))] = ord(str(draw(st.integers(0, 9))))
    return bytes(data)


@EXAMPLES
@given(damaged())
def test_damaged_bytes_parse_only_where_the_library_agrees(data):
    try:
        back = AdaptationState.from_bytes(data)
    except StateError:
        return
    arrays, header = library_parse(data)  # raises (fails the test) where the library refuses
    assert_same_arrays(back.arrays, arrays)
    assert back.learner == header["learner"] and back.meta == json.loads(header["meta"])


def _header_bytes(header: dict | str, body: bytes = b"") -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw).to_bytes(8, "little") + raw + body


GOOD_META = {HEADER_KEY: json.dumps({"format": "1", "learner": "rl2", "spec": "g", "meta": "{}"})}
ONE = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


def _with(**tensors) -> dict:
    return {"__metadata__": GOOD_META, **tensors}


def _our_header(**fields) -> dict:
    header = {"format": "1", "learner": "rl2", "spec": "g", "meta": "{}", **fields}
    return {"__metadata__": {HEADER_KEY: json.dumps(header)}}


CORRUPT = {
    "truncated body": _header_bytes(_with(x=ONE), b"\0\0\0"),
    "trailing byte": _header_bytes(_with(x=ONE), b"\0" * 5),
    "header longer than the data": (10**6).to_bytes(8, "little") + b"{}",
    "header over the library's limit": (10**8 + 1).to_bytes(8, "little") + b" " * 64,
    "header not utf-8": (2).to_bytes(8, "little") + b"\xff\xfe",
    "header not json": _header_bytes("{not json"),
    "header a list": _header_bytes("[]"),
    "deeply nested header": _header_bytes("[" * 100_000 + "]" * 100_000),
    "tensor not an object": _header_bytes(_with(x=[1, 2]), b"\0" * 4),
    "tensor with an extra field": _header_bytes(_with(x={**ONE, "extra": 1}), b"\0" * 4),
    "tensor without offsets": _header_bytes(_with(x={"dtype": "F32", "shape": [1]}), b"\0" * 4),
    "unknown dtype": _header_bytes(_with(x={**ONE, "dtype": "BF16"}), b"\0" * 4),
    "dtype not a string": _header_bytes(_with(x={**ONE, "dtype": ["F32"]}), b"\0" * 4),
    "negative shape": _header_bytes(_with(x={**ONE, "shape": [-1]}), b"\0" * 4),
    "float shape": _header_bytes(_with(x={**ONE, "shape": [1.0]}), b"\0" * 4),
    "boolean shape": _header_bytes(_with(x={**ONE, "shape": [True]}), b"\0" * 4),
    "huge zero-size shape": _header_bytes(
        _with(x={**ONE, "shape": [2**64, 0], "data_offsets": [0, 0]})
    ),
    "three offsets": _header_bytes(_with(x={**ONE, "data_offsets": [0, 4, 4]}), b"\0" * 4),
    "shape bigger than offsets": _header_bytes(_with(x={**ONE, "shape": [2]}), b"\0" * 4),
    "gap between tensors": _header_bytes(
        _with(x=ONE, y={**ONE, "data_offsets": [8, 12]}), b"\0" * 12
    ),
    "overlapping tensors": _header_bytes(
        _with(x={**ONE, "shape": [2], "data_offsets": [0, 8]}, y={**ONE, "data_offsets": [4, 8]}),
        b"\0" * 8,
    ),
    "offsets backwards": _header_bytes(_with(x={**ONE, "data_offsets": [4, 0]}), b"\0" * 4),
    "lone surrogate in a name": _header_bytes('{"\\ud800":' + json.dumps(ONE) + "}", b"\0" * 4),
    "no metadata": _header_bytes({"x": ONE}, b"\0" * 4),
    "metadata not strings": _header_bytes({"__metadata__": {HEADER_KEY: 1}}),
    "metadata without our header": _header_bytes({"__metadata__": {"other": "x"}}),
    "our header not json": _header_bytes({"__metadata__": {HEADER_KEY: "{"}}),
    "our header a list": _header_bytes({"__metadata__": {HEADER_KEY: "[]"}}),
    "no learner": _header_bytes(
        {"__metadata__": {HEADER_KEY: json.dumps({"format": "1", "spec": "g", "meta": "{}"})}}
    ),
    "learner not a string": _header_bytes(_our_header(learner=3)),
    "spec not a string": _header_bytes(_our_header(spec=None)),
    "meta not json": _header_bytes(_our_header(meta="{")),
    "meta a list": _header_bytes(_our_header(meta="[]")),
    "meta not a string": _header_bytes(_our_header(meta={})),
}


@pytest.mark.parametrize("data", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_truncated_and_lying_bytes_raise_state_error(data):
    with pytest.raises(StateError, match="corrupt"):
        AdaptationState.from_bytes(data)


OURS = (
    "tensor with an extra field",
    "no metadata",
    "metadata without our header",
    "our header not json",
    "our header a list",
    "no learner",
    "learner not a string",
    "spec not a string",
    "meta not json",
    "meta a list",
    "meta not a string",
)
"""Cases the library itself parses: our header's fields, and one this parser is stricter on."""


@pytest.mark.parametrize("key", [k for k in CORRUPT if k not in OURS])
def test_the_library_refuses_every_corrupt_layout_too(key):
    with pytest.raises(SafetensorError):
        st_load(CORRUPT[key])


def test_a_good_handmade_file_parses_like_the_librarys():
    empty = {**ONE, "shape": [0, 2], "data_offsets": [4, 4]}
    data = _header_bytes(_with(x=ONE, e=empty), np.float32(1.5).tobytes())
    state = AdaptationState.from_bytes(data)
    assert_same_arrays(state.arrays, library_parse(data)[0])
    assert state.arrays["x"].tolist() == [1.5] and state.arrays["e"].shape == (0, 2)


def test_wrong_format_is_named():
    data = _header_bytes(_our_header(format="2"))
    with pytest.raises(StateError, match="format '2' is not supported"):
        AdaptationState.from_bytes(data)


# ------------------------------------------------------------------- copying


@EXAMPLES
@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_copy_equals_a_json_round_trip_and_shares_nothing(meta):
    state = AdaptationState("rl2", "g", {"a": np.arange(3)}, meta)
    copied = state.copy()
    assert copied.meta == json.loads(json.dumps(meta))
    assert copied.to_bytes() == state.to_bytes()
    copied.meta["new"] = [1]
    copied.arrays["a"][0] = 9
    assert "new" not in state.meta and state.arrays["a"][0] == 0


def test_copy_of_non_plain_meta_is_still_the_json_round_trip():
    meta = {"t": (1, 2), "f": np.float64(0.5), "k": {1: "x"}, "nan": float("nan")}
    copied = AdaptationState("rl2", "g", {}, meta).copy()
    assert copied.meta["t"] == [1, 2] and copied.meta["k"] == {"1": "x"}
    assert type(copied.meta["f"]) is float and np.isnan(copied.meta["nan"])
    nested = {"a": [{"b": [1]}]}
    copied = AdaptationState("rl2", "g", {}, nested).copy()
    copied.meta["a"][0]["b"].append(2)
    assert nested == {"a": [{"b": [1]}]}
    circular: dict = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular"):
        AdaptationState("rl2", "g", {}, circular).copy()
