"""VectorForward: the numpy forward pass answers exactly as an onnxruntime session of
ExportedPolicy must.

The reference is torch: :class:`~game_agent.export.ExportedPolicy` run on the same
inputs, the module every served graph is traced from. Random inputs go through
:func:`~game_agent.export.verify_session` (the check every compiled session passes:
batches of 1, 3 and 7, 1e-4); crafted ones probe the masked softmax's edges (one
legal action, none, ties), the previous action, mixed batches and the refusals.
"""

from __future__ import annotations

import copy
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from game_agent import load, vector_forward
from game_agent.export import (
    ExportedPolicy,
    example_inputs,
    input_names,
    output_names,
    verify_session,
)
from game_agent.policies import ActorCritic, layout_for
from game_agent.vector_forward import VectorForward
from games import parse_spec

SPEC = parse_spec("matrix(name=rpsls,rounds=5)")
ACTIONS = SPEC.num_actions
TOLERANCE = 1e-5
"""Tighter than verify_session's 1e-4: float32 rounding alone stays near 1e-6 here."""
MODELS = Path(__file__).resolve().parents[2] / "models"


def noisy_policy(recurrent: bool, seed: int = 0) -> ActorCritic:
    """A fresh vector policy with noise (sd 0.3) on every weight, so that its logits
    differ by more than rounding (a fresh actor's gain of 0.01 makes every row a near-tie)."""
    torch.manual_seed(seed)
    policy = ActorCritic(layout_for([SPEC]), recurrent=recurrent, hidden_size=16)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(0.3 * torch.randn(param.shape, generator=generator))
    return policy.eval()


@pytest.fixture(scope="module", params=[True, False], ids=["rl2", "feedforward"])
def policy(request) -> ActorCritic:
    return noisy_policy(recurrent=request.param)


@pytest.fixture(scope="module")
def rl2() -> ActorCritic:
    return noisy_policy(recurrent=True, seed=5)


def random_feed(policy: ActorCritic, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    inputs = example_inputs(policy, SPEC, batch, generator)
    return {name: t.numpy() for name, t in zip(input_names(policy), inputs, strict=True)}


def torch_outputs(policy: ActorCritic, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    module = ExportedPolicy(policy, SPEC).eval()
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(feed[name]) for name in input_names(policy)))
    return [t.numpy() for t in outputs]


def assert_matches_torch(policy: ActorCritic, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """VectorForward's outputs for ``feed``, checked against torch's: dtypes, shapes,
    values within TOLERANCE and identical greedy actions."""
    got = VectorForward(policy).run(list(output_names(policy)), feed)
    want = torch_outputs(policy, feed)
    for name, have, expected in zip(output_names(policy), got, want, strict=True):
        assert have.dtype == expected.dtype and have.shape == expected.shape, name
        if name == "greedy_action":
            np.testing.assert_array_equal(have, expected, err_msg=name)
        else:
            np.testing.assert_allclose(have, expected, rtol=0, atol=TOLERANCE, err_msg=name)
    return got


# ------------------------------------------------------------------ random inputs


def test_verify_session_passes_on_random_inputs(policy):
    module = ExportedPolicy(policy, SPEC).eval()
    worst = verify_session(module, VectorForward(policy), SPEC, samples=12, label="numpy")
    assert worst <= TOLERANCE


def test_shipped_matrix_model_passes_verify_session():
    learner = load(MODELS / "matrix")
    meta = json.loads((MODELS / "matrix" / "meta.json").read_text())
    spec = parse_spec(meta["distribution"]["variants"][0])
    policy = learner.base.policy.eval()
    forward = VectorForward(policy, spec)
    module = ExportedPolicy(policy, spec).eval()
    worst = verify_session(module, forward, spec, samples=12, label="numpy shipped")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("batch", [1, 2, 64])
def test_random_batches_match_torch_and_batch_one(policy, batch):
    feed = random_feed(policy, batch, seed=batch)
    together = assert_matches_torch(policy, feed)
    forward = VectorForward(policy)
    for lane in range(batch):
        alone = forward.run(None, {name: x[lane : lane + 1] for name, x in feed.items()})
        for whole, one in zip(together, alone, strict=True):
            np.testing.assert_allclose(one[0], whole[lane], rtol=0, atol=1e-6)


def test_batch_one_through_the_vectorised_softmax_matches_torch(policy, monkeypatch):
    """Batch 1 with more actions than the Python softmax takes goes the batch path."""
    monkeypatch.setattr(vector_forward, "_LIST_SOFTMAX_MAX_ACTIONS", 0)
    module = ExportedPolicy(policy, SPEC).eval()
    forward = VectorForward(policy)
    worst = verify_session(module, forward, SPEC, samples=6, label="numpy", batches=(1,))
    assert worst <= TOLERANCE
    for mask in ([0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0.2, 1, 1, 0.7]):
        feed = dict(random_feed(policy, 1), action_mask=np.float32([mask]))
        assert_matches_torch(policy, feed)


# ------------------------------------------------------------------ crafted inputs


@pytest.mark.parametrize("batch", [1, 3])
def test_a_single_legal_action_gets_all_the_probability(policy, batch):
    feed = random_feed(policy, batch)
    feed["action_mask"] = np.zeros((batch, ACTIONS), dtype=np.float32)
    feed["action_mask"][:, 3] = 1.0
    probs, *_, greedy = assert_matches_torch(policy, feed)
    expected = np.zeros((batch, ACTIONS), dtype=np.float32)
    expected[:, 3] = 1.0
    np.testing.assert_array_equal(probs, expected)
    np.testing.assert_array_equal(greedy, [3] * batch)


@pytest.mark.parametrize("batch", [1, 3])
def test_a_row_with_no_legal_action_plays_every_action(policy, batch):
    """As MaskedCategorical: the softmax of the unmasked logits, greedy their argmax."""
    feed = random_feed(policy, batch)
    feed["action_mask"] = np.zeros((batch, ACTIONS), dtype=np.float32)
    probs, *_ = assert_matches_torch(policy, feed)
    assert (probs > 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 3])
def test_equal_logits_are_uniform_and_greedy_takes_the_first_legal_action(policy, batch):
    flat = copy.deepcopy(policy)
    with torch.no_grad():
        flat.actor.weight.zero_()
        flat.actor.bias.zero_()
    feed = random_feed(flat, batch)
    feed["action_mask"] = np.tile(np.float32([0, 0.4, 1, 0.9, 1]), (batch, 1))
    probs, *_, greedy = assert_matches_torch(flat, feed)
    np.testing.assert_array_equal(greedy, [2] * batch)
    np.testing.assert_allclose(probs, np.tile([0, 0, 1 / 3, 1 / 3, 1 / 3], (batch, 1)), atol=1e-7)
    feed["action_mask"][:] = 0.0
    probs, *_, greedy = assert_matches_torch(flat, feed)
    np.testing.assert_array_equal(greedy, [0] * batch)
    np.testing.assert_allclose(probs, np.full((batch, ACTIONS), 1 / ACTIONS), atol=1e-7)


@pytest.mark.parametrize("batch", [1, 3])
def test_the_previous_action_changes_the_answer_as_in_torch(rl2, batch):
    none = random_feed(rl2, batch)
    none["prev_action"] = np.full(batch, -1, dtype=np.int64)
    played = dict(none, prev_action=np.full(batch, 4, dtype=np.int64))
    below = dict(none, prev_action=np.full(batch, -3, dtype=np.int64))
    without = assert_matches_torch(rl2, none)
    with_action = assert_matches_torch(rl2, played)
    for name, a, b in zip(output_names(rl2), without, with_action, strict=True):
        if name != "greedy_action":
            assert np.abs(a - b).max() > 1e-3, name
    for a, b in zip(without, assert_matches_torch(rl2, below), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_batch_of_mixed_rows_matches_torch(policy):
    feed = random_feed(policy, 5, seed=3)
    feed["action_mask"] = np.float32(
        [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0.4, 0.6, 0, 1, 0.51], [1, 0, 0, 0, 1]]
    )
    if policy.recurrent:
        feed["prev_action"] = np.int64([-1, 0, 4, -1, 2])
        feed["prev_done"] = np.float32([0, 1, 0, 1, 0])
        feed["hidden_state"][0] = 0.0
    probs, *_ = assert_matches_torch(policy, feed)
    np.testing.assert_array_equal(probs[0], [0, 0, 0, 1, 0])
    assert (probs[1] > 0).all()
    assert probs[3, 0] == 0 and probs[3, 2] == 0 and probs[3, 4] > 0


def test_outputs_come_in_the_order_asked(policy):
    forward = VectorForward(policy)
    feed = random_feed(policy, 3)
    everything = dict(zip(output_names(policy), forward.run(None, feed), strict=True))
    value, greedy = forward.run(["value", "greedy_action"], feed)
    np.testing.assert_array_equal(value, everything["value"])
    np.testing.assert_array_equal(greedy, everything["greedy_action"])


def test_weights_are_a_snapshot(rl2):
    changed = copy.deepcopy(rl2)
    forward = VectorForward(changed)
    feed = random_feed(rl2, 1)
    before = forward.run(None, feed)
    with torch.no_grad():
        for param in changed.parameters():
            param.add_(1.0)
    for a, b in zip(before, forward.run(None, feed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_concurrent_calls_answer_as_sequential_ones(rl2):
    """Four threads share one instance, switching as often as Python lets them, so any
    state a call kept on the instance would be overwritten mid-call by another."""
    forward = VectorForward(rl2)
    feeds = [random_feed(rl2, 1 + i % 3, seed=i) for i in range(40)]
    sequential = [forward.run(None, feed) for feed in feeds]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            concurrent = list(pool.map(lambda feed: forward.run(None, feed), feeds * 10))
    finally:
        sys.setswitchinterval(interval)
    for want, got in zip(sequential * 10, concurrent, strict=True):
        for a, b in zip(want, got, strict=True):
            np.testing.assert_array_equal(a, b)


def test_lists_are_read_as_the_dtype_expected(rl2):
    forward = VectorForward(rl2)
    feed = random_feed(rl2, 2)
    as_lists = dict(feed, prev_action=feed["prev_action"].tolist(), prev_done=[0.0, 1.0])
    feed["prev_done"] = np.float32([0.0, 1.0])
    for a, b in zip(forward.run(None, feed), forward.run(None, as_lists), strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("name", ["observation", "action_mask", "prev_reward"])
def test_a_missing_input_is_named(rl2, name):
    feed = random_feed(rl2, 1)
    del feed[name]
    with pytest.raises(ValueError, match=f"missing inputs \\['{name}'\\]"):
        VectorForward(rl2).run(None, feed)


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("observation", (1, 80), r"\(batch, 81\) with batch >= 1"),
        ("observation", (81,), r"\(batch, 81\) with batch >= 1"),
        ("observation", (0, 81), r"\(batch, 81\) with batch >= 1"),
        ("action_mask", (1, ACTIONS + 1), r"\(batch, 5\) = \(1, 5\)"),
        ("hidden_state", (2, 16), r"\(batch, 16\) = \(1, 16\)"),
        ("prev_done", (1, 1), r"\(batch,\) = \(1,\)"),
    ],
)
def test_a_wrong_shape_is_named_with_the_shape_expected(rl2, name, shape, expected):
    feed = random_feed(rl2, 1)
    feed[name] = np.zeros(shape, dtype=feed[name].dtype)
    with pytest.raises(ValueError, match=f"input '{name}' has shape .*; expected {expected}"):
        VectorForward(rl2).run(None, feed)


def test_other_refusals_name_what_is_wrong(rl2):
    forward = VectorForward(rl2)
    feed = random_feed(rl2, 2)
    with pytest.raises(ValueError, match="input 'observation' has dtype float64; expected float32"):
        forward.run(None, dict(feed, observation=feed["observation"].astype(np.float64)))
    with pytest.raises(ValueError, match=r"unknown inputs \['memory'\]"):
        forward.run(None, dict(feed, memory=feed["hidden_state"]))
    with pytest.raises(ValueError, match="unknown output 'logits'"):
        forward.run(["value", "logits"], feed)
    for batch in (1, 2):
        late = dict(random_feed(rl2, batch), prev_action=np.full(batch, ACTIONS, dtype=np.int64))
        with pytest.raises(ValueError, match="input 'prev_action' holds 5; expected -1"):
            forward.run(None, late)


def test_a_board_policy_is_refused():
    board = parse_spec("connect_n(rows=3,cols=3,k=3,gravity=false)")
    policy = ActorCritic(layout_for([board]), recurrent=True, hidden_size=8, conv_channels=4)
    with pytest.raises(ValueError, match="'board' layout"):
        VectorForward(policy)
