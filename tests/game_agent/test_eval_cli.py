"""``game-agent eval`` end to end on tiny checkpoints: every number the report promises is there."""

import json

import numpy as np
import pytest

from game_agent.checkpoint import TrainingProgress, save_checkpoint
from game_agent.cli import main
from game_agent.learners.multitask import MultitaskConfig, MultitaskLearner
from game_agent.learners.safe import SafetyConfig, write_safety_file
from game_agent.policies.layout import layout_for
from games import best_response_value, parse_spec

tiny_models = pytest.importorskip("tests.clients.tiny_models")


def _multitask_checkpoint(path):
    spec = parse_spec(tiny_models.VARIANTS["matrix"][0])
    config = MultitaskConfig(num_lanes=2, episodes_per_trial=1, hidden_size=8)
    learner = MultitaskLearner(layout_for([spec]), config, seed=0)
    distribution = tiny_models.tiny_distribution("matrix").describe()
    return save_checkpoint(path, learner, distribution=distribution, progress=TrainingProgress())


def _interval(entry):
    assert entry["ci95_low"] <= entry["mean"] <= entry["ci95_high"]
    return entry["mean"]


def test_eval_writes_every_number_of_the_report(tmp_path, capsys):
    rl2 = tmp_path / "rl2"
    tiny_models.save_tiny_checkpoint(rl2, "matrix")
    write_safety_file(rl2, SafetyConfig())
    multitask = _multitask_checkpoint(tmp_path / "multitask")
    out = tmp_path / "report"
    code = main(
        [
            "--log-level",
            "WARNING",
            "eval",
            "--checkpoint",
            str(rl2),
            "--compare-unwrapped",
            "--baselines",
            f"multitask={multitask}",
            "sb3",
            "--trials",
            "3",
            "--max-tasks",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    section = report["families"]["matrix"]
    assert section["axis"] == "round" and len(section["tasks"]) == 2
    agents = section["agents"]
    assert set(agents) == {
        "safe_rl2",
        "rl2",
        "multitask",
        "sb3_scratch_1ep",
        "sb3_scratch_100ep",
    }
    for name, agent in agents.items():
        curve = agent["curve"]
        assert len(curve) == 50, name  # one row per round of the 50-round match
        assert curve[0]["return"]["n"] == 2 * 3  # two tasks x three trials
        assert -1.0 <= _interval(curve[0]["return"]) <= 1.0
        assert 0.0 <= _interval(curve[0]["win_rate"]) <= 1.0
    # the ceiling is the exact best response to second_order, per round
    spec = parse_spec("matrix(name=stag_hunt)")
    exact = [best_response_value(spec, "second_order", seat) / 50 for seat in (0, 1)]
    np.testing.assert_allclose(section["ceiling_per_task"], exact)
    assert set(section["gap_closed"]) == {"safe_rl2", "rl2"}
    assert set(section["gap_closed"]["rl2"]) == {"k=1", "k=5", "k=10", "k=20", "k=50"}
    assert set(section["recovery"]) == {"safe_rl2", "rl2", "multitask"}
    assert {"rounds_to_recover", "aligned_reward"} <= set(section["recovery"]["rl2"])
    worst = section["worst_case"]["safe_rl2"]
    assert {"opponent", "equilibrium_value", "shortfall", "per_seat"} <= set(worst)
    # K is one match on the round axis, whatever --episodes says: SB3 gets 1 and 100 matches
    assert report["agents"]["sb3_scratch_100ep"] == "stable-baselines3 PPO, 100 episodes"
    assert (out / "matrix_adaptation.png").stat().st_size > 1000
    markdown = (out / "report.md").read_text()
    assert "gap closed k=20" in markdown and "Worst case" in markdown


def test_eval_rejects_an_unknown_baseline(tmp_path, capsys):
    rl2 = tmp_path / "rl2"
    tiny_models.save_tiny_checkpoint(rl2, "matrix")
    code = main(["eval", "--checkpoint", str(rl2), "--baselines", "oracle", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown baseline 'oracle'" in capsys.readouterr().err
