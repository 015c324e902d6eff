"""The game-agent command: train, resume, Ctrl-C, configs, and lazy subcommand imports."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from game_agent.cli import main
from game_agent.config import TrainConfig, load_train_config
from game_agent.errors import ConfigError
from game_agent.train import TrainOptions, build_run, train

REPO = Path(__file__).resolve().parents[2]

TINY = """
game = "matrix"
algo = "{algo}"
variants = ["matrix(name=rps,rounds=5)"]
opponents = ["rock_heavy", "paper_heavy"]
seed = 3
steps = 40

[learner]
num_lanes = 4
episodes_per_trial = 2
hidden_size = 8
num_minibatches = 2
"""


def write_config(tmp_path: Path, algo: str = "rl2", text: str = TINY) -> Path:
    path = tmp_path / f"{algo}.toml"
    path.write_text(text.format(algo=algo))
    return path


def test_train_then_resume_from_the_command_line(tmp_path, capsys):
    config = write_config(tmp_path)
    out = tmp_path / "run"
    args = ["train", "--game", "matrix", "--algo", "rl2", "--config", str(config)]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    latest = out / "checkpoints" / "latest"
    assert (latest / "model.safetensors").is_file()
    assert list((out / "tensorboard").iterdir())
    assert "done: 40 decisions" in capsys.readouterr().out
    assert main([*args, "--out", str(out), "--resume", str(out), "--steps", "80"]) == 0
    assert "done: 80 decisions in 2 iterations" in capsys.readouterr().out


def test_config_alone_names_game_and_algo(tmp_path, capsys):
    config = write_config(tmp_path, "multitask")
    out = tmp_path / "mt"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert (out / "checkpoints" / "latest" / "meta.json").is_file()


def test_bad_config_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    config = write_config(tmp_path, text=TINY.replace("hidden_size", "hiden_size"))
    code = main(["train", "--config", str(config), "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2
    assert "unknown RL2Config setting(s) hiden_size" in capsys.readouterr().err
    assert main(["train", "--game", "matrix", "--algo", "rl2", "--config", "nope.toml"]) == 2
    assert "nope.toml does not exist" in capsys.readouterr().err
    code = main(["train", "--game", "connect_n", "--config", str(write_config(tmp_path))])
    assert code == 2
    assert "game = 'matrix'" in capsys.readouterr().err


def test_first_ctrl_c_finishes_the_iteration_saves_and_stops(tmp_path):
    run = build_run(TrainConfig(**_tiny_settings(), steps=10_000))
    seen = []

    def press_ctrl_c(stats, progress):
        seen.append(progress.iterations)
        if progress.iterations == 2:
            signal.raise_signal(signal.SIGINT)

    options = TrainOptions(steps=10_000, out_dir=tmp_path, tensorboard=False, progress_bar=False)
    result = train(run, options, on_iteration=press_ctrl_c)
    assert result.interrupted
    assert seen == [1, 2]
    assert result.checkpoint is not None and (result.checkpoint / "meta.json").is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _tiny_settings() -> dict:
    return {
        "game": "matrix",
        "algo": "multitask",
        "variants": ("matrix(name=rps,rounds=5)",),
        "opponents": ("rock_heavy",),
        "learner": {"num_lanes": 2, "episodes_per_trial": 1, "hidden_size": 8},
    }


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_build_a_run(path):
    config = load_train_config(path)
    family, algo = path.stem.rsplit("_", 1)
    assert (config.game, config.algo) == (family, algo)
    run = build_run(config)
    assert run.learner.name == algo
    assert run.distribution.family == family


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('game = "matrix"\nsteps = "many"\n')
    with pytest.raises(ConfigError, match="steps must be a int"):
        load_train_config(bad)
    bad.write_text('game = "matrix"\nvariant = ["matrix"]\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_train_config(bad)


def test_subcommands_are_imported_only_when_chosen():
    code = (
        "import sys; from game_agent.cli import build_parser;"
        "build_parser(['train']);"
        "print(sorted(m for m in ('torch', 'grpc', 'server', 'clients', 'pygame') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
