"""The server keeps traced onnxruntime graphs under ``<data>/graphs`` across restarts."""

from __future__ import annotations

import logging
from collections import OrderedDict

import pytest

from game_agent import inference
from game_agent.inference import AcceleratedLearner
from server.models import load_models
from tests.clients.tiny_models import save_tiny_checkpoint
from tests.server.conftest import ServerThread, make_config


@pytest.fixture(autouse=True)
def fresh_traces(monkeypatch):
    monkeypatch.setattr(inference, "_traces", OrderedDict())


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("graph-cache") / "models"
    save_tiny_checkpoint(root / "tiny-poker", "poker")  # one graph each: vector networks
    save_tiny_checkpoint(root / "tiny-matrix", "matrix")
    return root


def graphs_of(registry) -> list:
    return [g for model in registry for g in model.learner.graphs]


def test_load_models_stores_graphs_and_a_second_load_takes_them_from_disk(
    models_dir, tmp_path, monkeypatch, caplog
):
    trace_dir = tmp_path / "var" / "graphs"
    first = load_models(models_dir, trace_dir=trace_dir)
    assert all(isinstance(model.learner, AcceleratedLearner) for model in first)
    compiled = graphs_of(first)
    assert compiled and all(g.traced for g in compiled)
    assert len(list(trace_dir.glob("*.onnx"))) == len(compiled)

    inference._traces.clear()  # a restarted server

    def refuse(*args, **kwargs):
        raise AssertionError("trace_graph was called")

    monkeypatch.setattr(inference, "trace_graph", refuse)
    with caplog.at_level(logging.INFO, logger="game_agent.inference"):
        second = load_models(models_dir, trace_dir=trace_dir)
    assert [g.key for g in graphs_of(second)] == [g.key for g in compiled]
    assert not any(g.traced for g in graphs_of(second))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled ")]
    assert len(lines) == len(compiled) and all("trace cached on disk" in m for m in lines)


def test_without_a_trace_dir_nothing_is_written(models_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_models(models_dir)
    assert list(tmp_path.iterdir()) == []


def test_the_server_caches_graphs_in_its_data_dir(models_dir, tmp_path):
    config = make_config(tmp_path, models_dir=models_dir)
    assert config.graphs_dir == config.data_dir / "graphs"
    running = ServerThread(config, models=None)  # loads the models directory
    try:
        assert len(list(config.graphs_dir.glob("*.onnx"))) == 2  # one per network
    finally:
        running.stop()
