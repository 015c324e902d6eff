"""A MAML checkpoint served: per-player adapted weights, adapted between episodes off the
request path, reproduce in-process play exactly (greedy), across sessions and restarts."""

from __future__ import annotations

import numpy as np
import pytest

from game_agent import load
from protos.game_agent.v1 import agent_pb2 as pb
from tests.server.conftest import ServerThread, make_config
from tests.server.gameplay import EPISODES, LocalAgent, ServedAgent, play

GAME = "matrix(name=rps,rounds=8)"
STYLE = "rock_heavy"


@pytest.fixture(scope="module")
def maml_models_dir(tmp_path_factory):
    """An untrained MAML checkpoint: its inner loop still adapts, which is what is served."""
    from game_agent.checkpoint import TrainingProgress, save_checkpoint
    from game_agent.learners import get_learner_class
    from game_agent.policies import layout_for
    from game_agent.tasks import TaskDistribution

    cls = get_learner_class("maml")
    config = cls.config_class(num_lanes=4, hidden_size=16, inner_lr=0.5, first_order=True)
    distribution = TaskDistribution("matrix", variants=[GAME], opponents=[STYLE], seed=0)
    learner = cls(layout_for(distribution.specs), config, seed=0)
    models = tmp_path_factory.mktemp("maml") / "models"
    save_checkpoint(
        models / "maml-matrix",
        learner,
        distribution=distribution.describe(),
        progress=TrainingProgress(),
    )
    return models


def test_served_maml_play_matches_in_process_adaptation(maml_models_dir, tmp_path):
    data = tmp_path / "var"
    server = ServerThread(make_config(tmp_path, models_dir=maml_models_dir, data_dir=data), None)
    served = ServedAgent(server.stub(), "student", GAME, 0, greedy=True)
    local = LocalAgent(load(maml_models_dir / "maml-matrix"), GAME, greedy=True)
    assert play(served, GAME, STYLE, 0, seed=4) == play(local, GAME, STYLE, 0, seed=4)
    np.testing.assert_allclose(served.probs, local.probs, atol=1e-5)
    # Adaptation changed the policy between the episodes.
    per_episode = len(served.probs) // EPISODES
    assert not np.allclose(served.probs[0], served.probs[per_episode], atol=1e-4)
    server.stop()

    # A new process, a new session: the player's adapted weights come back.
    again = ServerThread(make_config(tmp_path, models_dir=maml_models_dir, data_dir=data), None)
    second = ServedAgent(again.stub(), "student", GAME, 0, greedy=True)
    assert second.session.returning_player and second.session.episodes_played == EPISODES
    assert play(second, GAME, STYLE, 0, seed=8) == play(local, GAME, STYLE, 0, seed=8)
    np.testing.assert_allclose(second.probs, local.probs[-len(second.probs) :], atol=1e-5)
    profile = again.stub().GetProfile(pb.GetProfileRequest(player_id="student"))
    assert profile.episodes_played == 2 * EPISODES
    again.stop()
