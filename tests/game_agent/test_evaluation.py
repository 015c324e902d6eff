"""Evaluation numbers checked against exact values: a best-responding agent earns the
best-response value, a uniform agent earns the equilibrium, and the report has every field."""

import json

import numpy as np
import pytest

import games
from game_agent.evaluation.evaluate import (
    EvalConfig,
    FamilyEvaluation,
    build_report,
    evaluate_family,
)
from game_agent.evaluation.report import write_report
from game_agent.evaluation.runner import play_trials
from game_agent.evaluation.stats import gap_closed, mean_interval, rate_interval
from game_agent.learner import Decision, EpisodeOutcome
from game_agent.state import AdaptationState
from games.matrix.best_response import best_response_value
from games.matrix.payoffs import ObsLayout
from games.opponents.base import first_legal, random_legal


class PolicyLearner:
    """A test double: a fixed policy behind the Learner protocol, counting its calls."""

    def __init__(self, name, choose):
        self.name, self.choose = name, choose

    def supports(self, spec):
        return True

    def initial_state(self, spec):
        return AdaptationState(self.name, spec.name, meta={"observed": 0, "episodes": 0})

    def act(self, states, obs, masks, *, greedy=False, draws=None):
        actions = self.choose(obs, masks)
        probs = np.eye(masks.shape[1], dtype=np.float32)[actions]
        return Decision(actions, probs, np.zeros(len(actions), np.float32)), [
            s.copy() for s in states
        ]

    def observe(self, states, rewards, dones):
        out = [s.copy() for s in states]
        for s in out:
            s.meta["observed"] += 1
        return out

    def end_episode(self, state, outcome: EpisodeOutcome):
        state = state.copy()
        state.meta["episodes"] += 1
        return state


def _uniform(seed):
    rng = np.random.default_rng(seed)
    return lambda obs, masks: random_legal(masks, rng)


def test_best_responder_earns_the_exact_best_response_value():
    spec = games.parse_spec("matrix(name=rps,rounds=20)")
    exact = best_response_value(spec, "copy_last", 0)
    learner = PolicyLearner("br", exact.policy.act)
    opponent = games.make_opponent(spec, "copy_last", seed=0)
    results = play_trials(learner, spec, opponent, seat=0, trials=64, episodes=2, seed=0)
    assert results.returns.shape == (64, 2)
    np.testing.assert_allclose(results.returns.mean(), exact.value, atol=0.25)
    assert np.isnan(results.step_rewards[:, :, 20:]).all()
    assert not np.isnan(results.step_rewards[:, :, :20]).any()
    np.testing.assert_allclose(np.nansum(results.step_rewards, axis=-1), results.returns)


def test_uniform_agent_earns_the_equilibrium_value_in_kuhn():
    spec = games.parse_spec("poker")
    learner = PolicyLearner("uniform", _uniform(0))
    opponent = games.make_opponent(spec, "equilibrium", seed=1)
    results = play_trials(learner, spec, opponent, seat=0, trials=400, episodes=5, seed=1)
    interval = mean_interval(results.returns)
    assert interval.low < interval.high
    assert results.returns.mean() < 0.1  # a random player cannot beat the equilibrium


def test_protocol_calls_follow_the_server_order():
    spec = games.parse_spec("connect_n(rows=4,cols=4,k=3,gravity=true)")
    seen = []

    class Recording(PolicyLearner):
        def end_episode(self, state, outcome):
            seen.append(outcome)
            return super().end_episode(state, outcome)

    learner = Recording("rec", _uniform(2))
    opponent = games.make_opponent(spec, "random", seed=3)
    results = play_trials(learner, spec, opponent, seat=1, trials=8, episodes=3, seed=2)
    assert len(seen) == 24
    assert sorted(o.total_reward for o in seen) == sorted(results.returns.ravel().tolist())
    assert all(o.result == np.sign(o.total_reward) for o in seen)


def test_interval_helpers_against_hand_values():
    interval = mean_interval(np.array([1.0, 2.0, 3.0]))
    # mean 2, sd 1, t(2) = 4.303: half width 4.303 / sqrt(3)
    assert interval.mean == 2.0
    assert interval.high - 2.0 == pytest.approx(4.303 / np.sqrt(3))
    rate = rate_interval(np.array([1, 1, 1, 1]))
    # Wilson at p = 1: the interval is [n / (n + z^2), 1]
    assert rate.mean == 1.0 and rate.high == pytest.approx(1.0)
    assert rate.low == pytest.approx(4 / (4 + 1.959964**2))
    assert gap_closed(0.5, 0.0, 1.0) == 0.5
    assert gap_closed(0.5, 1.0, 1.0) is None


def test_report_has_every_field(tmp_path):
    config = EvalConfig(family="matrix", split="heldout", trials=4, episodes=1, max_tasks=3)
    spec_rounds = 50
    br = {}

    def best_responder(task, seed):
        exact = best_response_value(task.spec, task.opponent, task.seat)
        choose = exact.policy.act if exact is not None else _uniform(seed)
        br[task.opponent] = exact
        return PolicyLearner("br", choose)

    agents = FamilyEvaluation(
        learners={"uniform": PolicyLearner("uniform", _uniform(0))},
        nonadaptive=("first_legal", PolicyLearner("first", lambda obs, masks: first_legal(masks))),
        extra_agents={"best_response": best_responder},
        fallback_ceiling="best_response",
    )
    section = evaluate_family(config, agents)
    report = build_report(config, section, {"uniform": "test double"})
    write_report(report, tmp_path)
    loaded = json.loads((tmp_path / "report.json").read_text())
    family = loaded["families"]["matrix"]
    assert family["axis"] == "round"
    assert set(family["agents"]) == {"uniform", "first_legal", "best_response"}
    curve = family["agents"]["uniform"]["curve"]
    assert len(curve) == spec_rounds
    assert {"mean", "ci95_low", "ci95_high", "n"} <= set(curve[0]["return"])
    assert {"mean", "ci95_low", "ci95_high", "n"} <= set(curve[0]["win_rate"])
    assert set(family["gap_closed"]["uniform"]) == {"k=1", "k=3", "k=10"}
    assert family["worst_case"]["uniform"]["equilibrium_value"] is not None
    assert {"per_seat", "adversarial", "shortfall"} <= set(family["worst_case"]["uniform"])
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.startswith("# Evaluation report")
    assert "### Adaptation vs safety trade-off" in markdown
    assert "| uniform | " in markdown.split("### Adaptation vs safety trade-off")[1]
    assert (tmp_path / "matrix_adaptation.png").stat().st_size > 1000


def test_sb3_from_scratch_baseline_plays_legal_moves(tmp_path):
    from game_agent.evaluation.baselines import SB3FromScratch
    from game_agent.tasks import Task

    spec = games.parse_spec("connect_n(rows=4,cols=4,k=3,gravity=true)")
    task = Task(spec, "random", 1)
    agent = SB3FromScratch(episodes=3, workdir=tmp_path)(task, seed=0)
    assert list(tmp_path.glob("sb3_*.zip")), "the trained model is saved in SB3's format"
    opponent = games.make_opponent(spec, "random", seed=0)
    results = play_trials(agent, spec, opponent, seat=1, trials=16, episodes=2, seed=0)
    assert set(np.unique(results.results)) <= {-1, 0, 1}


def test_recovery_on_a_hand_made_curve():
    from game_agent.evaluation.recovery import BEFORE, rounds_to_recover

    # level 1.0 before the switch, -1 for two rounds, then back to 1.0
    curve = np.array([1.0] * BEFORE + [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0] + [1.0] * 6)
    pre, dip, rounds = rounds_to_recover(curve)
    assert pre == 1.0
    # smoothed: offset 0 -> (1 - 1 - 1)/3, 1 -> -1/3, 2 -> 1/3, 3 -> 1; the target is
    # -1/3 + 0.9 * (1 + 1/3) = 0.867, first reached at offset 3
    assert dip == pytest.approx(-1 / 3)
    assert rounds == 3
    never = np.array([1.0] * BEFORE + [-1.0] * 12)
    assert rounds_to_recover(never)[2] is None


def test_switching_recovery_runs_and_aligns_on_the_switch():
    from game_agent.evaluation.recovery import switching_recovery

    learner = PolicyLearner("uniform", _uniform(0))
    report = switching_recovery(learner, "matrix(name=rps)", trials=8, seed=0)
    assert len(report["aligned_reward"]) == len(report["offsets"]) == 22
    assert report["offsets"][0] == -10


def _repeat_believer(obs, masks):
    """Best response to the opponent's last move in a 3-action game (rock in round 1)."""
    layout = ObsLayout(3)
    mine, _ = layout.matrices(obs)
    last = layout.recent_rounds(obs)[:, 0, 1]
    values = np.einsum("bij,bj->bi", mine, np.eye(5)[np.clip(last, 0, None)])
    best = np.where(masks, values, -np.inf).argmax(axis=1)
    return np.where(last >= 0, best, 0).astype(np.int64)


def test_worst_case_reads_the_largest_shortfall_overall_per_seat_and_over_adversaries():
    from game_agent.evaluation.evaluate import play_agent, worst_case
    from game_agent.tasks import Task

    biased = games.parse_spec("matrix(name=biased_rps,bias=3.0,rounds=20)")
    stag = games.parse_spec("matrix(name=stag_hunt,rounds=20)")
    tasks = [
        Task(biased, "adv_last_br2", 0),
        Task(biased, "win_shift", 1),
        Task(stag, "adv_freq_br", 1),
        Task(biased, "echo2", 1),
    ]
    config = EvalConfig(family="matrix", trials=8, episodes=1)
    curves = play_agent("naive", PolicyLearner("naive", _repeat_believer), tasks, config)
    # independently: mean reward per round of each task, minus the per-round equilibrium
    levels = [float(np.nanmean(t.results.step_rewards)) for t in curves.tasks]
    equilibria = [0.0, 0.0, games.matrix.equilibrium_payoff(stag, 1), 0.0]
    shortfalls = np.array(levels) - np.array(equilibria)
    worst = worst_case(curves, "matrix")
    assert worst["opponent"] == "adv_last_br2"  # it beats the believer every round
    assert worst["reward_per_step"] == pytest.approx(levels[0])
    assert worst["shortfall"] == pytest.approx(shortfalls[0])
    assert worst["shortfall"] < -0.3  # a third of a win lost per round, at the least
    seat1 = int(np.argmin(shortfalls[1:])) + 1
    assert worst["per_seat"]["1"]["opponent"] == tasks[seat1].opponent
    assert worst["per_seat"]["1"]["shortfall"] == pytest.approx(shortfalls[seat1])
    assert worst["per_seat"]["1"]["equilibrium_value"] == pytest.approx(equilibria[seat1])
    adversarial = [0, 2, 3]
    expected = adversarial[int(np.argmin(shortfalls[adversarial]))]
    assert worst["adversarial"]["opponent"] == tasks[expected].opponent
    assert worst["adversarial"]["shortfall"] == pytest.approx(shortfalls[expected])


def _outcome(variant, returns, ceiling):
    from game_agent.evaluation.report import TaskOutcome
    from game_agent.evaluation.runner import TrialResults

    returns = np.asarray(returns, dtype=float)
    steps = np.full((*returns.shape, 1), np.nan)
    return TaskOutcome(variant, "x", 0, TrialResults(returns, np.sign(returns), steps), ceiling)


def test_gap_closed_by_variant_against_hand_values():
    from game_agent.errors import ConfigError
    from game_agent.evaluation.evaluate import gap_closed_by_variant
    from game_agent.evaluation.report import AgentCurves

    # variant a: agent 0.5 then 1.0, baseline 0, ceiling 2 -> 0.25, 0.5
    # variant b: agent 1.0 then 1.0, baseline 0.5, ceiling 1.5 -> 0.5, 0.5
    agent = AgentCurves("a", "a", [_outcome("a", [[0.5, 1.0]], 2.0), _outcome("b", [[1, 1]], 1.5)])
    base = AgentCurves("b", "b", [_outcome("a", [[0, 0]], 2.0), _outcome("b", [[0.5, 0.5]], 1.5)])
    table = gap_closed_by_variant(agent, base, np.array([2.0, 1.5]), "episode", (1, 2))
    assert table == {"a": {"k=1": 0.25, "k=2": 0.5}, "b": {"k=1": 0.5, "k=2": 0.5}}
    # a window of 2 averages episodes 1 and 2: variant a (0.75 - 0) / 2
    windowed = gap_closed_by_variant(agent, base, np.array([2.0, 1.5]), "episode", (2,), 2)
    assert windowed["a"] == {"k=2": 0.375}
    with pytest.raises(ConfigError, match="window"):
        EvalConfig(family="poker", window=0)


def test_variant_filter_keeps_the_split_opponents_and_names_strangers():
    from game_agent.errors import ConfigError
    from game_agent.evaluation.evaluate import tasks_of

    config = EvalConfig(family="matrix", variants=("matrix(name=biased_rps,bias=3.0)",))
    tasks = tasks_of(config)
    assert {t.spec.param("name") for t in tasks} == {"biased_rps"}
    assert len(tasks) == 6 * 2  # six held-out styles, two seats
    with pytest.raises(ConfigError, match="not in the heldout split"):
        tasks_of(EvalConfig(family="matrix", variants=("matrix(name=rps)",)))
