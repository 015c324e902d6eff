"""A MAML player's AdaptationState: adapted-weight deltas and the decisions not yet adapted on.

Arrays (float32 unless noted):

- ``delta.<parameter>``: the player's adapted weights minus the meta-learned
  weights, one array per network parameter; absent until the first adaptation.
- ``pending.obs`` (T, *obs_shape), ``pending.mask`` (T, A) bool,
  ``pending.action`` (T,) int64, ``pending.reward`` (T,), ``pending.end``
  (T,) bool: the decisions since the last adaptation, the data of the next one.

``meta`` counts ``episodes``, ``decisions``, ``total_reward``,
``adaptations``, ``pending_episodes`` and whether the current episode has a
recorded decision (``open``).

Why weights and not the episodes that produced them: ``act`` runs on the
request path for every move, so it must not repeat inner-loop gradient steps;
the adapted weights are computed once, in ``end_episode``, and a replica that
loads the state from a shared store plays with them directly. Deltas rather
than absolute weights keep a fresh player's state empty, and stay meaningful
(the direction the player pulled the policy) if the meta-weights are later
fine-tuned. Pending decisions are kept only while adaptations remain, so a
player's state stops growing once their adaptation budget is spent.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from game_agent.errors import StateError
from game_agent.learners.maml_inner import EpisodeBatch, Params
from game_agent.learners.maml_trials import pad_episodes
from game_agent.state import AdaptationState
from games.spec import GameSpec

DELTA = "delta."
PENDING = ("pending.obs", "pending.mask", "pending.action", "pending.reward", "pending.end")


def fresh_meta() -> dict[str, object]:
    return {
        "episodes": 0,
        "decisions": 0,
        "total_reward": 0.0,
        "adaptations": 0,
        "pending_episodes": 0,
        "open": False,
    }


def empty_pending(spec: GameSpec) -> dict[str, np.ndarray]:
    return {
        "pending.obs": np.zeros((0, *spec.obs_shape), dtype=np.float32),
        "pending.mask": np.zeros((0, spec.num_actions), dtype=bool),
        "pending.action": np.zeros(0, dtype=np.int64),
        "pending.reward": np.zeros(0, dtype=np.float32),
        "pending.end": np.zeros(0, dtype=bool),
    }


def check_state(state: AdaptationState, spec: GameSpec, base: Params) -> None:
    """Raise StateError unless ``state`` has well-formed pending decisions and deltas."""
    for key in ("episodes", "decisions", "adaptations", "pending_episodes"):
        if not isinstance(state.meta.get(key), int) or state.meta[key] < 0:
            raise StateError(f"maml state counter {key!r} is missing or not a count")
    missing = [name for name in PENDING if name not in state.arrays]
    if missing:
        raise StateError(f"maml state lacks arrays {missing}")
    arrays = state.arrays
    steps = len(arrays["pending.action"])
    expected = {
        "pending.obs": (steps, *spec.obs_shape),
        "pending.mask": (steps, spec.num_actions),
        "pending.reward": (steps,),
        "pending.end": (steps,),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise StateError(f"maml state {name} has shape {arrays[name].shape}, not {shape}")
    actions = arrays["pending.action"]
    if ((actions < 0) | (actions >= spec.num_actions)).any():
        raise StateError(f"maml state holds an action outside 0..{spec.num_actions - 1}")
    for name, array in arrays.items():
        if name.startswith(DELTA):
            param = base.get(name[len(DELTA) :])
            if param is None or tuple(param.shape) != array.shape:
                raise StateError(f"maml state {name} does not fit this network")
            if not np.isfinite(array).all():
                raise StateError(f"maml state {name} is not finite")
        elif name not in PENDING:
            raise StateError(f"maml state has an unknown array {name!r}")


def player_params(state: AdaptationState, base: Params) -> Params:
    """The player's weights: the meta-learned ``base`` plus the state's deltas, if any."""
    out = {}
    for name, param in base.items():
        delta = state.arrays.get(DELTA + name)
        out[name] = param if delta is None else param + torch.from_numpy(delta)
    return out


def with_adapted(state: AdaptationState, adapted: Params, base: Params) -> AdaptationState:
    """A copy of ``state`` holding ``adapted`` as deltas, its pending decisions cleared."""
    new = state.copy()
    for name, param in adapted.items():
        delta = (param.detach() - base[name]).to(torch.float32).numpy()
        new.arrays[DELTA + name] = np.ascontiguousarray(delta)
    spec_shape = state.arrays["pending.obs"].shape[1:]
    actions = state.arrays["pending.mask"].shape[1]
    new.arrays["pending.obs"] = np.zeros((0, *spec_shape), dtype=np.float32)
    new.arrays["pending.mask"] = np.zeros((0, actions), dtype=bool)
    for name in ("pending.action", "pending.reward", "pending.end"):
        new.arrays[name] = state.arrays[name][:0].copy()
    new.meta["adaptations"] = int(state.meta["adaptations"]) + 1
    new.meta["pending_episodes"] = 0
    return new


def record_decision(
    state: AdaptationState, obs: np.ndarray, mask: np.ndarray, action: int, keep: bool
) -> AdaptationState:
    """A copy of ``state`` after one decision; ``keep`` appends it to the pending data."""
    new = state.copy()
    new.meta["decisions"] = int(state.meta["decisions"]) + 1
    if keep:
        arrays = new.arrays
        arrays["pending.obs"] = np.concatenate([arrays["pending.obs"], obs[None]])
        arrays["pending.mask"] = np.concatenate([arrays["pending.mask"], mask[None]])
        arrays["pending.action"] = np.append(arrays["pending.action"], np.int64(action))
        arrays["pending.reward"] = np.append(arrays["pending.reward"], np.float32(0.0))
        arrays["pending.end"] = np.append(arrays["pending.end"], False)
        new.meta["open"] = True
    return new


def record_reward(state: AdaptationState, reward: float, done: bool) -> AdaptationState:
    """Credit ``reward`` to the latest pending decision (as the sampler's ``prev_reward`` does)."""
    new = state.copy()
    new.meta["total_reward"] = float(state.meta["total_reward"]) + float(reward)
    if len(new.arrays["pending.reward"]):
        new.arrays["pending.reward"][-1] += np.float32(reward)
        if done:
            new.arrays["pending.end"][-1] = True
    return new


def close_episode(state: AdaptationState) -> AdaptationState:
    """A copy of ``state`` after an episode; it counts as pending data if a decision was kept."""
    new = state.copy()
    new.meta["episodes"] = int(state.meta["episodes"]) + 1
    if state.meta.get("open"):
        new.arrays["pending.end"][-1] = True
        new.meta["pending_episodes"] = int(state.meta["pending_episodes"]) + 1
        new.meta["open"] = False
    return new


def pending_batch(state: AdaptationState) -> EpisodeBatch:
    """The state's pending decisions as a one-lane EpisodeBatch."""
    arrays = state.arrays
    return pad_episodes(
        [arrays["pending.obs"]],
        [arrays["pending.mask"]],
        [arrays["pending.action"]],
        [arrays["pending.reward"]],
        [arrays["pending.end"]],
    )


def stack(params: list[Params]) -> dict[str, Tensor]:
    """Stack per-player params along a new leading dimension."""
    return {name: torch.stack([p[name] for p in params]) for name in params[0]}
