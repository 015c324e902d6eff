"""Traced ONNX graphs kept on disk, so a restarted server does not trace them again.

:func:`game_agent.inference.compile_graph` asks :func:`file_for` where the graph
of a network and variant would be, :func:`read` s it before tracing, and
:func:`write` s a freshly traced graph once it has passed verification. Every
graph, from here or traced, is still verified against torch before it serves;
one that fails is :func:`discard` ed and traced again.

Why it is built this way:

- **A name that cannot go stale.** A file is named by a sha256 of the weights'
  digest, the graph key, the opset and what produces the graph (:func:`producer`:
  the torch and onnx versions and a digest of ``export.py`` and the ``policies``
  package): a change to any of them is a new name. ``TRACE_FORMAT`` orphans every
  file at once when the format itself changes.
- **Parsed, never executed.** The bytes only ever reach onnxruntime; nothing is
  unpickled.
- **Atomic and bounded.** A file is written under a temporary name and renamed,
  so a killed server leaves no truncated graph; storing one beyond
  ``TRACE_DIR_SIZE`` deletes the least recently used (reading a file marks it
  used); temporary files of writes killed long ago are deleted, others left alone.
- **Never in the way.** A directory that cannot be created or written costs one
  WARNING per process, and graphs are traced as without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from game_agent.export import DEFAULT_OPSET

log = logging.getLogger(__name__)

TRACE_DIR_SIZE = 64
"""Traced graphs kept in a directory; storing one more deletes the least recently used."""
TRACE_FORMAT = "game-agent-trace/1"
"""Part of every file's name: bump it to orphan every graph cached on disk."""
STALE_TEMP_S = 3600.0
"""A temporary file this old is a write that was killed: deleted."""

_GRAPH_FILE = re.compile(r"[0-9a-f]{64}\.onnx")
_TEMP_PREFIX, _TEMP_SUFFIX = ".graph-", ".tmp"
_lock = threading.Lock()
_warned_dirs: set[Path] = set()
"""Directories whose failure was logged (one WARNING each per process)."""


def file_name(digest: str, key: Any, opset: int = DEFAULT_OPSET) -> str:
    """The name a graph is cached under in a trace directory: a digest of the weights'
    ``digest``, the graph ``key``, the opset and what produces the graph (:func:`producer`),
    so that a change to any of them can never pick up a stale graph."""
    text = repr((TRACE_FORMAT, digest, key, opset, *producer()))
    return hashlib.sha256(text.encode()).hexdigest() + ".onnx"


@functools.cache
def producer() -> tuple[str, str, str]:
    """The versions of torch and onnx and the digest of the traced network's source
    (computed once per process)."""
    try:
        onnx_version = importlib.metadata.version("onnx")
    except importlib.metadata.PackageNotFoundError:
        onnx_version = "absent"
    return torch.__version__, onnx_version, source_digest(Path(__file__).resolve().parent)


def source_digest(package: Path) -> str:
    """A digest of the modules that define the traced network: ``export.py`` and the
    ``policies`` package under ``package`` (the ``game_agent`` directory)."""
    digest = hashlib.sha256()
    for file in [package / "export.py", *sorted((package / "policies").glob("*.py"))]:
        data = file.read_bytes()
        name = file.relative_to(package).as_posix().encode()
        digest.update(b"%d:%s:%d:" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()


def file_for(trace_dir: Path | None, cache_key: tuple[str, Any, int] | None) -> Path | None:
    """Where the graph of ``cache_key`` is cached in ``trace_dir`` (created if need be);
    None without a directory, a weights digest or a usable directory."""
    if trace_dir is None or cache_key is None:
        return None
    trace_dir = Path(trace_dir)
    try:
        name = file_name(*cache_key)
        trace_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _dir_failed(trace_dir, exc)
        return None
    return trace_dir / name


def read(file: Path) -> bytes | None:
    """The graph cached in ``file``, or None when there is none (one that cannot be read is
    discarded)."""
    try:
        model = file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        discard(file, f"cannot be read: {exc}")
        return None
    with contextlib.suppress(OSError):
        os.utime(file)  # used now: pruned last
    return model


def write(file: Path, model: bytes) -> None:
    """Store ``model`` as ``file`` atomically (a temporary file in the same directory, then
    a rename), then prune the directory to TRACE_DIR_SIZE graphs."""
    directory = file.parent
    try:
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(model)
            # No fsync: a graph lost or torn by a power cut fails to load or to verify,
            # and is traced again.
            os.replace(temp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        _dir_failed(directory, exc)
        return
    _prune(directory, keep=TRACE_DIR_SIZE)


def _prune(directory: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently used graphs in ``directory``, and the
    temporary files of writes killed long ago. Files of other names are left alone."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    now = time.time()
    graphs = []
    for entry in entries:
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _GRAPH_FILE.fullmatch(entry.name):
            graphs.append((mtime, entry.path))
        elif (
            entry.name.startswith(_TEMP_PREFIX)
            and entry.name.endswith(_TEMP_SUFFIX)
            and now - mtime > STALE_TEMP_S
        ):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    graphs.sort()
    for _, path in graphs[: max(0, len(graphs) - keep)]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def discard(file: Path, why: str) -> None:
    """A cached graph that cannot be used: say so, delete it if possible."""
    log.warning("discarding cached graph %s, tracing it again: %s", file, why)
    with contextlib.suppress(OSError):
        file.unlink()


def _dir_failed(directory: Path, exc: OSError) -> None:
    """A trace directory that cannot be created or written: one WARNING per process."""
    with _lock:
        if directory in _warned_dirs:
            return
        _warned_dirs.add(directory)
    log.warning(
        "cannot cache traced graphs in %s (%s); graphs are traced without it", directory, exc
    )
