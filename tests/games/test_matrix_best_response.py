"""Exact best responses and equilibria: hand-worked values, brute force, Monte Carlo."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

import games
from games.errors import UnknownOpponentError
from games.matrix.best_response import (
    MODELS,
    best_response_value,
    equilibrium_payoff,
    equilibrium_value,
    mixture_best_response,
)
from games.matrix.equilibrium import solve_zero_sum, stage_equilibrium, symmetric_equilibria
from games.matrix.payoffs import stage_game
from games.opponents.base import random_legal
from tests.games.matrix_helpers import play

# --- the stage-game solvers ----------------------------------------------------------------


def test_zero_sum_solver_on_a_hand_worked_mixed_game():
    """Row mixes p: 3p - 2(1-p) = -p + (1-p)  ->  p = 3/7, value 1/7."""
    value, strategy = solve_zero_sum(np.array([[3.0, -1.0], [-2.0, 1.0]]))
    assert value == pytest.approx(1 / 7)
    np.testing.assert_allclose(strategy, [3 / 7, 4 / 7])


def test_zero_sum_solver_on_a_saddle_point_and_a_dominated_row():
    value, strategy = solve_zero_sum(np.array([[2.0, 3.0], [1.0, 4.0]]))
    assert value == pytest.approx(2.0) and strategy.tolist() == [1.0, 0.0]
    value, strategy = solve_zero_sum(np.array([[1.0, -1.0], [-1.0, 1.0], [-2.0, -2.0]]))
    assert value == pytest.approx(0.0)
    np.testing.assert_allclose(strategy, [0.5, 0.5, 0.0])


@pytest.mark.parametrize("bias", [0.5, 2.0, 3.0])
def test_biased_rps_equilibrium_is_one_b_one(bias):
    """Skew-symmetric, so value 0 and A x = 0: -p + b s = 0, r = s  ->  x = (1, b, 1)/(b+2)."""
    game = stage_game("biased_rps", bias)
    value, strategy = solve_zero_sum(game.payoffs[0, :3, :3].astype(np.float64))
    assert value == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(strategy, np.array([1, bias, 1]) / (bias + 2), atol=1e-6)


def test_zero_sum_solver_against_a_grid_search_on_random_two_row_games():
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 1.0, 20_001)
    for _ in range(40):
        matrix = rng.normal(size=(2, int(rng.integers(2, 6))))
        mixes = np.stack([grid, 1 - grid], axis=1)
        brute = (mixes @ matrix).min(axis=1).max()
        value, strategy = solve_zero_sum(matrix)
        assert value == pytest.approx(brute, abs=1e-3)
        assert (strategy @ matrix).min() == pytest.approx(value)


def test_zero_sum_solutions_are_certified_by_both_players():
    """x guarantees v to the row player and y holds the row player to v: a saddle point."""
    rng = np.random.default_rng(1)
    for _ in range(40):
        matrix = rng.integers(-3, 4, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6))))
        value, x = solve_zero_sum(matrix)
        column_value, y = solve_zero_sum(-matrix.T)
        assert column_value == pytest.approx(-value)
        assert (x @ matrix).min() >= value - 1e-9
        assert (matrix @ y).max() <= value + 1e-9


def test_symmetric_equilibria_of_the_general_sum_games():
    pd = stage_game("prisoners_dilemma").payoffs[0, :2, :2]
    assert [e.tolist() for e in symmetric_equilibria(pd)] == [[0.0, 1.0]]
    hunt = symmetric_equilibria(stage_game("stag_hunt").payoffs[0, :2, :2])
    np.testing.assert_allclose(hunt[0], [0.75, 0.25], atol=1e-6)  # 4p = 3
    assert {tuple(e) for e in hunt[1:]} == {(1.0, 0.0), (0.0, 1.0)}
    chicken = stage_game("chicken").payoffs
    np.testing.assert_allclose(stage_equilibrium(chicken[0], chicken[1], 2)[:2], [0.9, 0.1])


@pytest.mark.parametrize(
    ("name", "per_round"),
    [("rps", 0.0), ("rpsls", 0.0), ("matching_pennies", 0.0), ("biased_rps", 0.0)],
)
def test_equilibrium_value_of_zero_sum_variants(name, per_round):
    for seat in (0, 1):
        assert equilibrium_value(f"matrix(name={name})", seat) == pytest.approx(per_round)


@pytest.mark.parametrize(
    ("name", "per_round"),
    [("prisoners_dilemma", 0.2), ("stag_hunt", 0.75), ("chicken", -0.01)],
)
def test_general_sum_variants_have_no_value_but_an_equilibrium_payoff(name, per_round):
    spec = f"matrix(name={name},rounds=20)"
    assert equilibrium_value(spec) is None
    assert equilibrium_payoff(spec) == pytest.approx(per_round, abs=1e-6)
    assert games.equilibrium_value(spec, 1) == pytest.approx(20 * per_round, abs=1e-5)


# --- best responses worked by hand -----------------------------------------------------------


def test_best_response_to_rock_always_wins_every_round():
    result = mixture_best_response("matrix(name=rps,rounds=30)", [1, 0, 0])
    assert result.value == pytest.approx(30.0) and result.per_round == pytest.approx(1.0)
    assert (result.policy.actions[:, :3, :3] == 1).all(), "always paper"


@pytest.mark.parametrize(
    ("spec", "style", "seat", "value"),
    [
        ("matrix(name=rps,rounds=20)", "rock_heavy", 0, 20 * 0.4),  # paper: 0.6 - 0.2
        ("matrix(name=rpsls,rounds=20)", "rock_heavy", 0, 20 * 0.5),  # paper: 0.6+0.1-0.2
        ("matrix(name=rps,rounds=20)", "last_heavy", 1, 20 * 0.625),  # rock: 0.75 - 0.125
        ("matrix(name=rps,rounds=20)", "nash", 0, 0.0),
        ("matrix(name=rps,rounds=20)", "copy_last", 0, 19.0),  # round 1 is a coin flip
        ("matrix(name=rps,rounds=20)", "beat_last", 1, 19.0),
        ("matrix(name=rps,rounds=20)", "cycle_up", 0, 19.0),
        ("matrix(name=rps,rounds=20)", "wsls", 0, 19.0),
        ("matrix(name=rpsls,rounds=20)", "beat_last", 0, 19.0),  # a+4 beats both of a's beaters
        ("matrix(name=matching_pennies,rounds=12)", "beat_last", 0, 11.0),
        ("matrix(name=matching_pennies,rounds=12)", "beat_last", 1, 11.0),
        ("matrix(name=prisoners_dilemma,rounds=10)", "nash", 0, 10 * 0.2),
        # tit-for-tat: cooperate from round 1 (0.5*R + 0.5*S), defect in the last round
        ("matrix(name=prisoners_dilemma,rounds=10)", "copy_last", 0, 0.3 + 8 * 0.6 + 1.0),
        ("matrix(name=stag_hunt,rounds=10)", "copy_last", 0, 0.5 + 9 * 1.0),
        # go straight once (0.5*0.1 + 0.5*-1), then it swerves forever: +0.1 a round
        ("matrix(name=chicken,rounds=10)", "beat_last", 0, -0.45 + 9 * 0.1),
    ],
)
def test_best_response_values_worked_by_hand(spec, style, seat, value):
    result = best_response_value(spec, style, seat)
    assert result.value == pytest.approx(value, abs=1e-5)
    assert games.best_response_value(spec, style, seat) == pytest.approx(value, abs=1e-5)


def test_styles_with_longer_memory_are_not_solved():
    solvable = set(MODELS)
    for style in games.list_opponents("matrix"):
        result = best_response_value("matrix(name=rps,rounds=5)", style)
        assert (result is None) == (style not in solvable), style
    assert {"freq_counter", "switching", "echo2", "adv_freq_br"}.isdisjoint(solvable)
    with pytest.raises(UnknownOpponentError, match="no opponent 'oracle'"):
        best_response_value("matrix(name=rps)", "oracle")


# --- against the real opponents: brute force and Monte Carlo --------------------------------

DETERMINISTIC = ("copy_last", "beat_last", "cycle_up", "wsls", "win_shift", "second_order")


def scripted(sequences: np.ndarray, history: int, rounds: int):
    """An agent that plays row b of ``sequences`` (G, rounds) in game b."""

    def agent(obs, mask):
        t = np.rint(obs[:, 10 * history] * rounds).astype(int)
        return sequences[np.arange(len(obs)), np.minimum(t, rounds - 1)]

    return agent


@pytest.mark.parametrize(
    ("name", "seat"),
    [
        ("rps", 0),
        ("prisoners_dilemma", 0),
        ("chicken", 1),
        ("stag_hunt", 0),
        ("matching_pennies", 0),
        ("matching_pennies", 1),
    ],
)
@pytest.mark.parametrize("style", (*DETERMINISTIC, "adv_last_br2"))
def test_dynamic_programme_equals_brute_force_over_all_move_sequences(name, seat, style):
    """After its random first move these styles are deterministic, so the best response is
    max over my first move of the mean over its first move of the best open-loop sequence."""
    rounds, copies = 5, 40
    spec = f"matrix(name={name},rounds={rounds},history=2)"
    n = stage_game(name).num_legal
    sequences = np.array(list(product(range(n), repeat=rounds)))
    agent_moves = np.repeat(sequences, copies, axis=0)
    match = play(spec, style, scripted(agent_moves, 2, rounds), len(agent_moves), 3, seat)
    sequence_id = np.repeat(np.arange(len(sequences)), copies)
    key = sequence_id * n + match.moves[:, 0, 1]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    totals = match.totals[order]
    deterministic = np.minimum.reduceat(totals, starts) == np.maximum.reduceat(totals, starts)
    assert deterministic.all(), "the style is not deterministic after its first move"
    best = np.full((n, n), -np.inf)  # [my first move, its first move]
    for mine, theirs in product(range(n), range(n)):
        rows = (match.moves[:, 0, 0] == mine) & (match.moves[:, 0, 1] == theirs)
        covered = np.unique(sequence_id[rows])
        assert len(covered) == n ** (rounds - 1), "not every sequence met every first move"
        best[mine, theirs] = match.totals[rows].max()
    brute = best.mean(axis=1).max()
    assert best_response_value(spec, style, seat).value == pytest.approx(brute, abs=1e-5)


@pytest.mark.parametrize(
    ("spec", "style"),
    [
        ("matrix(name=rpsls,rounds=8)", "beat_last"),  # random ties between two beaters
        ("matrix(name=rpsls,rounds=8)", "second_order"),
        ("matrix(name=chicken,rounds=8)", "nash"),
        ("matrix(name=biased_rps,bias=3.0,rounds=8)", "paper_heavy"),
        ("matrix(name=prisoners_dilemma,rounds=8)", "wsls"),
        ("matrix(name=stag_hunt,rounds=8)", "adv_last_br2"),
    ],
)
def test_best_response_policy_earns_its_value_against_the_real_opponent(spec, style):
    result = best_response_value(spec, style)
    played = play(spec, style, result.policy.act, 4000, seed=12).totals
    error = played.std() / np.sqrt(len(played)) + 1e-9
    assert abs(played.mean() - result.value) < 4 * error + 1e-6, (played.mean(), result.value)
    rng = np.random.default_rng(0)
    uniform = play(spec, style, lambda o, m: random_legal(m, rng), 4000, seed=12).totals
    assert uniform.mean() <= result.value + 4 * error


def test_first_moves_of_reactive_styles_are_uniform():
    for style in DETERMINISTIC:
        moves = play("matrix(name=rps,rounds=1)", style, scripted(np.zeros((3000, 1), int), 3, 1),
                     3000, seed=4).moves  # fmt: skip
        freq = np.bincount(moves[:, 0, 1], minlength=3) / 3000
        np.testing.assert_allclose(freq, 1 / 3, atol=0.035, err_msg=style)


@pytest.mark.parametrize("style", sorted(MODELS))
@pytest.mark.parametrize("name", ["rps", "rpsls", "prisoners_dilemma", "chicken", "stag_hunt",
                                  "matching_pennies", "biased_rps"])  # fmt: skip
def test_models_match_the_styles_in_every_last_round_state(name, style):
    """Deal every (my move, its move) first round, then compare its next-move frequencies."""
    spec = games.parse_spec(f"matrix(name={name},rounds=3)")
    n, copies = stage_game(name).num_legal, 300
    for seat in (0, 1):
        model = MODELS[style](*(stage_game(name).payoffs[[seat, 1 - seat], :n, :n] * 1.0))
        pairs = np.array(list(product(range(n), range(n))))  # (my move, its move)
        joint = np.repeat(pairs, copies, axis=0)
        actions = np.zeros_like(joint)
        actions[:, seat], actions[:, 1 - seat] = joint[:, 0], joint[:, 1]
        kernel = games.make_kernel(spec)
        first = kernel.reset(len(joint))
        opponent = games.make_opponent(spec, style, seed=2)
        opponent.reset(len(joint))
        opening = opponent.act(first.obs[:, 1 - seat], first.action_mask[:, 1 - seat])
        np.testing.assert_allclose(
            np.bincount(opening, minlength=n) / len(joint), model.first, atol=0.03
        )
        step = kernel.step(actions)
        opponent.reset_where(np.ones(len(joint), dtype=bool))  # it must read its move from obs
        replies = opponent.act(step.obs[:, 1 - seat], step.action_mask[:, 1 - seat])
        for i, (mine, its) in enumerate(pairs):
            got = replies[i * copies : (i + 1) * copies]
            freq = np.bincount(got, minlength=n) / copies
            np.testing.assert_allclose(freq, model.next[mine, its], atol=0.1, err_msg=f"{i}")
