"""Inverse-CDF sampling and seeded per-turn draws (``game_agent.sampling``)."""

from __future__ import annotations

import numpy as np
import pytest

from game_agent.sampling import (
    checked_draws,
    inverse_cdf,
    sample_actions,
    seeded_draw,
    splitmix64,
)

PROBS = np.array([[0.0, 0.25, 0.75, 0.0], [0.5, 0.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0]], np.float32)


class Always:
    """A stand-in Generator whose uniform draws are all ``u``."""

    def __init__(self, u: float):
        self.u = u

    def random(self, n: int) -> np.ndarray:
        return np.full(n, self.u)


class Untouchable:
    """A Generator that must not be drawn from."""

    def random(self, n: int) -> np.ndarray:
        raise AssertionError("the generator was drawn from although draws were given")


@pytest.mark.parametrize(
    ("u", "want"),
    [(0.0, [1, 0, 2]), (0.2, [1, 0, 2]), (0.25, [2, 0, 2]), (0.4, [2, 0, 2]), (0.5, [2, 3, 2])],
)
def test_inverse_cdf_by_hand(u, want):
    # Row 0's running sums are 0, .25, 1, 1: u < .25 -> action 1, u >= .25 -> action 2.
    # Row 1's are .5, .5, .5, 1: u < .5 -> action 0, u >= .5 -> action 3.
    np.testing.assert_array_equal(inverse_cdf(PROBS, np.full(3, u)), want)


@pytest.mark.parametrize("u", [0.0, 0.2, 0.25, 0.4, 0.5, 0.99, 1.0])
def test_a_row_alone_is_chosen_as_in_its_batch(u):
    # One row takes inverse_cdf's scalar path; a batch of three takes the array path.
    batch = inverse_cdf(PROBS, np.full(3, u)).tolist()
    alone = [inverse_cdf(PROBS[i : i + 1], np.array([u])).tolist() for i in range(3)]
    assert alone == [[action] for action in batch]


def test_single_rows_agree_with_batches_on_random_rows():
    rng = np.random.default_rng(7)
    for _ in range(300):
        width = int(rng.integers(1, 60))
        probs = rng.random((5, width)).astype(np.float32)
        probs[rng.random((5, width)) < 0.4] = 0.0
        probs[0] = 0.0  # no legal mass at all: the rounding edge falls to the last action
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), np.float32(1e-9))
        draws = rng.random(5)
        draws[1] = np.nextafter(1.0, 0.0)  # the largest draw: the rounding edge
        batch = inverse_cdf(probs, draws)
        for i in range(5):
            assert inverse_cdf(probs[i : i + 1], draws[i : i + 1]).tolist() == [batch[i]]


def test_a_draw_rounding_up_to_the_whole_mass_stays_on_actions_with_probability():
    np.testing.assert_array_equal(sample_actions(PROBS, Always(1.0)), [2, 3, 2])
    np.testing.assert_array_equal(inverse_cdf(PROBS, np.full(3, 1.0)), [2, 3, 2])


def test_each_row_uses_its_own_draw():
    np.testing.assert_array_equal(inverse_cdf(PROBS, np.array([0.9, 0.1, 0.3])), [2, 0, 2])


def test_evenly_spread_draws_reproduce_the_probabilities():
    probs = np.array([[0.1, 0.0, 0.3, 0.6]], np.float32)
    n = 10_000
    draws = (np.arange(n) + 0.5) / n
    chosen = inverse_cdf(np.repeat(probs, n, axis=0), draws)
    np.testing.assert_allclose(np.bincount(chosen, minlength=4) / n, probs[0], atol=1.5 / n)


def test_given_draws_leave_the_generator_alone():
    np.testing.assert_array_equal(
        sample_actions(PROBS, Untouchable(), np.array([0.2, 0.7, 0.0])), [1, 3, 2]
    )


def test_checked_draws_accepts_uniforms_and_names_what_is_wrong():
    assert checked_draws(None, 3) is None
    np.testing.assert_array_equal(checked_draws([0.0, 0.5, 0.999], 3), [0.0, 0.5, 0.999])
    with pytest.raises(ValueError, match=r"shape \(3,\), one per player; got \(2,\)"):
        checked_draws([0.1, 0.2], 3)
    for bad in (1.0, -0.25, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="uniforms in"):
            checked_draws([0.1, bad], 2)


def test_splitmix64_matches_the_published_sequence():
    # Vigna's reference splitmix64.c seeded with 0: its first two outputs.
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4


def test_seeded_draws_are_fixed_by_seed_and_turn():
    assert seeded_draw(7, 3) == seeded_draw(7, 3)
    assert seeded_draw(7, 3) == (splitmix64(splitmix64(7) ^ 3) >> 11) / 2**53
    assert len({seeded_draw(7, turn) for turn in range(1, 200)}) == 199
    assert seeded_draw(7, 3) != seeded_draw(8, 3)
    assert 0.0 <= seeded_draw(2**64 - 1, 2**63) < 1.0


def test_seeded_draws_are_uniform():
    """Chi-square over 10 bins for 20,000 (seed, turn) pairs: below the 0.999 quantile (27.9
    for 9 degrees of freedom). Deterministic, so it cannot flake."""
    draws = [seeded_draw(seed, turn) for seed in (1, 2, 3, 12345) for turn in range(5000)]
    counts = np.bincount((np.array(draws) * 10).astype(int), minlength=10)
    expected = len(draws) / 10
    assert ((counts - expected) ** 2 / expected).sum() < 27.9
