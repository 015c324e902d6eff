"""benchmarks/train_bench.py: the SB3 wrapper plays the game it claims, and --quick reports
every promised row (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import games
from benchmarks import train_bench


def table_rows(text: str) -> list[list[str]]:
    """Data rows of the markdown table, as lists of stripped cells."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


@pytest.mark.parametrize("family", sorted(train_bench.CASES))
def test_wrapper_passes_gymnasium_checks(family):
    case = train_bench.CASES[family]
    env = train_bench.OpponentSeatEnv(games.parse_spec(case.variant), case.opponent, seed=1)
    check_env(env, skip_render_check=True)


def test_connect_n_step_is_one_learner_move_and_the_opponents_reply():
    case = train_bench.CASES["connect_n"]
    env = train_bench.OpponentSeatEnv(games.parse_spec(case.variant), case.opponent, seed=3)
    rng = np.random.default_rng(0)
    for episode in range(20):
        obs, _ = env.reset(seed=episode)
        # The opponent, on seat 0, has already made its first move when the learner is second.
        stones = int(obs.sum())
        assert stones == (0 if env.me == "player_0" else 1)
        total, done = 0.0, False
        while not done:
            action = int(rng.integers(env.action_space.n))  # illegal ones are remapped
            obs, reward, done, truncated, _ = env.step(action)
            assert not truncated
            total += reward
            added = int(obs.sum()) - stones
            # Two stones per step (ours and the reply) unless the game ended on our move.
            assert added == 2 or (done and added == 1)
            stones += added
        assert total in (-1.0, 0.0, 1.0)


def test_matrix_episode_is_one_match_of_fifty_rounds():
    case = train_bench.CASES["matrix"]
    env = train_bench.OpponentSeatEnv(games.parse_spec(case.variant), case.opponent, seed=0)
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, reward, done, _, _ = env.step(steps % 3)
        assert -1.0 <= reward <= 1.0
        steps += 1
    assert steps == int(games.parse_spec(case.variant).param("rounds"))


def test_quick_run_reports_every_row(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert train_bench.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out
    assert "One env-step = one learner decision on both sides" in text
    assert "cores" in text
    rows = table_rows(text)
    expected = []
    for family in train_bench.CASES:
        expected += [(family, train_bench.SB3)]
        expected += [(family, f"game-agent {algo} (shipped config)") for algo in train_bench.ALGOS]
        expected += [(family, f"game-agent {algo} (shipped config)") for algo in train_bench.ALGOS]
    assert [(row[0], row[2]) for row in rows] == expected
    for row in rows:
        assert int(row[3].replace(",", "")) > 0
        assert row[6].endswith("x")
        if row[2] == train_bench.SB3:
            assert row[6] == "1.0x"
    split_rows = [row for row in rows if row[1].startswith("train split")]
    assert len(split_rows) == 2 * len(train_bench.CASES)


def test_unknown_family_is_refused():
    with pytest.raises(SystemExit, match="unknown families"):
        train_bench.main(["--quick", "--families", "chess"])
