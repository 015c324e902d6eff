"""`game-agent train --env module:fn` trains on a user's own PettingZoo env."""

import game_agent
from game_agent.cli import main
from games import parse_spec

ENV = "tests.games.tiny_parallel_env:env"


def test_train_on_a_user_env_and_load_the_result(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--env", ENV, "--algo", "multitask", "--steps", "300", "--out", str(out)]
    assert main([*argv, "--no-progress", "--no-tensorboard"]) == 0
    learner = game_agent.load(out / "checkpoints" / "latest")
    assert learner.supports(parse_spec(f"pettingzoo(env={ENV})"))


def test_env_and_another_family_conflict(tmp_path, capsys):
    argv = ["train", "--env", ENV, "--game", "matrix", "--algo", "rl2", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--env trains the 'pettingzoo' adapter family" in capsys.readouterr().err


def test_a_bad_env_path_is_named(tmp_path, capsys):
    argv = ["train", "--env", "no_such_pkg:env", "--algo", "rl2", "--out", str(tmp_path)]
    assert main([*argv, "--no-progress", "--no-tensorboard"]) == 2
    assert "cannot import module 'no_such_pkg'" in capsys.readouterr().err
