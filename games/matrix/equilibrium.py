"""Exact Nash equilibria of small stage games (up to 5x5), without an LP library.

Zero-sum games: the row player's maximin LP (maximise v subject to
``x @ A >= v`` column-wise, ``sum(x) = 1``, ``x >= 0``) has its optimum at a
vertex, and at a vertex some square subsystem is tight: a set S of rows that
may be positive and an equally large set T of columns held at equality. We
enumerate every (S, T) pair (251 square solves for 5x5), keep the feasible
solutions and take the best: the LP optimum, exactly, up to float rounding.

Symmetric general-sum games: support enumeration for a strategy x that is a
best response to itself (every action in its support earns the same, none
outside earns more).
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

import numpy as np

from games.matrix.payoffs import NUM_ACTIONS

TOLERANCE = 1e-9


class ZeroSumSolution(NamedTuple):
    value: float
    """Expected payoff per round to the row player when both play optimally."""
    strategy: np.ndarray
    """(n,) the row player's maximin mixture."""


def _subsets(n: int) -> list[tuple[int, ...]]:
    return [s for k in range(1, n + 1) for s in combinations(range(n), k)]


def _vertex(matrix: np.ndarray, rows: tuple[int, ...], cols: tuple[int, ...]):
    """Solve sum(x_S)=1 and (x_S @ A[S, T])_j = v for j in T; None when singular."""
    k = len(rows)
    system = np.zeros((k + 1, k + 1))
    system[:k, :k] = matrix[np.ix_(rows, cols)].T
    system[:k, k] = -1.0
    system[k, :k] = 1.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    try:
        solution = np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        return None
    if not np.allclose(system @ solution, rhs, atol=TOLERANCE):
        return None
    return solution[:k], float(solution[k])


def solve_zero_sum(matrix: np.ndarray) -> ZeroSumSolution:
    """The value and a maximin strategy of the row player of payoff ``matrix`` (m, n)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    m, n = matrix.shape
    best: ZeroSumSolution | None = None
    for rows in _subsets(m):
        for cols in combinations(range(n), len(rows)):
            solved = _vertex(matrix, rows, cols)
            if solved is None:
                continue
            weights, _ = solved
            if (weights < -TOLERANCE).any():
                continue
            strategy = np.zeros(m)
            strategy[list(rows)] = np.clip(weights, 0.0, None)
            strategy /= strategy.sum()
            guaranteed = float((strategy @ matrix).min())
            if best is None or guaranteed > best.value + TOLERANCE:
                best = ZeroSumSolution(guaranteed, strategy)
    assert best is not None, "every matrix has a pure-strategy vertex"
    return best


def symmetric_equilibria(matrix: np.ndarray) -> list[np.ndarray]:
    """Every symmetric Nash equilibrium x of the symmetric game ``matrix`` [mine, theirs].

    One per support (for a nondegenerate game there is at most one), largest
    supports first, so ``[0]`` is the most mixed equilibrium.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    n = matrix.shape[0]
    found = []
    for support in sorted(_subsets(n), key=lambda s: (-len(s), s)):
        k = len(support)
        system = np.zeros((k + 1, k + 1))
        system[:k, :k] = matrix[np.ix_(support, support)]
        system[:k, k] = -1.0
        system[k, :k] = 1.0
        rhs = np.zeros(k + 1)
        rhs[k] = 1.0
        try:
            solution = np.linalg.solve(system, rhs)
        except np.linalg.LinAlgError:
            continue
        weights, value = solution[:k], solution[k]
        if (weights <= TOLERANCE).any():
            continue
        strategy = np.zeros(n)
        strategy[list(support)] = weights
        if (matrix @ strategy <= value + TOLERANCE).all():
            found.append(strategy)
    return found


def stage_equilibrium(mine: np.ndarray, theirs: np.ndarray, num_legal: int) -> np.ndarray:
    """The mixture an equilibrium player uses, over all 5 padded actions.

    ``mine`` is [mine, theirs], ``theirs`` is the opponent's own [theirs, mine].
    Zero-sum games: the maximin strategy. Symmetric general-sum games: the most
    mixed symmetric equilibrium (defect in the prisoner's dilemma, the mixed
    equilibria of chicken and stag hunt).
    """
    n = num_legal
    mine, theirs = np.asarray(mine)[:n, :n], np.asarray(theirs)[:n, :n]
    if np.allclose(mine + theirs.T, 0.0, atol=1e-6):
        strategy = solve_zero_sum(mine).strategy
    elif np.allclose(mine, theirs, atol=1e-6):
        equilibria = symmetric_equilibria(mine)
        assert equilibria, "a symmetric game has a symmetric equilibrium"
        strategy = equilibria[0]
    else:
        raise ValueError("stage_equilibrium handles zero-sum and symmetric games only")
    padded = np.zeros(NUM_ACTIONS)
    padded[:n] = strategy
    return padded
