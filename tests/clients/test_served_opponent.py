"""ServedOpponent as the other seat of PettingZoo loops (AEC and parallel), over a real server."""

from __future__ import annotations

import numpy as np
import pytest

import games
from clients.opponent import AdaptiveOpponent, ServedOpponent
from clients.sdk import AgentClient
from tests.clients.stand_in import Predicting
from tests.clients.step_learner import replay

CONNECT4 = "connect_n(rows=6,cols=7,k=4,gravity=true)"
RPS = "matrix(name=rps,rounds=6)"


def first_legal(observation: dict) -> int:
    return int(np.flatnonzero(observation["action_mask"])[0])


@pytest.fixture
def client(agent_server):
    with AgentClient(agent_server.address) as connected:
        yield connected


@pytest.mark.parametrize("streaming", [False, True])
def test_a_full_connect_n_game_in_an_aec_loop(client, streaming):
    env = games.make(CONNECT4)
    env.reset(seed=3)
    script, agent_actions = [], []
    with ServedOpponent(client, f"aec-{streaming}", CONNECT4, seat=1, streaming=streaming) as agent:
        assert isinstance(agent, AdaptiveOpponent) and agent.agent == "player_1"
        for name in env.agent_iter():
            observation, reward, terminated, truncated, _ = env.last()
            if name == agent.agent:
                if terminated or truncated:
                    script.append(("end", reward))
                else:
                    script.append(("act", observation["action_mask"].astype(bool), reward))
                action = agent.act_aec(env)
                if action is not None:
                    agent_actions.append(action)
            else:
                action = None if terminated or truncated else first_legal(observation)
                if action is not None:
                    agent.player_moved(action)
            env.step(action)
        profile = agent.profile
        insight = agent.insight()
    assert agent_actions == replay(CONNECT4, script)
    assert script[-1][0] == "end" and profile.episodes_played == 1
    agent_reward = sum(step[-1] for step in script)
    assert (profile.agent_wins, profile.player_wins) == (
        int(agent_reward > 0),
        int(agent_reward < 0),
    )
    wins = f"{profile.player_wins}W {profile.agent_wins}L {profile.draws}D"
    assert insight["Your record"].startswith(wins)
    assert "Your rating" in insight


def test_a_full_matrix_match_in_a_parallel_loop(client):
    env = games.make(RPS)
    observations, _ = env.reset(seed=0)
    rewards: dict[str, float] = {}
    mask = observations["player_1"]["action_mask"].astype(bool)
    script, actions = [], []
    with ServedOpponent(client, "parallel-player", RPS, seat=1) as agent:
        while env.agents:
            reward = rewards.get(agent.agent, 0.0)
            script.append(("act", mask, reward))
            actions.append(agent.act(observations[agent.agent], reward=reward))
            agent.player_moved(0)
            joint = {"player_0": 0, agent.agent: actions[-1]}
            observations, rewards, _, _, _ = env.step(joint)
        agent.end_episode(rewards[agent.agent])
        script.append(("end", rewards[agent.agent]))
        record = agent.profile.games[0]
        insight = agent.insight()
    assert actions == replay(RPS, script)
    # The player always played rock; the agent's payoff per round is +1 for paper, -1 for scissors.
    total = sum({0: 0.0, 1: 1.0, 2: -1.0}[a] for a in actions)
    assert record.game == games.parse_spec(RPS).name and record.episodes_played == 1
    assert record.agent_wins == int(total > 0) and record.player_wins == int(total < 0)
    assert insight["Your style"] == "repeats the last move (100% of the time)"


def test_the_agents_prediction_of_the_player_reaches_the_panel(stand_in_server):
    address = stand_in_server(Predicting([0.1, 0.7, 0.2, 0.0, 0.0]))
    obs, mask = np.zeros(81, np.float32), np.array([1, 1, 1, 0, 0], bool)
    with AgentClient(address) as client:
        agent = ServedOpponent(client, "predicted", "matrix(name=rps)", seat=1)
        assert agent.act(obs, mask) == 1
        np.testing.assert_allclose(agent.last_turn.player_action_prediction[:3], [0.1, 0.7, 0.2])
        agent.player_moved(1)
        agent.act(obs, mask, reward=1.0)
        agent.player_moved(0)
        lines = agent.insight()
    assert lines["Agent expects"] == "paper (70%)"
    assert lines["Reads you"] == "1/2 right (50%)"
