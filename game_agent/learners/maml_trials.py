"""MAML trials: play them through the shared sampler, then replay them differentiably.

A MAML trial against one task is a chain of phases: the first
``episodes_per_adaptation`` episodes are played with the meta-learned weights
``theta_0``; the inner loop adapts them on those episodes to ``theta_1``, which
plays the next episodes, and so on for ``max_adaptations`` adaptations; the
rest of the trial is played with the last weights.

Playing: :class:`AdaptingPolicy` is a policy for the shared
:class:`~game_agent.rollout.LocalSampler`. Each lane's trial gets a *slot*
holding its current weights and the decisions since its last adaptation; the
slot's id travels in the sampler's per-lane policy memory (the same channel
that carries RL2's hidden state), so the sampler needs no MAML-specific code.
A decision's action, reward and episode end reach the policy at the lane's next
decision (as ``prev_action``, ``prev_reward``, ``prev_done``); adaptation runs
at the first decision after its episodes ended.

Replaying: :func:`split_trials` cuts the sampler's lanes into one column per
trial and labels each decision with its phase, and :func:`replay` recomputes
the chain ``theta_0 -> theta_1 -> ...`` from the stored decisions (second order
when asked) to score every decision under the weights that played it. The
reward each inner step sees is the lane's next ``prev_reward``, exactly what
the policy saw while playing, so replaying the unchanged ``theta_0`` reproduces
the sampled log-probabilities.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from game_agent.learners.maml_inner import EpisodeBatch, InnerLoop, Params, adapt, evaluate
from game_agent.policies import MaskedCategorical, PolicyInput, PolicyOutput
from game_agent.rollout import GroupRollout
from games.spec import GameSpec


@dataclass(frozen=True)
class AdaptationSchedule:
    """When, within a trial, the inner loop runs."""

    episodes_per_adaptation: int
    """Episodes of data per adaptation (the m in "adapt after every m episodes")."""
    max_adaptations: int
    """Adaptations per trial; later episodes keep the last adapted weights."""

    def phase(self, episode_index: np.ndarray) -> np.ndarray:
        """How many adaptations precede the given episodes (0-based episode index)."""
        return np.minimum(episode_index // self.episodes_per_adaptation, self.max_adaptations)


@dataclass
class _Slot:
    """One trial being played: its weights (None = theta_0) and unadapted decisions."""

    params: Params | None = None
    adaptations: int = 0
    episodes_pending: int = 0
    awaiting: bool = False
    """The last decision still waits for its action/reward (they come with the next call)."""
    obs: list[np.ndarray] = field(default_factory=list)
    mask: list[np.ndarray] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    ends: list[bool] = field(default_factory=list)


class AdaptingPolicy:
    """A sampler policy that adapts each lane's weights between episodes; see the module doc."""

    memory_size = 1

    def __init__(
        self,
        model: nn.Module,
        params: Params,
        loop: InnerLoop,
        schedule: AdaptationSchedule,
    ):
        self.model = model
        self.params = {name: p.detach() for name, p in params.items()}
        self.loop = loop
        self.schedule = schedule
        self.slots: list[_Slot] = []

    def __call__(self, spec: GameSpec, inputs: PolicyInput, memory: Tensor) -> PolicyOutput:
        if inputs.obs.shape[0] != 1:
            raise ValueError(f"AdaptingPolicy acts one step at a time, got {inputs.obs.shape[0]}")
        slots = [self._slot_of(inputs, memory, i) for i in range(inputs.obs.shape[1])]
        ready = [s for s in dict.fromkeys(slots) if self._ready(self.slots[s])]
        if ready:
            self._adapt(spec, [self.slots[s] for s in ready])
        stacked = {
            name: torch.stack([self._param(self.slots[s], name) for s in slots])
            for name in self.params
        }
        log_probs, values = evaluate(self.model, spec, stacked, inputs.obs, inputs.mask)
        for i, s in enumerate(slots):
            self._record(self.slots[s], inputs.obs[0, i].numpy(), inputs.mask[0, i].numpy())
        ids = torch.tensor(slots, dtype=torch.float32).reshape(-1, 1) + 1.0
        return PolicyOutput(MaskedCategorical(log_probs, inputs.mask), values, ids)

    @property
    def adaptations(self) -> list[int]:
        """Adaptations each trial played so far received (one entry per trial, in start order)."""
        return [slot.adaptations for slot in self.slots]

    def _slot_of(self, inputs: PolicyInput, memory: Tensor, i: int) -> int:
        if bool(inputs.trial_start[0, i]):
            self.slots.append(_Slot())
            return len(self.slots) - 1
        index = int(memory[i, 0]) - 1
        if not 0 <= index < len(self.slots):
            raise ValueError(f"lane {i} carries no trial slot (memory {float(memory[i, 0])})")
        slot = self.slots[index]
        if slot.awaiting:
            slot.actions.append(int(inputs.prev_action[0, i]))
            slot.rewards.append(float(inputs.prev_reward[0, i]))
            slot.ends.append(bool(inputs.prev_done[0, i]))
            slot.awaiting = False
        if bool(inputs.prev_done[0, i]):
            slot.episodes_pending += 1
        return index

    def _ready(self, slot: _Slot) -> bool:
        return (
            slot.adaptations < self.schedule.max_adaptations
            and slot.episodes_pending >= self.schedule.episodes_per_adaptation
        )

    def _param(self, slot: _Slot, name: str) -> Tensor:
        return self.params[name] if slot.params is None else slot.params[name]

    def _record(self, slot: _Slot, obs: np.ndarray, mask: np.ndarray) -> None:
        if slot.adaptations < self.schedule.max_adaptations:
            slot.obs.append(obs)
            slot.mask.append(mask)
            slot.awaiting = True

    def _adapt(self, spec: GameSpec, slots: list[_Slot]) -> None:
        batch = pad_episodes(
            [np.stack(s.obs) for s in slots],
            [np.stack(s.mask) for s in slots],
            [np.array(s.actions, dtype=np.int64) for s in slots],
            [np.array(s.rewards, dtype=np.float32) for s in slots],
            [np.array(s.ends, dtype=bool) for s in slots],
        )
        stacked = {name: torch.stack([self._param(s, name) for s in slots]) for name in self.params}
        adapted = adapt(self.model, spec, stacked, batch, self.loop, create_graph=False)
        for i, slot in enumerate(slots):
            slot.params = {name: p[i].detach() for name, p in adapted.items()}
            slot.adaptations += 1
            slot.episodes_pending = 0
            for pending in (slot.obs, slot.mask, slot.actions, slot.rewards, slot.ends):
                pending.clear()


def pad_episodes(
    obs: list[np.ndarray],
    mask: list[np.ndarray],
    actions: list[np.ndarray],
    rewards: list[np.ndarray],
    ends: list[np.ndarray],
) -> EpisodeBatch:
    """Right-pad per-lane decision arrays (each (T_i, ...)) into one (T, N) EpisodeBatch.

    The last decision of each lane always ends an episode (its data is complete).
    """
    steps = max(len(a) for a in actions)
    lanes = len(actions)
    weights = np.zeros((steps, lanes), dtype=np.float32)
    out_ends = np.ones((steps, lanes), dtype=bool)
    out = {
        "obs": np.zeros((steps, lanes, *obs[0].shape[1:]), dtype=np.float32),
        "mask": np.zeros((steps, lanes, mask[0].shape[-1]), dtype=bool),
        "actions": np.zeros((steps, lanes), dtype=np.int64),
        "rewards": np.zeros((steps, lanes), dtype=np.float32),
    }
    for i, n in enumerate(len(a) for a in actions):
        out["obs"][:n, i] = obs[i]
        out["mask"][:n, i] = mask[i]
        out["actions"][:n, i] = actions[i]
        out["rewards"][:n, i] = rewards[i]
        out_ends[:n, i] = ends[i]
        out_ends[n - 1, i] = True
        weights[:n, i] = 1.0
    return EpisodeBatch(
        obs=torch.from_numpy(out["obs"]),
        mask=torch.from_numpy(out["mask"]),
        actions=torch.from_numpy(out["actions"]),
        rewards=torch.from_numpy(out["rewards"]),
        ends=torch.from_numpy(out_ends),
        weights=torch.from_numpy(weights),
    )


class TrialBatch(NamedTuple):
    """One variant's trials, one column per trial, time-major ``(T, U)``, right-padded."""

    spec: GameSpec
    obs: Tensor
    mask: Tensor
    actions: Tensor
    logprobs: Tensor
    """Log-probability of the action when it was played."""
    values: Tensor
    """Value estimate when it was played."""
    rewards: Tensor
    """Rewards within the decision's episode (what the outer PPO objective credits)."""
    inner_rewards: Tensor
    """Rewards until the next decision of the trial (what the inner loop saw while playing)."""
    ends: Tensor
    """Last decision of an episode, or padding."""
    valid: Tensor
    """1.0 on real decisions, 0.0 on padding."""
    phase: Tensor
    """(T, U) int64: how many adaptations preceded the decision."""

    @property
    def num_trials(self) -> int:
        return int(self.valid.shape[1])

    def columns(self, index: Tensor) -> TrialBatch:
        """The trials (columns) ``index``, for minibatching."""
        picked = [x[:, index] if isinstance(x, Tensor) else x for x in self]
        return TrialBatch(*picked)


def split_trials(group: GroupRollout, schedule: AdaptationSchedule) -> TrialBatch:
    """Cut every lane of ``group`` into its trials and label each decision with its phase."""
    columns: list[tuple[int, int, int]] = []  # (lane, first decision, end)
    for lane in range(group.valid.shape[1]):
        count = int(group.valid[:, lane].sum())
        starts = np.flatnonzero(group.trial_start[:count, lane]).tolist()
        if count and starts[:1] != [0]:
            raise ValueError(f"lane {lane} does not start with a trial start")
        bounds = [*starts, count]
        columns += [(lane, a, b) for a, b in itertools.pairwise(bounds)]
    length = max((b - a for _, a, b in columns), default=1)
    offsets = np.arange(length)[:, None]
    lanes = np.array([lane for lane, _, _ in columns], dtype=np.int64)[None, :]
    first = np.array([a for _, a, _ in columns], dtype=np.int64)[None, :]
    sizes = np.array([b - a for _, a, b in columns], dtype=np.int64)[None, :]
    valid = offsets < sizes
    rows = np.where(valid, first + offsets, 0)

    def take(x: np.ndarray, fill: float | bool = 0) -> np.ndarray:
        picked = x[rows, lanes]
        where = valid.reshape(*valid.shape, *([1] * (picked.ndim - 2)))
        return np.where(where, picked, np.asarray(fill, dtype=picked.dtype))

    ends = take(group.episode_end, True) | ~valid
    has_next = offsets + 1 < sizes
    next_rows = np.where(has_next, rows + 1, 0)
    inner_rewards = np.where(has_next, group.prev_reward[next_rows, lanes], 0.0)
    ended_before = np.cumsum(ends, axis=0) - ends  # episodes finished before each decision
    return TrialBatch(
        spec=group.spec,
        obs=torch.from_numpy(take(group.obs)),
        mask=torch.from_numpy(take(group.mask, False)),
        actions=torch.from_numpy(take(group.actions)),
        logprobs=torch.from_numpy(take(group.logprobs)),
        values=torch.from_numpy(take(group.values)),
        rewards=torch.from_numpy(take(group.rewards)),
        inner_rewards=torch.from_numpy(inner_rewards.astype(np.float32)),
        ends=torch.from_numpy(ends),
        valid=torch.from_numpy(valid.astype(np.float32)),
        phase=torch.from_numpy(schedule.phase(ended_before).astype(np.int64)),
    )


def replay(
    model: nn.Module,
    params: Params,
    batch: TrialBatch,
    loop: InnerLoop,
    *,
    create_graph: bool,
) -> tuple[Tensor, Tensor]:
    """Log-probs (T, U, A) and values (T, U) of every decision under the weights that played it.

    ``params`` are the unstacked meta-parameters; each trial adapts its own copy
    on its phase-``p`` decisions to get the weights of phase ``p + 1``.
    """
    trials = batch.num_trials
    current = {name: p.unsqueeze(0).expand(trials, *p.shape) for name, p in params.items()}
    log_probs: Tensor | None = None
    values: Tensor | None = None
    real = batch.phase[batch.valid > 0]
    last_phase = int(real.max()) if real.numel() else 0  # padding's phase is meaningless
    for phase in range(last_phase + 1):
        phase_log_probs, phase_values = evaluate(model, batch.spec, current, batch.obs, batch.mask)
        here = batch.phase == phase
        if log_probs is None or values is None:
            log_probs, values = phase_log_probs, phase_values
        else:
            log_probs = torch.where(here[..., None], phase_log_probs, log_probs)
            values = torch.where(here, phase_values, values)
        if phase < last_phase:
            inner = EpisodeBatch(
                obs=batch.obs,
                mask=batch.mask,
                actions=batch.actions,
                rewards=batch.inner_rewards,
                ends=batch.ends,
                weights=batch.valid * here.to(batch.valid.dtype),
            )
            current = adapt(model, batch.spec, current, inner, loop, create_graph=create_graph)
    assert log_probs is not None and values is not None
    return log_probs, values
