"""Tiny real learners for play tests: RL2 with a few hundred weights after one PPO update.

Imported only by tests that play a real policy; it imports torch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from game_agent.checkpoint import TrainingProgress, save_checkpoint
from game_agent.learners.rl2 import RL2Config, RL2Learner
from game_agent.policies.layout import layout_for
from game_agent.tasks import TaskDistribution
from games import parse_spec

VARIANTS = {
    "connect_n": ("connect_n(rows=4,cols=5,k=3,gravity=true)", "random"),
    "matrix": ("matrix(name=rps,rounds=5)", "rock_heavy"),
    "poker": ("poker(game=kuhn)", "random"),
    "pong": ("pong(max_frames=200)", "random"),
}
"""A small variant of each family and the style the tiny learner trains against."""

TINY = RL2Config(
    num_lanes=2,
    episodes_per_trial=2,
    hidden_size=8,
    conv_channels=4,
    conv_layers=1,
    update_epochs=1,
    num_minibatches=1,
)


def tiny_distribution(family: str) -> TaskDistribution:
    variant, style = VARIANTS[family]
    return TaskDistribution(family, variants=[variant], opponents=[style], seed=0)


def tiny_learner(family: str, perturb: bool = False) -> RL2Learner:
    """A one-update RL2 learner; ``perturb`` moves its weights far from their seeded start,
    so a test can tell loaded weights from freshly initialised ones."""
    learner = RL2Learner(layout_for([parse_spec(VARIANTS[family][0])]), TINY, seed=0)
    learner.train_iteration(learner.make_sampler(tiny_distribution(family), seed=0))
    if perturb:
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for param in learner.policy.parameters():
                param.add_(torch.randn(param.shape, generator=generator))
    return learner


def save_tiny_checkpoint(path: Path, family: str) -> RL2Learner:
    """Write a perturbed tiny learner as a checkpoint directory; returns the learner saved."""
    learner = tiny_learner(family, perturb=True)
    save_checkpoint(
        path,
        learner,
        distribution=tiny_distribution(family).describe(),
        progress=TrainingProgress(),
    )
    return learner
