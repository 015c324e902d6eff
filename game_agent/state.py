"""AdaptationState: what a learner knows about one player, as plain arrays.

Every learner keeps its per-player memory in named numpy arrays (RL2: the
recurrent hidden state and last action/reward; MAML: adapted weights or the
episodes needed to recompute them) plus a small JSON-able ``meta`` dict. That
makes one serialisation serve all learners: safetensors bytes, whose header is
JSON and whose body is raw tensors. Nothing is ever unpickled.

The server writes a state every turn, so its bytes are built here rather than by
``safetensors.numpy.save``, which spends ~100 us in Python per call on a state of
a dozen small arrays. The layout is the library's, byte for byte (stores and
retries compare bytes, and stored states must keep parsing): an 8-byte
little-endian header length; a compact JSON header holding ``__metadata__`` and
then one entry per tensor, tensors ordered by descending dtype (the library's
alignment order) then by name, with contiguous ``data_offsets``; spaces padding
the header to a multiple of 8; the raw little-endian buffers in that order. Any
state outside what this writer covers (another dtype, a big-endian array, a name
that is not printable ASCII, whose JSON escaping could differ) goes to the
library. ``tests/game_agent/test_state_bytes.py`` checks byte identity with the
library over random states.

Parsing is done here too, and is at least as strict as the library's: the header
length, UTF-8, the JSON structure, known dtypes, shapes, offsets that tile the
body exactly and a body that ends where the last tensor does. Whatever the
library would reject raises :class:`StateError`, and so do fields of our own
header that are missing or of the wrong type.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from json.decoder import scanstring
from json.encoder import encode_basestring_ascii
from operator import attrgetter
from typing import Any

import numpy as np
from safetensors.numpy import save as st_save

from game_agent.errors import StateError

FORMAT_VERSION = "1"
HEADER_KEY = "game_agent.state"
MAX_HEADER_BYTES = 100_000_000
"""The library's limit on the JSON header (it refuses longer ones)."""

_SORTED_JSON = json.JSONEncoder(sort_keys=True)
"""``json.dumps(x, sort_keys=True)`` without building an encoder per call."""

_WRITTEN: dict[np.dtype, tuple[int, str]] = {
    np.dtype(kind).newbyteorder("<"): (rank, name)
    for rank, (kind, name) in enumerate(
        [
            (np.bool_, "BOOL"),
            (np.uint8, "U8"),
            (np.int8, "I8"),
            (np.int16, "I16"),
            (np.uint16, "U16"),
            (np.float16, "F16"),
            (np.int32, "I32"),
            (np.uint32, "U32"),
            (np.float32, "F32"),
            (np.float64, "F64"),
            (np.int64, "I64"),
            (np.uint64, "U64"),
        ]
    )
}
"""Little-endian dtypes this module writes: (rank in the library's dtype order, name)."""

_READ: dict[str, np.dtype] = {
    "F64": np.dtype(np.float64),
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "I64": np.dtype(np.int64),
    "U64": np.dtype(np.uint64),
    "I32": np.dtype(np.int32),
    "U32": np.dtype(np.uint32),
    "I16": np.dtype(np.int16),
    "U16": np.dtype(np.uint16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
    "C64": np.dtype(np.complex64),
}
"""Every dtype ``safetensors.numpy.load`` turns into a numpy array."""

_TENSOR_FIELDS = {"dtype", "shape", "data_offsets"}
_MAX_DIM = 2**62
"""Larger dimensions cannot describe a real buffer (numpy itself stops at 2**63)."""


@dataclass
class AdaptationState:
    """One player's adaptation state for one learner and game variant."""

    learner: str
    """Name of the learner that owns the state (``"rl2"``, ``"maml"``, ``"multitask"``)."""
    spec: str
    """Canonical spec string of the game variant being played."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    """The learner's per-player tensors."""
    meta: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable counters and flags (episodes seen, steps in episode, ...)."""

    def to_bytes(self) -> bytes:
        arrays = self.arrays
        # One metadata entry: safetensors writes several in no fixed order, and equal
        # states must give equal bytes (stores and retries compare them).
        metadata = _header_json(self.learner, self.spec, _SORTED_JSON.encode(self.meta))
        data = _write(arrays, metadata)  # ``tobytes`` is C order whatever the strides
        if data is None:
            contiguous = {k: np.ascontiguousarray(v) for k, v in sorted(arrays.items())}
            data = st_save(contiguous, metadata={HEADER_KEY: metadata})
        return data

    @classmethod
    def from_bytes(
        cls, data: bytes, learner: str | None = None, spec: str | None = None
    ) -> AdaptationState:
        """Parse bytes from :meth:`to_bytes`; check owner and game when given."""
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) < 8:
            raise StateError("adaptation state is empty or not bytes")
        data = bytes(data)
        try:
            metadata, arrays = _read(data)
            header = _header(metadata)
        except (ValueError, RecursionError) as exc:
            raise StateError(f"adaptation state is corrupt: {exc}") from None
        if header.get("format") != FORMAT_VERSION:
            raise StateError(f"adaptation state format {header.get('format')!r} is not supported")
        try:
            owner, game, meta = _owner_game_meta(header)
        except (ValueError, RecursionError) as exc:
            raise StateError(f"adaptation state is corrupt: {exc}") from None
        state = cls(owner, game, arrays, meta)
        if learner is not None and state.learner != learner:
            owner = state.learner
            raise StateError(f"adaptation state belongs to learner {owner!r}, not {learner!r}")
        if spec is not None and state.spec != spec:
            raise StateError(f"adaptation state is for game {state.spec}, not {spec}")
        return state

    def copy(self) -> AdaptationState:
        return AdaptationState(
            self.learner,
            self.spec,
            {k: v.copy() for k, v in self.arrays.items()},
            _copy_json(self.meta),
        )


# --------------------------------------------------------------------- writing

_PREFIX = '{"__metadata__":{"' + HEADER_KEY + '":'
"""How every header this module writes begins; the metadata string follows."""
_LAYOUTS_KEPT = 256
"""Array layouts remembered by the writer and the reader (a learner has one or two)."""

_Layout = tuple[tuple[int, ...], str]
_write_layouts: dict[tuple, _Layout | None] = {}
"""(names, (dtype, shape) of each), in dict order -> (order written, tensor entries)."""


def _header_json(learner: str, spec: str, meta: str) -> str:
    """``json.dumps`` of our header with sorted keys: pure ASCII, as ``ensure_ascii`` makes it."""
    if type(learner) is str and type(spec) is str:
        return (
            f'{{"format": {encode_basestring_ascii(FORMAT_VERSION)}, '
            f'"learner": {encode_basestring_ascii(learner)}, '
            f'"meta": {encode_basestring_ascii(meta)}, "spec": {encode_basestring_ascii(spec)}}}'
        )
    header = {"format": FORMAT_VERSION, "learner": learner, "spec": spec, "meta": meta}
    return _SORTED_JSON.encode(header)


_dtype_and_shape = attrgetter("dtype", "shape")


def _write(arrays: dict[str, np.ndarray], metadata: str) -> bytes | None:
    """The bytes ``safetensors.numpy.save`` gives, or None where this writer does not apply.

    ``metadata`` is JSON text with ``ensure_ascii``: printable ASCII, which the library
    and ``encode_basestring_ascii`` escape alike. The header's tensor entries depend on
    names, dtypes and shapes only, the same turn after turn for one learner, so they are
    built once per layout.
    """
    key = (tuple(arrays), tuple(map(_dtype_and_shape, arrays.values())))
    layout = _write_layouts.get(key, ())
    if layout == ():
        layout = _tensor_entries(key)
        _remember(_write_layouts, key, layout)
    if layout is None:
        return None
    order, entries = layout
    header = f"{_PREFIX}{encode_basestring_ascii(metadata)}}}{entries}}}".encode("ascii")
    header += b" " * (-len(header) % 8)
    values = list(arrays.values())
    body = [values[i].tobytes() for i in order]
    return b"".join([len(header).to_bytes(8, "little"), header, *body])


def _tensor_entries(key: tuple) -> _Layout | None:
    """The library's order (descending dtype, then name) and JSON entries of a layout."""
    ranked = []
    for index, (name, (dtype, shape)) in enumerate(zip(*key, strict=True)):
        kind = _WRITTEN.get(dtype)
        if kind is None or not (name.isascii() and name.isprintable()):
            return None
        ranked.append((-kind[0], name, kind[1], shape, dtype.itemsize, index))
    ranked.sort()
    parts = []
    offset = 0
    for _, name, dtype, shape, itemsize, _ in ranked:
        end = offset + math.prod(shape) * itemsize
        dims = ",".join(map(str, shape or (1,)))  # a 0-d array is stored as shape [1]
        parts.append(
            f',{encode_basestring_ascii(name)}:{{"dtype":"{dtype}","shape":[{dims}],'
            f'"data_offsets":[{offset},{end}]}}'
        )
        offset = end
    return tuple(entry[-1] for entry in ranked), "".join(parts)


def _remember(cache: dict, key: Any, value: Any) -> None:
    if len(cache) >= _LAYOUTS_KEPT:
        cache.clear()
    cache[key] = value


# --------------------------------------------------------------------- reading

_Tensor = tuple[int, int, str, np.dtype, tuple[int, ...]]
_read_layouts: dict[str, tuple[list[_Tensor], int]] = {}
"""Tensor entries of a header as this module writes them -> (checked tensors, body size)."""


def _read(data: bytes) -> tuple[Any, dict[str, np.ndarray]]:
    """(``__metadata__``, arrays) of safetensors bytes; ValueError naming what is wrong.

    The arrays are writable, as the library's are, and share no memory with ``data``:
    views of one private copy of it, each over its own bytes.
    """
    length = int.from_bytes(data[:8], "little")
    if length > MAX_HEADER_BYTES or 8 + length > len(data):
        raise ValueError(f"header length {length} does not fit in {len(data)} bytes")
    text = data[8 : 8 + length].decode("utf-8")
    known = _known_layout(text)
    if known is None:
        metadata, tensors, size = _parse_header(text)
    else:
        metadata, tensors, size = known
    start = 8 + length
    if start + size != len(data):
        raise ValueError(f"tensors end at byte {start + size}, the data at {len(data)}")
    body = bytearray(data[start:])
    return metadata, {
        name: np.ndarray(shape, dtype, body, begin) for begin, _, name, dtype, shape in tensors
    }


def _parse_header(text: str) -> tuple[Any, list[_Tensor], int]:
    """(``__metadata__``, tensors in offset order, body size) of any header."""
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    return (metadata, *_checked_tensors(header))


def _known_layout(text: str) -> tuple[dict[str, str], list[_Tensor], int] | None:
    """A header in exactly the form :func:`_write` gives, read without parsing its tensors
    again when their entries were seen before; None for any other text.

    Such a header is ``_PREFIX``, one JSON string, ``}``, the tensor entries (each
    ``,"name":{...}``), ``}`` and spaces: valid JSON with that metadata and those
    tensors exactly when the string is valid and the entries, put in braces, are a
    valid object of tensors without a ``__metadata__`` key, which is checked once.
    """
    if not text.startswith(_PREFIX + '"'):
        return None
    try:
        value, end = scanstring(text, len(_PREFIX) + 1)
    except ValueError:
        return None
    rest = text[end:].rstrip(" ")
    if not (rest.startswith("}") and rest.endswith("}") and len(rest) >= 2):
        return None
    entries = rest[1:-1]
    known = _read_layouts.get(entries)
    if known is None:
        if entries and not entries.startswith(","):
            return None
        try:
            tensors = json.loads("{" + entries[1:] + "}")
            if "__metadata__" in tensors:
                return None
            known = _checked_tensors(tensors)
        except (ValueError, RecursionError):
            return None  # the full parse names the problem
        _remember(_read_layouts, entries, known)
    return ({HEADER_KEY: value}, *known)


def _checked_tensors(header: dict[str, Any]) -> tuple[list[_Tensor], int]:
    """The tensor entries in offset order, tiling the body from byte 0; and its size."""
    tensors = sorted(_tensor_entry(name, info) for name, info in header.items())
    position = 0
    for begin, end, name, dtype, shape in tensors:
        if begin != position or end < begin:
            raise ValueError(f"tensor {name!r} has offsets {[begin, end]} after byte {position}")
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"tensor {name!r}: offsets do not hold shape {shape}")
        position = end
    return tensors, position


def _tensor_entry(name: str, info: Any) -> _Tensor:
    """(begin, end, name, dtype, shape) of one header entry, checked."""
    if not name.isascii():
        name.encode("utf-8")  # a lone surrogate from a \\ud800 escape raises here
    if not isinstance(info, dict) or info.keys() != _TENSOR_FIELDS:
        raise ValueError(f"tensor {name!r} is not described by {sorted(_TENSOR_FIELDS)}")
    dtype = _READ.get(info["dtype"]) if isinstance(info["dtype"], str) else None
    shape, offsets = info["shape"], info["data_offsets"]
    if dtype is None:
        raise ValueError(f"tensor {name!r} has unknown dtype {info['dtype']!r}")
    if not (_sizes(shape) and _sizes(offsets) and len(offsets) == 2):
        raise ValueError(f"tensor {name!r} has a malformed shape or offsets")
    return offsets[0], offsets[1], name, dtype, tuple(shape)


def _sizes(values: Any) -> bool:
    return isinstance(values, list) and all(type(v) is int and 0 <= v <= _MAX_DIM for v in values)


def _header(metadata: Any) -> dict[str, Any]:
    """Our header, stored as JSON text in the safetensors metadata; ValueError if absent."""
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("the safetensors metadata is not a map of strings")
    if HEADER_KEY not in metadata:
        raise ValueError("missing metadata header")
    header = json.loads(metadata[HEADER_KEY])
    if not isinstance(header, dict):
        raise ValueError("metadata header is not an object")
    return header


def _owner_game_meta(header: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    for key in ("learner", "spec", "meta"):
        if not isinstance(header.get(key), str):
            raise ValueError(f"metadata header lacks a string {key!r}")
    meta = json.loads(header["meta"])
    if not isinstance(meta, dict):
        raise ValueError("meta is not an object")
    return header["learner"], header["spec"], meta


# --------------------------------------------------------------------- copying


class _NotPlainJson(Exception):
    """A value the fast copy leaves to a JSON round trip (tuples, numpy scalars, ...)."""


def _copy_json(meta: dict[str, Any]) -> dict[str, Any]:
    """``json.loads(json.dumps(meta))``, without the text in between for plain JSON values."""
    try:
        return _copy_plain(meta, depth=0)
    except _NotPlainJson:
        return json.loads(json.dumps(meta))


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_plain(value: Any, depth: int) -> Any:
    if type(value) in _IMMUTABLE:
        return value
    if depth > 32:
        raise _NotPlainJson
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise _NotPlainJson
        return {k: _copy_plain(v, depth + 1) for k, v in value.items()}
    if type(value) is list:
        return [_copy_plain(v, depth + 1) for v in value]
    raise _NotPlainJson
