"""The disk cache of traced graphs (``accelerate(..., trace_dir=...)``).

A graph found in the trace directory skips tracing but is still verified against
torch; a file that is garbage, a graph of other weights, or unreadable is
discarded with a WARNING naming it and traced afresh; a directory that cannot
be used costs one WARNING and nothing else. ``trace_graph`` is replaced by one
that raises wherever a test claims nothing is traced.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from game_agent import graph_cache, inference
from game_agent.export import (
    DEFAULT_OPSET,
    VERIFY_TOLERANCE,
    ExportedPolicy,
    example_inputs,
    trace_graph,
)
from game_agent.graph_cache import TRACE_DIR_SIZE, source_digest
from game_agent.graph_cache import file_name as trace_file_name
from game_agent.inference import (
    CACHED,
    ON_DISK,
    TRACED,
    accelerate,
    graph_key,
    new_session,
)
from games import parse_spec
from tests.clients.tiny_models import VARIANTS, tiny_learner

GAME = VARIANTS["matrix"][0]
BOARD = VARIANTS["connect_n"][0]
OTHER_BOARD = "connect_n(rows=5,cols=6,k=4,gravity=true)"


@pytest.fixture(scope="module")
def learner():
    return tiny_learner("matrix", perturb=True)


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch):
    """No test sees another's process-wide traces or directory warnings."""
    monkeypatch.setattr(inference, "_traces", OrderedDict())
    monkeypatch.setattr(graph_cache, "_warned_dirs", set())


def no_tracing(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("trace_graph was called")

    monkeypatch.setattr(inference, "trace_graph", refuse)


def expected_file(learner, trace_dir: Path, game: str = GAME) -> Path:
    policy = learner.policy
    key = graph_key(policy, parse_spec(game))
    return trace_dir / trace_file_name(inference._weights_digest(policy), key, DEFAULT_OPSET)


def graph_files(trace_dir: Path) -> list[str]:
    return sorted(p.name for p in trace_dir.iterdir() if p.suffix == ".onnx")


def outputs_on_random_inputs(learner, graph, game: str = GAME) -> list[np.ndarray]:
    """Both sessions' outputs on the same seeded inputs of 1 and 5 players."""
    spec = parse_spec(game)
    names = inference.input_names(learner.policy)
    got = []
    for batch, session in ((5, graph.session), (1, graph.single)):
        inputs = example_inputs(learner.policy, spec, batch, torch.Generator().manual_seed(3))
        feed = {n: t.numpy() for n, t in zip(names, inputs, strict=True)}
        got.extend(session.run(None, feed))
    return got


def sources(caplog) -> list[str]:
    """Where each compiled graph's trace came from, as compile_graph's INFO lines say."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled ")]
    return [re.search(r" ms \((.+), max error", line).group(1) for line in lines]


def test_a_second_compile_takes_the_graph_from_disk_without_tracing(
    learner, tmp_path, monkeypatch, caplog
):
    trace_dir = tmp_path / "graphs"
    with caplog.at_level(logging.INFO, logger="game_agent.inference"):
        first = accelerate(learner, [GAME], trace_dir=trace_dir)
        assert first.graphs[0].traced
        assert graph_files(trace_dir) == [expected_file(learner, trace_dir).name]

        inference._traces.clear()  # as in a restarted process
        no_tracing(monkeypatch)
        again = accelerate(copy.deepcopy(learner), [GAME], trace_dir=trace_dir)
    assert not again.graphs[0].traced
    assert sources(caplog) == [TRACED, ON_DISK] == ["traced", "trace cached on disk"]
    want = outputs_on_random_inputs(learner, first.graphs[0])
    have = outputs_on_random_inputs(learner, again.graphs[0])
    for a, b in zip(want, have, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_graph_from_the_process_cache_is_written_to_a_new_trace_dir(learner, tmp_path, caplog):
    accelerate(learner, [GAME])  # no trace_dir: nothing on disk
    trace_dir = tmp_path / "graphs"
    with caplog.at_level(logging.INFO, logger="game_agent.inference"):
        again = accelerate(learner, [GAME], trace_dir=trace_dir)
    assert not again.graphs[0].traced
    assert sources(caplog) == [CACHED]
    assert graph_files(trace_dir) == [expected_file(learner, trace_dir).name]


def other_weights_graph(learner) -> bytes:
    other = copy.deepcopy(learner.policy)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(0.05)
    spec = parse_spec(GAME)
    return trace_graph(ExportedPolicy(other, spec), spec, DEFAULT_OPSET)


@pytest.mark.parametrize("content", ["garbage", "other weights"])
def test_a_bad_cached_graph_is_discarded_and_traced_again(
    learner, tmp_path, monkeypatch, caplog, content
):
    trace_dir = tmp_path / "graphs"
    trace_dir.mkdir()
    file = expected_file(learner, trace_dir)
    if content == "garbage":
        bad = b"\x08\x07not an onnx graph" * 50
    else:
        bad = other_weights_graph(learner)
        new_session(bad)  # a valid graph: only the verification can refuse it
    file.write_bytes(bad)
    with caplog.at_level(logging.INFO, logger="game_agent.inference"):
        fast = accelerate(learner, [GAME], trace_dir=trace_dir)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(file) in warning and "tracing it again" in warning
    if content == "other weights":
        assert "differs from torch" in warning
    assert fast.graphs[0].traced and sources(caplog) == [TRACED]
    assert fast.graphs[0].max_error <= VERIFY_TOLERANCE
    assert file.read_bytes() != bad  # overwritten by the fresh trace
    # ... which a restarted process takes from disk, and which verifies.
    inference._traces.clear()
    no_tracing(monkeypatch)
    again = accelerate(learner, [GAME], trace_dir=trace_dir)
    assert not again.graphs[0].traced
    states = [learner.initial_state(GAME) for _ in range(3)]
    obs = np.stack([np.zeros(parse_spec(GAME).obs_shape, np.float32)] * 3)
    masks = np.ones((3, parse_spec(GAME).num_actions), dtype=bool)
    want, _ = learner.act(states, obs, masks, greedy=True)
    have, _ = again.act(states, obs, masks, greedy=True)
    np.testing.assert_array_equal(want.actions, have.actions)
    np.testing.assert_allclose(want.probs, have.probs, atol=1e-5)


def test_an_unreadable_cached_graph_is_named_and_traced_again(learner, tmp_path, caplog):
    trace_dir = tmp_path / "graphs"
    file = expected_file(learner, trace_dir)
    (file / "in-the-way").mkdir(parents=True)  # a directory under the graph's name
    with caplog.at_level(logging.WARNING, logger="game_agent"):
        fast = accelerate(learner, [GAME], trace_dir=trace_dir)
    assert fast.graphs[0].traced
    warnings = [r.getMessage() for r in caplog.records]
    assert any(str(file) in w and "cannot be read" in w for w in warnings)


def test_the_file_name_changes_with_the_weights_the_key_and_the_producer(
    learner, tmp_path, monkeypatch
):
    spec = parse_spec(GAME)
    key = graph_key(learner.policy, spec)
    digest = inference._weights_digest(learner.policy)
    changed = copy.deepcopy(learner.policy)
    with torch.no_grad():
        next(changed.parameters()).view(-1)[0] += 1e-3
    other_digest = inference._weights_digest(changed)
    assert other_digest != digest
    name = trace_file_name(digest, key)
    assert len(name) == 64 + len(".onnx") and name.endswith(".onnx")
    assert trace_file_name(digest, key) == name  # stable
    board_key = (tuple(parse_spec(BOARD).obs_shape), parse_spec(BOARD).num_actions, ())
    others = {
        trace_file_name(other_digest, key),
        trace_file_name(digest, board_key),
        trace_file_name(digest, key, DEFAULT_OPSET + 1),
    }
    torch_version, onnx_version, source = graph_cache.producer()
    for producer in (
        ("9.9.9", onnx_version, source),
        (torch_version, "0.0.1", source),
        (torch_version, onnx_version, "0" * 64),
    ):
        monkeypatch.setattr(graph_cache, "producer", lambda producer=producer: producer)
        others.add(trace_file_name(digest, key))
    assert name not in others and len(others) == 6


def test_the_source_digest_covers_export_and_the_policies_package(tmp_path):
    package = Path(graph_cache.__file__).resolve().parent
    assert graph_cache.producer()[2] == source_digest(package)
    copy_root = tmp_path / "game_agent"
    shutil.copytree(package / "policies", copy_root / "policies")
    shutil.copy(package / "export.py", copy_root / "export.py")
    assert source_digest(copy_root) == source_digest(package)
    digests = {source_digest(copy_root)}
    for changed in ("export.py", "policies/encoders.py"):
        path = copy_root / changed
        path.write_text(path.read_text() + "\n# changed\n")
        digests.add(source_digest(copy_root))
    (copy_root / "policies" / "new_module.py").write_text("X = 1\n")
    digests.add(source_digest(copy_root))
    assert len(digests) == 4


def test_an_unusable_trace_dir_costs_one_warning_and_nothing_else(tmp_path, caplog):
    board = tiny_learner("connect_n")
    blocker = tmp_path / "data"
    blocker.write_text("a regular file where a directory should be")
    trace_dir = blocker / "graphs"
    with caplog.at_level(logging.WARNING, logger="game_agent"):
        fast = accelerate(board, [BOARD, OTHER_BOARD], trace_dir=trace_dir)
    assert len(fast.graphs) == 2 and all(g.traced for g in fast.graphs)
    [warning] = [r.getMessage() for r in caplog.records]
    assert str(trace_dir) in warning and "traced without it" in warning
    assert blocker.is_file()


def test_a_failed_write_leaves_neither_a_graph_nor_a_temporary_file(
    learner, tmp_path, monkeypatch, caplog
):
    trace_dir = tmp_path / "graphs"

    def killed(src, dst):
        raise OSError("killed mid-rename")

    monkeypatch.setattr(graph_cache.os, "replace", killed)
    with caplog.at_level(logging.WARNING, logger="game_agent"):
        fast = accelerate(learner, [GAME], trace_dir=trace_dir)
    assert fast.graphs[0].traced
    assert list(trace_dir.iterdir()) == []
    assert "killed mid-rename" in caplog.records[0].getMessage()


def test_the_trace_dir_is_bounded_and_stray_files_are_handled(learner, tmp_path):
    trace_dir = tmp_path / "graphs"
    trace_dir.mkdir()
    old = [trace_dir / f"{i:064x}.onnx" for i in range(TRACE_DIR_SIZE + 3)]
    for age, file in enumerate(old, start=1):  # old[0] is the most recent
        file.write_bytes(b"stale")
        os.utime(file, (1e9 - age * 60, 1e9 - age * 60))
    old_temp, new_temp = trace_dir / ".graph-old.tmp", trace_dir / ".graph-new.tmp"
    for temp in (old_temp, new_temp):
        temp.write_bytes(b"half a graph")
    os.utime(old_temp, (1e9, 1e9))
    notes = trace_dir / "notes.txt"
    notes.write_text("not ours")
    accelerate(learner, [GAME], trace_dir=trace_dir)
    kept = graph_files(trace_dir)
    assert len(kept) == TRACE_DIR_SIZE
    assert expected_file(learner, trace_dir).name in kept
    assert kept == sorted([expected_file(learner, trace_dir).name, *(f.name for f in old[:63])])
    assert not old_temp.exists() and new_temp.exists() and notes.exists()


def test_a_graph_used_from_disk_is_pruned_last(learner, tmp_path, monkeypatch):
    trace_dir = tmp_path / "graphs"
    accelerate(learner, [GAME], trace_dir=trace_dir)
    file = expected_file(learner, trace_dir)
    os.utime(file, (1e9, 1e9))  # stored long ago ...
    inference._traces.clear()
    no_tracing(monkeypatch)
    accelerate(learner, [GAME], trace_dir=trace_dir)  # ... but used now
    assert file.stat().st_mtime > 1e9 + 3600
