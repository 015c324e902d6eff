"""Structured logs: one JSON object per line, with the fields passed as ``extra=``.

``log.info("session started", extra={"session_id": ..., "player_id": ...})``
becomes ``{"ts": ..., "level": "INFO", "logger": "server.sessions", "msg":
"session started", "session_id": ..., "player_id": ...}`` — what log shippers
(Loki, Cloud Logging, ELK) index without parsing.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

SERVING = "serving"
"""The message of the line a started server logs, with its ``port`` and ``metrics_port``."""

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; see the module docstring."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def serving_fields(line: str) -> dict[str, Any] | None:
    """The fields of a JSON log line when it is the server's :data:`SERVING` line, else None
    (other lines, and lines that are not JSON). How a process that started a server learns
    where it listens (``--address HOST:0`` binds any free port)."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) and entry.get("msg") == SERVING else None


def read_until_serving(stream: TextIO, lines: list[str], deadline: float) -> dict[str, Any] | None:
    """Read a started server's log lines from ``stream`` (its stderr), keeping each in
    ``lines``, until its :data:`SERVING` line, whose fields are returned; None when the
    stream ends or ``time.monotonic()`` passes ``deadline`` first."""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            return None
        lines.append(line)
        serving = serving_fields(line)
        if serving is not None:
            return serving
    return None


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Send the root logger to stderr, as JSON lines (default) or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
