"""The poker kernel: hand-worked hands, an independent Leduc reference, batching and dealing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import games
from games.errors import GameError, IllegalActionError
from games.opponents.base import random_legal
from games.poker import layout
from games.poker.kernel import PokerKernel

FOLD, CALL, RAISE = 0, 1, 2
J, Q, K = 0, 1, 2


def kernel(variant: str) -> PokerKernel:
    k = games.make_kernel(variant)
    assert isinstance(k, PokerKernel)
    return k


def play(k: PokerKernel, cards: list[int], actions: list[int]) -> games.Step:
    """One hand with chosen cards; ``actions`` alternate from whoever is to act."""
    step = k.reset_with_cards(np.array([cards]))
    for action in actions:
        assert not step.done[0]
        joint = np.zeros((1, 2), dtype=np.int64)
        joint[0, np.flatnonzero(step.acting[0])[0]] = action
        step = k.step(joint)
    return step


# Kuhn: P0 holds K, P1 holds J unless said otherwise (one suit: card index = rank).
@pytest.mark.parametrize(
    ("cards", "actions", "rewards"),
    [
        ([K, J], [RAISE, CALL], (2, -2)),
        ([K, J], [CALL, CALL], (1, -1)),
        ([J, K], [CALL, CALL], (-1, 1)),
        ([K, J], [RAISE, FOLD], (1, -1)),
        ([J, K], [CALL, RAISE, FOLD], (-1, 1)),
        ([K, J], [CALL, RAISE, CALL], (2, -2)),
        ([Q, K], [CALL, RAISE, CALL], (-2, 2)),
    ],
)
def test_kuhn_hands_pay_by_hand(cards: list[int], actions: list[int], rewards: tuple) -> None:
    step = play(kernel("poker"), cards, actions)
    assert step.terminated[0] and not step.truncated[0]
    assert tuple(step.rewards[0]) == rewards
    assert not step.acting.any() and not step.action_mask.any()


def test_kuhn_masks_follow_the_betting() -> None:
    k = kernel("poker")
    step = k.reset_with_cards(np.array([[K, J]]))
    assert step.acting[0].tolist() == [True, False]
    assert step.action_mask[0, 0].tolist() == [False, True, True]  # nothing to call: no fold
    step = k.step(np.array([[RAISE, 0]]))
    # facing a bet, with the single bet of the round used: fold or call only
    assert step.action_mask[0, 1].tolist() == [True, True, False]
    assert step.rewards[0].tolist() == [0.0, 0.0]


def test_kuhn_observation_layout_by_hand() -> None:
    k = kernel("poker")
    step = play(k, [K, J], [CALL, RAISE])
    p0, p1 = step.obs[0, 0], step.obs[0, 1]
    assert p0[layout.OWN_CARD + K] == 1 and p0[layout.OWN_CARD : layout.PUBLIC_CARD].sum() == 1
    assert p1[layout.OWN_CARD + J] == 1 and p1[layout.OWN_CARD : layout.PUBLIC_CARD].sum() == 1
    assert not p0[layout.PUBLIC_CARD : layout.HISTORY].any()
    history = np.zeros(layout.HISTORY_SIZE)
    history[0 * 3 + CALL] = history[1 * 3 + RAISE] = 1  # slot 0: check, slot 1: bet
    np.testing.assert_array_equal(p0[layout.HISTORY : layout.POT], history)
    np.testing.assert_array_equal(p1[layout.HISTORY : layout.POT], history)
    # pot 3 of a possible 4; P0 has 1 of a possible 2 in, P1 has 2 of 2
    assert p0[layout.POT] == pytest.approx(3 / 4) and p1[layout.POT] == pytest.approx(3 / 4)
    assert p0[layout.OWN_CONTRIBUTION] == pytest.approx(0.5)
    assert p1[layout.OWN_CONTRIBUTION] == pytest.approx(1.0)
    assert p0[layout.ROUND] == 1 and p0[layout.SEAT] == 1 and p1[layout.SEAT + 1] == 1
    assert p0[layout.OWN_STRENGTH] == 1.0 and p1[layout.OWN_STRENGTH] == 0.0
    assert p0[layout.IS_LEDUC] == 0 and p0[layout.DECK_RANKS] == pytest.approx(3 / 13)


def leduc_card(rank: int, suit: int, suits: int = 2) -> int:
    return rank * suits + suit


def test_leduc_pair_beats_a_higher_card() -> None:
    cards = [leduc_card(J, 0), leduc_card(K, 0), leduc_card(J, 1)]
    step = play(kernel("poker(game=leduc)"), cards, [RAISE, CALL, RAISE, CALL])
    # ante 1 + round-1 bet 2 + round-2 bet 4 = 7 each
    assert tuple(step.rewards[0]) == (7, -7)


def test_leduc_high_card_and_split_pot() -> None:
    k = kernel("poker(game=leduc)")
    high = play(k, [leduc_card(Q, 0), leduc_card(K, 0), leduc_card(J, 0)], [CALL] * 4)
    assert tuple(high.rewards[0]) == (-1, 1)
    split = play(k, [leduc_card(Q, 0), leduc_card(Q, 1), leduc_card(K, 0)], [RAISE, CALL] * 2)
    assert tuple(split.rewards[0]) == (0, 0) and split.terminated[0]


def test_leduc_raise_cap_and_public_card() -> None:
    k = kernel("poker(game=leduc)")
    cards = [leduc_card(K, 0), leduc_card(Q, 0), leduc_card(J, 1)]
    step = play(k, cards, [CALL, RAISE, RAISE])
    # check, bet, raise: two raises used, so player_1 may only fold or call
    assert step.acting[0].tolist() == [False, True]
    assert step.action_mask[0, 1].tolist() == [True, True, False]
    state = k.state()
    assert state.contributions[0].tolist() == [5, 3]
    assert state.public[0] == -1 and not step.obs[0, :, layout.PUBLIC_CARD : layout.HISTORY].any()
    step = k.step(np.array([[0, CALL]]))
    # round 2: public J shown to both, player_0 acts first, fresh raises
    assert step.acting[0].tolist() == [True, False]
    assert step.action_mask[0, 0].tolist() == [False, True, True]
    assert (
        step.obs[0, 0, layout.PUBLIC_CARD + J] == 1 and step.obs[0, 1, layout.PUBLIC_CARD + J] == 1
    )
    assert step.obs[0, 0, layout.ROUND + 1] == 1
    step = play(k, cards, [CALL, RAISE, RAISE, CALL, RAISE, RAISE, FOLD])
    # 5 each after round 1; P0 bets to 9, P1 raises to 13, P0 folds and loses its 9
    assert tuple(step.rewards[0]) == (-9, 9)


def test_illegal_actions_name_the_seat() -> None:
    k = kernel("poker")
    k.reset_with_cards(np.array([[K, J]]))
    with pytest.raises(IllegalActionError, match=r"seat 0 \(player_0\).*legal actions: \[1, 2\]"):
        k.step(np.array([[FOLD, 0]]))
    with pytest.raises(IllegalActionError, match="illegal action 3"):
        k.step(np.array([[3, 0]]))


def test_finished_games_stay_finished_until_redealt() -> None:
    k = kernel("poker")
    k.reset_with_cards(np.array([[K, J], [J, Q]]))
    step = k.step(np.array([[RAISE, 0], [CALL, 0]]))
    step = k.step(np.array([[0, FOLD], [0, CALL]]))
    assert step.done.tolist() == [True, True]
    before = k.state()
    after = k.step(np.zeros((2, 2), dtype=np.int64))
    assert not after.rewards.any() and after.done.all()
    np.testing.assert_array_equal(k.state().history, before.history)
    redealt = k.reset_where(np.array([True, False]))
    assert redealt.done.tolist() == [False, True] and not redealt.rewards[0].any()


@pytest.mark.parametrize(
    "cards",
    [np.array([[0, 0]]), np.array([[0, 3]]), np.array([[0, 1, 2]]), np.array([0, 1])],
)
def test_chosen_cards_are_validated(cards: np.ndarray) -> None:
    with pytest.raises(GameError):
        kernel("poker").reset_with_cards(cards)


def test_deals_are_per_game_and_uniform() -> None:
    spec = "poker(game=leduc,ranks=13,suits=4)"
    small, large = kernel(spec), kernel(spec)
    small.reset(5, seed=11)
    large.reset(50, seed=11)
    np.testing.assert_array_equal(small.state().cards, large.state().cards[:5])
    # Re-dealing other rows never changes a row's own sequence of hands.
    small.reset_where(np.array([True, False, False, False, False]))
    small.reset_where(np.array([True, True, False, False, False]))
    large.reset_where(np.eye(50, dtype=bool)[1])
    np.testing.assert_array_equal(small.state().cards[1], large.state().cards[1])
    other = kernel(spec)
    other.reset(50, seed=12)
    assert not np.array_equal(other.state().cards, large.state().cards)
    # Every card equally likely in every position, cards distinct within a hand.
    big = kernel(spec)
    big.reset(20_000, seed=3)
    cards = big.state().cards
    assert (cards[:, 0] != cards[:, 1]).all() and (cards[:, 1] != cards[:, 2]).all()
    for position in range(3):
        counts = np.bincount(cards[:, position], minlength=52)
        expected = 20_000 / 52
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 100  # 51 degrees of freedom: p < 1e-4 beyond this


def _random_hands(k: PokerKernel, n: int, seed: int) -> tuple[list, np.ndarray, list]:
    """Play n hands together with random legal actions; every step's Step and the actions."""
    rng = np.random.default_rng(seed)
    step = k.reset(n, seed=seed)
    steps, actions = [step], []
    while not step.done.all():
        joint = np.stack([random_legal(step.action_mask[:, s], rng) for s in (0, 1)], axis=1)
        step = k.step(joint)
        steps.append(step)
        actions.append(joint)
    return steps, k.state().cards, actions


@pytest.mark.parametrize("variant", ["poker(ranks=5,max_raises=3)", "poker(game=leduc)"])
def test_batch_equals_games_played_one_at_a_time(variant: str) -> None:
    batch = kernel(variant)
    steps, cards, actions = _random_hands(batch, 300, seed=5)
    dealt = cards[:, : batch.config.cards_dealt]
    single = kernel(variant)
    for b in range(300):
        step = single.reset_with_cards(dealt[b : b + 1])
        for t, joint in enumerate(actions):
            _assert_same_row(step, steps[t].row(b))
            step = single.step(joint[b : b + 1])
        _assert_same_row(step, steps[-1].row(b))
    # A second hand in every finished game continues per game as well.
    second = batch.reset_where(np.ones(300, dtype=bool))
    assert not second.done.any() and not second.rewards.any()


def _assert_same_row(single: games.Step, batched: games.Step) -> None:
    for name, a, b in zip(single._fields, single, batched, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


# ---------------------------------------------------------------------------
# An independent Leduc reference: one game at a time, recursive over the actions.


@dataclass(frozen=True)
class Pending:
    player: int
    legal: frozenset
    round: int
    chips: tuple


@dataclass(frozen=True)
class Over:
    payoff: tuple


@dataclass(frozen=True)
class LeducReference:
    ante: int
    bets: tuple
    max_raises: int

    def walk(self, actions, cards, rnd=0, chips=None, raises=0, acted=0):
        """Where the hand stands after ``actions``: the next decision, or the payoff."""
        chips = chips or (self.ante, self.ante)
        player = acted % 2  # player_0 opens every round
        owed = chips[1 - player] - chips[player]
        legal = {CALL} | ({FOLD} if owed > 0 else set())
        if raises < self.max_raises:
            legal.add(RAISE)
        if not actions:
            return Pending(player, frozenset(legal), rnd, chips)
        action, rest = actions[0], actions[1:]
        assert action in legal
        if action == FOLD:
            lost = chips[player]
            return Over((-lost, lost) if player == 0 else (lost, -lost))
        mine = chips[1 - player] + (self.bets[rnd] if action == RAISE else 0)
        chips = (mine, chips[1]) if player == 0 else (chips[0], mine)
        if action == CALL and acted >= 1:
            if rnd == len(self.bets) - 1:
                return Over(self.showdown(cards, chips[0]))
            return self.walk(rest, cards, rnd + 1, chips, 0, 0)
        return self.walk(rest, cards, rnd, chips, raises + (action == RAISE), acted + 1)

    @staticmethod
    def showdown(cards, stake):
        mine, theirs, public = cards
        if (mine == public) != (theirs == public):
            win = mine == public
        elif mine != theirs:
            win = mine > theirs
        else:
            return (0, 0)
        return (stake, -stake) if win else (-stake, stake)


@pytest.mark.parametrize(
    "variant",
    ["poker(game=leduc)", "poker(game=leduc,ranks=4,suits=3,bet1=1,bet2=3,max_raises=3,ante=2)"],
)
def test_leduc_matches_an_independent_reference(variant: str) -> None:
    k = kernel(variant)
    config = k.config
    reference = LeducReference(config.ante, config.bets, config.max_raises)
    n = 1500
    steps, cards, actions = _random_hands(k, n, seed=9)
    ranks = cards // config.suits
    seen_pairs = seen_caps = 0
    for b in range(n):
        played: list[int] = []
        for t, step in enumerate(steps):
            outcome = reference.walk(tuple(played), tuple(ranks[b]))
            row = step.row(b)
            if isinstance(outcome, Over):
                assert row.terminated[0], (b, played)
                assert tuple(row.rewards[0]) == outcome.payoff, (b, played)
                break
            assert not row.done[0]
            assert np.flatnonzero(row.acting[0]).tolist() == [outcome.player]
            legal = set(np.flatnonzero(row.action_mask[0, outcome.player]).tolist())
            assert legal == set(outcome.legal), (b, played)
            assert row.obs[0, 0, layout.POT] == pytest.approx(sum(outcome.chips) / config.max_pot)
            shown = row.obs[0, outcome.player, layout.PUBLIC_CARD : layout.HISTORY]
            assert shown.any() == (outcome.round == 1)
            seen_caps += RAISE not in outcome.legal
            played.append(int(actions[t][b, outcome.player]))
        seen_pairs += ranks[b, 2] in ranks[b, :2]
    assert seen_pairs > 100 and seen_caps > 100  # the random games exercised both rules
