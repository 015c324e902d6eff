"""MAML: meta-learned initial weights that a few policy-gradient steps adapt to one player.

Finn, Abbeel & Levine (2017), "Model-Agnostic Meta-Learning for Fast
Adaptation of Deep Networks", with a PPO outer objective as in ProMP
(Rothfuss et al., 2019). A trial of K episodes against one task is a chain of
phases (:mod:`game_agent.learners.maml_trials`): the first
``episodes_per_adaptation`` episodes are played with the meta-weights, the
inner loop (:mod:`game_agent.learners.maml_inner`, REINFORCE with the value
head as baseline) adapts a copy of them on those episodes, the adapted copy
plays the next ones, and so on for ``max_adaptations`` adaptations.

The outer update is the shared clipped PPO objective on the episodes played
*after* adaptation, scored under weights recomputed from the current
meta-weights through the whole chain, so its gradient reaches the
meta-weights through every inner step (through their Hessian term unless
``first_order``). The value head is fitted on every episode, since it is the
inner loop's baseline before the first adaptation too.

At play time a player's :class:`~game_agent.state.AdaptationState` holds
their adapted-weight deltas and the decisions since the last adaptation
(:mod:`game_agent.learners.maml_state`); ``act`` plays each player with their
own weights in one vmapped forward pass, and ``end_episode`` runs the inner
loop, off the request path, with exactly the code the sampler ran in training.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from game_agent.errors import ConfigError, StateError
from game_agent.learner import Decision, EpisodeOutcome
from game_agent.learners import maml_state
from game_agent.learners.base import IterationStats, PPOConfig, PPOLearner, chosen_actions
from game_agent.learners.maml_inner import InnerLoop, Params, adapt, evaluate
from game_agent.learners.maml_trials import (
    AdaptationSchedule,
    AdaptingPolicy,
    TrialBatch,
    replay,
    split_trials,
)
from game_agent.policies import MaskedCategorical, ObsLayout
from game_agent.ppo import (
    PPOLoss,
    compute_gae_sequence,
    explained_variance,
    normalize_advantages,
    ppo_loss,
)
from game_agent.rollout import GroupRollout, Rollout, Sampler
from game_agent.sampling import checked_draws
from game_agent.state import AdaptationState
from games import GameSpec, parse_spec


@dataclass(frozen=True)
class MAMLConfig(PPOConfig):
    """MAML settings: every PPO setting (see :class:`PPOConfig`) for the outer update, plus
    the inner loop. ``num_minibatches`` splits the rollout's trials (each is replayed whole)."""

    episodes_per_trial: int = 3
    """K: episodes against one player per trial (at least one more than are adapted on)."""
    inner_steps: int = 1
    """Policy-gradient steps per adaptation."""
    inner_lr: float = 0.1
    """Step size of each inner step (plain SGD on the meta-learned weights)."""
    first_order: bool = False
    """Ignore the inner steps' second derivatives in the meta-gradient (FOMAML): cheaper,
    and exact when the inner loss is linear in the weights."""
    episodes_per_adaptation: int = 1
    """Episodes of a player's data per adaptation (adapt after every this many episodes)."""
    max_adaptations: int = 2
    """Adaptations per trial and per served player; later episodes keep the last weights.
    ``episodes_per_adaptation * max_adaptations`` must be below ``episodes_per_trial`` so
    that every adaptation a player can get is one meta-training optimised for."""
    inner_gae_lambda: float = 1.0
    """GAE lambda of the inner-loop advantages; 1.0 is return minus the value baseline."""
    inner_norm_adv: bool = True
    """Normalise each player's inner-loop advantages, so one inner_lr suits every reward scale."""
    train_pre_adaptation: bool = False
    """Also apply the PPO policy loss to episodes played before any adaptation (pure MAML
    optimises only the adapted policy; the first games against a new player count too)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("inner_steps", "episodes_per_adaptation", "max_adaptations"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.inner_lr >= 0:
            raise ConfigError(f"inner_lr must be non-negative, got {self.inner_lr}")
        if not 0.0 <= self.inner_gae_lambda <= 1.0:
            raise ConfigError(f"inner_gae_lambda must lie in [0, 1], got {self.inner_gae_lambda}")
        adapted = self.episodes_per_adaptation * self.max_adaptations
        if adapted >= self.episodes_per_trial:
            raise ConfigError(
                f"episodes_per_adaptation * max_adaptations = {adapted} leaves no episode of a "
                f"{self.episodes_per_trial}-episode trial to play with the last adapted weights; "
                f"raise episodes_per_trial above {adapted} or adapt less"
            )

    @property
    def inner_loop(self) -> InnerLoop:
        return InnerLoop(
            steps=self.inner_steps,
            lr=self.inner_lr,
            first_order=self.first_order,
            gamma=self.gamma,
            gae_lambda=self.inner_gae_lambda,
            normalize_advantages=self.inner_norm_adv,
        )

    @property
    def schedule(self) -> AdaptationSchedule:
        return AdaptationSchedule(self.episodes_per_adaptation, self.max_adaptations)


class _Prepared(NamedTuple):
    """One variant's trials with the outer objective's GAE targets."""

    batch: TrialBatch
    advantages: Tensor
    returns: Tensor


class MAMLLearner(PPOLearner):
    """The MAML meta-learner (see the module docstring)."""

    name = "maml"
    config_class = MAMLConfig
    recurrent = False
    cut_at_trials = False
    cheap_end_episode = False  # inner-loop gradient steps: keep them off the turn path

    def __init__(self, layout: ObsLayout, config: PPOConfig, *, seed: int = 0):
        super().__init__(layout, config, seed=seed)
        assert isinstance(config, MAMLConfig)
        self.maml_config = config

    # ----------------------------------------------------------------- training

    def train_iteration(self, sampler: Sampler) -> IterationStats:
        """Play whole trials, adapting each between episodes, then one meta-update."""
        config = self.maml_config
        params = dict(self.policy.named_parameters())
        player = AdaptingPolicy(self.policy, params, config.inner_loop, config.schedule)
        rollout = sampler.collect(player)
        losses = self.update(rollout)
        adaptations = player.adaptations
        losses["adaptations_per_trial"] = float(np.mean(adaptations)) if adaptations else 0.0
        return self._iteration_stats(rollout, sampler, losses)

    def update(self, rollout: Rollout) -> dict[str, float]:
        """PPO epochs over the rollout's trials, each minibatch replaying its adaptation chains."""
        config = self.maml_config
        prepared = [self._prepare_trials(group) for group in rollout.groups]
        items = torch.tensor(
            [(g, t) for g, p in enumerate(prepared) for t in range(p.batch.num_trials)],
            dtype=torch.long,
        ).reshape(-1, 2)
        if len(items) == 0:
            return {}
        stats = self._optimise(items, lambda rows: self._meta_loss(prepared, rows), config)
        stats["explained_variance"] = explained_variance(
            torch.cat([p.batch.values.flatten() for p in prepared]),
            torch.cat([p.returns.flatten() for p in prepared]),
            torch.cat([p.batch.valid.flatten() for p in prepared]),
        )
        return stats

    def _prepare_trials(self, group: GroupRollout) -> _Prepared:
        batch = split_trials(group, self.maml_config.schedule)
        gae = compute_gae_sequence(
            batch.rewards,
            batch.values,
            batch.ends,
            torch.zeros(batch.num_trials),
            self.config.gamma,
            self.config.gae_lambda,
        )
        return _Prepared(batch, gae.advantages * batch.valid, gae.returns * batch.valid)

    def _meta_loss(self, prepared: list[_Prepared], items: Tensor) -> PPOLoss:
        config = self.maml_config
        params = dict(self.policy.named_parameters())
        parts: dict[str, list[Tensor]] = defaultdict(list)
        for g in torch.unique(items[:, 0]).tolist():
            columns = items[items[:, 0] == g, 1]
            batch = prepared[g].batch.columns(columns)
            log_probs, values = replay(
                self.policy, params, batch, config.inner_loop, create_graph=True
            )
            dist = MaskedCategorical(log_probs, batch.mask)
            adapted = batch.phase > 0 if not config.train_pre_adaptation else batch.valid > 0
            parts["new_logprobs"].append(dist.log_prob(batch.actions).flatten())
            parts["entropy"].append(dist.entropy().flatten())
            parts["new_values"].append(values.flatten())
            parts["logprobs"].append(batch.logprobs.flatten())
            parts["values"].append(batch.values.flatten())
            parts["advantages"].append(prepared[g].advantages[:, columns].flatten())
            parts["returns"].append(prepared[g].returns[:, columns].flatten())
            parts["value_weights"].append(batch.valid.flatten())
            parts["policy_weights"].append((batch.valid * adapted).flatten())
        cat = {name: torch.cat(tensors) for name, tensors in parts.items()}
        advantages = cat["advantages"]
        if config.norm_adv:
            advantages = normalize_advantages(advantages, cat["policy_weights"])

        def loss_with(weights: Tensor) -> PPOLoss:
            return ppo_loss(
                cat["new_logprobs"],
                cat["logprobs"],
                advantages,
                cat["new_values"],
                cat["values"],
                cat["returns"],
                cat["entropy"],
                weights,
                clip_coef=config.clip_coef,
                vf_coef=config.vf_coef,
                ent_coef=config.ent_coef,
                clip_value=config.clip_value,
            )

        policy, value = loss_with(cat["policy_weights"]), loss_with(cat["value_weights"])
        total = policy.policy + config.vf_coef * value.value - config.ent_coef * policy.entropy
        return policy._replace(total=total, value=value.value)

    # ------------------------------------------------------------ Learner protocol

    def initial_state(self, spec: GameSpec | str) -> AdaptationState:
        spec = parse_spec(spec)
        self.layout.check(spec)
        return AdaptationState(
            self.name, spec.name, maml_state.empty_pending(spec), maml_state.fresh_meta()
        )

    def act(
        self,
        states: Sequence[AdaptationState],
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        """Each player's move under their own adapted weights, in one vmapped forward pass."""
        spec = self._batch_spec(states)
        obs, masks = self._check_inputs(spec, len(states), obs, masks)
        draws = checked_draws(draws, len(states))
        base = self._base_params()
        for state in states:
            maml_state.check_state(state, spec, base)
        stacked = maml_state.stack([maml_state.player_params(s, base) for s in states])
        mask = torch.from_numpy(masks)[None]
        with torch.no_grad():
            log_probs, values = evaluate(
                self.policy, spec, stacked, torch.from_numpy(obs)[None], mask
            )
            dist = MaskedCategorical(log_probs, mask)
        actions = chosen_actions(dist, greedy, draws, self.act_generator)
        limit = self.maml_config.max_adaptations
        new_states = [
            maml_state.record_decision(
                state, obs[b], masks[b], int(actions[b]), keep=state.meta["adaptations"] < limit
            )
            for b, state in enumerate(states)
        ]
        decision = Decision(
            actions=actions,
            probs=dist.probs[0].numpy().astype(np.float32),
            values=values[0].numpy().astype(np.float32),
        )
        return decision, new_states

    def observe(
        self, states: Sequence[AdaptationState], rewards: np.ndarray, dones: np.ndarray
    ) -> list[AdaptationState]:
        """Credit each player's reward to their latest recorded decision."""
        rewards = np.asarray(rewards, dtype=np.float32).reshape(-1)
        dones = np.asarray(dones, dtype=bool).reshape(-1)
        if not len(rewards) == len(dones) == len(states):
            raise StateError(
                f"observe got {len(states)} states, {len(rewards)} rewards and {len(dones)} dones"
            )
        if not np.isfinite(rewards).all():
            raise StateError(f"rewards must be finite, got {rewards.tolist()}")
        if not states:
            return []
        spec = self._batch_spec(states)
        base = self._base_params()
        for state in states:
            maml_state.check_state(state, spec, base)
        return [
            maml_state.record_reward(state, float(reward), bool(done))
            for state, reward, done in zip(states, rewards, dones, strict=True)
        ]

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        """Count the episode; once enough are pending, run the inner loop on them."""
        spec = self._batch_spec([state])
        base = self._base_params()
        maml_state.check_state(state, spec, base)
        new = maml_state.close_episode(state)
        new.meta["last_result"] = int(outcome.result)
        config = self.maml_config
        ready = new.meta["pending_episodes"] >= config.episodes_per_adaptation
        if not ready or new.meta["adaptations"] >= config.max_adaptations:
            return new
        params = maml_state.stack([maml_state.player_params(new, base)])
        adapted = adapt(
            self.policy,
            spec,
            params,
            maml_state.pending_batch(new),
            config.inner_loop,
            create_graph=False,
        )
        return maml_state.with_adapted(new, {k: v[0] for k, v in adapted.items()}, base)

    def _base_params(self) -> Params:
        return {name: p.detach() for name, p in self.policy.named_parameters()}


LEARNER = MAMLLearner
