"""RL2 learns to exploit a biased player within a trial; the multi-task baseline cannot.

Rock-paper-scissors against three biased styles: ``rock_heavy`` and
``paper_heavy`` play their favourite 60% of the time, ``last_heavy`` plays
scissors 75% of the time. Once the style is known the best response earns
+0.4, +0.4 and +0.625 a round (+0.475 on average); against their mixture the
best single action (rock) earns only +0.075, a little more for a policy that
reads the one round of history in its observation. RL2 starts each trial not
knowing which style it faces, so its first rounds earn little; its memory
should lift its late rounds well above the first ones and above the baseline.
"""

import numpy as np
import pytest
import torch

from game_agent.learners.multitask import MultitaskConfig, MultitaskLearner
from game_agent.learners.rl2 import RL2Config, RL2Learner
from game_agent.policies import layout_for
from game_agent.tasks import TaskDistribution
from games import make_kernel, make_opponent

ROUNDS = 20
VARIANT = f"matrix(name=rps,rounds={ROUNDS},history=1)"
STYLES = ["rock_heavy", "paper_heavy", "last_heavy"]
ITERATIONS = 150  # 150 rollouts x 64 lanes x 20 rounds = 192k decisions per learner
SETTINGS = {
    "num_lanes": 64,
    "episodes_per_trial": 1,
    "hidden_size": 32,
    "learning_rate": 1e-3,
    "ent_coef": 0.01,
}


def trained(cls, config_cls):
    dist = TaskDistribution("matrix", variants=[VARIANT], opponents=STYLES, seats=[0], seed=0)
    learner = cls(layout_for(dist.specs), config_cls(**SETTINGS), seed=0)
    sampler = learner.make_sampler(dist, seed=1)
    for _ in range(ITERATIONS):
        learner.train_iteration(sampler)
    return learner, dist.specs[0]


def reward_by_round(learner, spec, trials: int = 300) -> np.ndarray:
    """Mean reward of each round, over fresh players of both styles, played through act/observe."""
    per_style = []
    for i, style in enumerate(STYLES):
        kernel = make_kernel(spec)
        step = kernel.reset(trials, seed=100 + i)
        opponent = make_opponent(spec, style, seed=200 + i)
        opponent.reset(trials)
        states = [learner.initial_state(spec) for _ in range(trials)]
        rewards = []
        while not step.done.all():
            decision, states = learner.act(states, step.obs[:, 0], step.action_mask[:, 0])
            actions = np.zeros((trials, 2), dtype=np.int64)
            actions[:, 0] = decision.actions
            actions[:, 1] = opponent.act(step.obs[:, 1], step.action_mask[:, 1])
            step = kernel.step(actions)
            opponent.observe(step.obs[:, 1])
            states = learner.observe(states, step.rewards[:, 0], step.done)
            rewards.append(step.rewards[:, 0])
        per_style.append(np.stack(rewards))
    return np.concatenate(per_style, axis=1).mean(axis=1)


@pytest.mark.slow
def test_rl2_exploits_biased_players_within_a_trial_and_beats_multitask():
    torch.set_num_threads(1)
    rl2, spec = trained(RL2Learner, RL2Config)
    multitask, _ = trained(MultitaskLearner, MultitaskConfig)
    rl2_rounds = reward_by_round(rl2, spec)
    multitask_rounds = reward_by_round(multitask, spec)
    first, late = rl2_rounds[:2].mean(), rl2_rounds[-5:].mean()
    baseline_late = multitask_rounds[-5:].mean()
    message = f"RL2 by round {np.round(rl2_rounds, 2)}; multitask {np.round(multitask_rounds, 2)}"
    assert late > first + 0.15, message
    assert late > 0.28, message
    assert late > baseline_late + 0.05, message
    assert rl2_rounds.mean() > multitask_rounds.mean(), message
