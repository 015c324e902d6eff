"""Accelerated learners: onnxruntime answers every turn exactly as the torch learner would.

The reference is always the wrapped torch learner itself, given the same
states and inputs: greedy actions must be identical (a near-tie, where float
rounding may pick the other of two equally likely moves, is allowed but must
stay rare), probabilities, values and new memory agree within ``TOLERANCE``,
and the new states are interchangeable with torch's. Sampled actions are
checked for their distribution (a chi-square bound the test shows it can fail),
never for torch's random stream, which onnxruntime cannot reproduce.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from game_agent import inference, load
from game_agent.errors import GameAgentError, IncompatibleGameError, StateError
from game_agent.export import VERIFY_TOLERANCE, ExportedPolicy, example_inputs, trace_graph
from game_agent.inference import AcceleratedLearner, accelerate
from game_agent.learner import EpisodeOutcome
from game_agent.learners.maml import MAMLConfig, MAMLLearner
from game_agent.learners.multitask import MultitaskConfig, MultitaskLearner
from game_agent.learners.safe import FALLBACK, SafeLearner, SafetyConfig
from game_agent.policies import layout_for
from game_agent.vector_forward import VectorForward
from games import make_kernel, parse_spec
from games.errors import IllegalActionError
from tests.clients.tiny_models import VARIANTS, tiny_learner

TOLERANCE = 1e-5
"""Largest difference in probabilities, values (relative above 1) and memory."""
FAMILIES = ("connect_n", "matrix", "poker", "pong")
OTHER_BOARDS = (
    "connect_n(rows=5,cols=6,k=4,gravity=true)",  # another board size: a new graph
    "connect_n(rows=3,cols=3,k=3,gravity=false)",  # cells rather than columns
)
MODELS = Path(__file__).resolve().parents[2] / "models"
SAFE = ("matrix", "poker")
"""Shipped models served behind the safety wrapper."""


@pytest.fixture(scope="module")
def learners():
    return {family: tiny_learner(family, perturb=True) for family in FAMILIES}


@pytest.fixture(scope="module")
def accelerated(learners):
    return {
        family: accelerate(learner, [VARIANTS[family][0]]) for family, learner in learners.items()
    }


def random_batch(learner, game: str, n: int, seed: int):
    """``n`` players in random situations: observations, masks and recurrent state drawn
    as the exporter's verification draws them (previous action -1 included)."""
    spec = parse_spec(game)
    generator = torch.Generator().manual_seed(seed)
    drawn = [t.numpy() for t in example_inputs(learner.policy, spec, n, generator)]
    states = []
    for b in range(n):
        state = learner.initial_state(spec)
        if learner.recurrent:
            state.arrays["memory"] = drawn[2][b].copy()
            for i, name in enumerate(("prev_action", "prev_reward", "prev_done"), start=3):
                state.arrays[name] = drawn[i][b : b + 1].copy()
        states.append(state)
    return states, drawn[0], drawn[1] > 0.5


def relative_error(want: np.ndarray, have: np.ndarray) -> float:
    """Absolute error, relative where |want| > 1 (float32 keeps ~7 digits of a big value)."""
    if want.size == 0:
        return 0.0
    return float(np.max(np.abs(want - have) / np.maximum(1.0, np.abs(want))))


def assert_same_states(want, have) -> None:
    assert len(want) == len(have)
    for a, b in zip(want, have, strict=True):
        assert (a.learner, a.spec, a.meta) == (b.learner, b.spec, b.meta)
        assert sorted(a.arrays) == sorted(b.arrays)
        for name, array in a.arrays.items():
            assert array.dtype == b.arrays[name].dtype and array.shape == b.arrays[name].shape
            if array.dtype.kind == "f":
                assert relative_error(array, b.arrays[name]) <= TOLERANCE, name
            else:
                np.testing.assert_array_equal(array, b.arrays[name], err_msg=name)


def compare_decisions(want, have) -> int:
    """Assert the decisions agree; returns how many greedy choices were near-ties that
    float rounding decided differently (each must be a near-tie)."""
    assert have.actions.dtype == np.int64 and have.actions.shape == want.actions.shape
    assert have.probs.dtype == np.float32 and have.probs.shape == want.probs.shape
    assert have.values.dtype == np.float32 and have.values.shape == want.values.shape
    assert relative_error(want.probs, have.probs) <= TOLERANCE
    assert relative_error(want.values, have.values) <= TOLERANCE
    rows = np.flatnonzero(want.actions != have.actions)
    gap = want.probs[rows, want.actions[rows]] - want.probs[rows, have.actions[rows]]
    assert (np.abs(gap) <= TOLERANCE).all(), f"greedy actions differ beyond a near-tie: {gap}"
    return len(rows)


def check_random_decisions(torch_learner, fast, game: str, batches: int, n: int) -> int:
    """Greedy decisions on random states; returns the number of decisions compared."""
    flipped = 0
    for seed in range(batches):
        states, obs, masks = random_batch(torch_learner, game, n, seed)
        want, want_states = torch_learner.act(states, obs, masks, greedy=True)
        have, have_states = fast.act(states, obs, masks, greedy=True)
        flipped += compare_decisions(want, have)
        assert_same_states(want_states, have_states)
        assert masks[np.arange(n), have.actions].all()
        assert (have.probs[~masks] == 0.0).all()
    assert flipped <= max(1, batches * n // 100), f"{flipped} near-ties of {batches * n}"
    return batches * n


def play_lockstep(torch_learner, fast, game: str, decisions: int, lanes: int = 4, seed: int = 0):
    """``lanes`` games against random legal moves, played by both learners side by side,
    each carrying its own states (act, observe, end_episode as the server drives them);
    every decision and state must agree. Returns both learners' final states."""
    spec = parse_spec(game)
    kernel = make_kernel(spec)
    step = kernel.reset(lanes, seed=seed)
    rng = np.random.default_rng(seed)
    lane_ids = np.arange(lanes)
    seats = lane_ids % spec.num_agents
    slow = [torch_learner.initial_state(spec) for _ in lane_ids]
    quick = [fast.initial_state(spec) for _ in lane_ids]
    acted = np.zeros(lanes, dtype=bool)
    total = np.zeros(lanes)
    made = flipped = 0
    while made < decisions:
        actions = np.zeros((lanes, spec.num_agents), dtype=np.int64)
        idx = np.flatnonzero(step.acting[lane_ids, seats])
        if len(idx):
            obs, masks = step.obs[idx, seats[idx]], step.action_mask[idx, seats[idx]]
            want, new_slow = torch_learner.act([slow[i] for i in idx], obs, masks, greedy=True)
            have, new_quick = fast.act([quick[i] for i in idx], obs, masks, greedy=True)
            flipped += compare_decisions(want, have)
            np.testing.assert_array_equal(want.actions, have.actions)  # else games diverge
            assert_same_states(new_slow, new_quick)
            for i, a, b in zip(idx, new_slow, new_quick, strict=True):
                slow[i], quick[i] = a, b
            actions[idx, seats[idx]] = want.actions
            acted[idx] = True
            made += len(idx)
        for lane, seat in np.argwhere(step.acting):
            if seat != seats[lane]:
                actions[lane, seat] = rng.choice(np.flatnonzero(step.action_mask[lane, seat]))
        step = kernel.step(actions)
        rewards = step.rewards[lane_ids, seats]
        total += rewards
        for lane in np.flatnonzero(acted):
            reward, done = rewards[lane : lane + 1], step.done[lane : lane + 1]
            [slow[lane]] = torch_learner.observe([slow[lane]], reward, done)
            [quick[lane]] = fast.observe([quick[lane]], reward, done)
        for lane in np.flatnonzero(step.done):
            outcome = EpisodeOutcome(float(total[lane]), int(np.sign(total[lane])), 0)
            slow[lane] = torch_learner.end_episode(slow[lane], outcome)
            quick[lane] = fast.end_episode(quick[lane], outcome)
            acted[lane], total[lane] = False, 0.0
        assert_same_states(slow, quick)
        if step.done.any():
            step = kernel.reset_where(step.done)
    assert flipped == 0
    return slow, quick


# ---------------------------------------------------------------- agreement with torch


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_decisions_match_torch_on_random_states(learners, accelerated, family):
    fast = accelerated[family]
    assert isinstance(fast, AcceleratedLearner) and fast.name == learners[family].name
    assert check_random_decisions(learners[family], fast, VARIANTS[family][0], 8, 32) == 256
    # One player at a time: the batch-1 session, the one most turns use.
    assert check_random_decisions(learners[family], fast, VARIANTS[family][0], 24, 1) == 24


@pytest.mark.parametrize("family", FAMILIES)
def test_one_player_is_answered_in_numpy_by_a_vector_network_else_by_a_batch_1_session(
    learners, accelerated, family, monkeypatch
):
    fast = accelerated[family]
    graph = fast.graph(VARIANTS[family][0])
    vector = fast.layout.kind == "vector"
    assert isinstance(graph.single, VectorForward) == vector
    assert isinstance(graph.session, onnxruntime.InferenceSession)
    used: list[str] = []

    def counted(name: str):
        run = getattr(graph, name).run

        def counting_run(*args):
            used.append(name)
            return run(*args)

        return counting_run

    for name in ("single", "session"):
        monkeypatch.setattr(getattr(graph, name), "run", counted(name))
    check_random_decisions(learners[family], fast, VARIANTS[family][0], 2, 1)
    check_random_decisions(learners[family], fast, VARIANTS[family][0], 1, 4)
    assert used == ["single", "single", "session"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_played_sequence_matches_torch_with_memory_carried(learners, accelerated, family):
    _, quick = play_lockstep(learners[family], accelerated[family], VARIANTS[family][0], 300)
    assert all(s.meta["decisions"] > 0 for s in quick)
    assert any(s.meta["episodes"] > 0 for s in quick) or family == "pong"


@pytest.mark.parametrize("game", OTHER_BOARDS)
def test_other_board_sizes_compile_lazily_and_match_torch(learners, accelerated, game):
    fast = accelerated["connect_n"]
    before = len(fast.graphs)
    check_random_decisions(learners["connect_n"], fast, game, 2, 16)
    play_lockstep(learners["connect_n"], fast, game, 60)
    assert len(fast.graphs) == before + 1
    assert fast.graphs[-1].spec == parse_spec(game).name
    assert fast.graphs[-1].max_error <= VERIFY_TOLERANCE


def test_graphs_are_compiled_eagerly_for_the_given_specs_and_shared_per_key(learners):
    first = VARIANTS["connect_n"][0]
    same_shape = "connect_n(rows=4,cols=5,k=4,gravity=true)"  # same board, other rule
    fast = accelerate(learners["connect_n"], [first, same_shape])
    assert len(fast.graphs) == 1  # compiled now, before any act
    assert fast.graph(same_shape) is fast.graph(first)
    vector = accelerate(learners["matrix"], ["matrix(name=rps,rounds=5)", "matrix(name=rpsls)"])
    assert len(vector.graphs) == 1  # a vector network plays its whole family with one graph
    check_random_decisions(learners["matrix"], vector, "matrix(name=rpsls)", 2, 16)


def test_states_naming_their_variant_in_another_spelling_share_its_graph(learners):
    learner = learners["matrix"]
    fast = accelerate(learner, [VARIANTS["matrix"][0]])
    states, obs, masks = random_batch(learner, VARIANTS["matrix"][0], 4, seed=7)
    spelled = "matrix(rounds=5, name=rps)"
    assert states[0].spec != spelled and parse_spec(spelled).name == states[0].spec
    for state in states:
        state.spec = spelled
    want, want_states = learner.act(states, obs, masks, greedy=True)
    have, have_states = fast.act(states, obs, masks, greedy=True)
    compare_decisions(want, have)
    assert_same_states(want_states, have_states)
    assert len(fast.graphs) == 1 and have_states[0].spec == spelled


def test_multitask_learner_is_accelerated_too():
    spec = parse_spec(VARIANTS["connect_n"][0])
    learner = MultitaskLearner(
        layout_for([spec]), MultitaskConfig(hidden_size=8, conv_channels=4), seed=0
    )
    with torch.no_grad():
        for param in learner.policy.parameters():
            param.add_(0.5 * torch.randn(param.shape, generator=torch.Generator().manual_seed(2)))
    fast = accelerate(learner, [spec])
    assert isinstance(fast, AcceleratedLearner) and not fast.recurrent
    check_random_decisions(learner, fast, spec.name, 4, 16)
    play_lockstep(learner, fast, spec.name, 100)


def test_the_weights_are_those_at_accelerate_time(learners):
    learner = copy.deepcopy(learners["matrix"])
    fast = accelerate(learner, [VARIANTS["matrix"][0]])
    states, obs, masks = random_batch(learner, VARIANTS["matrix"][0], 8, seed=5)
    before, _ = fast.act(states, obs, masks, greedy=True)
    with torch.no_grad():
        for param in learner.policy.parameters():
            param.mul_(-2.0)
    after, _ = fast.act(states, obs, masks, greedy=True)
    np.testing.assert_array_equal(before.probs, after.probs)
    changed, _ = learner.act(states, obs, masks, greedy=True)
    assert relative_error(changed.probs, after.probs) > 0.01  # torch did move


# ----------------------------------------------------------------------- sampling


def wilson_hilferty(dof: int, z: float = 4.75) -> float:
    """Chi-square quantile at the standard normal's ``z`` (4.75: about 1e-6 to fail by chance)."""
    return dof * (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3


def chi_square(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    legal = probs > 0
    expected = counts.sum() * probs[legal]
    return float((((counts[legal] - expected) ** 2) / expected).sum()), int(legal.sum()) - 1


@pytest.mark.parametrize("family", ["matrix", "connect_n"])
def test_sampled_actions_follow_the_probabilities(learners, accelerated, family):
    fast = accelerated[family]
    states, obs, masks = random_batch(learners[family], VARIANTS[family][0], 1, seed=11)
    masks[0, 0] = False  # at least one masked action to be avoided
    masks[0, 1] = True
    draws, n = [], 500
    for _ in range(40):
        decision, _ = fast.act(states * n, np.repeat(obs, n, 0), np.repeat(masks, n, 0))
        draws.append(decision.actions)
    probs = decision.probs[0].astype(np.float64)
    np.testing.assert_allclose(decision.probs, np.repeat(decision.probs[:1], n, 0))
    counts = np.bincount(np.concatenate(draws), minlength=len(probs))
    assert counts[~masks[0]].sum() == 0 and (probs[~masks[0]] == 0).all()
    statistic, dof = chi_square(counts, probs / probs.sum())
    assert statistic <= wilson_hilferty(dof), (counts, probs)
    # The bound can fail: the same counts are far from a uniform draw over the legal moves.
    assert np.ptp(probs[masks[0]]) > 0.05
    uniform = masks[0] / masks[0].sum()
    assert chi_square(counts, uniform)[0] > wilson_hilferty(dof)


def test_sampling_never_picks_a_masked_action(learners, accelerated):
    for family in ("matrix", "connect_n"):
        for seed in range(5):
            states, obs, masks = random_batch(learners[family], VARIANTS[family][0], 64, seed)
            decision, new_states = accelerated[family].act(states, obs, masks)
            assert masks[np.arange(64), decision.actions].all()
            assert (decision.probs[~masks] == 0.0).all()
            played = np.concatenate([s.arrays["prev_action"] for s in new_states])
            np.testing.assert_array_equal(played, decision.actions)


def test_sampling_is_seeded_from_the_learner(learners):
    runs = []
    for _ in range(2):
        fast = accelerate(learners["matrix"], [VARIANTS["matrix"][0]])
        states, obs, masks = random_batch(learners["matrix"], VARIANTS["matrix"][0], 64, 3)
        runs.append(fast.act(states, obs, masks)[0].actions)
    np.testing.assert_array_equal(*runs)


# --------------------------------------------------------------------- bad input


def bad_inputs(learner, game: str):
    """(name, states, obs, masks) that torch ``act`` refuses."""
    states, obs, masks = random_batch(learner, game, 2, seed=0)
    other = learner.initial_state("matrix(name=rpsls)")
    foreign = copy.deepcopy(states[0])
    foreign.learner = "maml"
    wrong_family = copy.deepcopy(states[0])
    wrong_family.spec = parse_spec(VARIANTS["poker"][0]).name
    short_memory = copy.deepcopy(states[0])
    short_memory.arrays["memory"] = short_memory.arrays["memory"][:3]
    far_action = copy.deepcopy(states[0])
    far_action.arrays["prev_action"] = np.array([99], dtype=np.int64)
    missing = copy.deepcopy(states[0])
    del missing.arrays["prev_reward"]
    nan = obs.copy()
    nan[1, 0] = np.nan
    empty = masks.copy()
    empty[1] = False
    return {
        "no states": ([], obs[:0], masks[:0]),
        "obs shape": (states, obs[:, :-1], masks),
        "obs batch": (states, obs[:1], masks),
        "mask shape": (states, obs, masks[:, :-1]),
        "no legal action": (states, obs, empty),
        "nan obs": (states, nan, masks),
        "another learner": ([foreign, states[1]], obs, masks),
        "two variants": ([states[0], other], obs, masks),
        "another family": ([wrong_family, wrong_family], obs, masks),
        "short memory": ([short_memory, states[1]], obs, masks),
        "action outside the game": ([far_action, states[1]], obs, masks),
        "missing array": ([missing, states[1]], obs, masks),
    }


def test_bad_inputs_raise_the_errors_torch_raises(learners, accelerated):
    learner, fast = learners["matrix"], accelerated["matrix"]
    cases = bad_inputs(learner, VARIANTS["matrix"][0])
    kinds = set()
    for name, (states, obs, masks) in cases.items():
        with pytest.raises(Exception) as torch_error:
            learner.act(states, obs, masks)
        with pytest.raises(Exception) as fast_error:
            fast.act(states, obs, masks)
        assert type(fast_error.value) is type(torch_error.value), name
        assert str(fast_error.value) == str(torch_error.value), name
        kinds.add(type(torch_error.value))
    assert {StateError, IncompatibleGameError, IllegalActionError} <= kinds


def test_a_spec_the_learner_cannot_play_is_refused_when_accelerating(learners):
    with pytest.raises(IncompatibleGameError):
        accelerate(learners["matrix"], [VARIANTS["poker"][0]])


# --------------------------------------------------------- compiling and verifying


def test_a_graph_that_does_not_reproduce_torch_is_refused(learners, monkeypatch):
    def traced_from_other_weights(module, spec, opset):
        other = copy.deepcopy(module.policy)
        with torch.no_grad():
            for param in other.parameters():
                param.add_(0.01)
        return trace_graph(ExportedPolicy(other, spec), spec, opset)

    monkeypatch.setattr(inference, "_traces", OrderedDict())
    monkeypatch.setattr(inference, "trace_graph", traced_from_other_weights)
    with pytest.raises(GameAgentError, match="differs from torch"):
        accelerate(learners["pong"], [VARIANTS["pong"][0]])
    fast = accelerate(learners["connect_n"])  # lazily: the first act refuses it
    states, obs, masks = random_batch(learners["connect_n"], VARIANTS["connect_n"][0], 1, 0)
    with pytest.raises(GameAgentError, match="accelerated graph for connect_n"):
        fast.act(states, obs, masks)


def test_a_network_is_traced_once_per_process_and_other_weights_get_their_own(
    learners, monkeypatch
):
    monkeypatch.setattr(inference, "_traces", OrderedDict())
    game = VARIANTS["matrix"][0]
    first = accelerate(learners["matrix"], [game])
    again = accelerate(copy.deepcopy(learners["matrix"]), [game])
    assert first.graphs[0].traced and not again.graphs[0].traced
    changed = copy.deepcopy(learners["matrix"])
    with torch.no_grad():
        next(changed.policy.parameters()).add_(0.5)
    other = accelerate(changed, [game])
    assert other.graphs[0].traced
    check_random_decisions(changed, other, game, 2, 16)


def test_lazy_compiling_happens_once_under_concurrent_first_turns(learners, monkeypatch):
    compiled = []
    original = inference.compile_graph

    def counting(*args, **kwargs):
        compiled.append(args[1].name)
        return original(*args, **kwargs)

    monkeypatch.setattr(inference, "compile_graph", counting)
    fast = accelerate(learners["connect_n"])
    game = "connect_n(rows=6,cols=7,k=4,gravity=true)"
    states, obs, masks = random_batch(learners["connect_n"], game, 4, seed=1)
    want, _ = learners["connect_n"].act(states, obs, masks, greedy=True)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def turn():
        try:
            barrier.wait()
            results.append(fast.act(states, obs, masks, greedy=True)[0])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=turn) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 6
    assert compiled == [parse_spec(game).name]
    for decision in results:
        compare_decisions(want, decision)


# ----------------------------------------------------------- what is left alone


def test_maml_and_learners_without_a_network_are_returned_unchanged(caplog):
    spec = parse_spec(VARIANTS["matrix"][0])
    maml = MAMLLearner(layout_for([spec]), MAMLConfig(hidden_size=8), seed=0)

    class NoNetwork:
        name = "scripted"

    scripted = NoNetwork()
    safe_maml = SafeLearner(maml, SafetyConfig())
    with caplog.at_level(logging.INFO, logger="game_agent.inference"):
        assert accelerate(maml, [spec]) is maml
        assert accelerate(scripted) is scripted
        assert accelerate(safe_maml, [spec]) is safe_maml
    messages = [r.getMessage() for r in caplog.records]
    assert any("maml" in m and "per-player weights" in m for m in messages)
    assert any("scripted" in m and "not a PPO-trained" in m for m in messages)


@pytest.mark.parametrize("family", ["matrix", "poker"])
def test_safe_wrapper_is_kept_and_decides_as_torch(learners, family):
    config = SafetyConfig(budget=0.0, switch_backs=1, stint_budget=0.0, hysteresis=0.2, seed=4)
    slow = SafeLearner(learners[family], config)
    fast = accelerate(SafeLearner(learners[family], config), [VARIANTS[family][0]])
    assert isinstance(fast, SafeLearner) and isinstance(fast.base, AcceleratedLearner)
    assert fast.config == config and fast.name == slow.name
    slow_states, fast_states = play_lockstep(slow, fast, VARIANTS[family][0], 300)
    # The fallback really played, so the wrapper's own logic was exercised.
    assert any(s.arrays["safe.fallback_decisions"][0] > 0 for s in fast_states)
    assert any(s.arrays["safe.mode"][0] == FALLBACK for s in slow_states) or family == "matrix"


# ------------------------------------------------------------------ shipped models


@pytest.mark.parametrize("family", FAMILIES)
def test_shipped_models_accelerate_and_agree_with_torch(family):
    loaded = load(MODELS / family)
    meta_variants = load_variants(MODELS / family)
    fast = accelerate(loaded, meta_variants[:1])
    base, fast_base = getattr(loaded, "base", loaded), getattr(fast, "base", fast)
    assert isinstance(fast_base, AcceleratedLearner)
    assert isinstance(fast, SafeLearner) == isinstance(loaded, SafeLearner)
    assert fast.name == loaded.name and isinstance(loaded, SafeLearner) == (family in SAFE)
    assert len(fast_base.graphs) == 1
    assert check_random_decisions(base, fast_base, meta_variants[0], 6, 50) == 300
    play_lockstep(loaded, fast, meta_variants[0], 100)


def load_variants(checkpoint: Path) -> list[str]:
    return list(json.loads((checkpoint / "meta.json").read_text())["distribution"]["variants"])
