"""Whole games of every family played through the service against scripted opponents.

Each game is played twice with the same kernel seed and opponent seed: once
with the agent's moves asked of the server over gRPC, once with the same
learner driven in-process. The trajectories must agree move for move, which
checks the observation, mask and reward plumbing of every family end to end
(including that the families' observations stay inside their advertised bounds,
which the server validates).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from game_agent.learner import EpisodeOutcome
from games.registry import list_families, make_kernel, make_opponent, parse_spec
from protos.game_agent.v1 import agent_pb2 as pb
from server.models import ModelRegistry
from tests.server.conftest import CountingLearner, counting_model

GAMES = {
    "connect_n": ("connect_n(rows=4,cols=5,k=3)", "greedy"),
    "matrix": ("matrix(name=rpsls,rounds=12)", "copy_last"),
    "poker": ("poker(game=leduc)", "calling_station"),
    "pong": ("pong(width=32,height=16,max_frames=60)", "lazy"),
    "pettingzoo": ("pettingzoo(env=pettingzoo.classic.tictactoe_v3:env)", "random"),
}
EPISODES = 2


class Agent:
    """What a game loop needs from the agent: a move per turn, and the end of an episode."""

    act: Callable[[np.ndarray, np.ndarray, float], int]
    end: Callable[[float], None]


class ServedAgent(Agent):
    def __init__(self, stub, player: str, game: str, seat: int):
        self.stub = stub
        self.session = stub.StartSession(
            pb.StartSessionRequest(player_id=player, game=game, agent_seat=seat)
        )
        self.turn = self.session.next_turn

    def act(self, obs: np.ndarray, mask: np.ndarray, reward: float) -> int:
        reply = self.stub.Act(
            pb.ActRequest(
                session_id=self.session.session_id,
                turn=self.turn,
                observation=pb.Tensor(shape=list(obs.shape), values=obs.ravel().tolist()),
                action_mask=mask.tolist(),
                reward=reward,
            )
        )
        assert reply.turn == self.turn and mask[reply.action]
        assert abs(sum(reply.action_probabilities) - 1.0) < 1e-5
        self.turn += 1
        return reply.action

    def end(self, reward: float) -> None:
        request = pb.EndEpisodeRequest(
            session_id=self.session.session_id, turn=self.turn, final_reward=reward
        )
        assert self.stub.EndEpisode(request).turn == self.turn
        self.turn += 1


class LocalAgent(Agent):
    def __init__(self, game: str):
        self.learner = CountingLearner(list_families())
        self.state = self.learner.initial_state(parse_spec(game))
        self.acted = False

    def act(self, obs: np.ndarray, mask: np.ndarray, reward: float) -> int:
        if self.acted:
            [self.state] = self.learner.observe([self.state], np.array([reward]), np.array([False]))
        decision, [self.state] = self.learner.act([self.state], obs[None], mask[None])
        self.acted = True
        return int(decision.actions[0])

    def end(self, reward: float) -> None:
        if self.acted:
            [self.state] = self.learner.observe([self.state], np.array([reward]), np.array([True]))
        self.state = self.learner.end_episode(self.state, EpisodeOutcome(0.0, 0, 0))
        self.acted = False


def play(agent: Agent, game: str, style: str, seat: int, seed: int) -> list[tuple[int, float]]:
    """Play EPISODES games; return the agent's (action, reward-before-it) pairs and finals."""
    spec = parse_spec(game)
    kernel = make_kernel(spec)
    opponent = make_opponent(spec, style, seed=seed)
    trace: list[tuple[int, float]] = []
    for episode in range(EPISODES):
        step = kernel.reset(1, seed=seed + episode)
        opponent.reset(1)
        pending = 0.0
        while not step.done[0]:
            actions = np.zeros((1, spec.num_agents), dtype=np.int64)
            for other in range(spec.num_agents):
                if other != seat and step.acting[0, other]:
                    actions[:, other] = opponent.act(step.obs[:, other], step.action_mask[:, other])
            if step.acting[0, seat]:
                action = agent.act(step.obs[0, seat], step.action_mask[0, seat], pending)
                trace.append((action, pending))
                actions[0, seat] = action
                pending = 0.0
            step = kernel.step(actions)
            pending += float(step.rewards[0, seat])
        agent.end(pending)
        trace.append((-1, pending))
    return trace


@pytest.fixture(scope="module")
def all_families_stub(tmp_path_factory):
    from tests.server.conftest import ServerThread, make_config

    learner = CountingLearner(list_families())
    models = ModelRegistry([counting_model(learner, family) for family in list_families()])
    running = ServerThread(make_config(tmp_path_factory.mktemp("games")), models)
    yield running.stub()
    running.stop()


@pytest.mark.parametrize("family", sorted(GAMES))
@pytest.mark.parametrize("seat", [0, 1])
def test_full_games_through_the_service(all_families_stub, family, seat):
    assert family in list_families()
    game, style = GAMES[family]
    served = ServedAgent(all_families_stub, f"{family}-{seat}", game, seat)
    remote = play(served, game, style, seat, seed=11)
    local = play(LocalAgent(game), game, style, seat, seed=11)
    assert remote == local
    assert sum(1 for action, _ in remote if action >= 0) > EPISODES  # the agent really played
    profile = all_families_stub.GetProfile(pb.GetProfileRequest(player_id=f"{family}-{seat}"))
    assert profile.episodes_played == EPISODES
    finals = [reward for action, reward in remote if action < 0]
    record = profile.games[0]
    assert record.agent_wins + record.player_wins + record.draws == EPISODES
    assert record.episodes_played == EPISODES and finals


def test_every_registered_family_is_covered():
    assert set(list_families()) <= set(GAMES)
