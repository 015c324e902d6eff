"""Each demo played to the end against LocalOpponent over a tiny RL2 learner trained for one update.

This is ``game-agent play --local`` without the checkpoint file: a real
recurrent policy chooses the agent's moves (the env rejects any illegal one),
its adaptation state advances across the games, and the side panel reports
what it has seen of the player.
"""

from __future__ import annotations

import pygame
import pytest

from clients.demos import key_press, make_demo
from clients.demos.ui import run
from clients.insight import GameFacts, PlayerInsight
from game_agent.local import LocalOpponent
from games import parse_spec
from games.pong.render import PADDLE_COLOURS
from tests.clients.demo_checks import (
    check_connect_n_screenshot,
    check_poker_cards,
    first_legal_keys,
    has_colour,
    pixels,
)

torch = pytest.importorskip("torch")
tiny_models = pytest.importorskip("tests.clients.tiny_models")
VARIANTS = tiny_models.VARIANTS


def local_opponent(family: str) -> LocalOpponent:
    spec = parse_spec(VARIANTS[family][0])
    tracker = PlayerInsight(GameFacts.from_spec(spec))
    return LocalOpponent(tiny_models.tiny_learner(family), spec, seat=1, tracker=tracker)


def restart_and_first_legal(frame, demo):
    if demo.game_over:
        return key_press(pygame.K_SPACE)
    return first_legal_keys(frame, demo)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_connect_n_against_a_trained_local_learner(tmp_path):
    opponent = local_opponent("connect_n")
    demo = make_demo("connect_n", opponent, VARIANTS["connect_n"][0], seed=0)
    shot = tmp_path / "local-connect_n.png"
    result = run(
        demo,
        input_script=restart_and_first_legal,
        games=2,
        max_frames=200,
        fps=0,
        screenshot_path=shot,
    )
    assert result.games_finished == 2
    assert sum(opponent.results.values()) == 2
    assert result.insight["Agent"] == "rl2, in-process, adapted over 2 episodes"
    assert result.insight["Your style"].startswith("hugs the edges")
    check_connect_n_screenshot(demo, shot)


def test_matrix_against_a_trained_local_learner():
    opponent = local_opponent("matrix")
    demo = make_demo("matrix", opponent, VARIANTS["matrix"][0], seed=0)
    result = run(demo, input_script=restart_and_first_legal, games=2, max_frames=50, fps=0)
    assert result.games_finished == 2 and len(demo.history) == 5
    assert all(r.agent in (0, 1, 2) for r in demo.history), "only rps moves are legal"
    assert result.insight["Your style"] == "repeats the last move (100% of the time)"


def test_poker_against_a_trained_local_learner(tmp_path):
    opponent = local_opponent("poker")
    demo = make_demo("poker", opponent, VARIANTS["poker"][0], seed=0)
    shot = tmp_path / "local-poker.png"

    def call_everything(frame, demo):
        if demo.game_over:
            return key_press(pygame.K_SPACE)
        return key_press(pygame.K_c) if len(demo.legal_actions()) else []

    result = run(
        demo, input_script=call_everything, games=3, max_frames=60, fps=0, screenshot_path=shot
    )
    assert result.games_finished == 3 and sum(opponent.results.values()) == 3
    table = demo.table()
    folded = bool((table.history[0] == 0).any())
    check_poker_cards(shot, demo, agent_face_up=not folded)


def test_pong_against_a_trained_local_learner(tmp_path):
    opponent = local_opponent("pong")
    demo = make_demo("pong", opponent, VARIANTS["pong"][0], seed=0, points=1)
    shot = tmp_path / "local-pong.png"
    result = run(demo, games=1, max_frames=1000, fps=0, screenshot_path=shot)
    assert result.games_finished == 1
    assert result.agent_results[-1] != 0 and sum(opponent.results.values()) >= 1
    assert result.insight["Your style"].startswith("patient: waits 100%")
    image = pixels(shot)
    assert has_colour(image, PADDLE_COLOURS[0]) and has_colour(image, PADDLE_COLOURS[1])
