"""The SQLite store's turn log: a batch of turn writes is one append to a file.

Why. A turn's durable write as an SQLite ``UPDATE`` costs 50-190 us of the turn
engine's time (B-tree pages, index entries, a WAL frame) for every turn of every
session. Appended to this log, the same records cost one ``os.write`` per
batch, and :class:`~server.stores.sqlite.SqliteStore` copies each session's
*latest* record into SQLite later ("folding"): a session playing on is written
to SQLite once per fold instead of once per turn.

What is logged. Only plain turn writes: a session's new record with no
profile or adaptation record, no pending adaptation, on a live session. Every
other write goes to SQLite as before, after the sessions it touches are folded.

Durability. :meth:`TurnLog.append` returns once the bytes are written to the
file (and, with ``sync``, flushed to disk by ``fsync``), before the store
reports the commit applied: an acknowledged turn survives a killed process
exactly as an SQLite commit at the same ``synchronous`` level does.

Format. The file starts with :data:`MAGIC`; then one record per session write:
a little-endian header (payload length, length of its JSON part, CRC-32 of the
payload) and the payload, the record's JSON (``SessionRecord.data_json``)
followed by its state bytes. Nothing is ever unpickled.

One writer. The log is held under an exclusive ``flock`` while open (released by
the kernel when the process dies): a second server started on the same data
directory is refused at start instead of replaying and emptying the log of the
one serving.

Reading (:func:`read_log`). A record cut short by the end of the file is the
last write of a killed process, never acknowledged: it is dropped with a
warning. Any other damage (a bad magic, a checksum or JSON that does not
match) raises :class:`~game_agent.errors.ConfigError` naming the file, so the
server refuses to start rather than guess. Which records apply is the store's
business (:meth:`SqliteStore._open_log` and ``_write_fold``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from game_agent.errors import ConfigError
from server.stores.base import SessionRecord

try:
    import fcntl
except ImportError:  # not a POSIX system: no advisory locks
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MAGIC = b"game-agent turn log 1\n"
_HEADER = struct.Struct("<III")
"""Payload length, length of the payload's JSON part, CRC-32 of the payload."""


class TurnLog:
    """An append-only file of session records; see the module docstring."""

    def __init__(self, path: Path, *, sync: bool = False):
        self.path = path
        self._sync = sync
        self._broken: OSError | None = None
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock_or_refuse()
        self.size = os.fstat(self._fd).st_size
        if self.size == 0:
            self._write(MAGIC)

    def _lock_or_refuse(self) -> None:
        """Hold an exclusive lock on the log for as long as the file is open (the kernel
        drops it when the process dies): a second server started on the same data directory
        would otherwise replay and empty the log of the one already serving."""
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            raise ConfigError(
                f"the turn log {self.path} is in use by another server process: give each "
                "server its own --data directory (replicas share players through --store "
                "redis://...)"
            ) from None

    def append(self, records: Sequence[SessionRecord]) -> None:
        """Write ``records`` in one ``os.write``; durable when this returns.

        A failed append (a full disk, say) is cut off the file again before the error is
        raised, so the records after it are not read as part of it; if even that fails,
        the log refuses every later append (the cut-short tail is then dropped at start).
        """
        if self._broken is not None:
            raise OSError(f"the turn log {self.path} is unusable since: {self._broken}")
        size = self.size
        try:
            self._write(b"".join(map(encode, records)))
        except OSError as exc:
            try:
                os.ftruncate(self._fd, size)
                self.size = size
            except OSError as again:
                self._broken = again
            raise exc from None

    def clear(self) -> None:
        """Empty the log (every record in it is in SQLite or superseded there)."""
        os.ftruncate(self._fd, 0)
        self.size = 0
        self._write(MAGIC)

    def close(self) -> None:
        os.close(self._fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a regular file takes it whole; a short write is retried
            written = os.write(self._fd, view)
            view = view[written:]
        if self._sync:
            os.fsync(self._fd)
        self.size += len(data)


def encode(record: SessionRecord) -> bytes:
    """One log record: header, JSON, state bytes."""
    data = record.data_json().encode("utf-8")
    payload = data + record.state
    return _HEADER.pack(len(payload), len(data), zlib.crc32(payload)) + payload


def read_log(path: Path) -> list[SessionRecord]:
    """Every whole record of the log at ``path``, in the order written ([] when absent)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"the turn log {path} cannot be read: {exc}") from None
    if not raw:
        return []
    if not raw.startswith(MAGIC):
        if MAGIC.startswith(raw):  # killed while writing the magic of an empty log
            return []
        raise ConfigError(
            f"{path} is not a game-agent turn log (it does not start with {MAGIC!r}); "
            "move it away to start without it"
        )
    records, offset = [], len(MAGIC)
    while offset < len(raw):
        record, offset = _decode_at(raw, offset, path)
        if record is None:
            break
        records.append(record)
    return records


def _decode_at(raw: bytes, offset: int, path: Path) -> tuple[SessionRecord | None, int]:
    """The record at ``offset`` and where the next one starts; None at a cut-short tail."""
    end = offset + _HEADER.size
    if end > len(raw):
        return _cut_short(path, offset), len(raw)
    size, data_size, crc = _HEADER.unpack_from(raw, offset)
    if end + size > len(raw):
        return _cut_short(path, offset), len(raw)
    payload = raw[end : end + size]
    if data_size > size or zlib.crc32(payload) != crc:
        raise ConfigError(
            f"the turn log {path} is damaged at byte {offset} (checksum mismatch); "
            "move it away to start without its turns"
        )
    try:
        record = SessionRecord.from_stored(
            payload[:data_size].decode("utf-8"), payload[data_size:], ended=False
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"the turn log {path} holds an unreadable record at byte {offset}: {exc}"
        ) from None
    return record, end + size


def _cut_short(path: Path, offset: int) -> None:
    log.warning(
        "turn log %s ends with a record cut short at byte %d (a write interrupted by a "
        "killed process, never acknowledged); dropping it",
        path,
        offset,
    )
