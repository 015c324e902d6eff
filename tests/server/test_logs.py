"""server/logs.py: JSON lines with the extra fields, and the serving line found among them."""

from __future__ import annotations

import io
import logging
import time

from server.logs import SERVING, JsonFormatter, read_until_serving, serving_fields


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


def test_a_servers_lines_are_read_and_kept_until_its_serving_line():
    lines: list[str] = []
    stream = io.StringIO(
        "starting\n" + _line("loading", n=1) + "\n" + _line(SERVING, port=7) + "\nlater\n"
    )
    assert read_until_serving(stream, lines, time.monotonic() + 10)["port"] == 7
    assert len(lines) == 3 and stream.readline() == "later\n"
    assert read_until_serving(io.StringIO("no serving line\n"), [], time.monotonic() + 10) is None
    assert read_until_serving(io.StringIO(_line(SERVING, port=7)), [], time.monotonic() - 1) is None
