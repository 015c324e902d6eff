"""The non-adaptive baseline: one feed-forward policy trained with PPO on the task mixture.

It has RL2's encoder and heads but no recurrence and never sees its previous
action or reward, so it can only learn the single policy that does best on
average over the training tasks. Whatever RL2 gains over it, on the same tasks
with the same budget, is what adaptation buys. GAE is cut at episode ends, as
for any episodic PPO, and minibatches are independent decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from game_agent.learners.base import PPOConfig, PPOLearner


@dataclass(frozen=True)
class MultitaskConfig(PPOConfig):
    """Multi-task PPO settings: exactly the shared PPO settings (see :class:`PPOConfig`)."""


class MultitaskLearner(PPOLearner):
    """Multi-task PPO; its AdaptationState holds only bookkeeping counters."""

    name = "multitask"
    config_class = MultitaskConfig
    recurrent = False
    cut_at_trials = False


LEARNER = MultitaskLearner
