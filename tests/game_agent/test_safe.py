"""SafeLearner: the loss bound holds against adversaries, most of the gain survives elsewhere.

The base learner is a deliberately naive test double: in matrix games it
best-responds to the opponent's last move (it assumes players repeat
themselves), in poker it follows a fixed rule. The held-out adversaries are
built to farm exactly such patterns.
"""

import json

import numpy as np
import pytest

import games
from game_agent.errors import CheckpointError, ConfigError, IncompatibleGameError, StateError
from game_agent.evaluation.runner import play_trials
from game_agent.learner import Decision
from game_agent.learners.safe import (
    FALLBACK,
    SafeLearner,
    SafetyConfig,
    write_safety_file,
)
from game_agent.learners.safe_guards import MatrixGuard
from game_agent.state import AdaptationState
from games.matrix.opponents import MatrixOpponent
from games.matrix.payoffs import ObsLayout
from games.poker.layout import decode

RPS = games.parse_spec("matrix(name=rps)")
KUHN = games.parse_spec("poker(game=kuhn)")
MATRIX_ADVERSARIES = ("adv_freq_br", "adv_last_br2", "adv_reverse_cycle", "echo2")
POKER_CONFIG = SafetyConfig(budget=0.5)
"""What models/poker/safety.json ships: budget + Delta = 2.44 / 2.56 chips by seat in Kuhn."""


class RuleLearner:
    """A stateless rule behind the Learner protocol (deterministic: one-hot probabilities)."""

    name = "naive"

    def __init__(self, rule):
        self.rule = rule

    def supports(self, spec):
        return True

    def initial_state(self, spec):
        return AdaptationState(self.name, games.parse_spec(spec).name, meta={"seen": 0})

    def act(self, states, obs, masks, *, greedy=False, draws=None):
        actions = self.rule(games.parse_spec(states[0].spec), obs, masks)
        probs = np.eye(masks.shape[1], dtype=np.float32)[actions]
        return Decision(actions, probs, np.zeros(len(actions), np.float32)), [
            s.copy() for s in states
        ]

    def observe(self, states, rewards, dones):
        out = [s.copy() for s in states]
        for s in out:
            s.meta["seen"] += 1
        return out

    def end_episode(self, state, outcome):
        return state.copy()


def repeat_believer(spec, obs, masks):
    """Best response to the opponent's last move; action 0 in the first round."""
    layout = ObsLayout(int(spec.param("history")))
    mine, _ = layout.matrices(obs)
    last = layout.recent_rounds(obs)[:, 0, 1]
    values = np.einsum("bij,bj->bi", mine, np.eye(5)[np.clip(last, 0, None)])
    best = np.where(masks, values, -np.inf).argmax(axis=1)
    return np.where(last >= 0, best, 0).astype(np.int64)


def maniac(spec, obs, masks):
    """Bet or raise whenever allowed, else check/call: the exploiter learns to punish it."""
    return np.where(masks[:, 2], 2, 1).astype(np.int64)


def value_bettor(spec, obs, masks):
    """Bet the top card, fold the bottom card to a bet, otherwise check/call."""
    view = decode(obs)
    top = view.own_rank == 2
    folding = masks[:, 0] & (view.own_rank == 0)
    return np.where(top & masks[:, 2], 2, np.where(folding, 0, 1)).astype(np.int64)


def per_round(learner, spec, opponent, seat, trials=64, episodes=1, seed=3):
    results = play_trials(
        learner,
        spec,
        games.make_opponent(spec, opponent, seed=1),
        seat=seat,
        trials=trials,
        episodes=episodes,
        seed=seed,
    )
    if spec.family == "matrix":
        return float(np.nansum(results.step_rewards) / np.sum(~np.isnan(results.step_rewards)))
    return float(results.returns.mean())


def test_matrix_fallback_is_the_nash_style_in_zero_sum_games_and_maximin_elsewhere():
    for variant in ("matrix(name=rps)", "matrix(name=biased_rps,bias=3.0)"):
        spec = games.parse_spec(variant)
        kernel = games.make_kernel(spec)
        obs = kernel.reset(1, seed=0).obs[:, 0]
        nash = games.make_opponent(spec, "nash", seed=0)
        nash.reset(1)
        view = nash._remember(obs, np.ones((1, 5), bool))
        guard = MatrixGuard(spec, seed=0)
        np.testing.assert_allclose(guard.mixture(obs), nash.mixture(view), atol=1e-9)
        assert guard.value(obs)[0] == pytest.approx(games.equilibrium_value(spec, 0) / 50)
    # biased rps with bias 3 (scaled by 3): v = 0, the worst cell is -1
    assert guard.max_loss(obs)[0] == pytest.approx(1.0)
    stag = games.parse_spec("matrix(name=stag_hunt)")
    obs = games.make_kernel(stag).reset(1, seed=0).obs[:, 0]
    guard = MatrixGuard(stag, seed=0)
    # stag hunt [[4, 0], [3, 3]] / 4: hunting hare guarantees 3/4 whatever the other does
    np.testing.assert_allclose(guard.mixture(obs)[0], [0, 1, 0, 0, 0])
    assert guard.value(obs)[0] == pytest.approx(0.75)


@pytest.mark.parametrize("seat", [0, 1])
def test_matrix_loss_is_bounded_against_every_adversary(seat):
    naive = RuleLearner(repeat_believer)
    safe = SafeLearner(naive, SafetyConfig())
    bound = SafetyConfig().worst_case_deficit(max_loss=1.0) / 50
    assert bound == pytest.approx(0.05)
    naive_levels = {}
    for adversary in MATRIX_ADVERSARIES:
        level = per_round(safe, RPS, adversary, seat)
        assert level >= -0.05, f"{adversary}: {level:.3f} per round"
        naive_levels[adversary] = per_round(naive, RPS, adversary, seat)
    # the naive learner is farmed: it loses nearly every round to two of them
    assert naive_levels["adv_last_br2"] < -0.9
    assert naive_levels["adv_reverse_cycle"] < -0.9


@pytest.mark.parametrize("seat", [0, 1])
def test_matrix_wrapper_keeps_most_of_the_gain_against_exploitable_players(seat):
    naive = RuleLearner(repeat_believer)
    safe = SafeLearner(naive, SafetyConfig())
    for style, share in (("win_shift", 0.9), ("rock_heavy", 0.5)):
        gain = per_round(naive, RPS, style, seat)
        kept = per_round(safe, RPS, style, seat)
        assert gain > 0.1
        assert kept >= share * gain, f"{style}: naive {gain:.3f}, safe {kept:.3f}"


class AdversaryThenRock(MatrixOpponent):
    """Beats the repeat-believer for 10 rounds, then plays rock for the rest of the match."""

    name = "adversary_then_rock"

    def _policy(self, view):
        last_mine = view.my_back(1)
        believer_move = (np.clip(last_mine, 0, None) + 1) % 3  # what beats my last move
        beat_it = (believer_move + 1) % 3
        early = np.where(last_mine >= 0, beat_it, 2)  # round 1: scissors beats its rock
        return np.where(view.t < 10, early, 0)


def test_switches_back_once_when_the_benched_policy_clearly_wins():
    safe = SafeLearner(RuleLearner(repeat_believer), SafetyConfig(hysteresis=2.0))
    kernel = games.make_kernel(RPS)
    opponent = AdversaryThenRock(RPS, seed=0)
    step = kernel.reset(1, seed=0)
    opponent.reset(1)
    [state] = [safe.initial_state(RPS)]
    modes, rewards = [], []
    for _ in range(50):
        if rewards:
            [state] = safe.observe([state], np.array([rewards[-1]]), np.array([False]))
        decision, [state] = safe.act([state], step.obs[:, 0], step.action_mask[:, 0])
        modes.append(int(state.arrays["safe.mode"][0]))
        actions = np.stack([decision.actions, opponent.act(step.obs[:, 1], step.action_mask[:, 1])])
        step = kernel.step(actions.T)
        rewards.append(float(step.rewards[0, 0]))
    assert modes[0] == 0 and FALLBACK in modes[:10]
    assert int(state.arrays["safe.switch_backs"][0]) == 1
    # once rock is shown, the shadow policy (paper) earns 1 a round: back after 2 rounds
    assert modes[-1] == 0 and sum(rewards[20:]) == 30.0
    # the deficit stays within budget + Delta + one stint, as documented
    assert float(state.arrays["safe.deficit"][0]) <= 0.25 + 1 + 0.25 + 1


@pytest.mark.parametrize("seat", [0, 1])
def test_poker_loss_is_bounded_against_the_adaptive_exploiter(seat):
    v = games.equilibrium_value(KUHN, seat)
    naive = per_round(RuleLearner(maniac), KUHN, "adaptive_exploiter", seat, episodes=50)
    safe = per_round(
        SafeLearner(RuleLearner(maniac), POKER_CONFIG),
        KUHN,
        "adaptive_exploiter",
        seat,
        episodes=50,
    )
    assert naive < v - 0.2
    assert safe >= v - 0.05, f"seat {seat}: {safe:.3f} per hand, equilibrium {v:.3f}"


def test_poker_wrapper_keeps_most_of_the_gain_against_a_calling_station():
    for seat in (0, 1):
        v = games.equilibrium_value(KUHN, seat)
        gain = per_round(RuleLearner(value_bettor), KUHN, "calling_station", seat, episodes=50)
        kept = per_round(
            SafeLearner(RuleLearner(value_bettor), POKER_CONFIG),
            KUHN,
            "calling_station",
            seat,
            episodes=50,
        )
        assert gain - v > 0.25
        assert kept - v >= 0.5 * (gain - v), f"seat {seat}: naive {gain:.3f}, safe {kept:.3f}"


def test_leduc_has_no_equilibrium_to_fall_back_on_so_the_base_plays_unchanged():
    leduc = games.parse_spec("poker(game=leduc)")
    naive = per_round(RuleLearner(maniac), leduc, "adaptive_exploiter", 0, trials=16, episodes=20)
    safe = SafeLearner(RuleLearner(maniac))
    wrapped = per_round(safe, leduc, "adaptive_exploiter", 0, trials=16, episodes=20)
    assert wrapped == pytest.approx(naive)


def test_state_round_trips_and_the_base_learns_the_move_really_played(tmp_path):
    tiny_models = pytest.importorskip("tests.clients.tiny_models")
    base = tiny_models.tiny_learner("matrix")
    spec = games.parse_spec(tiny_models.VARIANTS["matrix"][0])
    safe = SafeLearner(base, SafetyConfig(budget=0.0))
    state = safe.initial_state(spec)
    assert AdaptationState.from_bytes(state.to_bytes(), learner=safe.name).arrays.keys() == (
        state.arrays.keys()
    )
    # force the fallback: the budget is 0 and the player is already behind
    state.arrays["safe.deficit"][0] = 1.0
    obs = games.make_kernel(spec).reset(4, seed=0)
    states = [state.copy() for _ in range(4)]
    decision, states = safe.act(states, obs.obs[:, 0], obs.action_mask[:, 0])
    for i, new in enumerate(states):
        assert new.arrays["safe.mode"][0] == FALLBACK
        assert new.arrays["base.prev_action"][0] == decision.actions[i]
        assert new.arrays["base.memory"].shape == (base.policy.memory_size,)
    np.testing.assert_allclose(decision.probs[:, :3], 1 / 3, atol=1e-6)
    [observed] = safe.observe(states[:1], np.array([1.0]), np.array([False]))
    assert observed.arrays["base.prev_reward"][0] == 1.0
    with pytest.raises(StateError, match="belongs to learner 'rl2'"):
        safe.act([base.initial_state(spec)], obs.obs[:1, 0], obs.action_mask[:1, 0])


def test_checkpoint_with_a_safety_file_loads_the_wrapped_learner(tmp_path):
    tiny_models = pytest.importorskip("tests.clients.tiny_models")
    from game_agent.checkpoint import load

    path = tmp_path / "matrix"
    tiny_models.save_tiny_checkpoint(path, "matrix")
    assert load(path).name == "rl2"
    write_safety_file(path, SafetyConfig(budget=0.5, switch_backs=2))
    learner = load(path)
    assert isinstance(learner, SafeLearner) and learner.name == "safe_rl2"
    assert learner.config == SafetyConfig(budget=0.5, switch_backs=2)
    assert learner.layout.family == "matrix"
    assert load(path, safety=False).name == "rl2"
    (path / "safety.json").write_text(json.dumps({"format": "nope"}))
    with pytest.raises(CheckpointError, match=r"safety\.json is not a valid safety file"):
        load(path)


def test_bad_settings_and_families_are_named():
    with pytest.raises(ConfigError, match="budget"):
        SafetyConfig(budget=-1.0)
    with pytest.raises(ConfigError, match="switch_backs"):
        SafetyConfig(switch_backs=-1)
    with pytest.raises(ConfigError, match="unknown safety setting"):
        SafetyConfig.from_dict({"budgett": 1.0})
    with pytest.raises(IncompatibleGameError, match="protects"):
        SafeLearner(RuleLearner(maniac)).initial_state("connect_n")
