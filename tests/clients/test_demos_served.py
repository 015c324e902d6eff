"""Demos against the served agent over a real server: every frame of pong asks it for a move."""

from __future__ import annotations

import pytest

from clients.demos import make_demo
from clients.demos.ui import run
from clients.opponent import ServedOpponent
from clients.sdk import AgentClient
from tests.clients.demo_checks import check_connect_n_screenshot, first_legal_keys

CONNECT4 = "connect_n(rows=6,cols=7,k=4,gravity=true)"


@pytest.fixture
def client(agent_server):
    with AgentClient(agent_server.address) as connected:
        yield connected


@pytest.mark.parametrize("streaming", [False, True])
def test_pong_queries_the_served_agent_every_frame(client, streaming):
    with ServedOpponent(client, f"pong-{streaming}", "pong", seat=1, streaming=streaming) as agent:
        demo = make_demo("pong", agent, "pong", seed=0)
        result = run(demo, max_frames=120)
        points = len(result.agent_results)
        # One turn per frame and one per point ended: the session numbered them all.
        assert agent.session.next_turn == 1 + result.frames + points
    assert result.fps > 0


def test_connect_n_against_the_served_agent(client, tmp_path):
    with ServedOpponent(client, "served-connect", CONNECT4, seat=1) as agent:
        demo = make_demo("connect_n", agent, CONNECT4, seed=0)
        shot = tmp_path / "served.png"
        result = run(
            demo,
            input_script=first_legal_keys,
            games=1,
            max_frames=200,
            fps=0,
            screenshot_path=shot,
        )
        profile = agent.profile
    assert result.games_finished == 1 and profile.episodes_played == 1
    outcome = result.agent_results[0]
    assert (profile.agent_wins, profile.player_wins) == (int(outcome > 0), int(outcome < 0))
    check_connect_n_screenshot(demo, shot)
