"""Whole games of every family played through the service against scripted opponents.

Each game is played twice with the same kernel seed and opponent seed: once
with the agent's moves asked of the server over gRPC, once with the same
learner driven in-process. The trajectories must agree move for move, which
checks the observation, mask and reward plumbing of every family end to end
(including that the families' observations stay inside their advertised bounds,
which the server validates).
"""

from __future__ import annotations

import pytest

from games.registry import list_families
from protos.game_agent.v1 import agent_pb2 as pb
from server.models import ModelRegistry
from tests.server.conftest import CountingLearner, counting_model
from tests.server.gameplay import EPISODES, LocalAgent, ServedAgent, play

GAMES = {
    "connect_n": ("connect_n(rows=4,cols=5,k=3)", "greedy"),
    "matrix": ("matrix(name=rpsls,rounds=12)", "copy_last"),
    "poker": ("poker(game=leduc)", "calling_station"),
    "pong": ("pong(width=32,height=16,max_frames=60)", "lazy"),
    "pettingzoo": ("pettingzoo(env=pettingzoo.classic.tictactoe_v3:env)", "random"),
}


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
    local = play(LocalAgent(CountingLearner(list_families()), game), game, style, seat, seed=11)
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
