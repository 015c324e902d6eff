"""Exact Kuhn best responses and values, against hand-worked numbers and played-out hands."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games.errors import GameError, UnknownOpponentError
from games.poker.best_response import (
    KuhnTree,
    best_response,
    expected_value,
    kuhn_nash_strategy,
    solve,
)
from games.poker.kernel import PokerKernel
from games.poker.opponents import StrategyOpponent, kuhn_style_strategy

FOLD, CALL, RAISE = 0, 1, 2
J, Q, K = 0, 1, 2
GAME_VALUE = -1 / 18  # Kuhn (1950): player_0's value of standard Kuhn poker


@pytest.fixture(scope="module")
def kuhn() -> KuhnTree:
    return KuhnTree.from_spec(games.parse_spec("poker"))


def test_standard_kuhn_tree(kuhn: KuhnTree) -> None:
    assert kuhn.histories == ((), (CALL,), (CALL, RAISE), (RAISE,))
    assert kuhn.players.tolist() == [0, 1, 0, 1]
    assert kuhn.legal.tolist() == [
        [False, True, True],
        [False, True, True],
        [True, True, False],
        [True, True, False],
    ]
    padded = np.array([[-1] * 6, [CALL, RAISE, -1, -1, -1, -1], [RAISE, CALL, -1, -1, -1, -1]])
    assert kuhn.node_of(padded).tolist() == [0, 2, -1]


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1 / 6, 0.25, 1 / 3])
def test_best_response_to_nash_earns_the_game_value(kuhn: KuhnTree, alpha: float) -> None:
    nash = kuhn_nash_strategy(kuhn, alpha)
    assert expected_value(kuhn, nash, nash) == pytest.approx(GAME_VALUE, abs=1e-12)
    assert best_response(kuhn, nash, 0).value == pytest.approx(GAME_VALUE, abs=1e-12)
    assert best_response(kuhn, nash, 1).value == pytest.approx(-GAME_VALUE, abs=1e-12)


def test_equilibrium_value_through_the_registry() -> None:
    assert games.equilibrium_value("poker", 0) == pytest.approx(GAME_VALUE, abs=1e-12)
    assert games.equilibrium_value("poker", 1) == pytest.approx(-GAME_VALUE, abs=1e-12)
    assert games.equilibrium_value("poker(game=leduc)", 0) is None


def test_best_response_to_always_bet(kuhn: KuhnTree) -> None:
    maniac = kuhn_style_strategy(games.parse_spec("poker"), "maniac")
    # player_0 facing a player_1 who bets after every check and calls every bet:
    # K wins 2 however it plays, Q breaks even by calling (2 vs J, -2 vs K),
    # J loses only its ante by check-folding: (2 + 0 - 1) / 3.
    response = best_response(kuhn, maniac, 0)
    assert response.value == pytest.approx(1 / 3)
    assert response.policy[J, kuhn.index[(CALL, RAISE)]].tolist() == [1, 0, 0]
    assert response.policy[Q, kuhn.index[(CALL, RAISE)]].tolist() == [0, 1, 0]
    assert response.policy[J, kuhn.index[()]].tolist() == [0, 1, 0]
    # player_1 facing a bet every hand: call K (+2), call Q (0), fold J (-1).
    response = best_response(kuhn, maniac, 1)
    assert response.value == pytest.approx(1 / 3)
    assert response.policy[:, kuhn.index[(RAISE,)]].tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_best_response_to_always_call(kuhn: KuhnTree) -> None:
    station = kuhn_style_strategy(games.parse_spec("poker"), "calling_station")
    # Against a player who never bets and never folds, betting K earns 2, Q is
    # even either way, and J checks to lose 1 rather than bet to lose 2.
    for seat in (0, 1):
        response = best_response(kuhn, station, seat)
        assert response.value == pytest.approx(1 / 3)
    node = best_response(kuhn, station, 0).policy[:, kuhn.index[()]]
    assert node[K].tolist() == [0, 0, 1] and node[J].tolist() == [0, 1, 0]


def test_best_response_to_uniform_play(kuhn: KuhnTree) -> None:
    uniform = kuhn_style_strategy(games.parse_spec("poker"), "random")
    np.testing.assert_allclose(uniform, kuhn.uniform())
    # player_0: K 3/2 (bet: 1/2 * 1 + 1/2 * 2), Q 1/2 (bet, a fold half the time),
    # J -1/2 (bluff: +1 or -2) -> 1/2.
    assert best_response(kuhn, uniform, 0).value == pytest.approx(1 / 2)
    # player_1: K 7/4, Q 1/4, J -3/4 -> 5/12.
    assert best_response(kuhn, uniform, 1).value == pytest.approx(5 / 12)


def test_batched_best_responses_match_one_at_a_time(kuhn: KuhnTree) -> None:
    rng = np.random.default_rng(0)
    models = rng.random((5, 3, kuhn.num_nodes, 3)) * kuhn.legal
    models /= models.sum(axis=-1, keepdims=True)
    for seat in (0, 1):
        batched = best_response(kuhn, models, seat)
        for i, model in enumerate(models):
            single = best_response(kuhn, model, seat)
            assert batched.value[i] == pytest.approx(single.value)
            np.testing.assert_array_equal(batched.policy[i], single.policy)
            # the responding policy earns exactly its value
            s0, s1 = (single.policy, model) if seat == 0 else (model, single.policy)
            own = expected_value(kuhn, _fill(kuhn, s0), _fill(kuhn, s1))
            assert (own if seat == 0 else -own) == pytest.approx(single.value)


def _fill(tree: KuhnTree, policy: np.ndarray) -> np.ndarray:
    """A best-response policy (zeros at the other seat's nodes) made a full strategy."""
    empty = policy.sum(axis=-1, keepdims=True) == 0
    return np.where(empty, tree.uniform(), policy)


def _play_out(spec: str, strategy: np.ndarray, seat: int, style: str, hands: int) -> np.ndarray:
    """Rewards of ``seat`` playing ``strategy`` against a seeded style, one hand per game."""
    parsed = games.parse_spec(spec)
    kernel = games.make_kernel(parsed)
    assert isinstance(kernel, PokerKernel)
    player = StrategyOpponent(parsed, _fill(KuhnTree.from_spec(parsed), strategy), seed=1)
    other = games.make_opponent(parsed, style, seed=2)
    step = kernel.reset(hands, seed=3)
    total = np.zeros(hands)
    while not step.done.all():
        actions = np.zeros((hands, 2), dtype=np.int64)
        actions[:, seat] = player.act(step.obs[:, seat], step.action_mask[:, seat])
        actions[:, 1 - seat] = other.act(step.obs[:, 1 - seat], step.action_mask[:, 1 - seat])
        step = kernel.step(actions)
        total += step.rewards[:, seat]
    return total


@pytest.mark.parametrize(
    ("spec", "style", "seat"),
    [
        ("poker", "equilibrium", 0),
        ("poker", "random", 1),
        ("poker", "bluffer", 0),
        ("poker(ranks=4,max_raises=2,bet1=2)", "random", 0),
        ("poker(ranks=4,max_raises=2,bet1=2)", "equilibrium", 1),
    ],
)
def test_best_response_achieves_its_value_when_played(spec: str, style: str, seat: int) -> None:
    parsed = games.parse_spec(spec)
    tree = KuhnTree.from_spec(parsed)
    opponent = kuhn_style_strategy(parsed, style, seed=2)
    response = best_response(tree, opponent, seat)
    rewards = _play_out(spec, response.policy, seat, style, hands=20_000)
    error = rewards.std() / np.sqrt(len(rewards))
    assert abs(rewards.mean() - response.value) < 4 * error + 1e-9
    assert games.best_response_value(spec, style, seat) == pytest.approx(response.value)


def test_cfr_certifies_the_kuhn_value() -> None:
    standard = solve(KuhnTree.from_spec(games.parse_spec("poker")))
    assert standard.lower <= GAME_VALUE <= standard.upper
    assert standard.upper - standard.lower < 1e-3
    larger = solve(KuhnTree.from_spec(games.parse_spec("poker(ranks=4,max_raises=2)")))
    assert larger.lower <= larger.upper < larger.lower + 1e-3
    value = games.equilibrium_value("poker(ranks=4,max_raises=2)", 0)
    assert larger.lower <= value <= larger.upper


def test_bad_inputs_are_named(kuhn: KuhnTree) -> None:
    with pytest.raises(GameError, match="Kuhn variants"):
        KuhnTree.from_spec(games.parse_spec("poker(game=leduc)"))
    with pytest.raises(GameError, match="alpha in \\[0, 1/3\\]"):
        kuhn_nash_strategy(kuhn, 0.5)
    with pytest.raises(GameError, match="standard Kuhn"):
        kuhn_nash_strategy(KuhnTree.from_spec(games.parse_spec("poker(ranks=4)")), 0.1)
    with pytest.raises(GameError, match="shape"):
        best_response(kuhn, np.ones((3, 3, 3)) / 3, 0)
    illegal = kuhn.uniform()
    illegal[:, 0] = [1, 0, 0]
    with pytest.raises(GameError, match="illegal"):
        best_response(kuhn, illegal, 1)
    with pytest.raises(GameError, match="seat"):
        best_response(kuhn, kuhn.uniform(), 2)
    with pytest.raises(UnknownOpponentError, match="shark"):
        games.best_response_value("poker", "shark", 0)
    assert games.best_response_value("poker", "adaptive_exploiter", 0) is None
    assert games.best_response_value("poker(game=leduc)", "maniac", 0) is None
