"""Each demo played to the end headless, with scripted keys, against scripted opponents.

Screenshots are read back and checked against the game state: stones of the
right colour in the right cells, the moves of every round, cards face up or
down, both paddles and the ball. Results are recomputed independently.
"""

from __future__ import annotations

import itertools

import numpy as np
import pygame
import pytest

from clients.demos import DEFAULT_VARIANTS, demo_spec, key_press, make_demo, mouse_click
from clients.demos.matrix import ACTION_COLOURS, ROWS_SHOWN
from clients.demos.ui import run
from clients.opponent import PopulationOpponent
from games import SpecError
from games.pong.render import BALL, PADDLE_COLOURS
from tests.clients.demo_checks import (
    check_connect_n_screenshot,
    check_poker_cards,
    first_legal_keys,
    has_colour,
    k_in_a_row,
    keys_in_order,
    pixel,
    pixels,
)

CONNECT4 = "connect_n(rows=6,cols=7,k=4,gravity=true)"
TICTACTOE = "connect_n(rows=3,cols=3,k=3,gravity=false)"


@pytest.mark.parametrize("variant", [CONNECT4, TICTACTOE])
def test_connect_n_played_to_the_end(tmp_path, variant):
    opponent = PopulationOpponent(variant, "centre", seed=1)
    demo = make_demo("connect_n", opponent, variant, seed=2)
    shot = tmp_path / "connect_n.png"
    result = run(
        demo, input_script=first_legal_keys, games=1, max_frames=200, fps=0, screenshot_path=shot
    )
    assert result.games_finished == 1 and demo.game_over
    winners = k_in_a_row(demo.board(), int(demo.spec.param("k")))
    expected = {frozenset(): 0, frozenset({1}): -1, frozenset({2}): 1}[frozenset(winners)]
    assert result.agent_results == (expected,)
    assert result.insight["Your record"].startswith(
        {1: "0W 1L", -1: "1W 0L", 0: "0W 0L 1D"}[expected]
    )
    check_connect_n_screenshot(demo, shot)


def test_connect_n_clicks_choose_the_column_and_illegal_clicks_are_refused(tmp_path):
    opponent = PopulationOpponent(CONNECT4, "first_legal")
    demo = make_demo("connect_n", opponent, CONNECT4)
    column_4 = demo.cell_centre(0, 3)
    # The human drops four stones in column 4; first_legal fills column 1 meanwhile.
    result = run(demo, input_script={i: mouse_click(column_4) for i in range(8)}, fps=0, games=1)
    board = demo.board()
    assert (board[2:, 3] == 1).all() and (board[3:, 0] == 2).all()
    assert result.agent_results == (-1,) and result.status.startswith("You win!")
    assert demo.action_at((10_000, 10)) is None


def test_matrix_match_played_to_the_end(tmp_path):
    variant = "matrix(name=rps,rounds=12)"
    human = [0, 1, 2, 2, 1, 0, 0, 0, 1, 1, 2, 2]
    opponent = PopulationOpponent(variant, "cycle_up", seed=4)
    demo = make_demo("matrix", opponent, variant, seed=0)
    shot = tmp_path / "matrix.png"
    result = run(demo, input_script=keys_in_order(human), games=1, fps=0, screenshot_path=shot)
    assert [r.human for r in demo.history] == human
    agent = [r.agent for r in demo.history]
    assert all((b - a) % 3 == 1 for a, b in itertools.pairwise(agent)), "cycle_up"
    # Rock-paper-scissors by hand: a beats b when (a - b) mod 3 == 1.
    score = sum(
        1 if (h - a) % 3 == 1 else -1 if (a - h) % 3 == 1 else 0
        for h, a in zip(human, agent, strict=True)
    )
    assert demo.scores[0] == pytest.approx(score) and demo.scores[1] == pytest.approx(-score)
    assert result.agent_results == (int(np.sign(-score)),)
    shown = demo.history[-ROWS_SHOWN:]
    for row, played in enumerate(shown):
        y = demo.history_row_y(row) + 3
        assert pixel(shot, (24, y)) == ACTION_COLOURS[played.human]
        assert pixel(shot, (204, y)) == ACTION_COLOURS[played.agent]
    for action in range(3):
        rect = demo.button_rect(action)
        assert pixel(shot, (rect.left + 4, rect.centery)) == ACTION_COLOURS[action]


def test_matrix_ignores_keys_of_masked_actions():
    variant = "matrix(name=rps,rounds=3)"
    demo = make_demo("matrix", PopulationOpponent(variant, "nash", seed=0), variant)
    script = {0: key_press(pygame.K_5), 1: key_press(pygame.K_2)}
    run(demo, input_script=script, max_frames=3, fps=0)
    assert [r.human for r in demo.history] == [1]


@pytest.mark.parametrize("variant", ["poker(game=kuhn)", "poker(game=leduc)"])
def test_poker_hands_played_to_the_end(tmp_path, variant):
    def check_or_call(frame, demo):
        if demo.game_over:
            return key_press(pygame.K_SPACE)
        return key_press(pygame.K_c) if len(demo.legal_actions()) else []

    opponent = PopulationOpponent(variant, "calling_station", seed=5)
    demo = make_demo("poker", opponent, variant, seed=6)
    shot = tmp_path / "poker.png"
    result = run(
        demo, input_script=check_or_call, games=3, max_frames=100, fps=0, screenshot_path=shot
    )
    assert result.games_finished == 3 and len(result.agent_results) == 3
    # Nobody ever bets, so every hand is shown down for the antes alone: the higher card wins.
    state = demo.table()
    human_card, agent_card = (
        int(state.private[0, demo.human_seat]),
        int(state.private[0, demo.agent_seat]),
    )
    public = int(state.public[0])
    paired = {seat: card == public for seat, card in (("h", human_card), ("a", agent_card))}
    if paired["h"] != paired["a"]:
        expected = -1 if paired["h"] else 1
    else:
        expected = int(np.sign(agent_card - human_card))
    assert result.agent_results[-1] == expected
    assert demo.human_total == pytest.approx(-expected * demo.config.ante)
    check_poker_cards(shot, demo, agent_face_up=True)
    assert "Chips" in demo.extra_lines


def test_poker_hides_the_agents_card_during_a_hand(tmp_path):
    opponent = PopulationOpponent("poker(game=kuhn)", "rock", seed=0)
    demo = make_demo("poker", opponent, "poker(game=kuhn)", seed=1)
    shot = tmp_path / "poker-live.png"
    run(demo, max_frames=2, fps=0, screenshot_path=shot)
    assert not demo.game_over and demo.human_turn()
    check_poker_cards(shot, demo, agent_face_up=False)


def test_pong_match_played_to_the_end(tmp_path):
    opponent = PopulationOpponent("pong", "tracker_delay0", seed=0)
    demo = make_demo("pong", opponent, "pong", seed=3, points=2)
    shot = tmp_path / "pong.png"
    hold_up = {0: [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP, mod=0, unicode="")]}
    result = run(demo, input_script=hold_up, games=1, max_frames=5000, fps=0, screenshot_path=shot)
    assert result.games_finished == 1
    points = [r for r in result.agent_results if r != 0]
    assert max(points.count(1), points.count(-1)) == 2
    assert sum(demo.score.values()) == len(points)
    assert result.insight["Your style"].startswith("restless: moves 100%")
    image = pixels(shot)
    width = demo.board_size[0]
    assert has_colour(image[:, :20], PADDLE_COLOURS[0])
    assert has_colour(image[:, width - 20 : width], PADDLE_COLOURS[1])
    assert has_colour(image[:, :width], BALL)


def test_pong_is_capped_at_sixty_frames_a_second_and_measures_its_rate():
    # The achieved rate is a benchmark (benchmarks/demo_fps.py), never a timed test.
    opponent = PopulationOpponent("pong", "tracker_delay2", seed=0)
    demo = make_demo("pong", opponent, "pong", seed=0)
    assert demo.fps == 60
    result = run(demo, max_frames=90)
    assert result.frames == 90
    assert result.fps > 0


def test_demo_variants_must_belong_to_the_family():
    assert demo_spec("matrix").name == demo_spec("matrix", DEFAULT_VARIANTS["matrix"]).name
    with pytest.raises(SpecError, match="not connect_n"):
        demo_spec("connect_n", "pong")
    with pytest.raises(SpecError, match="no demo"):
        demo_spec("chess")
