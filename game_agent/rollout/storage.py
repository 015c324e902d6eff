"""Rollout storage: the learner's decisions, lane by lane, for one game variant.

A *lane* runs trial after trial of one variant; the learner's decisions in a
lane are stored in order (only the learner's: opponent moves are part of the
environment). Lanes make different numbers of decisions in a rollout (games
differ in length, and in turn-based games a seat may act more or less often),
so each lane appends at its own row pointer and :meth:`RolloutStorage.finish`
pads to a rectangle ``(T, N)`` with a ``valid`` mask. Padded rows end a
segment and carry zero reward, so GAE and the loss ignore them.

Rewards reach a decision after it was made, from every kernel step until the
learner's next decision. They are split in two, because the learners cut
segments differently: ``rewards`` arrive while the decision's episode is still
running; ``rewards_after`` arrive after that episode ended but before the
learner's next decision of the same trial (an episode in which the learner
never got to act, e.g. a poker hand the opponent folded at once). RL2 credits
both (the trial is its episode); the multi-task baseline only the first.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from games.spec import GameSpec


class GroupRollout(NamedTuple):
    """One variant's decisions, time-major ``(T, N)``, padded where ``valid`` is False."""

    spec: GameSpec
    obs: np.ndarray
    """(T, N, *obs_shape) float32: the learner's observation."""
    mask: np.ndarray
    """(T, N, num_actions) bool: its legal actions."""
    prev_action: np.ndarray
    """(T, N) int64: its previous action in the trial, -1 at the first decision."""
    prev_reward: np.ndarray
    """(T, N) float32: rewards since its previous decision of the trial."""
    prev_done: np.ndarray
    """(T, N) float32: 1 when an episode ended since its previous decision."""
    trial_start: np.ndarray
    """(T, N) bool: first decision of a trial (memory restarts from zeros)."""
    memory_in: np.ndarray
    """(T, N, M) float32: the policy memory fed into this decision."""
    actions: np.ndarray
    """(T, N) int64."""
    logprobs: np.ndarray
    """(T, N) float32: log-probability of the action under the acting policy."""
    values: np.ndarray
    """(T, N) float32: value estimate of the acting policy."""
    rewards: np.ndarray
    """(T, N) float32: rewards after the decision, within its episode."""
    rewards_after: np.ndarray
    """(T, N) float32: rewards after its episode ended, before the next decision in the trial."""
    episode_end: np.ndarray
    """(T, N) bool: the decision's episode ended before the learner's next decision."""
    trial_end: np.ndarray
    """(T, N) bool: the trial ended before the learner's next decision."""
    valid: np.ndarray
    """(T, N) bool: False on padding."""

    @property
    def num_decisions(self) -> int:
        return int(self.valid.sum())


_FIELDS = {
    # name: (dtype, trailing shape key)
    "obs": (np.float32, "obs"),
    "mask": (np.bool_, "actions"),
    "prev_action": (np.int64, None),
    "prev_reward": (np.float32, None),
    "prev_done": (np.float32, None),
    "trial_start": (np.bool_, None),
    "memory_in": (np.float32, "memory"),
    "actions": (np.int64, None),
    "logprobs": (np.float32, None),
    "values": (np.float32, None),
    "rewards": (np.float32, None),
    "rewards_after": (np.float32, None),
    "episode_end": (np.bool_, None),
    "trial_end": (np.bool_, None),
}


class RolloutStorage:
    """Growable per-lane decision storage for one variant; see the module docstring."""

    def __init__(self, spec: GameSpec, num_lanes: int, memory_size: int, capacity: int = 64):
        self.spec = spec
        self.num_lanes = num_lanes
        self._trailing = {
            "obs": tuple(spec.obs_shape),
            "actions": (spec.num_actions,),
            "memory": (memory_size,),
            None: (),
        }
        self.count = np.zeros(num_lanes, dtype=np.int64)
        self._data = {name: self._empty(name, capacity) for name in _FIELDS}

    def _empty(self, name: str, rows: int) -> np.ndarray:
        dtype, key = _FIELDS[name]
        return np.zeros((rows, self.num_lanes, *self._trailing[key]), dtype=dtype)

    @property
    def capacity(self) -> int:
        return self._data["actions"].shape[0]

    def add(self, lanes: np.ndarray, **fields: np.ndarray) -> None:
        """Append one decision to each of ``lanes``; ``fields`` are the per-decision inputs."""
        missing = set(_FIELDS) - set(fields) - {"rewards", "rewards_after"}
        missing -= {"episode_end", "trial_end"}
        if missing:
            raise ValueError(f"decision is missing fields {sorted(missing)}")
        rows = self.count[lanes]
        if len(rows) and rows.max() >= self.capacity:
            self._grow(int(rows.max()) + 1)
        for name, value in fields.items():
            self._data[name][rows, lanes] = value
        self.count[lanes] += 1

    def add_rewards(self, lanes: np.ndarray, rewards: np.ndarray, *, after_episode: bool) -> None:
        """Credit ``rewards`` to the latest decision of each lane (lanes must have one)."""
        name = "rewards_after" if after_episode else "rewards"
        self._data[name][self.count[lanes] - 1, lanes] += rewards

    def mark(self, lanes: np.ndarray, flag: str) -> None:
        """Set ``episode_end`` or ``trial_end`` on the latest decision of each lane."""
        if flag not in ("episode_end", "trial_end"):
            raise ValueError(f"unknown flag {flag!r}")
        self._data[flag][self.count[lanes] - 1, lanes] = True

    def finish(self) -> GroupRollout:
        """The stored decisions as a padded rectangle (copies; the storage can be dropped)."""
        steps = max(int(self.count.max()), 1)
        data = {name: array[:steps].copy() for name, array in self._data.items()}
        valid = np.arange(steps)[:, None] < self.count[None, :]
        data["episode_end"] |= ~valid
        data["trial_end"] |= ~valid
        return GroupRollout(spec=self.spec, valid=valid, **data)

    def _grow(self, needed: int) -> None:
        rows = max(needed, 2 * self.capacity)
        for name, array in self._data.items():
            extra = self._empty(name, rows - array.shape[0])
            self._data[name] = np.concatenate([array, extra], axis=0)


def merge_groups(groups: list[GroupRollout]) -> GroupRollout:
    """One rollout holding every lane of ``groups``, padded to the longest, side by side.

    For variants one forward pass can serve together (the caller decides): replaying a
    single wide batch costs far less than one pass per variant. The merged rollout is
    labelled with the first group's spec. Padding is exactly what :meth:`RolloutStorage.finish`
    pads with (zeros, episode and trial ends, ``valid`` False), so GAE and the loss ignore it.
    """
    if len(groups) == 1:
        return groups[0]
    steps = max(len(group.valid) for group in groups)
    columns = {}
    for name in GroupRollout._fields:
        if name == "spec":
            continue
        parts = []
        for group in groups:
            array = getattr(group, name)
            extra = steps - array.shape[0]
            if extra:
                fill = name in ("episode_end", "trial_end")
                pad = np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)
                array = np.concatenate([array, pad])
            parts.append(array)
        columns[name] = np.concatenate(parts, axis=1)
    return GroupRollout(spec=groups[0].spec, **columns)
