"""``AgentClient.session(seed=...)``: a seeded session's sampled moves can be replayed.

A real (tiny, perturbed) RL2 learner is served through onnxruntime, as the
server serves checkpoints; the player's moves and the game come from the
matrix kernel, so each turn's observation depends on the moves before it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from clients.sdk import AgentClient
from game_agent.inference import accelerate
from games import make_kernel, parse_spec
from server.models import ModelRegistry
from tests.clients.conftest import served_model
from tests.clients.tiny_models import VARIANTS, tiny_learner

GAME = VARIANTS["matrix"][0]


@pytest.fixture(scope="module")
def rl2_registry() -> ModelRegistry:
    spec = parse_spec(GAME)
    learner = accelerate(tiny_learner("matrix", perturb=True), [GAME])
    model = served_model("matrix", learner)
    return ModelRegistry(
        [dataclasses.replace(model, variants=(spec,), splits={spec.name: "train"})]
    )


def match(client: AgentClient, player: str, seed: int, streaming: bool = False) -> list:
    """Two 5-round matches against a player cycling rock, paper, scissors; the
    agent's (action, probabilities) per turn."""
    spec = parse_spec(GAME)
    kernel = make_kernel(spec)
    played = []
    with client.session(player, GAME, seat=0, seed=seed, streaming=streaming) as session:
        assert session.info.seed == seed or (seed == 0 and session.info.seed > 0)
        for episode in range(2):
            step, reward, turn = kernel.reset(1, seed=episode), 0.0, 0
            while not step.done[0]:
                result = session.act(step.obs[0, 0], step.action_mask[0, 0], reward=reward)
                played.append((result.action, tuple(np.round(result.probabilities, 6))))
                step = kernel.step(np.array([[result.action, turn % 3]]))
                reward, turn = float(step.rewards[0, 0]), turn + 1
            session.end_episode(final_reward=reward)
    return played


def test_one_seed_replays_the_same_sampled_match(server_factory, rl2_registry):
    running = server_factory(rl2_registry)
    with AgentClient(running.address) as client:
        first = match(client, "alice", seed=2024)
        match(client, "carol", seed=0)  # an unseeded session draws in between
        again = match(client, "bob", seed=2024, streaming=True)
        other = match(client, "dave", seed=2025)
    assert again == first
    assert [a for a, _ in other] != [a for a, _ in first]
    assert len({a for a, _ in first}) > 1  # sampled, not one fixed move
