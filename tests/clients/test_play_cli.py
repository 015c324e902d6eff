"""``play``: argument handling and whole games through each opponent source, headless."""

from __future__ import annotations

import argparse

import pytest

from clients import play_cli
from clients.sdk import AgentClient
from game_agent.local import LocalOpponent
from games import parse_spec
from tests.clients.demo_checks import first_legal_keys
from tests.clients.step_learner import StepLearner

HEADLESS = {"input_script": first_legal_keys, "games": 1, "max_frames": 300, "fps": 0}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    play_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults():
    args = parse("connect_n")
    chosen = (args.variant, args.server, args.local, args.style, args.seat)
    assert chosen == (None, None, False, None, 0)
    with pytest.raises(SystemExit):
        parse("connect_n", "--local", "--server", "x:1")
    with pytest.raises(SystemExit):
        parse("chess")


def test_default_player_id_is_a_valid_id():
    player = play_cli.default_player_id()
    assert 1 <= len(player) <= 64 and all(ch.isalnum() or ch in "_.:@-" for ch in player)


def test_option_mistakes_are_reported_clearly(capsys):
    with pytest.raises(play_cli.PlayError, match="--checkpoint only applies with --local"):
        play_cli.run(parse("matrix", "--checkpoint", "x.safetensors"))
    with pytest.raises(play_cli.PlayError, match="game-agent play --local"):
        play_cli.run(parse("matrix", "--local"))
    with pytest.raises(play_cli.PlayError, match=r"--seed must be in 0..2\*\*64-1, got -4"):
        play_cli.run(parse("matrix", "--seed", "-4"))
    assert play_cli.main(["connect_n", "--style", "nope"]) == 2
    assert "has no style 'nope'" in capsys.readouterr().err
    assert play_cli.main(["matrix", "--variant", "pong"]) == 2
    assert "not matrix" in capsys.readouterr().err


def test_play_against_a_scripted_style(capsys):
    args = parse("connect_n", "--style", "first_legal", "--seed", "1")
    assert play_cli.run(args, **HEADLESS) == 0
    assert "Played 1 game(s)." in capsys.readouterr().out


def test_play_against_the_served_agent(agent_server, capsys):
    args = parse("connect_n", "--server", agent_server.address, "--player-id", "cli-player")
    assert play_cli.run(args, **HEADLESS) == 0
    with AgentClient(agent_server.address) as client:
        profile = client.profile("cli-player")
    assert profile.episodes_played == 1
    record = f"{profile.player_wins}W {profile.agent_wins}L {profile.draws}D"
    assert f"Your record: {record}" in capsys.readouterr().out


def test_play_local_uses_the_factory_it_is_given(capsys):
    built = []

    def factory(spec, seat, tracker):
        built.append((spec.name, seat))
        return LocalOpponent(StepLearner(), spec, seat, tracker=tracker)

    args = parse("matrix", "--local", "--variant", "matrix(name=rps,rounds=4)", "--seat", "1")
    assert play_cli.run(args, local_opponent=factory, **HEADLESS) == 0
    assert built == [(parse_spec("matrix(name=rps,rounds=4)").name, 0)]
    assert "Agent: step, in-process, adapted over 1 episodes" in capsys.readouterr().out


@pytest.fixture
def headless_play(monkeypatch):
    """Make ``game-agent play`` run its demo headless, one game, no frame cap."""
    real = play_cli.run_demo

    def run_demo(*args, **kwargs):
        return real(*args, **{**kwargs, **HEADLESS})

    monkeypatch.setattr(play_cli, "run_demo", run_demo)


def test_game_agent_play_local_loads_the_named_checkpoint(headless_play, tmp_path, capsys):
    cli = pytest.importorskip("game_agent.cli")
    tiny_models = pytest.importorskip("tests.clients.tiny_models")
    tiny_models.save_tiny_checkpoint(tmp_path / "matrix-ckpt", "matrix")
    variant = tiny_models.VARIANTS["matrix"][0]
    argv = ["play", "matrix", "--local", "--checkpoint", str(tmp_path / "matrix-ckpt")]
    assert cli.main([*argv, "--variant", variant]) == 0
    assert "Agent: rl2, in-process, adapted over 1 episodes" in capsys.readouterr().out


def test_game_agent_play_against_a_server(headless_play, agent_server, capsys):
    cli = pytest.importorskip("game_agent.cli")
    argv = ["play", "connect_n", "--server", agent_server.address, "--player-id", "via-cli"]
    assert cli.main(argv) == 0
    assert "Played 1 game(s)." in capsys.readouterr().out
    with AgentClient(agent_server.address) as client:
        assert client.profile("via-cli").episodes_played == 1


def test_game_agent_play_reports_mistakes(capsys, tmp_path):
    cli = pytest.importorskip("game_agent.cli")
    assert cli.main(["play", "matrix", "--checkpoint", "x"]) == 2
    assert "--checkpoint only applies with --local" in capsys.readouterr().err
    missing = str(tmp_path / "nothing-here")
    assert cli.main(["play", "pong", "--local", "--checkpoint", missing]) == 2
    assert "does not exist" in capsys.readouterr().err
