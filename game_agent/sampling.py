"""Sampling an action from a row of probabilities, and reproducible per-turn draws.

Every sampled decision is one uniform draw ``u`` in [0, 1) read through the
row's cumulative distribution: the action chosen is the first whose running
probability sum exceeds ``u`` times the row's total (:func:`inverse_cdf`), so
a masked action (probability 0) is never chosen. A learner shared by many
players takes its draws from its own generator by default; the order in which
players' turns reach it then decides who gets which draw. ``Learner.act(...,
draws=u)`` takes them from the caller instead, and a server derives each
turn's draw from the session's seed and the turn number
(:func:`seeded_draw`): one seed and one sequence of requests give one
sequence of moves, whatever other sessions do meanwhile.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np

_MASK64 = (1 << 64) - 1


def inverse_cdf(probs: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """(B,) int64: for each row of ``probs`` (B, A), the first action whose cumulative sum
    (in float64) exceeds ``draws[row]`` (in [0, 1)) times the row's total.

    Zero-probability actions are never chosen; a draw that rounds up to the whole mass
    goes to the last action with positive probability rather than past the end.
    """
    if len(probs) == 1:  # a lone player: the same sums and comparisons on Python floats
        return np.array([_row_action(probs[0].tolist(), float(draws[0]))], dtype=np.int64)
    cdf = np.cumsum(probs, axis=1, dtype=np.float64)
    u = np.asarray(draws, dtype=np.float64) * cdf[:, -1]
    actions = (cdf <= u[:, None]).sum(axis=1, dtype=np.int64)
    if len(actions) and actions.max() == cdf.shape[1]:
        past_end = np.nonzero(actions == cdf.shape[1])[0]
        positive = probs[past_end, ::-1] > 0
        actions[past_end] = cdf.shape[1] - 1 - np.argmax(positive, axis=1)
    return actions


def _row_action(row: list[float], draw: float) -> int:
    """:func:`inverse_cdf` for one row: float64 running sums in the same order (numpy's
    ``cumsum`` adds sequentially), the same count of sums not above the scaled draw."""
    cdf = list(accumulate(row))
    u = draw * cdf[-1]
    action = sum(1 for total in cdf if total <= u)
    if action == len(row):
        positive = [i for i, p in enumerate(row) if p > 0]
        action = positive[-1] if positive else len(row) - 1
    return action


def sample_actions(
    probs: np.ndarray, rng: np.random.Generator, draws: np.ndarray | None = None
) -> np.ndarray:
    """:func:`inverse_cdf` at ``draws``, or at one fresh uniform per row from ``rng``."""
    return inverse_cdf(probs, rng.random(len(probs)) if draws is None else draws)


def checked_draws(draws: object, n: int) -> np.ndarray | None:
    """``draws`` as (n,) float64 with every entry in [0, 1); None stays None.

    Raises ValueError naming what is wrong (shape, or a value outside [0, 1) or not finite).
    """
    if draws is None:
        return None
    values = np.asarray(draws, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"draws must have shape ({n},), one per player; got {values.shape}")
    if len(values) and not (values.min() >= 0.0 and values.max() < 1.0):
        bad = float(values[~((values >= 0.0) & (values < 1.0))][0])
        raise ValueError(f"draws must be uniforms in [0, 1); got {bad!r}")
    return values


def seeded_draw(seed: int, counter: int) -> float:
    """A uniform in [0, 1) fixed by (``seed``, ``counter``), both in 0..2**64 - 1.

    SplitMix64 (Steele, Lea and Flood, 2014) applied to the seed, the counter mixed in by
    xor, and SplitMix64 again; the top 53 bits of the result over 2**53. Pure integer
    arithmetic: the same pair gives the same draw on every platform and Python version.
    """
    return (splitmix64(splitmix64(seed) ^ counter) >> 11) / float(1 << 53)


def splitmix64(x: int) -> int:
    """One SplitMix64 output for state ``x`` (the state advanced once, then mixed)."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)
