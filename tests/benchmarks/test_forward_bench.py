"""The vector forward benchmark compares what it says it compares, and reports it."""

from __future__ import annotations

import onnxruntime

from benchmarks import forward_bench


def test_the_baseline_is_onnxruntime_with_the_batch_fixed_for_one_player():
    import game_agent
    from games import parse_spec

    policy = game_agent.load(forward_bench.MODEL_DIR).base.policy
    sessions = forward_bench.onnxruntime_sessions(policy, parse_spec("matrix(name=rps)"))
    assert set(sessions) == set(forward_bench.BATCHES)
    assert all(isinstance(s, onnxruntime.InferenceSession) for s in sessions.values())
    assert sessions[1].get_inputs()[0].shape[0] == 1
    assert sessions[64].get_inputs()[0].shape[0] == "batch"


def test_a_short_run_reports_both_batches_with_outputs_that_agree():
    variant, rows = forward_bench.measure(repeats=1, calls=2)
    assert [row.batch for row in rows] == list(forward_bench.BATCHES)
    assert all(row.onnxruntime_us > 0 and row.numpy_us > 0 for row in rows)
    assert all(row.max_difference < 1e-4 for row in rows)
    text = forward_bench.report(variant, rows, repeats=1, calls=2)
    assert f"`{variant}`" in text and "| 1 |" in text and "| 64 |" in text
