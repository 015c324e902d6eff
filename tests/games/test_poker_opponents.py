"""Poker opponents: always legal, each style as described, the exploiter learns and forgets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import games
from games.opponents.base import random_legal
from games.poker.best_response import KuhnTree, kuhn_nash_strategy, solve
from games.poker.exploiter import AdaptiveExploiter
from games.poker.kernel import PokerKernel
from games.poker.opponents import Equilibrium, kuhn_style_strategy

FOLD, CALL, RAISE = 0, 1, 2
J, Q, K = 0, 1, 2
ROOT, CHECKED, CHECK_BET, BET = 0, 1, 2, 3  # standard Kuhn node indices
VARIANTS = [
    "poker",
    "poker(ranks=4,max_raises=2)",
    "poker(game=leduc)",
    "poker(game=leduc,ranks=5)",
]


def _random_positions(spec: str, n: int, seed: int) -> list[games.Step]:
    kernel = games.make_kernel(spec)
    rng = np.random.default_rng(seed)
    step = kernel.reset(n, seed=seed)
    steps = [step]
    while not step.done.all():
        joint = np.stack([random_legal(step.action_mask[:, s], rng) for s in (0, 1)], axis=1)
        step = kernel.step(joint)
        steps.append(step)
    return steps


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_opponent_plays_legal_actions(variant: str) -> None:
    steps = _random_positions(variant, 300, seed=4)
    for name in games.list_opponents("poker"):
        opponent = games.make_opponent(variant, name, seed=0)
        opponent.reset(300)
        for step in steps:
            for seat in (0, 1):
                mask = step.action_mask[:, seat]
                actions = opponent.act(step.obs[:, seat], mask)
                assert actions.shape == (300,) and actions.dtype == np.int64
                chosen = mask[np.arange(300), actions]
                assert (chosen | ~mask.any(axis=1)).all(), name
                assert (actions[~mask.any(axis=1)] == 0).all(), name


def _table(style: str, spec: str = "poker", **kwargs) -> np.ndarray:
    return kuhn_style_strategy(games.parse_spec(spec), style, **kwargs)


def test_kuhn_styles_by_hand() -> None:
    bet, check, call, fold = [0, 0, 1], [0, 1, 0], [0, 1, 0], [1, 0, 0]
    maniac = _table("maniac")
    assert (maniac[:, ROOT] == bet).all() and (maniac[:, BET] == call).all()
    station = _table("calling_station")
    assert (station[:, [ROOT, CHECKED, CHECK_BET, BET]] == call).all()
    rock = _table("rock")
    assert rock[K, ROOT].tolist() == bet and rock[K, BET].tolist() == call
    assert rock[Q, ROOT].tolist() == check and rock[Q, BET].tolist() == fold
    bluffer = _table("bluffer")
    assert [bluffer[r, ROOT].tolist() for r in (J, Q, K)] == [bet, check, bet]
    assert [bluffer[r, BET].tolist() for r in (J, Q, K)] == [fold, call, call]
    timid = _table("timid")
    assert (timid[:, ROOT] == check).all() and (timid[:, CHECKED] == check).all()
    assert [timid[r, BET].tolist() for r in (J, Q, K)] == [fold, fold, call]
    trapper = _table("trapper")
    assert trapper[K, ROOT].tolist() == check and trapper[K, CHECK_BET].tolist() == call
    assert trapper[J, BET].tolist() == fold
    uniform = _table("random")
    assert uniform[J, ROOT].tolist() == [0, 0.5, 0.5] and uniform[J, BET].tolist() == [0.5, 0.5, 0]


def test_trapper_check_raises_when_it_can() -> None:
    trapper = _table("trapper", "poker(max_raises=2)")
    tree = KuhnTree.from_spec(games.parse_spec("poker(max_raises=2)"))
    assert trapper[K, tree.index[()]].tolist() == [0, 1, 0]
    assert trapper[K, tree.index[(CALL, RAISE)]].tolist() == [0, 0, 1]


def test_equilibrium_style_is_kuhns_family() -> None:
    spec = games.parse_spec("poker")
    tree = KuhnTree.from_spec(spec)
    player = Equilibrium(spec, alpha=0.2)
    np.testing.assert_allclose(player.kuhn_strategy(), kuhn_nash_strategy(tree, 0.2))
    alphas = {Equilibrium(spec, seed=s).alpha for s in range(5)}
    assert len(alphas) == 5 and all(0 <= a <= 1 / 3 for a in alphas)
    other = games.parse_spec("poker(ranks=4)")
    np.testing.assert_allclose(
        _table("equilibrium", other.name), solve(KuhnTree.from_spec(other)).strategy
    )


def test_sampled_actions_follow_the_style_probabilities() -> None:
    spec = games.parse_spec("poker")
    kernel = games.make_kernel(spec)
    assert isinstance(kernel, PokerKernel)
    n = 20_000
    step = kernel.reset_with_cards(np.tile([[J, Q]], (n, 1)))
    player = Equilibrium(spec, seed=0, alpha=0.3)
    bets = player.act(step.obs[:, 0], step.action_mask[:, 0]) == RAISE
    assert abs(bets.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)


def test_leduc_styles_read_the_public_card() -> None:
    spec = games.parse_spec("poker(game=leduc)")
    kernel = games.make_kernel(spec)
    assert isinstance(kernel, PokerKernel)
    # player_0 holds J, the public card is the other J: after check-check, a pair.
    step = kernel.reset_with_cards(np.array([[0, 4, 1], [0, 4, 2]]))
    step = kernel.step(np.array([[CALL, 0], [CALL, 0]]))
    step = kernel.step(np.array([[0, CALL], [0, CALL]]))
    rock = games.make_opponent(spec, "rock", seed=0)
    actions = rock.act(step.obs[:, 0], step.action_mask[:, 0])
    assert actions.tolist() == [RAISE, CALL]  # bets the pair of jacks, checks a lone jack
    maniac = games.make_opponent(spec, "maniac", seed=0)
    assert maniac.act(step.obs[:, 0], step.action_mask[:, 0]).tolist() == [RAISE, RAISE]


Agent = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _trial(
    spec: str,
    exploiter: AdaptiveExploiter,
    agent: Agent,
    hands: int,
    n: int,
    seed: int,
    seat: int = 1,
    show_final: bool = True,
) -> np.ndarray:
    """The exploiter in ``seat`` against ``agent`` for ``hands`` hands per game; its rewards.

    Like a batched rollout, the exploiter ``observe``s every row after every step
    (with ``show_final``; without it, the final observation of a hand goes unseen),
    then hands are re-dealt.
    """
    kernel = games.make_kernel(spec)
    step = kernel.reset(n, seed=seed)
    rewards = np.zeros((n, hands))
    played = np.zeros(n, dtype=np.int64)
    while played.min() < hands:
        actions = np.zeros((n, 2), dtype=np.int64)
        actions[:, 1 - seat] = agent(step.obs[:, 1 - seat], step.action_mask[:, 1 - seat])
        actions[:, seat] = exploiter.act(step.obs[:, seat], step.action_mask[:, seat])
        step = kernel.step(actions)
        if show_final:
            exploiter.observe(step.obs[:, seat])
        finished = np.flatnonzero(step.done & (played < hands))
        rewards[finished, played[finished]] = step.rewards[finished, seat]
        played[finished] += 1
        exploiter.reset_where(step.done)
        step = kernel.reset_where(step.done)
    return rewards


def _check_then(answer: int) -> Agent:
    """An agent that always checks, and answers a bet with ``answer``."""

    def agent(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask[:, FOLD], answer, CALL)

    return agent


def _exploiter_action(exploiter: AdaptiveExploiter, rank: int) -> int:
    """The exploiter's choice in seat 1 holding ``rank`` after player_0 checks."""
    kernel = games.make_kernel(exploiter.spec)
    step = kernel.reset_with_cards(np.array([[(rank + 1) % 3, rank]]))
    step = kernel.step(np.array([[CALL, 0]]))
    return int(exploiter.act(step.obs[:, 1], step.action_mask[:, 1])[0])


def test_exploiter_bluffs_a_folder_and_not_a_caller() -> None:
    spec = games.parse_spec("poker")
    folder, caller = AdaptiveExploiter(spec, seed=0), AdaptiveExploiter(spec, seed=0)
    folder.reset(1)
    caller.reset(1)
    # Before it has seen anything, the uniform model already says: value-bet K.
    assert _exploiter_action(caller, K) == RAISE
    _trial("poker", folder, _check_then(FOLD), hands=30, n=1, seed=1)
    _trial("poker", caller, _check_then(CALL), hands=30, n=1, seed=1)
    assert folder.counts[0, ROOT].tolist() == [0, 30, 0]  # the agent's opening checks
    # ... and its folds to the exploiter's bets, seen in the hands' final observations
    assert folder.counts[0, CHECK_BET, FOLD] > 5 and folder.counts[0, CHECK_BET, CALL] == 0
    assert _exploiter_action(folder, J) == RAISE  # a bet wins the pot every time
    assert _exploiter_action(caller, J) == CALL  # a bluff is always called


def test_exploiter_memory_survives_hands_and_resets_per_trial() -> None:
    spec = games.parse_spec("poker")
    exploiter = AdaptiveExploiter(spec, seed=0)
    exploiter.reset(4)
    _trial("poker", exploiter, _check_then(FOLD), hands=5, n=4, seed=2)
    seen = exploiter.counts.sum(axis=(1, 2))
    assert (seen >= 5).all()
    exploiter.reset_where(np.array([True, False, True, False]))
    np.testing.assert_array_equal(exploiter.counts.sum(axis=(1, 2)), seen)
    exploiter.reset(4)
    assert not exploiter.counts.any()


def test_exploiter_infers_a_check_it_never_saw() -> None:
    spec = games.parse_spec("poker")
    exploiter = AdaptiveExploiter(spec, seed=0)
    exploiter.reset(1)
    # In seat 0 against a player who checks behind and calls every bet, never shown
    # a hand's final observation: a check-check showdown ends the hand unseen.
    rewards = _trial("poker", exploiter, _check_then(CALL), 40, 1, seed=5, seat=0, show_final=False)
    check_check = int((np.abs(rewards) == 1).sum())
    assert 0 < check_check < 40
    assert exploiter.counts[0, CHECKED].tolist() == [0, check_check, 0]
    assert not exploiter.counts[0, BET].any()  # its call of our bets is never visible


def test_exploiter_wins_the_best_response_value_against_a_maniac() -> None:
    spec = games.parse_spec("poker")
    maniac = games.make_opponent(spec, "maniac", seed=0)
    exploiter = AdaptiveExploiter(spec, seed=0)
    exploiter.reset(200)
    rewards = _trial("poker", exploiter, maniac.act, hands=40, n=200, seed=3)
    value = games.best_response_value(spec, "maniac", 1)
    late = rewards[:, 20:]
    assert abs(late.mean() - value) < 4 * late.std() / np.sqrt(late.size)


def test_leduc_exploiter_bluffs_an_agent_that_folds() -> None:
    spec = games.parse_spec("poker(game=leduc)")
    exploiter = AdaptiveExploiter(spec, seed=0)
    exploiter.reset(1)
    kernel = games.make_kernel(spec)

    def weak_after_check() -> int:
        step = kernel.reset_with_cards(np.array([[2, 0, 4]]))  # exploiter holds a J
        step = kernel.step(np.array([[CALL, 0]]))
        return int(exploiter.act(step.obs[:, 1], step.action_mask[:, 1])[0])

    assert weak_after_check() == CALL
    exploiter.reset(1)
    _trial(spec.name, exploiter, _check_then(FOLD), hands=20, n=1, seed=4)
    assert weak_after_check() == RAISE
