"""``Learner.act(..., draws=u)``: sampled moves chosen by the caller's uniforms.

Every learner, given draws, must choose each row's action as the inverse CDF of the
probabilities it returns at that row's draw, whatever its own generator holds, and
leave that generator untouched; greedy play ignores draws. That is what makes a
server's seeded sessions reproducible (``game_agent.sampling``).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from game_agent.inference import accelerate
from game_agent.learners.maml import MAMLConfig, MAMLLearner
from game_agent.learners.safe import FALLBACK, SafeLearner, SafetyConfig
from game_agent.policies import layout_for
from game_agent.sampling import inverse_cdf
from games import make_kernel, parse_spec
from tests.clients.tiny_models import VARIANTS, tiny_learner

LANES = 24


@pytest.fixture(scope="module")
def rl2():
    return {family: tiny_learner(family, perturb=True) for family in ("matrix", "poker")}


def maml() -> MAMLLearner:
    spec = parse_spec(VARIANTS["matrix"][0])
    return MAMLLearner(layout_for([spec]), MAMLConfig(hidden_size=8, num_lanes=2), seed=1)


def make(kind: str, rl2) -> object:
    game = VARIANTS["poker" if kind.endswith("poker") else "matrix"][0]
    base = rl2["poker" if kind.endswith("poker") else "matrix"]
    return {
        "rl2": lambda: copy.deepcopy(base),
        "maml": maml,
        "accelerated": lambda: accelerate(base, [game]),
        "safe": lambda: SafeLearner(copy.deepcopy(base), SafetyConfig(budget=0.0, seed=5)),
        "safe-accelerated": lambda: accelerate(SafeLearner(base, SafetyConfig(budget=0.0)), [game]),
        "safe-poker": lambda: SafeLearner(copy.deepcopy(base), SafetyConfig(budget=0.0, seed=5)),
    }[kind]()


KINDS = ("rl2", "maml", "accelerated", "safe", "safe-accelerated", "safe-poker")


def first_turn(learner, kind: str):
    """LANES players at their first decision; safe players alternate benched and not."""
    spec = parse_spec(VARIANTS["poker" if kind.endswith("poker") else "matrix"][0])
    step = make_kernel(spec).reset(LANES, seed=0)
    seat = int(np.argmax(step.acting[0]))
    states = [learner.initial_state(spec) for _ in range(LANES)]
    if kind.startswith("safe"):
        for state in states[::2]:
            state.arrays["safe.deficit"][0] = 5.0  # over budget: the fallback plays
    return states, step.obs[:, seat], step.action_mask[:, seat]


def generator_state(learner) -> object:
    """Every random generator the learner (and its base and guards) could draw from."""
    found = []
    for part in (learner, getattr(learner, "base", None)):
        if part is None:
            continue
        if hasattr(part, "act_generator"):
            found.append(part.act_generator.get_state().tolist())
        if hasattr(part, "act_rng"):
            found.append(part.act_rng.bit_generator.state)
        for guard in getattr(part, "_guards_by_text", {}).values():
            rng = getattr(guard, "rng", None) or guard.style.rng
            found.append(rng.bit_generator.state)
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_given_draws_choose_the_inverse_cdf_of_the_returned_probabilities(rl2, kind):
    learner = make(kind, rl2)
    states, obs, masks = first_turn(learner, kind)
    learner.act(states, obs, masks)  # the guards now exist, their generators are in use
    before = generator_state(learner)
    draws = np.random.default_rng(0).random(LANES)
    decision, new_states = learner.act(states, obs, masks, draws=draws)
    np.testing.assert_array_equal(decision.actions, inverse_cdf(decision.probs, draws))
    assert generator_state(learner) == before, "a generator was drawn from"
    assert len(set(decision.actions.tolist())) > 1  # the draws, not one fixed move, decided
    if kind.startswith("safe"):
        modes = [int(s.arrays["safe.mode"][0]) for s in new_states]
        assert modes[::2] == [FALLBACK] * (LANES // 2) and FALLBACK not in modes[1::2]


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_draws_give_the_same_moves_whatever_the_generator_did(rl2, kind):
    learner, other = make(kind, rl2), make(kind, rl2)
    states, obs, masks = first_turn(learner, kind)
    for _ in range(3):  # advance one learner's generators only
        other.act(states, obs, masks)
    draws = np.linspace(0.01, 0.99, LANES)
    first, _ = learner.act(states, obs, masks, draws=draws)
    second, _ = other.act(states, obs, masks, draws=draws)
    np.testing.assert_array_equal(first.actions, second.actions)


@pytest.mark.parametrize("kind", ["rl2", "maml", "accelerated"])
def test_greedy_play_ignores_draws(rl2, kind):
    learner = make(kind, rl2)
    states, obs, masks = first_turn(learner, kind)
    plain, _ = learner.act(states, obs, masks, greedy=True)
    drawn, _ = learner.act(states, obs, masks, greedy=True, draws=np.full(LANES, 0.999))
    np.testing.assert_array_equal(plain.actions, drawn.actions)


def test_torch_and_onnxruntime_choose_alike_at_the_same_draws(rl2):
    game = VARIANTS["matrix"][0]
    torch_learner = copy.deepcopy(rl2["matrix"])
    fast = accelerate(torch_learner, [game])
    states, obs, masks = first_turn(torch_learner, "rl2")
    draws = np.random.default_rng(3).random(LANES)
    with torch.no_grad():
        want, _ = torch_learner.act(states, obs, masks, draws=draws)
    have, _ = fast.act(states, obs, masks, draws=draws)
    np.testing.assert_allclose(have.probs, want.probs, atol=1e-6)
    np.testing.assert_array_equal(have.actions, want.actions)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_draws_are_refused_before_anything_changes(rl2, kind):
    learner = make(kind, rl2)
    states, obs, masks = first_turn(learner, kind)
    before = [s.to_bytes() for s in states]
    with pytest.raises(ValueError, match=r"draws must have shape \(24,\)"):
        learner.act(states, obs, masks, draws=np.zeros(3))
    with pytest.raises(ValueError, match=r"uniforms in \[0, 1\); got 1.0"):
        learner.act(states, obs, masks, draws=np.ones(LANES))
    assert [s.to_bytes() for s in states] == before
