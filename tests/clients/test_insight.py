"""The read of a player's style, record and predictability, on hand-worked move lists."""

from __future__ import annotations

import numpy as np
import pytest

from clients.insight import GameFacts, PlayerInsight, Record, style_read
from clients.opponent import AdaptiveOpponent, PopulationOpponent, agent_result

CONNECT4 = GameFacts.from_spec("connect_n(rows=6,cols=7,k=4,gravity=true)")
TICTACTOE = GameFacts.from_spec("connect_n(rows=3,cols=3,k=3,gravity=false)")
RPS = GameFacts.from_spec("matrix(name=rps)")
KUHN = GameFacts.from_spec("poker(game=kuhn)")
PONG = GameFacts.from_spec("pong")


def test_facts_come_from_the_spec():
    assert RPS.action_names == ("rock", "paper", "scissors")
    assert PONG.action_names == ("up", "stay", "down")
    assert CONNECT4.action_name(3) == "column 4"
    assert TICTACTOE.action_name(4) == "move 4"
    unknown = GameFacts.from_variant("somegame(x=1)", 4, ("a", "b", "c", "d"))
    assert unknown.family == "somegame" and unknown.action_name(2) == "c"


def test_too_few_moves_give_no_read():
    assert style_read(RPS, [0, 1, 2]) == "too early to tell (3 moves)"


@pytest.mark.parametrize(
    ("facts", "moves", "expected"),
    [
        # Column 3 is the centre of 7: offsets 0 -> mean 0.
        (CONNECT4, [3] * 6, "plays through the centre (mean offset 0.00)"),
        # Columns 0 and 6 are the edges: offsets 1 -> mean 1.
        (CONNECT4, [0, 6, 0, 6, 0, 6], "hugs the edges (mean offset 1.00)"),
        # Columns 1 and 5: offsets 2/3 each, and 3: 0 -> (4 * 2/3 + 2 * 0) / 6 = 0.44.
        (CONNECT4, [1, 5, 1, 5, 3, 3], "spreads moves across the board (mean offset 0.44)"),
        # Tic-tac-toe corners 0, 2, 6, 8 are Chebyshev distance 1 from the centre 4.
        (TICTACTOE, [0, 2, 6, 8, 0, 2], "hugs the edges (mean offset 1.00)"),
        (RPS, [0, 1, 2, 0, 1, 2, 0], "cycles through the moves (100% of the time)"),
        # 5 of 6 transitions repeat the previous move.
        (RPS, [1, 1, 1, 1, 1, 1, 0], "repeats the last move (83% of the time)"),
        # Rock 5 of 8 = 62% > 1/3 + 0.15; repeats 2/7 and cycles 3/7 stay under one half.
        (RPS, [0, 0, 1, 0, 2, 0, 0, 1], "leans on rock (62%)"),
        (RPS, [0, 2, 1, 1, 0, 2, 2, 1, 0], "mixes moves evenly: hard to read"),
        (KUHN, [2, 2, 1, 2, 0, 2], "aggressive: bets or raises 67% of the time"),
        (KUHN, [0, 0, 1, 1, 1, 0], "cautious: folds 50% of the time"),
        (KUHN, [1, 1, 1, 2, 1, 0, 1, 1], "calm: mostly checks and calls (75%)"),
        (PONG, [0, 2, 0, 2, 1, 0, 2, 0], "restless: moves 88% of frames"),
        (PONG, [1] * 9 + [0], "patient: waits 90% of frames"),
    ],
)
def test_style_reads(facts, moves, expected):
    assert style_read(facts, moves) == expected


def test_prediction_accuracy_scores_each_prediction_once():
    insight = PlayerInsight(RPS)
    insight.record_prediction(np.array([0.1, 0.8, 0.1, 0, 0]))
    insight.record_move(1)
    insight.record_move(1)  # no prediction pending: not scored
    insight.record_prediction(np.array([0.6, 0.2, 0.2, 0, 0]))
    insight.record_move(2)
    lines = insight.lines()
    assert lines["Agent expects"] == "rock (60%)"
    assert lines["Reads you"] == "1/2 right (50%)"


def test_record_counts_results_from_the_agents_side():
    insight = PlayerInsight(RPS)
    for result in (-1, -1, 1):
        insight.record_result(result)
    assert insight.lines()["Your record"] == "2W 1L 0D (you win 67%)"
    insight.set_record(Record(player_wins=0, agent_wins=3, draws=1), rating=1432.4)
    lines = insight.lines()
    assert lines["Your record"] == "0W 3L 1D (you win 0%)" and lines["Your rating"] == "1432"
    assert Record().describe() == "no games yet"


def test_agent_result_prefers_the_stated_result():
    assert agent_result(5.0, -1) == -1
    assert agent_result(-0.5, None) == -1
    assert agent_result(0.0, None) == 0


def test_population_opponent_plays_its_style_and_reads_the_player():
    opponent = PopulationOpponent("connect_n(rows=6,cols=7,k=4,gravity=true)", "first_legal")
    assert isinstance(opponent, AdaptiveOpponent)
    mask = np.array([0, 0, 1, 1, 0, 1, 1], dtype=bool)
    obs = np.zeros((2, 6, 7), np.float32)
    assert opponent.act(obs, mask) == 2
    assert opponent.act({"observation": obs, "action_mask": mask.astype(np.int8)}) == 2
    for move in [3] * 6:
        opponent.player_moved(move)
    opponent.end_episode(-1.0)
    lines = opponent.insight()
    assert lines["Your record"] == "1W 0L 0D (you win 100%)"
    assert lines["Your style"].startswith("plays through the centre")
