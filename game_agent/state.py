"""AdaptationState: what a learner knows about one player, as plain arrays.

Every learner keeps its per-player memory in named numpy arrays (RL2: the
recurrent hidden state and last action/reward; MAML: adapted weights or the
episodes needed to recompute them) plus a small JSON-able ``meta`` dict. That
makes one serialisation serve all learners: safetensors bytes, whose header is
JSON and whose body is raw tensors. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from game_agent.errors import StateError

FORMAT_VERSION = "1"
HEADER_KEY = "game_agent.state"


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
        header = {
            "format": FORMAT_VERSION,
            "learner": self.learner,
            "spec": self.spec,
            "meta": json.dumps(self.meta, sort_keys=True),
        }
        arrays = {k: np.ascontiguousarray(v) for k, v in sorted(self.arrays.items())}
        # One metadata entry: safetensors writes several in no fixed order, and equal
        # states must give equal bytes (stores and retries compare them).
        return st_save(arrays, metadata={HEADER_KEY: json.dumps(header, sort_keys=True)})

    @classmethod
    def from_bytes(
        cls, data: bytes, learner: str | None = None, spec: str | None = None
    ) -> AdaptationState:
        """Parse bytes from :meth:`to_bytes`; check owner and game when given."""
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) < 8:
            raise StateError("adaptation state is empty or not bytes")
        data = bytes(data)
        try:
            arrays = st_load(data)
            header = _read_header(data)
            meta = json.loads(header["meta"])
        except (SafetensorError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"adaptation state is corrupt: {exc}") from None
        if header.get("format") != FORMAT_VERSION:
            raise StateError(f"adaptation state format {header.get('format')!r} is not supported")
        state = cls(header["learner"], header["spec"], dict(arrays), meta)
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
            json.loads(json.dumps(self.meta)),
        )


def _read_header(data: bytes) -> dict[str, str]:
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or HEADER_KEY not in metadata:
        raise ValueError("missing metadata header")
    fields = json.loads(metadata[HEADER_KEY])
    if not isinstance(fields, dict):
        raise ValueError("metadata header is not an object")
    return fields
