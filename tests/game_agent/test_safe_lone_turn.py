"""SafeLearner's lone turn: one player's ``observe_act``, its inputs as a server sends
them, takes the scalar path (``SafeLearner._lone_turn``) and answers exactly as the
reference ``observe_then_act`` does; a lone turn that path declines goes to the batch
path, and answers exactly as the reference too.

Each comparison runs the reference on one learner and the fused turn on a second,
built identically, as ``test_observe_act.py`` does.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import games
from game_agent.inference import accelerate
from game_agent.learner import observe_and_act, observe_then_act
from game_agent.learners import safe as safe_module
from game_agent.learners.safe import ADAPTIVE, FALLBACK, SafeLearner
from tests.clients.tiny_models import VARIANTS, tiny_learner
from tests.game_agent.test_observe_act import (
    INPUT_CHANGES,
    MODES,
    SAFE_CONFIG,
    assert_same_turn,
    play_turns,
)
from tests.game_agent.test_safe import RuleLearner, maniac, repeat_believer
from tests.game_agent.test_safe_states import SharingLearner

GAME = VARIANTS["matrix"][0]
BASES = ("accelerated", "rule", "sharing")
SENT = "as a server sends it"
RAISED = "raised"


@pytest.fixture(scope="module")
def rl2():
    return tiny_learner("matrix", perturb=True)


def build(rl2, base: str) -> SafeLearner:
    """A safe learner over the served kind of base (an accelerated RL2 network), over a
    rule without ``observe_act``, or over one handing its input arrays back."""
    if base == "accelerated":
        return accelerate(SafeLearner(rl2, SAFE_CONFIG), [GAME])
    rule = SharingLearner if base == "sharing" else RuleLearner
    return SafeLearner(rule(repeat_believer), SAFE_CONFIG)


def twins(rl2, base: str) -> tuple[SafeLearner, SafeLearner]:
    return build(rl2, base), build(rl2, base)


def lone_situation(learner: SafeLearner, seed: int):
    """A player's state after its first round, and the observation and mask showing
    the opponent's answer."""
    kernel = games.make_kernel(games.parse_spec(GAME))
    rng = np.random.default_rng(seed)
    step = kernel.reset(1, seed=seed)
    state = learner.initial_state(GAME)
    _, [state] = learner.act([state], step.obs[:, 0], step.action_mask[:, 0], draws=rng.random(1))
    legal = np.flatnonzero(step.action_mask[0, 0])
    step = kernel.step(rng.choice(legal, size=(1, 2)))
    return state, step.obs[:, 0], step.action_mask[:, 0]


BASE_CHECKS = ("nan obs", "no legal action")
"""Inputs of ``INPUT_CHANGES`` the lone path hands to its base call, which checks them."""


def spy_on_lone_turns(monkeypatch, learner: SafeLearner) -> list:
    """Record what each ``_lone_turn`` of ``learner`` returns (None where it declined,
    ``RAISED`` where it raised)."""
    returned = []
    original = learner._lone_turn

    def spy(*args):
        returned.append(RAISED)
        returned[-1] = original(*args)
        return returned[-1]

    monkeypatch.setattr(learner, "_lone_turn", spy)
    return returned


@pytest.fixture
def only_the_lone_path(monkeypatch):
    """Refuse any safe learner's hand-over of a turn to the reference sequence; returns
    the function that also refuses one learner's lone turns to the batch accounting and
    gives back the record of its ``_lone_turn`` answers."""

    def refuse_the_reference(*args, **kwargs):
        raise AssertionError("the fused turn fell back to observe then act")

    monkeypatch.setattr(safe_module, "observe_then_act", refuse_the_reference)

    def restrict(learner: SafeLearner) -> list:
        batch = learner._decide

        def batch_only(guard, bases, *args):
            assert len(bases) > 1, "a lone player's turn went to the batch accounting"
            return batch(guard, bases, *args)

        monkeypatch.setattr(learner, "_decide", batch_only)
        return spy_on_lone_turns(monkeypatch, learner)

    return restrict


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("mode", list(MODES))
def test_lone_turns_take_the_scalar_path_and_equal_observe_then_act(
    rl2, only_the_lone_path, base, mode
):
    greedy, drawn = MODES[mode]
    modes, switch_backs = set(), 0
    for seed in range(3):
        reference, fused = twins(rl2, base)
        turns = only_the_lone_path(fused)
        play_turns(
            reference, fused, GAME, lanes=1, decisions=60, greedy=greedy, seed=seed, drawn=drawn
        )
        assert len(turns) == 60 and all(turn is not None for turn in turns)
        for _, [state] in turns:
            modes.add(int(state.arrays["safe.mode"][0]))
            switch_backs = max(switch_backs, int(state.arrays["safe.switch_backs"][0]))
    # benched and adaptive turns both came through, and a switch-back between them
    assert modes == {ADAPTIVE, FALLBACK} and switch_backs > 0


def test_a_lone_turns_arrays_each_own_their_bytes(only_the_lone_path):
    """Neither the input state's arrays nor one another's: the base's arrays handed back
    unchanged are copied, the counters and mixtures are new."""
    safe = SafeLearner(SharingLearner(repeat_believer), SAFE_CONFIG)
    turns = only_the_lone_path(safe)
    step = games.make_kernel(games.parse_spec(GAME)).reset(1, seed=0)
    obs, masks = step.obs[:, 0], step.action_mask[:, 0]
    for benched in (False, True):
        state = safe.initial_state(GAME)
        state.arrays["safe.mode"][0] = FALLBACK if benched else ADAPTIVE
        for _ in range(3):
            args = (np.array([0.5], np.float32), np.array([True]), obs, masks)
            _, [new] = observe_and_act(safe, [state], *args, draws=np.array([0.5]))
            arrays = [*new.arrays.values(), *state.arrays.values()]
            for at, array in enumerate(arrays):
                assert not any(np.shares_memory(array, other) for other in arrays[at + 1 :])
            state = new
    assert len(turns) == 6 and None not in turns


def declined_lone_turns(maker: SafeLearner, benched: bool) -> dict:
    """Lone turns the scalar path leaves to the batch path: inputs it would convert or
    refuse, states it cannot read: (states, rewards, rewarded, obs, masks, draws) by name.
    Rewards in other forms are converted before the scalar path: ``REWARD_FORMS``."""
    turns = {}
    for name in (
        SENT,  # the control: this one takes the scalar path
        *INPUT_CHANGES,
        "another learner",
        "missing counter",
        "malformed counter",
    ):
        state, obs, masks = lone_situation(maker, seed=len(turns))
        state.arrays["safe.mode"][0] = FALLBACK if benched else ADAPTIVE
        rewards, rewarded, draws = np.array([0.25], np.float32), np.array([True]), np.array([0.5])
        if name in INPUT_CHANGES:
            obs, masks, draws = INPUT_CHANGES[name](obs, masks, draws)
        elif name == "another learner":
            state.learner = "maml"
        elif name == "missing counter":
            del state.arrays["safe.units"]
        elif name == "malformed counter":
            state.arrays["safe.mode"] = state.arrays["safe.mode"].astype(np.float64)
        turns[name] = ([state], rewards, rewarded, obs, masks, draws)
    return turns


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("benched", [False, True], ids=["adaptive", "benched"])
def test_lone_turns_the_scalar_path_declines_answer_as_the_reference(
    rl2, monkeypatch, base, benched
):
    reference, fused = twins(rl2, base)
    declined = spy_on_lone_turns(monkeypatch, fused)
    turns = declined_lone_turns(build(rl2, base), benched)
    for name, (states, *args, draws) in turns.items():
        before = [s.to_bytes() for s in states]

        def turn(*a, **k):
            return observe_and_act(fused, *a, **k)

        try:
            want = observe_then_act(reference, states, *args, draws=draws)
        except Exception as exc:
            with pytest.raises(type(exc)) as have:
                turn(states, *args, draws=draws)
            assert str(have.value) == str(exc), name
        else:
            assert_same_turn(want, turn(states, *args, draws=draws), before, states)
        taken = name == SENT or name in BASE_CHECKS  # the base call checks those itself
        assert (declined[-1] is not None) == taken, name
    assert reference.guard(GAME).rng.random() == fused.guard(GAME).rng.random()
    if base == "accelerated":
        assert reference.base.act_rng.random() == fused.base.act_rng.random()


REWARD_FORMS = {
    "list of rewards": ([0.1], [True]),
    "float64 rewards": (np.array([0.1]), np.array([True])),
    "int flags": (np.array([0.1], np.float32), np.array([1])),
}
"""Rewards and flags as a direct caller of ``observe_act`` may give them; 0.1 is not a
float32, so a reward counted without the reference's conversion would show."""


@pytest.mark.parametrize("form", list(REWARD_FORMS))
@pytest.mark.parametrize("benched", [False, True], ids=["adaptive", "benched"])
def test_lone_rewards_in_other_forms_are_converted_first(rl2, monkeypatch, form, benched):
    """``observe_act`` called directly converts rewards and flags as the reference does,
    then the converted turn takes the scalar path and answers as the reference."""
    reference, fused = twins(rl2, "accelerated")
    taken = spy_on_lone_turns(monkeypatch, fused)
    state, obs, masks = lone_situation(fused, seed=7)
    state.arrays["safe.mode"][0] = FALLBACK if benched else ADAPTIVE
    rewards, rewarded = REWARD_FORMS[form]
    before = [state.to_bytes()]
    draws = np.array([0.5])
    want = observe_then_act(reference, [state], rewards, rewarded, obs, masks, draws=draws)
    have = fused.observe_act([state], rewards, rewarded, obs, masks, draws=draws)
    assert_same_turn(want, have, before, [state])
    assert taken[-1] is not None and taken[-1] is not RAISED


def test_lone_turns_of_other_families_take_the_batch_path(monkeypatch):
    """Poker's accounting has no scalar path: its lone turns answer as the reference."""
    kuhn = games.parse_spec("poker(game=kuhn)")
    reference, fused = (SafeLearner(RuleLearner(maniac), SAFE_CONFIG) for _ in range(2))
    declined = spy_on_lone_turns(monkeypatch, fused)
    step = games.make_kernel(kuhn).reset(1, seed=0)
    seat = int(np.argmax(step.acting[0]))
    args = (np.array([1.0], np.float32), np.array([True]))
    args += (step.obs[:, seat], step.action_mask[:, seat])
    states = [reference.initial_state(kuhn)]
    for benched in (False, True):
        states = copy.deepcopy(states)
        states[0].arrays["safe.mode"][0] = FALLBACK if benched else ADAPTIVE
        before = [s.to_bytes() for s in states]
        want = observe_then_act(reference, states, *args, draws=np.array([0.5]))
        have = observe_and_act(fused, states, *args, draws=np.array([0.5]))
        assert_same_turn(want, have, before, states)
    assert declined == [None, None]


@pytest.mark.parametrize("base", BASES)
def test_a_lone_turn_counts_its_reward_where_no_move_is_shown(rl2, only_the_lone_path, base):
    """A round whose opponent move is never shown (the first observation again, as after
    a match's last round) closes at the reward actually received: the one observed in
    this very turn."""
    reference, fused = twins(rl2, base)
    turns = only_the_lone_path(fused)
    step = games.make_kernel(games.parse_spec(GAME)).reset(1, seed=0)
    obs, masks = step.obs[:, 0], step.action_mask[:, 0]
    states = [reference.initial_state(GAME)]
    for reward, got in ((0.1, True), (0.2, True), (-1e4, True), (3.0, False), (-0.3, True)):
        rewards, rewarded = np.array([reward], np.float32), np.array([got])
        before = [s.to_bytes() for s in states]
        want = observe_then_act(reference, states, rewards, rewarded, obs, masks)
        have = observe_and_act(fused, states, rewards, rewarded, obs, masks)
        assert_same_turn(want, have, before, states)
        states = want[1]
    assert len(turns) == 5 and None not in turns
    assert float(states[0].arrays["safe.deficit"][0]) > 1e3  # the rewards were counted
