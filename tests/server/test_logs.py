"""server/logs.py: JSON lines with the extra fields, and the serving line found among them."""

from __future__ import annotations

import logging

from server.logs import SERVING, JsonFormatter, serving_fields


def _line(message: str, **extra) -> str:
    record = logging.LogRecord("server.app", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return JsonFormatter().format(record)


def test_the_serving_line_gives_its_fields_and_no_other_line_does():
    line = _line(SERVING, port=50051, metrics_port=None, families=["matrix"])
    fields = serving_fields(line)
    assert fields is not None
    assert (fields["port"], fields["metrics_port"], fields["families"]) == (50051, None, ["matrix"])
    assert fields["level"] == "INFO" and fields["logger"] == "server.app"
    assert serving_fields(_line("session started", port=1)) is None
    for other in ("", "not json", "2026-11-24 INFO server.app: serving", "[1, 2]", '"serving"'):
        assert serving_fields(other) is None
