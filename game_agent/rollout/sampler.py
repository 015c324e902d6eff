"""Samplers: play trials of sampled tasks with the current policy, return decisions.

Learners only see the :class:`Sampler` interface (``collect(policy) ->
Rollout`` and a JSON-able RNG state), so a Ray-backed sampler that spreads the
same work over many processes can replace :class:`LocalSampler` without
touching any learner.

:class:`LocalSampler` runs ``num_lanes`` trials side by side. Every rollout it
draws a task per lane, groups lanes by variant so one batched kernel steps all
games of that variant at once, and plays: every variant takes one kernel step
per turn, the policy acts for each lane's learner seat (one forward pass per
turn for all variants whose inputs it can stack, see ``forward_key``), the
opponents of a trial act for every other seat of that trial's lanes only,
finished episodes are re-dealt with
``reset_where``, and after K episodes a lane's trial ends and the lane draws a
new task of its variant. A rollout ends when every lane has completed
``trials_per_rollout`` trials (lanes that finish early idle in a finished
game, which kernels leave untouched). Because rollouts are whole trials,
nothing but the sampler's RNG state carries from one rollout to the next: a
resumed run replays exactly what an uninterrupted one would have done.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from game_agent.errors import ConfigError
from game_agent.policies.actor_critic import PolicyInput, PolicyOutput
from game_agent.rollout.storage import GroupRollout, RolloutStorage
from game_agent.tasks import Task, TaskDistribution
from games import GameSpec, make_kernel, make_opponent
from games.kernel import Step
from games.opponents.base import Opponent


class RolloutPolicy(Protocol):
    """What a sampler needs from a policy (``ActorCritic`` satisfies it)."""

    memory_size: int
    """A policy may also define ``forward_key(spec)``: variants with equal keys are acted
    for in one call, their lanes stacked (``ActorCritic`` does; without it, one call per
    variant)."""

    def __call__(
        self, spec: GameSpec, inputs: PolicyInput, memory: torch.Tensor
    ) -> PolicyOutput: ...


@dataclass(frozen=True)
class SamplerConfig:
    """How much play one rollout contains."""

    num_lanes: int = 32
    """Trials played side by side (grouped by variant into batched kernels)."""
    episodes_per_trial: int = 4
    """K: episodes against one task before a lane draws a new one."""
    trials_per_rollout: int = 1
    """Trials each lane completes per rollout."""

    def __post_init__(self) -> None:
        for name in ("num_lanes", "episodes_per_trial", "trials_per_rollout"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sampler {name} must be at least 1, got {getattr(self, name)}")


class EpisodeStats(NamedTuple):
    """One row per finished episode of a rollout, from the learner's seat."""

    variant: np.ndarray
    """(E,) object: spec string."""
    opponent: np.ndarray
    """(E,) object: opponent style."""
    seat: np.ndarray
    """(E,) int64."""
    index_in_trial: np.ndarray
    """(E,) int64: 0 for a trial's first episode, K-1 for its last."""
    total_reward: np.ndarray
    """(E,) float32: the learner's rewards over the episode."""
    decisions: np.ndarray
    """(E,) int64: decisions the learner made in the episode."""

    @classmethod
    def concat(cls, parts: list[EpisodeStats]) -> EpisodeStats:
        if not parts:
            return cls(*(np.zeros(0, dtype=d) for d in (object, object, int, int, np.float32, int)))
        return cls(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))

    def mean_return(self) -> float:
        return float(self.total_reward.mean()) if len(self.total_reward) else float("nan")

    def mean_return_by_index(self, episodes_per_trial: int) -> list[float]:
        """Mean return of the k-th episode of a trial, k = 0..K-1: adaptation shows as a rise."""
        out = []
        for k in range(episodes_per_trial):
            chosen = self.total_reward[self.index_in_trial == k]
            out.append(float(chosen.mean()) if len(chosen) else float("nan"))
        return out


class Rollout(NamedTuple):
    """Everything one ``collect`` produced."""

    groups: list[GroupRollout]
    episodes: EpisodeStats
    kernel_steps: int
    """Kernel steps taken, summed over variants (both seats' moves)."""

    @property
    def num_decisions(self) -> int:
        return sum(group.num_decisions for group in self.groups)


class Sampler(ABC):
    """Produces rollouts of whole trials for a policy; see the module docstring."""

    config: SamplerConfig
    distribution: TaskDistribution

    @abstractmethod
    def collect(self, policy: RolloutPolicy) -> Rollout:
        """Play ``trials_per_rollout`` trials in every lane with ``policy`` (no gradients)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (RNG) that makes the next ``collect`` reproducible."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class LocalSampler(Sampler):
    """Steps every lane in this process over the batched kernels."""

    def __init__(
        self, distribution: TaskDistribution, config: SamplerConfig, seed: int | None = None
    ):
        self.distribution = distribution
        self.config = config
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": _jsonable(self.rng.bit_generator.state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"sampler state cannot be restored: {exc}") from None

    def collect(self, policy: RolloutPolicy) -> Rollout:
        tasks = self.distribution.sample(self.config.num_lanes, self.rng)
        by_variant: dict[GameSpec, list[Task]] = defaultdict(list)
        for task in tasks:
            by_variant[task.spec].append(task)
        generator = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        runs = [  # a fixed order keeps runs reproducible
            _GroupRun(self, spec, by_variant[spec], policy)
            for spec in self.distribution.specs
            if spec in by_variant
        ]
        for run in runs:
            run.start()
        # Every variant advances one kernel step per turn, so the learner's moves in all of
        # them can share one forward pass where the network allows (see _decide).
        while active := [run for run in runs if not run.finished.all()]:
            requests = [run.begin_turn() for run in active]
            _decide(policy, [r for r in requests if r is not None], generator)
            for run in active:
                run.end_turn()
        parts = [run.finish() for run in runs]
        groups = [group for group, _, _ in parts]
        episodes = EpisodeStats.concat([stats for _, stats, _ in parts])
        return Rollout(groups, episodes, sum(steps for _, _, steps in parts))


class _Request(NamedTuple):
    """The learner's pending decisions in one variant this turn."""

    run: _GroupRun
    lanes: np.ndarray
    """(D,) the deciding lanes."""
    inputs: PolicyInput
    """One time step, (1, D, ...)."""
    memory: np.ndarray
    """(D, memory_size) memory fed to the decisions."""


def _decide(policy: RolloutPolicy, requests: list[_Request], generator: torch.Generator) -> None:
    """Act for every request; requests whose variants share a forward key share one pass.

    A policy without ``forward_key`` (one that must see each variant alone) gets one
    call per request.
    """
    key_of = getattr(policy, "forward_key", None)
    batches: dict[Any, list[_Request]] = defaultdict(list)
    for index, request in enumerate(requests):
        batches[key_of(request.run.spec) if key_of else index].append(request)
    for batch in batches.values():
        inputs = PolicyInput(
            *(torch.cat(parts, dim=1) for parts in zip(*(r.inputs for r in batch), strict=True))
        )
        memory = torch.from_numpy(np.concatenate([r.memory for r in batch]))
        with torch.no_grad():
            out = policy(batch[0].run.spec, inputs, memory)
            chosen = out.dist.sample(generator)
            logprobs = out.dist.log_prob(chosen)[0].numpy()
        chosen_np = chosen[0].numpy().astype(np.int64)
        values, new_memory = out.values[0].numpy(), out.memory.numpy()
        start = 0
        for request in batch:
            part = slice(start, start + len(request.lanes))
            request.run.record(
                request, chosen_np[part], logprobs[part], values[part], new_memory[part]
            )
            start = part.stop


class _GroupRun:
    """One variant's lanes for one rollout: the play loop and its per-lane bookkeeping."""

    def __init__(
        self, sampler: LocalSampler, spec: GameSpec, tasks: list[Task], policy: RolloutPolicy
    ):
        self.sampler, self.spec = sampler, spec
        self.config = sampler.config
        n = len(tasks)
        self.n = n
        self.lanes = np.arange(n)
        self.seat = np.array([t.seat for t in tasks], dtype=np.int64)
        self.style = np.array([t.opponent for t in tasks], dtype=object)
        self.slots: dict[int, _Slot] = {}
        """Opponent objects for lanes that started a trial together, by slot number. Every
        trial gets fresh objects sized to its own lanes, so a style that learns across the
        games of a trial meets each new player knowing nothing, and a step costs each object
        only its own games, not the whole variant's batch."""
        self.next_slot = 0
        self.slot_of = np.full(n, -1, dtype=np.int64)
        """Slot number of each lane's current opponents."""
        self.kernel = make_kernel(spec)
        self.storage = RolloutStorage(spec, n, policy.memory_size)
        self.memory = np.zeros((n, policy.memory_size), dtype=np.float32)
        self.prev_action = np.full(n, -1, dtype=np.int64)
        self.since_reward = np.zeros(n, dtype=np.float32)
        self.since_done = np.zeros(n, dtype=bool)
        self.has_record = np.zeros(n, dtype=bool)
        """The lane's learner has decided at least once in its current trial."""
        self.record_open = np.zeros(n, dtype=bool)
        """The latest decision's episode is still running."""
        self.episodes_done = np.zeros(n, dtype=np.int64)
        self.trials_done = np.zeros(n, dtype=np.int64)
        self.finished = np.zeros(n, dtype=bool)
        self.episode_return = np.zeros(n, dtype=np.float32)
        self.episode_decisions = np.zeros(n, dtype=np.int64)
        self.log: dict[str, list[Any]] = defaultdict(list)

    def start(self) -> None:
        """Deal every lane's first game and seat its opponents."""
        self.step = self.kernel.reset(self.n, seed=int(self.sampler.rng.integers(2**62)))
        self._spawn_opponents(self.lanes)
        self.limit = self.config.trials_per_rollout * self.config.episodes_per_trial
        self.limit *= self.spec.max_steps + 1
        self.steps = 0
        self.actions = np.zeros((self.n, self.spec.num_agents), dtype=np.int64)

    def begin_turn(self) -> _Request | None:
        """The learner's decisions this turn (None when it has none); see :meth:`record`."""
        if self.steps > self.limit:
            raise RuntimeError(
                f"{self.spec.name}: games did not end within max_steps={self.spec.max_steps}"
            )
        self.actions = np.zeros((self.n, self.spec.num_agents), dtype=np.int64)
        step = self.step
        deciding = ~self.finished & step.acting[self.lanes, self.seat]
        if not deciding.any():
            return None
        idx = self.lanes[deciding]
        seat = self.seat[idx]
        inputs = PolicyInput(
            obs=torch.from_numpy(step.obs[idx, seat].astype(np.float32, copy=False))[None],
            mask=torch.from_numpy(step.action_mask[idx, seat])[None],
            prev_action=torch.from_numpy(self.prev_action[idx])[None],
            prev_reward=torch.from_numpy(self.since_reward[idx])[None],
            prev_done=torch.from_numpy(self.since_done[idx].astype(np.float32))[None],
            trial_start=torch.from_numpy(~self.has_record[idx])[None],
        )
        return _Request(self, idx, inputs, self.memory[idx])

    def record(
        self,
        request: _Request,
        chosen: np.ndarray,
        logprobs: np.ndarray,
        values: np.ndarray,
        memory: np.ndarray,
    ) -> None:
        """Store the decisions the policy made for ``request`` and play them this turn."""
        idx, inputs = request.lanes, request.inputs
        self.storage.add(
            idx,
            obs=inputs.obs[0].numpy(),
            mask=inputs.mask[0].numpy(),
            prev_action=self.prev_action[idx],
            prev_reward=self.since_reward[idx],
            prev_done=self.since_done[idx],
            trial_start=inputs.trial_start[0].numpy(),
            memory_in=request.memory,
            actions=chosen,
            logprobs=logprobs,
            values=values,
        )
        self.memory[idx] = memory
        self.prev_action[idx] = chosen
        self.since_reward[idx] = 0.0
        self.since_done[idx] = False
        self.has_record[idx] = True
        self.record_open[idx] = True
        self.episode_decisions[idx] += 1
        self.actions[idx, self.seat[idx]] = chosen

    def end_turn(self) -> None:
        """The opponents move, and the kernel plays the turn."""
        self._opponent_moves(self.step, self.actions)
        self.step = self._advance(self.kernel.step(self.actions))
        self.steps += 1

    def finish(self) -> tuple[GroupRollout, EpisodeStats, int]:
        stats = EpisodeStats(
            variant=np.array([self.spec.name] * len(self.log["seat"]), dtype=object),
            opponent=np.array(self.log["opponent"], dtype=object),
            seat=np.array(self.log["seat"], dtype=np.int64),
            index_in_trial=np.array(self.log["index"], dtype=np.int64),
            total_reward=np.array(self.log["reward"], dtype=np.float32),
            decisions=np.array(self.log["decisions"], dtype=np.int64),
        )
        return self.storage.finish(), stats, self.steps

    def _opponent_rows(self):
        """(opponent, its lanes, which of them are in play, their seat) for live opponents."""
        for number, slot in self.slots.items():
            live = (self.slot_of[slot.lanes] == number) & ~self.finished[slot.lanes]
            if not live.any():
                continue
            for opponent, seat in zip(slot.opponents, slot.seats, strict=True):
                yield opponent, slot.lanes, live, seat

    def _opponent_moves(self, step: Step, actions: np.ndarray) -> None:
        for opponent, lanes, live, seat in self._opponent_rows():
            mask = step.action_mask[lanes, seat] & live[:, None]
            chosen = opponent.act(step.obs[lanes, seat], mask)
            moving = live & step.acting[lanes, seat]
            actions[lanes[moving], seat[moving]] = chosen[moving]

    def _advance(self, result: Step) -> Step:
        live = ~self.finished
        rewards = np.where(live, result.rewards[self.lanes, self.seat], 0.0).astype(np.float32)
        within = self.lanes[live & self.has_record & self.record_open]
        self.storage.add_rewards(within, rewards[within], after_episode=False)
        after = self.lanes[live & self.has_record & ~self.record_open]
        self.storage.add_rewards(after, rewards[after], after_episode=True)
        self.since_reward += rewards
        self.episode_return += rewards
        for opponent, lanes, _, seat in self._opponent_rows():
            opponent.observe(result.obs[lanes, seat])
        done = result.done & live
        if not done.any():
            return result
        self.storage.mark(self.lanes[done & self.has_record & self.record_open], "episode_end")
        self.record_open[done] = False
        self.since_done[done] = True
        self._log_episodes(self.lanes[done])
        self.episodes_done[done] += 1
        trial_over = done & (self.episodes_done == self.config.episodes_per_trial)
        self.storage.mark(self.lanes[trial_over & self.has_record], "trial_end")
        self.trials_done[trial_over] += 1
        self.finished |= trial_over & (self.trials_done == self.config.trials_per_rollout)
        self._new_trials(self.lanes[trial_over & ~self.finished])
        redeal = done & ~self.finished
        if not redeal.any():
            return result
        for opponent, lanes, _, _ in self._opponent_rows():
            opponent.reset_where(redeal[lanes])
        return self.kernel.reset_where(redeal)

    def _log_episodes(self, lanes: np.ndarray) -> None:
        self.log["opponent"] += self.style[lanes].tolist()
        self.log["seat"] += self.seat[lanes].tolist()
        self.log["index"] += self.episodes_done[lanes].tolist()
        self.log["reward"] += self.episode_return[lanes].tolist()
        self.log["decisions"] += self.episode_decisions[lanes].tolist()
        self.episode_return[lanes] = 0.0
        self.episode_decisions[lanes] = 0

    def _new_trials(self, lanes: np.ndarray) -> None:
        if not len(lanes):
            return
        tasks = self.sampler.distribution.sample_for(self.spec, len(lanes), self.sampler.rng)
        self.seat[lanes] = [t.seat for t in tasks]
        self.style[lanes] = [t.opponent for t in tasks]
        self.memory[lanes] = 0.0
        self.prev_action[lanes] = -1
        self.since_reward[lanes] = 0.0
        self.since_done[lanes] = False
        self.has_record[lanes] = False
        self.record_open[lanes] = False
        self.episodes_done[lanes] = 0
        self._spawn_opponents(lanes)

    def _spawn_opponents(self, lanes: np.ndarray) -> None:
        """Fresh, seeded opponent objects for ``lanes``, which start a trial now."""
        for style in sorted(set(self.style[lanes].tolist())):
            chosen = lanes[self.style[lanes] == style]
            opponents, seats = [], []
            for offset in range(1, self.spec.num_agents):
                seed = int(self.sampler.rng.integers(2**62))
                opponent = make_opponent(self.spec, style, seed=seed)
                opponent.reset(len(chosen))
                opponents.append(opponent)
                seats.append((self.seat[chosen] + offset) % self.spec.num_agents)
            self.slot_of[chosen] = self.next_slot
            self.slots[self.next_slot] = _Slot(chosen, opponents, seats)
            self.next_slot += 1
        in_use = set(self.slot_of[~self.finished].tolist())
        for number in [number for number in self.slots if number not in in_use]:
            del self.slots[number]  # no lane plays these any more


class _Slot(NamedTuple):
    """The opponents of lanes that started a trial together, one object per other seat."""

    lanes: np.ndarray
    """(L,) the lanes, in the order of the objects' rows."""
    opponents: list[Opponent]
    seats: list[np.ndarray]
    """Per object: (L,) the seat it plays in each of its lanes."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
