"""The fused server turn (``observe_and_act``) equals ``observe`` then ``act``, bit for bit.

The reference is :func:`game_agent.learner.observe_then_act`, the two protocol
calls the server made before. Each comparison runs the reference on one learner
and the fused path on a second, built identically (same weights, same seeds), so
sampled actions draw the same random numbers: decisions must be byte-identical,
new states must serialise to the same bytes, the inputs must be left untouched,
and bad input must raise the same error with the same message.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from game_agent import inference
from game_agent import learner as learner_module
from game_agent.export import example_inputs
from game_agent.inference import AcceleratedLearner, accelerate
from game_agent.learner import EpisodeOutcome, observe_and_act, observe_then_act
from game_agent.learners import safe as safe_module
from game_agent.learners.multitask import MultitaskConfig, MultitaskLearner
from game_agent.learners.safe import FALLBACK, SafeLearner, SafetyConfig
from game_agent.policies import layout_for
from games import make_kernel, parse_spec
from tests.clients.tiny_models import VARIANTS, tiny_learner

FAMILIES = ("connect_n", "matrix")
BATCHES = (1, 2, 5, 16)
REWARD_SCALES = (0.0, 1e-3, 1.0, 1e4)


def feed_forward(family: str) -> MultitaskLearner:
    spec = parse_spec(VARIANTS[family][0])
    learner = MultitaskLearner(
        layout_for([spec]), MultitaskConfig(hidden_size=8, conv_channels=4), seed=0
    )
    with torch.no_grad():
        for param in learner.policy.parameters():
            param.add_(0.5 * torch.randn(param.shape, generator=torch.Generator().manual_seed(2)))
    return learner


@pytest.fixture(scope="module")
def torch_learners():
    return {
        (family, kind): tiny_learner(family, perturb=True)
        if kind == "rl2"
        else feed_forward(family)
        for family in FAMILIES
        for kind in ("rl2", "feed_forward")
    }


def twins(torch_learner, game: str) -> tuple[AcceleratedLearner, AcceleratedLearner]:
    """Two accelerated learners over one network, with identically seeded sampling."""
    return accelerate(torch_learner, [game]), accelerate(torch_learner, [game])


@pytest.fixture
def never_the_reference(monkeypatch):
    """Fail any fused call that hands the turn to the reference sequence: the equality
    tests must compare the fused path itself."""

    def refuse(*args, **kwargs):
        raise AssertionError("the fused path fell back to observe then act")

    monkeypatch.setattr(inference, "observe_then_act", refuse)
    monkeypatch.setattr(safe_module, "observe_then_act", refuse)


def random_turn(learner, game: str, n: int, seed: int):
    """``n`` players in random situations with random rewards, some rows rewarded."""
    spec = parse_spec(game)
    generator = torch.Generator().manual_seed(seed)
    drawn = [t.numpy() for t in example_inputs(learner.policy, spec, n, generator)]
    rng = np.random.default_rng(seed)
    states = []
    for b in range(n):
        state = learner.initial_state(spec)
        state.meta["decisions"] = int(rng.integers(0, 50))
        state.meta["total_reward"] = float(rng.normal())
        if getattr(learner, "recurrent", False):
            state.arrays["memory"] = drawn[2][b].copy()
            for i, name in enumerate(("prev_action", "prev_reward", "prev_done"), start=3):
                state.arrays[name] = drawn[i][b : b + 1].copy()
            if b % 3 == 1:  # signed zeros and a negative done flag: observe's edge cases
                state.arrays["prev_reward"] = np.array([-0.0], dtype=np.float32)
                state.arrays["prev_done"] = np.array([-0.5 if b % 2 else -0.0], dtype=np.float32)
        states.append(state)
    scale = REWARD_SCALES[seed % len(REWARD_SCALES)]
    rewards = (rng.normal(size=n) * scale).astype(np.float32)
    rewarded = rng.random(n) < [0.0, 0.5, 1.0][seed % 3] if n > 1 else np.array([seed % 2 == 0])
    rewards[~rewarded] = np.nan  # ignored: the rows are not observed
    return states, rewards, rewarded, drawn[0], drawn[1] > 0.5


def assert_same_turn(want, have, inputs_before: list[bytes], inputs) -> None:
    (want_decision, want_states), (have_decision, have_states) = want, have
    for a, b in zip(want_decision, have_decision, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    assert [s.to_bytes() for s in want_states] == [s.to_bytes() for s in have_states]
    assert [s.to_bytes() for s in inputs] == inputs_before, "the input states were changed"
    for new, old in zip(have_states, inputs, strict=True):
        assert not any(
            np.shares_memory(a, b) for a in new.arrays.values() for b in old.arrays.values()
        )


# ------------------------------------------------------------------ accelerated base


MODES = {"greedy": (True, False), "sampled": (False, False), "drawn": (False, True)}
"""(greedy, draws given) for each way a turn chooses its action."""


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["rl2", "feed_forward"])
@pytest.mark.parametrize("mode", list(MODES))
def test_fused_turns_equal_observe_then_act(
    torch_learners, never_the_reference, family, kind, mode
):
    greedy, drawn = MODES[mode]
    game = VARIANTS[family][0]
    reference, fused = twins(torch_learners[family, kind], game)
    untouched = fused.act_rng.bit_generator.state
    for n in BATCHES:
        for seed in range(6):
            states, rewards, rewarded, obs, masks = random_turn(reference, game, n, seed)
            draws = np.random.default_rng(seed).random(n) if drawn else None
            args = (states, rewards, rewarded, obs, masks)
            before = [s.to_bytes() for s in states]
            want = observe_then_act(reference, *args, greedy=greedy, draws=draws)
            have = observe_and_act(fused, *args, greedy=greedy, draws=draws)
            assert_same_turn(want, have, before, states)
    if drawn:  # the given draws decided: neither generator was drawn from
        assert fused.act_rng.bit_generator.state == untouched
    assert reference.act_rng.random() == fused.act_rng.random()


def play_turns(
    reference, fused, game: str, lanes: int, decisions: int, *, greedy: bool, seed=0, drawn=False
):
    """``lanes`` games against random legal moves, turns driven as the server drives them
    (the reward since the last move comes with the next; the last one is observed with
    its episode's end); each learner carries its own states, and with ``drawn`` each
    turn's draws are given. Returns the fused states."""
    spec = parse_spec(game)
    kernel = make_kernel(spec)
    step = kernel.reset(lanes, seed=seed)
    rng = np.random.default_rng(seed)
    seats = np.arange(lanes) % spec.num_agents
    slow = [reference.initial_state(spec) for _ in range(lanes)]
    quick = [fused.initial_state(spec) for _ in range(lanes)]
    prepare_states(slow, quick, rng)
    pending = np.zeros(lanes, dtype=np.float32)
    acted = np.zeros(lanes, dtype=bool)
    made = 0
    while made < decisions:
        actions = np.zeros((lanes, spec.num_agents), dtype=np.int64)
        idx = np.flatnonzero(step.acting[np.arange(lanes), seats])
        if len(idx):
            obs, masks = step.obs[idx, seats[idx]], step.action_mask[idx, seats[idx]]
            args = (pending[idx], acted[idx], obs, masks)
            how = {"greedy": greedy, "draws": rng.random(len(idx)) if drawn else None}
            before = [slow[i].to_bytes() for i in idx]
            want = observe_then_act(reference, [slow[i] for i in idx], *args, **how)
            have = observe_and_act(fused, [quick[i] for i in idx], *args, **how)
            assert_same_turn(want, have, before, [slow[i] for i in idx])
            for k, i in enumerate(idx):
                slow[i], quick[i] = want[1][k], have[1][k]
            actions[idx, seats[idx]] = want[0].actions
            acted[idx], pending[idx] = True, 0.0
            made += len(idx)
        for lane, seat in np.argwhere(step.acting):
            if seat != seats[lane]:
                actions[lane, seat] = rng.choice(np.flatnonzero(step.action_mask[lane, seat]))
        step = kernel.step(actions)
        pending += step.rewards[np.arange(lanes), seats]
        for lane in np.flatnonzero(step.done):
            for states, learner in ((slow, reference), (quick, fused)):
                if acted[lane]:
                    [states[lane]] = learner.observe(
                        [states[lane]], pending[lane : lane + 1], [True]
                    )
                outcome = EpisodeOutcome(float(pending[lane]), int(np.sign(pending[lane])), 1)
                states[lane] = learner.end_episode(states[lane], outcome)
            assert slow[lane].to_bytes() == quick[lane].to_bytes()
            acted[lane], pending[lane] = False, 0.0
        if step.done.any():
            step = kernel.reset_where(step.done)
    return quick


def prepare_states(slow, quick, rng) -> None:
    """Safe states only: start some players benched, as a spent budget leaves them, and
    give some a large counterfactual gain so they may switch back."""
    if "safe.deficit" not in slow[0].arrays:
        return
    for lane in range(len(slow)):
        deficit = [0.0, 5.0, 0.1][lane % 3]
        counterfactual = 3.0 if lane % 4 == 1 else 0.0
        for states in (slow, quick):
            states[lane].arrays["safe.deficit"][0] = deficit
            states[lane].arrays["safe.counterfactual"][0] = counterfactual


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["rl2", "feed_forward"])
def test_played_games_stay_identical_turn_after_turn(
    torch_learners, never_the_reference, family, kind
):
    game = VARIANTS[family][0]
    reference, fused = twins(torch_learners[family, kind], game)
    play_turns(reference, fused, game, lanes=6, decisions=120, greedy=False)


# ------------------------------------------------------------------- safety wrapper


SAFE_CONFIG = SafetyConfig(budget=0.0, switch_backs=2, stint_budget=0.1, hysteresis=0.5, seed=4)


@pytest.fixture(scope="module")
def poker_learner():
    return tiny_learner("poker", perturb=True)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("lanes", [1, 7])
def test_safe_wrapper_fused_turns_equal_observe_then_act(
    torch_learners, never_the_reference, mode, lanes
):
    greedy, drawn = MODES[mode]
    game = VARIANTS["matrix"][0]
    reference, fused = (
        accelerate(SafeLearner(torch_learners["matrix", "rl2"], SAFE_CONFIG), [game])
        for _ in range(2)
    )
    assert isinstance(fused.base, AcceleratedLearner)
    states = play_turns(
        reference, fused, game, lanes=lanes, decisions=150, greedy=greedy, drawn=drawn
    )
    assert any(s.arrays["safe.fallback_decisions"][0] > 0 for s in states)
    assert any(s.arrays["safe.mode"][0] == FALLBACK for s in states) or lanes == 1


def test_safe_wrapper_in_poker_counts_the_hand_so_far(poker_learner, never_the_reference):
    """A poker hand's rewards accumulate in the counters until it closes (in matrix games
    every act settles the round), so the fused path's counting shows in the states."""
    game = VARIANTS["poker"][0]
    config = SafetyConfig(budget=0.5, seed=3)
    reference, fused = (accelerate(SafeLearner(poker_learner, config), [game]) for _ in range(2))
    states = play_turns(reference, fused, game, lanes=6, decisions=150, greedy=False)
    assert any(s.arrays["safe.fallback_decisions"][0] > 0 for s in states)


@pytest.mark.parametrize("family", ["matrix", "poker"])
def test_safe_wrapper_counts_any_reward_as_observe_does(
    torch_learners, poker_learner, never_the_reference, family
):
    game = VARIANTS[family][0]
    torch_learner = poker_learner if family == "poker" else torch_learners["matrix", "rl2"]
    reference, fused = (
        accelerate(SafeLearner(torch_learner, SAFE_CONFIG), [game]) for _ in range(2)
    )
    spec = parse_spec(game)
    rng = np.random.default_rng(0)
    for n in BATCHES:
        step = make_kernel(spec).reset(n, seed=n)
        seat = int(np.argmax(step.acting[0]))
        obs, masks = step.obs[:, seat], step.action_mask[:, seat]
        states = [reference.initial_state(spec) for _ in range(n)]
        for scale in REWARD_SCALES:
            rewards = (rng.normal(size=n) * scale).astype(np.float32)
            rewarded = rng.random(n) < 0.6
            before = [s.to_bytes() for s in states]
            want = observe_then_act(reference, states, rewards, rewarded, obs, masks)
            have = observe_and_act(fused, states, rewards, rewarded, obs, masks)
            assert_same_turn(want, have, before, states)
            states = want[1]


def test_safe_wrapper_over_a_base_without_observe_act_uses_its_act(torch_learners):
    game = VARIANTS["matrix"][0]
    torch_learner = torch_learners["matrix", "rl2"]
    reference, fused = (SafeLearner(copy.deepcopy(torch_learner), SAFE_CONFIG) for _ in range(2))
    assert not hasattr(fused.base, "observe_act")
    play_turns(reference, fused, game, lanes=5, decisions=60, greedy=True)


# -------------------------------------------------------------------- the reference


def test_states_outside_the_written_layout_go_through_the_reference(torch_learners):
    game = VARIANTS["matrix"][0]
    reference, fused = twins(torch_learners["matrix", "rl2"], game)
    states, rewards, rewarded, obs, masks = random_turn(reference, game, 4, seed=2)
    states[1].arrays["prev_reward"] = states[1].arrays["prev_reward"].astype(np.float64)
    states[2].arrays["extra"] = np.arange(3)
    before = [s.to_bytes() for s in states]
    want = observe_then_act(reference, states, rewards, rewarded, obs, masks)
    have = observe_and_act(fused, states, rewards, rewarded, obs, masks)
    assert_same_turn(want, have, before, states)


def test_learners_without_observe_act_get_the_reference_sequence(torch_learners, monkeypatch):
    learner = torch_learners["matrix", "rl2"]
    calls = []
    monkeypatch.setattr(
        learner_module, "observe_then_act", lambda *a, **k: calls.append(a) or "reference"
    )
    args = ([learner.initial_state(VARIANTS["matrix"][0])], [1.0], [True], None, None)
    assert observe_and_act(learner, *args) == "reference" and len(calls) == 1


# ------------------------------------------------------------------------ bad input


def bad_turns(learner, game: str):
    """(name, states, rewards, rewarded, obs, masks) the reference refuses."""
    states, rewards, rewarded, obs, masks = random_turn(learner, game, 3, seed=4)
    rewarded = np.array([True, False, True])
    rewards = np.array([0.5, np.nan, -1.0], dtype=np.float32)
    foreign = copy.deepcopy(states[1])
    foreign.learner = "maml"
    other = learner.initial_state("matrix(name=rpsls)")
    nan_reward = rewards.copy()
    nan_reward[2] = np.nan
    empty = masks.copy()
    empty[1] = False
    missing = copy.deepcopy(states[2])
    del missing.arrays["safe.mode" if "safe.mode" in missing.arrays else "prev_done"]
    return {
        "no states": ([], rewards[:0], rewarded[:0], obs[:0], masks[:0]),
        "obs shape": (states, rewards, rewarded, obs[:, :-1], masks),
        "nan reward": (states, nan_reward, rewarded, obs, masks),
        "no legal action": (states, rewards, rewarded, obs, empty),
        "another learner, unrewarded": (
            [states[0], foreign, states[2]],
            rewards,
            rewarded,
            obs,
            masks,
        ),
        "another learner, rewarded": (
            [foreign, states[1], states[2]],
            rewards,
            rewarded,
            obs,
            masks,
        ),
        "two variants": ([states[0], states[1], other], rewards, rewarded, obs, masks),
        "missing array": ([states[0], states[1], missing], rewards, rewarded, obs, masks),
        "rewards per player": (states, rewards[:2], rewarded, obs, masks),
    }


@pytest.mark.parametrize("wrapped", [False, True], ids=["accelerated", "safe"])
def test_bad_input_raises_what_the_reference_raises(torch_learners, wrapped):
    game = VARIANTS["matrix"][0]
    torch_learner = torch_learners["matrix", "rl2"]
    build = (
        (lambda: SafeLearner(torch_learner, SAFE_CONFIG)) if wrapped else (lambda: torch_learner)
    )
    reference, fused = (accelerate(build(), [game]) for _ in range(2))
    cases = bad_turns(reference, game)
    for name, (states, rewards, rewarded, obs, masks) in cases.items():
        with pytest.raises(Exception) as want:
            observe_then_act(reference, states, rewards, rewarded, obs, masks)
        with pytest.raises(Exception) as have:
            observe_and_act(fused, states, rewards, rewarded, obs, masks)
        assert type(have.value) is type(want.value), name
        assert str(have.value) == str(want.value), name
    bases = [getattr(learner, "base", learner) for learner in (reference, fused)]
    assert bases[0].act_rng.random() == bases[1].act_rng.random()


# ------------------------------------------------------------------ one player's turn


@pytest.fixture
def only_the_scalar_path(monkeypatch):
    """Fail any lone recurrent turn that the batch checks answer: ``_one_inputs`` must."""

    def refuse(self, states, *args):
        assert len(states) > 1, "a lone player's turn went to the batch checks"
        return original(self, states, *args)

    original = AcceleratedLearner._fused_inputs
    monkeypatch.setattr(AcceleratedLearner, "_fused_inputs", refuse)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", list(MODES))
def test_a_lone_players_turn_takes_the_scalar_checks(
    torch_learners, never_the_reference, only_the_scalar_path, family, mode
):
    greedy, drawn = MODES[mode]
    game = VARIANTS[family][0]
    reference, fused = twins(torch_learners[family, "rl2"], game)
    for seed in range(12):
        states, rewards, rewarded, obs, masks = random_turn(reference, game, 1, seed)
        draws = np.random.default_rng(seed).random(1) if drawn else None
        args = (states, rewards, rewarded, obs, masks)
        before = [s.to_bytes() for s in states]
        want = observe_then_act(reference, *args, greedy=greedy, draws=draws)
        have = observe_and_act(fused, *args, greedy=greedy, draws=draws)
        assert_same_turn(want, have, before, states)


INPUT_CHANGES = {
    "float64 obs": lambda obs, masks, draws: (obs.astype(np.float64), masks, draws),
    "strided obs": lambda obs, masks, draws: (np.repeat(obs, 2, axis=-1)[..., ::2], masks, draws),
    "one-dimensional obs": lambda obs, masks, draws: (obs[0], masks, draws),
    "nan obs": lambda obs, masks, draws: (np.where(obs == obs.flat[0], np.nan, obs), masks, draws),
    "int mask": lambda obs, masks, draws: (obs, masks.astype(np.int8), draws),
    "strided mask": lambda obs, masks, draws: (obs, np.repeat(masks, 2, axis=-1)[..., ::2], draws),
    "no legal action": lambda obs, masks, draws: (obs, np.zeros_like(masks), draws),
    "float32 draw": lambda obs, masks, draws: (obs, masks, draws.astype(np.float32)),
    "draw of one": lambda obs, masks, draws: (obs, masks, np.array([1.0])),
    "nan draw": lambda obs, masks, draws: (obs, masks, np.array([np.nan])),
    "two draws": lambda obs, masks, draws: (obs, masks, np.array([0.5, 0.5])),
}
"""One player's (obs, masks, draws) as the scalar paths must leave them to the batch
checks: converted, strided, of the wrong shape or refused."""


def unusual_lone_turns(learner, game: str):
    """Lone turns whose inputs the batch checks convert (or refuse) and the scalar checks
    therefore leave to them: each must still answer exactly as the reference does."""
    spec = parse_spec(game)
    state_changes = (
        "int32 prev_action",
        "float64 memory",
        "prev_action out of range",
        "infinite reward",
        "another learner",
    )
    turns = {}
    for name in (*INPUT_CHANGES, *state_changes):
        states, rewards, rewarded, obs, masks = random_turn(learner, game, 1, seed=len(turns))
        rewarded = np.array([True])
        rewards = np.array([0.25], dtype=np.float32)
        draws = np.array([0.5])
        state = states[0]
        if name in INPUT_CHANGES:
            obs, masks, draws = INPUT_CHANGES[name](obs, masks, draws)
        elif name == "int32 prev_action":
            state.arrays["prev_action"] = state.arrays["prev_action"].astype(np.int32)
        elif name == "float64 memory":
            state.arrays["memory"] = state.arrays["memory"].astype(np.float64)
        elif name == "prev_action out of range":
            state.arrays["prev_action"] = np.array([spec.num_actions], dtype=np.int64)
        elif name == "infinite reward":
            rewards = np.array([np.inf], dtype=np.float32)
        else:
            state.learner = "maml"
        turns[name] = ([state], rewards, rewarded, obs, masks, draws)
    return turns


@pytest.mark.parametrize("family", FAMILIES)
def test_a_lone_turn_the_scalar_checks_decline_answers_as_the_reference(torch_learners, family):
    game = VARIANTS[family][0]
    reference, fused = twins(torch_learners[family, "rl2"], game)
    for name, (states, *args, draws) in unusual_lone_turns(reference, game).items():
        before = [s.to_bytes() for s in states]
        try:
            want = observe_then_act(reference, states, *args, draws=draws)
        except Exception as exc:
            with pytest.raises(type(exc)) as have:
                observe_and_act(fused, states, *args, draws=draws)
            assert str(have.value) == str(exc), name
            continue
        have = observe_and_act(fused, states, *args, draws=draws)
        assert_same_turn(want, have, before, states)


def test_first_illegal_by_hand():
    masks = np.array([[True, False, True], [False, True, False]])
    assert learner_module.first_illegal(masks, np.array([0, 1])) is None
    assert learner_module.first_illegal(masks, np.array([2, 0])) == 1
    assert learner_module.first_illegal(masks, np.array([1, 1])) == 0
    assert learner_module.first_illegal(masks, np.array([0, 3])) == 1  # past the mask
    assert learner_module.first_illegal(masks, np.array([-1, 1])) == 0  # not a row's end
    assert learner_module.first_illegal(masks[:1], np.array([2])) is None
    for action in (1, 3, -1):
        assert learner_module.first_illegal(masks[:1], np.array([action])) == 0


@pytest.mark.parametrize("wrapped", [False, True], ids=["accelerated", "safe"])
@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("as_given", [np.float64, list], ids=["float64", "list"])
def test_observe_act_called_directly_converts_rewards_as_the_reference(
    torch_learners, wrapped, n, as_given
):
    """A caller of ``observe_act`` itself (not through ``observe_and_act``, which converts
    first) may pass float64 rewards or a list: the reference observes them as float32,
    so 0.1 is counted as 0.10000000149011612, and the fused call must count the same."""
    game = VARIANTS["matrix"][0]
    torch_learner = torch_learners["matrix", "rl2"]
    reference, fused = (
        accelerate(SafeLearner(torch_learner, SAFE_CONFIG) if wrapped else torch_learner, [game])
        for _ in range(2)
    )
    spec = parse_spec(game)
    step = make_kernel(spec).reset(n, seed=n)
    seat = int(np.argmax(step.acting[0]))
    obs, masks = step.obs[:, seat], step.action_mask[:, seat]
    states = [reference.initial_state(spec) for _ in range(n)]
    rewards = np.full(n, 0.1, dtype=np.float64)
    rewarded = np.ones(n, dtype=bool)
    given = rewards if as_given is np.float64 else rewards.tolist()
    before = [s.to_bytes() for s in states]
    want = observe_then_act(reference, states, given, rewarded, obs, masks, greedy=True)
    have = fused.observe_act(states, given, rewarded, obs, masks, greedy=True)
    assert_same_turn(want, have, before, states)
