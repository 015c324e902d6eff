"""The PPO learner both RL2 and the multi-task baseline are built from.

:class:`PPOLearner` owns an :class:`~game_agent.policies.ActorCritic`, its Adam
optimiser and the update loop, and implements the :class:`~game_agent.learner.Learner`
protocol for play. Subclasses choose three things, as stable-baselines3's
algorithms override little more than ``train()``:

- ``recurrent``: whether the network carries memory (RL2) or not (multi-task);
- ``cut_at_trials``: where GAE stops bootstrapping (trial ends for RL2, whose
  "episode" is the whole trial; episode ends for the multi-task baseline);
- ``_sequence_length``: how long the replayed sequences of a minibatch are
  (RL2: whole trials or ``bptt_len`` chunks; multi-task: single decisions).

Play mirrors training exactly: a player's :class:`AdaptationState` holds the
network memory and the previous action, reward and done flag, and ``act``
calls the same forward pass the sampler and the update use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import Tensor

from game_agent.errors import ConfigError, IncompatibleGameError, StateError
from game_agent.learner import Decision, EpisodeOutcome
from game_agent.policies import ActorCritic, MaskedCategorical, ObsLayout, PolicyInput
from game_agent.ppo import compute_gae_sequence, explained_variance, normalize_advantages, ppo_loss
from game_agent.rollout import (
    GroupRollout,
    LocalSampler,
    Rollout,
    Sampler,
    SamplerConfig,
    merge_groups,
)
from game_agent.sampling import checked_draws, inverse_cdf
from game_agent.state import AdaptationState
from game_agent.tasks import TaskDistribution
from games import GameSpec, parse_spec
from games.errors import IllegalActionError


@dataclass(frozen=True)
class PPOConfig:
    """Settings shared by every PPO-trained learner (CleanRL's names where they exist)."""

    num_lanes: int = 32
    """Trials played side by side per rollout."""
    episodes_per_trial: int = 4
    """K: episodes against one opponent before a new task is drawn."""
    trials_per_rollout: int = 1
    """Trials each lane completes per rollout (one rollout per PPO update)."""
    hidden_size: int = 64
    """Width of the MLP layers, the GRU memory and the core state."""
    conv_channels: int = 32
    """Channels of the board encoder's convolutions (board families only)."""
    conv_layers: int = 3
    """3x3 convolutions in the board encoder; the receptive field is 2 * layers + 1."""
    learning_rate: float = 3e-4
    """Adam step size (constant, so a resumed run follows the same schedule)."""
    adam_eps: float = 1e-5
    """Adam epsilon (CleanRL's value)."""
    gamma: float = 0.99
    """Discount per learner decision."""
    gae_lambda: float = 0.95
    """GAE lambda: 0 is one-step TD, 1 is Monte Carlo."""
    clip_coef: float = 0.2
    """PPO ratio clip, also used to clip value updates."""
    clip_value: bool = True
    """Clip the value update around the old estimate, as in CleanRL."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass (over sequences for RL2, over decisions otherwise)."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float = 0.0
    """Stop the update's epochs early once approx-KL exceeds this; 0 disables."""

    def __post_init__(self) -> None:
        positive = (
            "num_lanes",
            "episodes_per_trial",
            "trials_per_rollout",
            "hidden_size",
            "conv_channels",
            "conv_layers",
            "update_epochs",
            "num_minibatches",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    @property
    def sampler(self) -> SamplerConfig:
        return SamplerConfig(self.num_lanes, self.episodes_per_trial, self.trials_per_rollout)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        """Build from a TOML table, naming any key the config does not have."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = {}
        for name, value in data.items():
            kind = type(getattr(cls, name))
            if kind is float and type(value) is int:
                value = float(value)
            if type(value) is not kind:
                raise ConfigError(f"{cls.__name__}.{name} must be a {kind.__name__}, got {value!r}")
            values[name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class IterationStats(NamedTuple):
    """What one collect-and-update iteration did, for logs and progress bars."""

    decisions: int
    """Learner decisions collected (the unit of ``--steps``)."""
    kernel_steps: int
    episodes: int
    mean_return: float
    """Mean learner return per episode."""
    return_by_episode: list[float]
    """Mean return of the k-th episode of a trial: the adaptation curve."""
    losses: dict[str, float]


class _Prepared(NamedTuple):
    """One variant's rollout as tensors, padded to whole sequences, with GAE targets."""

    spec: GameSpec
    seq_len: int
    inputs: PolicyInput
    memory_in: Tensor
    actions: Tensor
    logprobs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor
    weights: Tensor


class PPOLearner:
    """Actor-critic meta-learner trained with PPO; see the module docstring."""

    name: ClassVar[str] = "ppo"
    config_class: ClassVar[type[PPOConfig]] = PPOConfig
    recurrent: ClassVar[bool] = False
    cut_at_trials: ClassVar[bool] = False
    cheap_end_episode: ClassVar[bool] = True
    """``end_episode`` only counts episodes (game_agent.learner.has_cheap_end_episode)."""

    def __init__(self, layout: ObsLayout, config: PPOConfig, *, seed: int = 0):
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.layout = layout
        self.config = config
        self.seed = seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = ActorCritic(
                layout,
                recurrent=self.recurrent,
                hidden_size=config.hidden_size,
                conv_channels=config.conv_channels,
                conv_layers=config.conv_layers,
            )
        self._optimizer: torch.optim.Optimizer | None = None
        self._restore_optimizer: Callable[[torch.optim.Optimizer], None] | None = None
        self.update_generator = torch.Generator().manual_seed(seed + 1)
        """Minibatch shuffles."""
        self.act_generator = torch.Generator().manual_seed(seed + 2)
        """Action sampling at play time (``act``)."""
        self.updates = 0

    # ----------------------------------------------------------------- training

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """Adam over the policy, built on first use (training, saving): a learner that only
        acts never needs one, and torch's first optimiser in a process costs about 1.4 s
        (it imports ``torch._dynamo``), which every server start paid. A checkpoint's saved
        state (:meth:`restore_optimizer_later`) is applied as it is built."""
        if self._optimizer is None:
            optimizer = torch.optim.Adam(
                self.policy.parameters(), lr=self.config.learning_rate, eps=self.config.adam_eps
            )
            if self._restore_optimizer is not None:
                self._restore_optimizer(optimizer)  # raises before anything is kept
                self._restore_optimizer = None
            self._optimizer = optimizer
        return self._optimizer

    def restore_optimizer_later(self, restore: Callable[[torch.optim.Optimizer], None]) -> None:
        """Have ``restore`` (a checkpoint's saved optimiser state) applied when
        :attr:`optimizer` is built, or at once if it already is."""
        if self._optimizer is not None:
            restore(self._optimizer)
        else:
            self._restore_optimizer = restore

    def make_sampler(self, distribution: TaskDistribution, seed: int) -> Sampler:
        """The local sampler this learner trains with (a Ray sampler can be passed instead)."""
        for spec in distribution.specs:
            self.layout.check(spec)
        return LocalSampler(distribution, self.config.sampler, seed=seed)

    def train_iteration(self, sampler: Sampler) -> IterationStats:
        """Collect one rollout of whole trials and run one PPO update on it."""
        self.policy.eval()
        rollout = sampler.collect(self.policy)
        self.policy.train()
        losses = self.update(rollout)
        return self._iteration_stats(rollout, sampler, losses)

    @staticmethod
    def _iteration_stats(
        rollout: Rollout, sampler: Sampler, losses: dict[str, float]
    ) -> IterationStats:
        """What one iteration reports: its rollout's counts and returns, and the update's losses."""
        episodes = rollout.episodes
        return IterationStats(
            decisions=rollout.num_decisions,
            kernel_steps=rollout.kernel_steps,
            episodes=len(episodes.total_reward),
            mean_return=episodes.mean_return(),
            return_by_episode=episodes.mean_return_by_index(sampler.config.episodes_per_trial),
            losses=losses,
        )

    def update(self, rollout: Rollout) -> dict[str, float]:
        """PPO epochs over the rollout; returns mean loss terms and diagnostics."""
        config = self.config
        batches = [self._prepare(group) for group in self._merged(rollout.groups)]
        items = self._sequence_items(batches)
        if len(items) == 0:
            return {}
        stats = self._optimise(items, lambda rows: self._minibatch_loss(batches, rows), config)
        stats["explained_variance"] = explained_variance(
            torch.cat([b.values.flatten() for b in batches]),
            torch.cat([b.returns.flatten() for b in batches]),
            torch.cat([b.weights.flatten() for b in batches]),
        )
        return stats

    def _optimise(
        self, items: Tensor, minibatch_loss: Callable[[Tensor], Any], config: Any
    ) -> dict[str, float]:
        """PPO epochs over shuffled minibatches of ``items`` (stopping early past the target
        KL); the mean of each loss term. ``minibatch_loss(rows)`` returns a PPO loss tuple."""
        totals: dict[str, float] = defaultdict(float)
        steps = 0
        for _ in range(config.update_epochs):
            order = torch.randperm(len(items), generator=self.update_generator)
            for chunk in order.tensor_split(min(config.num_minibatches, len(items))):
                loss = minibatch_loss(items[chunk])
                self.optimizer.zero_grad()
                loss.total.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), config.max_grad_norm)
                self.optimizer.step()
                steps += 1
                for key, value in loss._asdict().items():
                    totals[key] += float(value.detach())
            if config.target_kl > 0 and loss.approx_kl.item() > config.target_kl:
                break
        self.updates += 1
        return {key: value / steps for key, value in totals.items()}

    def _merged(self, groups: list[GroupRollout]) -> list[GroupRollout]:
        """Variants one forward pass can replay together, merged into one wide group each."""
        by_key: dict[tuple[object, ...], list[GroupRollout]] = defaultdict(list)
        for group in groups:
            by_key[self.policy.forward_key(group.spec)].append(group)
        return [merge_groups(same) for same in by_key.values()]

    def _sequence_length(self, steps: int) -> int:
        """Length of the sequences minibatches are made of (1: independent decisions)."""
        return 1

    def _prepare(self, group: GroupRollout) -> _Prepared:
        config = self.config
        rewards = group.rewards + (group.rewards_after if self.cut_at_trials else 0.0)
        ends = group.trial_end if self.cut_at_trials else group.episode_end
        values = torch.from_numpy(group.values)
        gae = compute_gae_sequence(
            torch.from_numpy(np.asarray(rewards, dtype=np.float32)),
            values,
            torch.from_numpy(ends),
            torch.zeros(values.shape[1]),
            config.gamma,
            config.gae_lambda,
        )
        seq_len = self._sequence_length(len(group.valid))
        padded_steps = math.ceil(len(group.valid) / seq_len) * seq_len

        def tensor(array: np.ndarray | Tensor) -> Tensor:
            t = torch.as_tensor(array)
            extra = padded_steps - t.shape[0]
            if extra:
                t = torch.cat([t, torch.zeros((extra, *t.shape[1:]), dtype=t.dtype)])
            return t

        inputs = PolicyInput(
            obs=tensor(group.obs),
            mask=tensor(group.mask),
            prev_action=tensor(group.prev_action),
            prev_reward=tensor(group.prev_reward),
            prev_done=tensor(group.prev_done),
            trial_start=tensor(group.trial_start),
        )
        return _Prepared(
            spec=group.spec,
            seq_len=seq_len,
            inputs=inputs,
            memory_in=tensor(group.memory_in),
            actions=tensor(group.actions),
            logprobs=tensor(group.logprobs),
            values=tensor(values),
            advantages=tensor(gae.advantages),
            returns=tensor(gae.returns),
            weights=tensor(group.valid.astype(np.float32)),
        )

    @staticmethod
    def _sequence_items(batches: list[_Prepared]) -> Tensor:
        """(I, 3) rows of (group, start step, lane) for every sequence holding a decision."""
        items = []
        for g, batch in enumerate(batches):
            steps, lanes = batch.weights.shape
            chunks = batch.weights.reshape(steps // batch.seq_len, batch.seq_len, lanes)
            chunk, lane = torch.nonzero(chunks.sum(dim=1) > 0, as_tuple=True)
            group = torch.full_like(chunk, g)
            items.append(torch.stack([group, chunk * batch.seq_len, lane], dim=1))
        return torch.cat(items) if items else torch.zeros(0, 3, dtype=torch.long)

    def _minibatch_loss(self, batches: list[_Prepared], items: Tensor):
        parts: dict[str, list[Tensor]] = defaultdict(list)
        for g in torch.unique(items[:, 0]).tolist():
            chosen = items[items[:, 0] == g]
            batch = batches[g]
            starts, lanes = chosen[:, 1], chosen[:, 2]
            rows = starts[None, :] + torch.arange(batch.seq_len)[:, None]
            cols = lanes[None, :].expand_as(rows)

            def take(x: Tensor, rows: Tensor = rows, cols: Tensor = cols) -> Tensor:
                return x[rows, cols]

            inputs = PolicyInput(*(take(x) for x in batch.inputs))
            live = take(batch.weights) > 0
            out = self.policy(batch.spec, inputs, batch.memory_in[starts, lanes], live)
            parts["new_logprobs"].append(out.dist.log_prob(take(batch.actions)).flatten())
            parts["entropy"].append(out.dist.entropy().flatten())
            parts["new_values"].append(out.values.flatten())
            for name in ("logprobs", "advantages", "values", "returns", "weights"):
                parts[name].append(take(getattr(batch, name)).flatten())
        cat = {name: torch.cat(tensors) for name, tensors in parts.items()}
        advantages = cat["advantages"]
        if self.config.norm_adv:
            advantages = normalize_advantages(advantages, cat["weights"])
        return ppo_loss(
            cat["new_logprobs"],
            cat["logprobs"],
            advantages,
            cat["new_values"],
            cat["values"],
            cat["returns"],
            cat["entropy"],
            cat["weights"],
            clip_coef=self.config.clip_coef,
            vf_coef=self.config.vf_coef,
            ent_coef=self.config.ent_coef,
            clip_value=self.config.clip_value,
        )

    # ------------------------------------------------------------- RNG for resume

    def rng_state(self) -> dict[str, Any]:
        """JSON-able generator states, so a resumed run continues bit for bit."""
        return {
            "update_generator": self.update_generator.get_state().tolist(),
            "act_generator": self.act_generator.get_state().tolist(),
            "updates": self.updates,
        }

    def load_rng_state(self, state: dict[str, Any]) -> None:
        self.update_generator.set_state(torch.tensor(state["update_generator"], dtype=torch.uint8))
        self.act_generator.set_state(torch.tensor(state["act_generator"], dtype=torch.uint8))
        self.updates = int(state["updates"])

    # ------------------------------------------------------------ Learner protocol

    def supports(self, spec: GameSpec | str) -> bool:
        try:
            spec = _parse(spec)
        except ValueError:
            return False
        return self.layout.supports(spec)

    def initial_state(self, spec: GameSpec | str) -> AdaptationState:
        spec = _parse(spec)
        self.layout.check(spec)
        arrays: dict[str, np.ndarray] = {}
        if self.recurrent:
            arrays = {
                "memory": np.zeros(self.policy.memory_size, dtype=np.float32),
                "prev_action": np.full(1, -1, dtype=np.int64),
                "prev_reward": np.zeros(1, dtype=np.float32),
                "prev_done": np.zeros(1, dtype=np.float32),
            }
        meta = {"episodes": 0, "decisions": 0, "total_reward": 0.0}
        return AdaptationState(self.name, spec.name, arrays, meta)

    def act(
        self,
        states: Sequence[AdaptationState],
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        spec = self._batch_spec(states)
        obs, masks = self._check_inputs(spec, len(states), obs, masks)
        draws = checked_draws(draws, len(states))
        memory, prev_action, prev_reward, prev_done = self._memory_of(states, spec.num_actions)
        inputs = PolicyInput(
            obs=torch.from_numpy(obs)[None],
            mask=torch.from_numpy(masks)[None],
            prev_action=torch.from_numpy(prev_action)[None],
            prev_reward=torch.from_numpy(prev_reward)[None],
            prev_done=torch.from_numpy(prev_done)[None],
            trial_start=torch.zeros(1, len(states), dtype=torch.bool),
        )
        with torch.no_grad():
            out = self.policy(spec, inputs, torch.from_numpy(memory))
        actions = chosen_actions(out.dist, greedy, draws, self.act_generator)
        decision = Decision(
            actions=actions,
            probs=out.dist.probs[0].numpy().astype(np.float32),
            values=out.values[0].numpy().astype(np.float32),
        )
        return decision, self._advance(states, actions, out.memory.numpy())

    def _advance(
        self, states: Sequence[AdaptationState], actions: np.ndarray, memory: np.ndarray | None
    ) -> list[AdaptationState]:
        """The states after one decision; ``memory`` is the network's new recurrent state
        (ignored by feed-forward learners). ``game_agent.inference`` writes states with it."""
        new_states = []
        for b, state in enumerate(states):
            new = state.copy()
            if self.recurrent:
                new.arrays["memory"] = memory[b].copy()
                new.arrays["prev_action"] = np.array([actions[b]], dtype=np.int64)
                new.arrays["prev_reward"] = np.zeros(1, dtype=np.float32)
                new.arrays["prev_done"] = np.zeros(1, dtype=np.float32)
            new.meta["decisions"] = int(new.meta.get("decisions", 0)) + 1
            new_states.append(new)
        return new_states

    def observe(
        self, states: Sequence[AdaptationState], rewards: np.ndarray, dones: np.ndarray
    ) -> list[AdaptationState]:
        rewards = np.asarray(rewards, dtype=np.float32).reshape(-1)
        dones = np.asarray(dones, dtype=bool).reshape(-1)
        if not len(rewards) == len(dones) == len(states):
            raise StateError(
                f"observe got {len(states)} states, {len(rewards)} rewards and {len(dones)} dones"
            )
        if not np.isfinite(rewards).all():
            raise StateError(f"rewards must be finite, got {rewards.tolist()}")
        if states:
            self._batch_spec(states)
        new_states = []
        for state, reward, done in zip(states, rewards, dones, strict=True):
            new = state.copy()
            if self.recurrent:
                new.arrays["prev_reward"] = new.arrays["prev_reward"] + np.float32(reward)
                new.arrays["prev_done"] = np.maximum(new.arrays["prev_done"], np.float32(done))
            new.meta["total_reward"] = float(new.meta.get("total_reward", 0.0)) + float(reward)
            new_states.append(new)
        return new_states

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        """Bookkeeping only: this learner adapts in its memory (or not at all), not here."""
        self._batch_spec([state])
        new = state.copy()
        new.meta["episodes"] = int(new.meta.get("episodes", 0)) + 1
        new.meta["last_result"] = int(outcome.result)
        return new

    # ---------------------------------------------------------------- helpers

    def _batch_spec(self, states: Sequence[AdaptationState]) -> GameSpec:
        if not states:
            raise StateError("act needs at least one player state")
        names = {state.spec for state in states}
        owners = {state.learner for state in states}
        if owners != {self.name}:
            raise StateError(f"states belong to learner(s) {sorted(owners)}, not {self.name!r}")
        if len(names) != 1:
            raise StateError(f"one act call serves one game variant, got {sorted(names)}")
        spec = _parse(names.pop())
        self.layout.check(spec)
        return spec

    def _check_inputs(
        self, spec: GameSpec, n: int, obs: np.ndarray, masks: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        masks = np.ascontiguousarray(masks).astype(bool)
        if obs.shape != (n, *spec.obs_shape):
            raise IncompatibleGameError(
                f"{spec.name}: observations must have shape {(n, *spec.obs_shape)}, got {obs.shape}"
            )
        if masks.shape != (n, spec.num_actions):
            raise IncompatibleGameError(
                f"{spec.name}: action masks must have shape {(n, spec.num_actions)}, "
                f"got {masks.shape}"
            )
        empty = np.flatnonzero(~masks.any(axis=1))
        if len(empty):
            raise IllegalActionError(f"action mask of player {int(empty[0])} has no legal action")
        if not np.isfinite(obs).all():
            raise IncompatibleGameError(f"{spec.name}: observations must be finite")
        return obs, masks

    def _memory_of(self, states: Sequence[AdaptationState], num_actions: int):
        n = len(states)
        if not self.recurrent:
            zeros = np.zeros(n, dtype=np.float32)
            return (
                np.zeros((n, 0), dtype=np.float32),
                np.full(n, -1, dtype=np.int64),
                zeros,
                zeros.copy(),
            )
        try:
            memory = np.stack([s.arrays["memory"] for s in states]).astype(np.float32)
            prev_action = np.concatenate([s.arrays["prev_action"] for s in states])
            prev_reward = np.concatenate([s.arrays["prev_reward"] for s in states])
            prev_done = np.concatenate([s.arrays["prev_done"] for s in states])
        except (KeyError, ValueError) as exc:
            raise StateError(
                f"{self.name} state is missing or has malformed arrays: {exc}"
            ) from None
        if memory.shape != (n, self.policy.memory_size) or prev_action.shape != (n,):
            raise StateError(
                f"{self.name} state memory has shape {memory.shape[1:]}, "
                f"expected ({self.policy.memory_size},)"
            )
        if ((prev_action < -1) | (prev_action >= num_actions)).any():
            raise StateError(f"{self.name} state holds a previous action outside the game")
        return (
            memory,
            prev_action.astype(np.int64),
            prev_reward.astype(np.float32),
            prev_done.astype(np.float32),
        )

    def describe(self) -> dict[str, Any]:
        """JSON-able description for checkpoints."""
        return {
            "learner": self.name,
            "config": self.config.to_dict(),
            "layout": self.layout.to_dict(),
            "seed": self.seed,
            "parameters": sum(p.numel() for p in self.policy.parameters()),
        }


@lru_cache(maxsize=256)
def _parse_cached(name: str) -> GameSpec:
    return parse_spec(name)


def _parse(spec: GameSpec | str) -> GameSpec:
    return spec if isinstance(spec, GameSpec) else _parse_cached(spec)


def chosen_actions(
    dist: MaskedCategorical,
    greedy: bool,
    draws: np.ndarray | None,
    generator: torch.Generator,
) -> np.ndarray:
    """(B,) int64: the actions of a one-step ``dist`` (1, B, A): its most probable ones
    when ``greedy``, else sampled at the given ``draws`` or with ``generator``."""
    if greedy:
        chosen = dist.greedy()[0]
    elif draws is not None:
        return inverse_cdf(dist.probs[0].numpy(), draws)
    else:
        chosen = dist.sample(generator)[0]
    return chosen.numpy().astype(np.int64)
