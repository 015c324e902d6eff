"""A serving process settles its heap (``server.app.settle_heap``); tests' in-process
servers leave the garbage collector alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from server.app import GEN0_THRESHOLD
from server.logs import serving_fields
from tests.server.processes import ROOT, ServerProcess

SETTLE = """
import gc, json
from server.app import settle_heap
before = gc.get_threshold()
frozen = settle_heap()
print(json.dumps([frozen, gc.get_freeze_count(), gc.get_threshold(), before, gc.get_count()]))
"""


def test_settle_heap_freezes_what_is_alive_and_raises_the_young_threshold():
    out = subprocess.run(
        [sys.executable, "-c", SETTLE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    frozen, freeze_count, threshold, before, counts = json.loads(out.stdout)
    assert frozen == freeze_count > 10_000  # grpc, numpy and the server's modules at least
    assert threshold == [GEN0_THRESHOLD, before[1], before[2]]
    assert counts[0] < 100  # collected just before freezing


def test_a_serving_process_is_settled_before_it_says_serving(tmp_path):
    server = ServerProcess("tests.server.counting_server", "--data", str(tmp_path))
    try:
        [serving] = [f for f in map(serving_fields, server.lines) if f is not None]
        assert serving["frozen_objects"] > 10_000
    finally:
        server.kill()


def test_an_in_process_server_leaves_the_collector_alone(server_factory, caplog):
    before = (gc.get_threshold(), gc.get_freeze_count())
    with caplog.at_level("INFO", logger="server.app"):
        server_factory().stub()
    [record] = [r for r in caplog.records if r.getMessage() == "serving"]
    assert record.frozen_objects == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
