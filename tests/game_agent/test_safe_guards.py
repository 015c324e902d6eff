"""The guards' per-row readings against the numpy code they replace, bit for bit.

The guards read observations as bytes and Python floats, and draw the fallback's
move row by row, to keep numpy calls off the serving path. Each reading here is
compared with an independent computation: the observation layout's own decoders,
the solver on the decoded payoffs, the sampler the guard used to run (kept below
as the reference), and the poker style's own ``act`` / ``sample``.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import games
from game_agent.learners.safe_guards import MatrixGuard, PokerGuard, _sample_row
from games.matrix.equilibrium import solve_zero_sum
from games.poker.opponents import sample as poker_sample

EXAMPLES = settings(max_examples=300, deadline=None, database=None)
MATRIX_VARIANTS = [
    "matrix(name=rps)",
    "matrix(name=rpsls,history=2)",
    "matrix(name=biased_rps,bias=3.0,rounds=20)",
    "matrix(name=matching_pennies)",
    "matrix(name=stag_hunt,history=1)",
    "matrix(name=chicken)",
]


def played_observations(spec_name: str, games_played: int = 6, seed: int = 0) -> np.ndarray:
    """(N, obs_size) float32: both seats' observations over whole random matches."""
    spec = games.parse_spec(spec_name)
    kernel = games.make_kernel(spec)
    rng = np.random.default_rng(seed)
    step = kernel.reset(games_played, seed=seed)
    seen = []
    while True:
        seen += [step.obs[:, 0], step.obs[:, 1]]
        if step.done.all():
            return np.concatenate(seen).astype(np.float32)
        legal = step.action_mask.any(axis=1)
        actions = np.stack([rng.choice(np.flatnonzero(row)) for row in legal]).astype(np.int64)
        step = kernel.step(np.stack([actions, rng.permutation(actions)], axis=1))


def layout_reference(guard: MatrixGuard, obs: np.ndarray) -> np.ndarray:
    """What ``their_last_move`` computed before: the layout's own decoders."""
    shown = guard.layout.rounds_played(obs, guard.rounds) > 0
    return np.where(shown, guard.layout.recent_rounds(obs)[:, 0, 1], -1)


def numpy_draw(mixture, masks, rng, num_legal):
    """The matrix fallback's sampler as it was written in numpy."""
    probs = mixture * masks
    probs /= probs.sum(axis=1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)
    draws = rng.random(len(probs))[:, None]
    actions = np.minimum((draws >= cdf).sum(axis=1), num_legal - 1)
    return actions.astype(np.int64), probs.astype(np.float32)


# ---------------------------------------------------------------- matrix games


@pytest.mark.parametrize("variant", MATRIX_VARIANTS)
def test_their_last_move_and_solutions_match_the_layout_and_the_solver(variant):
    spec = games.parse_spec(variant)
    guard = MatrixGuard(spec, seed=0)
    obs = played_observations(variant)
    np.testing.assert_array_equal(guard.their_last_move(obs), layout_reference(guard, obs))
    assert (guard.their_last_move(obs) >= 0).any() and (guard.their_last_move(obs) < 0).any()
    solutions, moves = guard.read(obs)
    assert moves == guard.their_last_move(obs).tolist()
    n = guard.num_legal
    for row, solution in zip(guard.layout.matrices(obs)[0], solutions, strict=True):
        exact = solve_zero_sum(row[:n, :n])
        assert solution.payoffs.tobytes() == row.tobytes()
        for j, column in enumerate(solution.columns):  # laid out as row[:, j]: same dot product
            assert column.strides == row[:, j].strides and column.tobytes() == row[:, j].tobytes()
        np.testing.assert_array_equal(solution.strategy[:n], exact.strategy)
        assert solution.value == exact.value
        assert solution.max_loss == exact.value - row[:n, :n].min()


def test_their_last_move_on_odd_observations_is_the_layouts():
    guard = MatrixGuard(games.parse_spec("matrix(name=rps)"), seed=0)
    obs = played_observations("matrix(name=rps)", games_played=2)[:40].copy()
    clock, newest = guard.layout.clock_index, slice(5, 10)
    rng = np.random.default_rng(1)
    odd = []
    for value in (np.nan, 0.5, 0.25, -0.0, 1e-3, np.inf, -np.inf):
        changed = obs.copy()
        changed[rng.integers(len(obs), size=8), rng.integers(5, 10, size=8)] = value
        odd.append(changed)
    infinities = obs.copy()  # both signs in one round and no NaN: the max is inf
    infinities[::2, 6], infinities[::2, 8] = -np.inf, np.inf
    odd.append(infinities)
    ties = obs.copy()
    ties[:, newest] = 1.0  # several maxima: the first wins
    odd.append(ties)
    clocks = obs.copy()
    clocks[:, clock] = rng.choice([0.0, 0.009, 0.01, 0.011, 0.5, 1.0, -1.0, np.nan], len(obs))
    odd.append(clocks)
    if platform.machine() in ("x86_64", "AMD64"):  # the layout's int64 cast of inf and 1e30
        huge = obs.copy()
        huge[:, clock] = rng.choice([np.inf, -np.inf, 1e30, 3e17], len(obs))
        odd.append(huge)
    for batch in odd:
        with np.errstate(invalid="ignore"):  # the layout's cast of NaN and inf
            want = layout_reference(guard, batch)
        np.testing.assert_array_equal(guard.their_last_move(batch), want)


def test_negative_zero_payoffs_are_a_game_of_their_own():
    """The bytes key keeps -0.0 apart from 0.0, as the float64 bytes key did."""
    spec = games.parse_spec("matrix(name=prisoners_dilemma)")
    guard = MatrixGuard(spec, seed=0)
    obs = played_observations("matrix(name=prisoners_dilemma)", games_played=1)[:1].copy()
    signed = obs.copy()
    mine = guard.layout.my_matrix_slice
    signed[0, mine] = np.where(signed[0, mine] == 0, -0.0, signed[0, mine])
    plain, negative = guard.solutions(np.concatenate([obs, signed]))
    assert plain.payoffs.tobytes() != negative.payoffs.tobytes()
    assert negative.payoffs.tobytes() == guard.layout.matrices(signed)[0][0].tobytes()


@EXAMPLES
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.just(5)),
        elements=st.one_of(
            st.just(0.0),
            st.just(-0.0),
            st.floats(0, 1),
            st.floats(1e-12, 1e12),
            st.sampled_from([1 / 3, 0.1, 0.7]),
        ),
    ),
    st.data(),
)
def test_matrix_draw_is_the_numpy_sampler_bit_for_bit(mixture, data):
    masks = data.draw(hnp.arrays(np.bool_, mixture.shape))
    num_legal = data.draw(st.integers(2, 5))
    guard = MatrixGuard(games.parse_spec("matrix(name=rpsls)"), seed=3)
    guard.num_legal = num_legal
    rng = np.random.default_rng(3)
    with np.errstate(all="ignore"):
        want_actions, want_probs = numpy_draw(mixture, masks, rng, num_legal)
        actions, probs = guard.draw(list(mixture), masks)
    assert actions.dtype == np.int64 and probs.dtype == np.float32
    assert actions.tolist() == want_actions.tolist()
    assert probs.tobytes() == want_probs.tobytes()
    assert guard.rng.random() == rng.random()  # the same draws were consumed


def test_matrix_fallback_samples_the_maximin_mixture():
    spec = games.parse_spec("matrix(name=biased_rps,bias=3.0)")
    obs = played_observations("matrix(name=biased_rps,bias=3.0)", games_played=2)[:50]
    masks = np.zeros((len(obs), 5), bool)
    masks[:, :3] = True
    guard, reference = MatrixGuard(spec, seed=5), MatrixGuard(spec, seed=5)
    actions, probs = guard.fallback(obs, masks)
    want = numpy_draw(reference.mixture(obs), masks, np.random.default_rng(5), 3)
    assert actions.tolist() == want[0].tolist() and probs.tobytes() == want[1].tobytes()


# ----------------------------------------------------------------------- poker


@EXAMPLES
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.just(3)),
        elements=st.one_of(st.just(0.0), st.floats(0, 1), st.floats(1e-9, 1e9)),
    ),
    st.data(),
)
def test_poker_row_sampler_is_the_games_sampler(probs, data):
    masks = data.draw(hnp.arrays(np.bool_, probs.shape))
    seed = data.draw(st.integers(0, 2**32 - 1))
    want = poker_sample(probs, masks, np.random.default_rng(seed))
    draws = np.random.default_rng(seed).random(len(probs)).tolist()
    got = [
        _sample_row(p, m, d) for p, m, d in zip(probs.tolist(), masks.tolist(), draws, strict=True)
    ]
    assert got == want.tolist()


def kuhn_observations(spec_name: str, hands: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Acting seats' (observations, masks) over random Kuhn hands."""
    spec = games.parse_spec(spec_name)
    kernel = games.make_kernel(spec)
    rng = np.random.default_rng(0)
    step = kernel.reset(hands, seed=0)
    obs, masks = [], []
    for _ in range(6):
        live = ~step.done
        seat = step.acting.argmax(axis=1)
        rows = np.flatnonzero(live & step.acting.any(axis=1))
        obs.append(step.obs[rows, seat[rows]])
        masks.append(step.action_mask[rows, seat[rows]])
        actions = np.zeros((hands, 2), dtype=np.int64)
        for b in rows:
            actions[b, seat[b]] = rng.choice(np.flatnonzero(step.action_mask[b, seat[b]]))
        step = kernel.step(actions)
        if step.done.all():
            break
    return np.concatenate(obs), np.concatenate(masks)


@pytest.mark.parametrize("variant", ["poker(game=kuhn)", "poker(game=kuhn,ranks=4,max_raises=2)"])
def test_poker_fallback_is_the_styles_act_and_probabilities(variant):
    spec = games.parse_spec(variant)
    obs, masks = kuhn_observations(variant)
    guard = PokerGuard(spec, seed=4)
    style = games.make_opponent(spec, "equilibrium", seed=4)
    for start in range(0, len(obs), 7):  # batches of 7, then the same rows again, cached
        rows = slice(start, start + 7)
        for _ in range(2):
            actions, probs = guard.fallback(obs[rows], masks[rows])
            want_probs = style.action_probabilities(obs[rows], masks[rows]).astype(np.float32)
            assert probs.tobytes() == want_probs.tobytes()
            assert actions.tolist() == style.act(obs[rows], masks[rows]).tolist()
    assert guard.seats(obs).tolist() == games.poker.layout.decode(obs).seat.tolist()
