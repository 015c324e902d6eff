"""Matrix opponent styles: legality, memory, each style's habit, adversaries, splits."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games.errors import GameError, UnknownOpponentError
from games.matrix import HELDOUT_STYLES, TRAIN_STYLES
from games.matrix.opponents import Switching
from games.opponents.base import random_legal
from tests.games.matrix_helpers import (
    beat_their_last,
    biased,
    constant,
    cycler,
    my_last,
    play,
    their_last,
)

STYLES = games.list_opponents("matrix")
NAMES = ("rps", "rpsls", "matching_pennies", "prisoners_dilemma", "chicken", "stag_hunt")


def random_agent(seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs, mask: random_legal(mask, rng)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_plays_legal_moves_everywhere(style):
    """Random matches of every variant, on both seats, with some rows masked out entirely."""
    rng = np.random.default_rng(0)
    for name in (*NAMES, "biased_rps"):
        spec = games.parse_spec(f"matrix(name={name},rounds=9,history=2)")
        kernel = games.make_kernel(spec)
        for seat in (0, 1):
            opponent = games.make_opponent(spec, style, seed=1)
            step = kernel.reset(64)
            opponent.reset(64)
            while not step.done.all():
                mask = step.action_mask[:, seat] & (rng.random(64) < 0.8)[:, None]
                chosen = opponent.act(step.obs[:, seat], mask)
                assert chosen.dtype == np.int64 and chosen.shape == (64,)
                has_move = mask.any(axis=1)
                assert mask[has_move, chosen[has_move]].all(), f"{style} illegal in {name}"
                assert (chosen[~has_move] == 0).all()
                actions = np.stack([random_legal(step.action_mask[:, s], rng) for s in (0, 1)], 1)
                step = kernel.step(actions)


@pytest.mark.parametrize("style", STYLES)
def test_styles_are_reproducible_from_their_seed(style):
    first = play("matrix(name=rpsls,rounds=12)", style, random_agent(3), 40, seed=5)
    again = play("matrix(name=rpsls,rounds=12)", style, random_agent(3), 40, seed=5)
    np.testing.assert_array_equal(first.moves, again.moves)


def test_registry_errors_name_the_style():
    with pytest.raises(UnknownOpponentError, match=r"no opponent 'mirror'.*beat_last"):
        games.make_opponent("matrix(name=rps)", "mirror")
    opponent = games.make_opponent("matrix(name=rps)", "copy_last")
    with pytest.raises(GameError, match=r"observations \(B, 81\)"):
        opponent.act(np.zeros((2, 80), np.float32), np.ones((2, 5), bool))
    opponent.reset(2)
    with pytest.raises(GameError, match="reset for 2 games but got 3"):
        opponent.act(np.zeros((3, 81), np.float32), np.ones((3, 5), bool))


def test_every_style_has_a_description_and_one_split():
    train = set(games.get_split("matrix", "train").opponents)
    heldout = set(games.get_split("matrix", "heldout").opponents)
    assert not train & heldout
    assert train | heldout == set(STYLES)
    for style in (*TRAIN_STYLES, *HELDOUT_STYLES):
        assert style.description and style.name in STYLES


def test_adversaries_and_new_variants_are_heldout_only():
    train, heldout = games.get_split("matrix", "train"), games.get_split("matrix", "heldout")
    adversaries = {"adv_freq_br", "adv_last_br2", "adv_reverse_cycle", "echo2"}
    assert adversaries <= set(heldout.opponents)
    assert not adversaries & set(train.opponents)
    train_specs = {games.parse_spec(v) for v in train.variants}
    heldout_specs = {games.parse_spec(v) for v in heldout.variants}
    assert not train_specs & heldout_specs
    assert {s.param("name") for s in heldout_specs} >= {"stag_hunt", "biased_rps"}
    assert "stag_hunt" not in {s.param("name") for s in train_specs}


# --- each style's habit, checked move by move ----------------------------------------


def test_copy_beat_and_cycle_habits_in_rps():
    agent = random_agent(11)
    for style, expected in [
        ("copy_last", lambda m: m[:, :-1, 0]),
        ("beat_last", lambda m: (m[:, :-1, 0] + 1) % 3),
        ("cycle_up", lambda m: (m[:, :-1, 1] + 1) % 3),
        ("echo2", lambda m: m[:, :-2, 0]),
        ("second_order", lambda m: (m[:, :-1, 0] + 2) % 3),
        ("adv_last_br2", lambda m: (m[:, :-1, 1] + 2) % 3),
    ]:
        moves = play("matrix(name=rps,rounds=15,history=1)", style, agent, 30).moves
        lag = 2 if style == "echo2" else 1
        np.testing.assert_array_equal(moves[:, lag:, 1], expected(moves), err_msg=style)


def test_cycle_double_plays_each_move_twice():
    moves = play("matrix(name=rps,rounds=12)", "cycle_double", random_agent(1), 20).moves[:, :, 1]
    np.testing.assert_array_equal(moves[:, 1::2], moves[:, 0::2])
    np.testing.assert_array_equal(moves[:, 2::2], (moves[:, 0:-2:2] + 1) % 3)


def test_wsls_is_pavlov_in_the_prisoners_dilemma():
    """Stay after R (0.6) or T (1.0), above the mean 0.45; shift after P (0.2) or S (0)."""
    moves = play("matrix(name=prisoners_dilemma,rounds=20)", "wsls", random_agent(2), 50).moves
    agent, pavlov = moves[:, :-1, 0], moves[:, :-1, 1]
    stays = (agent == 0) & (pavlov == 0) | (agent == 0) & (pavlov == 1)  # got R or T
    expected = np.where(stays, pavlov, 1 - pavlov)
    np.testing.assert_array_equal(moves[:, 1:, 1], expected)
    win_shift = play("matrix(name=prisoners_dilemma,rounds=20)", "win_shift", random_agent(2), 50)
    m = win_shift.moves
    stays = (m[:, :-1, 0] == 1) & (m[:, :-1, 1] == 0) | (m[:, :-1, 0] == 1) & (m[:, :-1, 1] == 1)
    np.testing.assert_array_equal(m[:, 1:, 1], np.where(stays, m[:, :-1, 1], 1 - m[:, :-1, 1]))


def test_beat_last_reads_its_own_payoffs_in_general_sum_games():
    agent = random_agent(4)
    pd = play("matrix(name=prisoners_dilemma,rounds=8)", "beat_last", agent, 30).moves
    assert (pd[:, 1:, 1] == 1).all(), "defect is the best reply to anything"
    hunt = play("matrix(name=stag_hunt,rounds=8)", "beat_last", agent, 30).moves
    np.testing.assert_array_equal(hunt[:, 1:, 1], hunt[:, :-1, 0])
    chicken = play("matrix(name=chicken,rounds=8)", "beat_last", agent, 30).moves
    np.testing.assert_array_equal(chicken[:, 1:, 1], 1 - chicken[:, :-1, 0])


@pytest.mark.parametrize(("agent_seat", "same"), [(0, False), (1, True)])
def test_matching_pennies_styles_know_their_seat(agent_seat, same):
    """Seat 0 wants to match, seat 1 to differ: beat_last copies or avoids your last coin."""
    moves = play(
        "matrix(name=matching_pennies,rounds=10)",
        "beat_last",
        random_agent(5),
        30,
        agent_seat=agent_seat,
    ).moves
    expected = moves[:, :-1, 0] if same else 1 - moves[:, :-1, 0]
    np.testing.assert_array_equal(moves[:, 1:, 1], expected)


def test_frequency_counter_remembers_beyond_the_window():
    """h = 1 shows one round; 5 rocks then 3 papers still say "mostly rock" -> paper."""
    script = np.array([0] * 5 + [1] * 3 + [0])

    def agent(obs, mask):
        return script[np.rint(obs[:, 10] * 9).astype(int)]

    moves = play("matrix(name=rps,rounds=9,history=1)", "freq_counter", agent, 8).moves
    assert (moves[:, 8, 1] == 1).all()
    adaptive = play("matrix(name=rps,rounds=9,history=1)", "adv_freq_br", agent, 8).moves
    assert (adaptive[:, 8, 1] == 2).all(), "recency weights see the recent papers"


def test_frequency_memory_is_forgotten_in_reset_where():
    spec = games.parse_spec("matrix(name=rps,rounds=6,history=1)")
    kernel, opponent = games.make_kernel(spec), games.make_opponent(spec, "freq_counter", 0)
    step, _ = kernel.reset(2), opponent.reset(2)
    for _ in range(6):
        opponent.act(step.obs[:, 1], step.action_mask[:, 1])
        step = kernel.step(np.array([[0, 0], [0, 0]]))
    assert (opponent._theirs[:, :5] == 0).all(), "rounds 1-5 were seen by its 6 moves"
    opponent.reset_where(np.array([True, False]))
    assert (opponent._theirs[0] == -1).all() and (opponent._theirs[1, :5] == 0).all()


@pytest.mark.parametrize(
    ("name", "style", "expected"),
    [
        ("rps", "nash", (1 / 3, 1 / 3, 1 / 3)),
        ("biased_rps", "nash", (0.25, 0.5, 0.25)),  # (1, b, 1) / (b + 2), b = 2
        ("prisoners_dilemma", "nash", (0.0, 1.0)),
        ("chicken", "nash", (0.9, 0.1)),  # straight with probability 1/10
        ("stag_hunt", "nash", (0.75, 0.25)),  # stag with probability 3/4
        ("rps", "rock_heavy", (0.6, 0.2, 0.2)),
        ("rpsls", "paper_heavy", (0.1, 0.6, 0.1, 0.1, 0.1)),
        ("rpsls", "last_heavy", (0.0625, 0.0625, 0.0625, 0.0625, 0.75)),
        ("chicken", "last_heavy", (0.25, 0.75)),
    ],
)
def test_mixtures_match_their_frequencies(name, style, expected):
    moves = play(f"matrix(name={name},rounds=40)", style, random_agent(6), 200, seed=9).moves
    freq = np.bincount(moves[:, :, 1].ravel(), minlength=len(expected)) / moves[:, :, 1].size
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_switching_changes_style_at_its_switch_round():
    match = play("matrix(name=rps,rounds=40)", "switching", random_agent(7), 300, seed=3)
    opponent: Switching = match.opponent
    assert ((opponent.switch_round >= 10) & (opponent.switch_round <= 30)).all()
    assert (opponent.first != opponent.second).all()
    moves, rounds = match.moves, np.arange(40)
    active = np.where(rounds[None, :] < opponent.switch_round[:, None], opponent.first[:, None],
                      opponent.second[:, None])  # fmt: skip
    names = [style.name for style in Switching.pool]
    rules = {
        "cycle_up": (moves[:, :-1, 1] + 1) % 3,
        "copy_last": moves[:, :-1, 0],
        "beat_last": (moves[:, :-1, 0] + 1) % 3,
    }
    checked = 0
    for style, expected in rules.items():
        playing = active[:, 1:] == names.index(style)
        np.testing.assert_array_equal(moves[:, 1:, 1][playing], expected[playing])
        checked += playing.sum()
    assert checked > 2000
    assert len({(a, b) for a, b in zip(opponent.first, opponent.second, strict=True)}) > 20
    before = opponent.switch_round.copy()
    opponent.reset_where(np.ones(300, dtype=bool))
    assert (opponent.switch_round != before).any()


# --- the adversaries beat naive pattern followers ------------------------------------------


def test_adv_last_br2_beats_a_beat_your_last_follower():
    follower = beat_their_last(3)
    naive = play("matrix(name=rps,rounds=50)", "adv_last_br2", follower, 20).totals
    assert (naive <= -45).all(), naive
    # the same follower does well against a training style that often repeats itself:
    # it plays paper 60% of the time, 0.6 * 0.4 - 0.2 * 0.4 = 0.16 a round, 7.8 over 49
    assert play("matrix(name=rps,rounds=50)", "rock_heavy", follower, 100).totals.mean() > 4


def test_adv_reverse_cycle_and_echo2_beat_a_cycler():
    for step in (1, 2):
        agent = cycler(3, step)
        assert (
            play("matrix(name=rps,rounds=50)", "adv_reverse_cycle", agent, 20).totals < -35
        ).all()
    assert (play("matrix(name=rps,rounds=50)", "echo2", cycler(3), 20).totals <= -45).all()
    doubled = lambda obs, mask: (np.round(obs[:, 30] * 50).astype(int) // 2) % 3  # noqa: E731
    assert (play("matrix(name=rps,rounds=50)", "adv_reverse_cycle", doubled, 20).totals < -25).all()


def test_adv_reverse_cycle_cycles_backwards_against_no_pattern():
    moves = play("matrix(name=rps,rounds=6)", "adv_reverse_cycle", constant(0), 3).moves
    # round 1: scissors; constant rock is a cycle of step 0 from round 4 on -> paper
    assert moves[0, :3, 1].tolist() == [2, 1, 0] and (moves[:, 3:, 1] == 1).all()


def test_adv_freq_br_beats_a_biased_player():
    agent = biased((0.6, 0.2, 0.2), seed=8)
    totals = play("matrix(name=rps,rounds=50)", "adv_freq_br", agent, 200, seed=1).totals
    assert totals.mean() < -8, totals.mean()


def test_my_and_their_last_helpers_read_the_layout():
    kernel = games.make_kernel("matrix(name=rps,rounds=3)")
    kernel.reset(1)
    obs = kernel.step(np.array([[2, 1]])).obs[0]
    assert my_last(obs[[0]]).tolist() == [2] and their_last(obs[[0]]).tolist() == [1]
