"""Saved stable-baselines3 PPO policies as opponents, loaded without unpickling anything.

A ``PPO.save`` zip holds ``data`` (JSON; values JSON cannot hold are
cloudpickled, base64-encoded under ``":serialized:"`` keys, next to a few
readable fields) and ``policy.pth`` (``torch.save`` of the policy's state
dict). SB3's own loader unpickles both, so opening a stranger's model runs
their code. This loader never does:

- ``data`` is parsed as JSON; ``":serialized:"`` payloads are dropped unread,
  and only plain fields are used (spaces' shapes, ``policy_kwargs`` when
  stored plainly, or its readable ``net_arch`` / ``activation_fn`` fields);
- ``policy.pth`` must be a torch zip archive and is read with
  ``torch.load(..., weights_only=True)``, which refuses any pickled object
  that is not a tensor; the refusal becomes a :class:`SavedPolicyError`;
- the network is rebuilt from the game's spec and the weights' shapes (the
  layer sizes are read off the state dict), so nothing in the file chooses
  which code runs.

Supported: ``MlpPolicy`` (an ``ActorCriticPolicy`` with the flatten feature
extractor) over a Box observation and a Discrete action space, the form
:class:`games.gym_single.SingleAgentEnv` trains. Acting masks the logits to
the legal actions, then plays the most likely one (``deterministic=True``,
which is what SB3's ``predict(deterministic=True)`` plays when that is
legal) or samples with the opponent's seeded generator.

torch is imported inside the functions that need it: ``games`` stays
importable, and every other opponent usable, on a machine without torch.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from games.errors import SavedPolicyError
from games.opponents.base import Opponent
from games.registry import parse_spec
from games.spec import GameSpec

SERIALIZED = ":serialized:"
ACTIVATIONS = ("Tanh", "ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Sigmoid", "Mish")
"""torch.nn activations (no parameters, default arguments) a saved policy may name."""
DEFAULT_ACTIVATION = "Tanh"
"""What SB3's ActorCriticPolicy uses when policy_kwargs name no activation_fn."""

_LAYER_KEY = re.compile(r"^mlp_extractor\.(policy_net|value_net)\.(\d+)\.(weight|bias)\Z")
_HEAD_KEYS = ("action_net.weight", "action_net.bias", "value_net.weight", "value_net.bias")


@dataclass(frozen=True)
class SavedPolicyFile:
    """What a SB3 model zip says in plain JSON, plus its undecoded weight bytes."""

    path: Path
    data: dict[str, Any]
    """``data`` with every ``":serialized:"`` payload removed (readable fields kept)."""
    weights: bytes
    """The raw bytes of ``policy.pth``."""
    sb3_version: str


@dataclass(frozen=True)
class PolicyShape:
    """The network a saved MlpPolicy describes: hidden sizes and activation."""

    policy_layers: tuple[int, ...]
    value_layers: tuple[int, ...]
    activation: str


def read_saved_policy(path: str | Path) -> SavedPolicyFile:
    """Open a ``PPO.save`` zip and read its plain parts; decodes no pickled payload."""
    path = Path(path)
    if not path.is_file():
        raise SavedPolicyError(f"{path}: no such saved policy file")
    if not zipfile.is_zipfile(path):
        raise SavedPolicyError(
            f"{path}: not a zip archive; expected a stable-baselines3 model written by PPO.save"
        )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        missing = [name for name in ("data", "policy.pth") if name not in names]
        if missing:
            raise SavedPolicyError(
                f"{path}: not a stable-baselines3 model; the zip lacks {', '.join(missing)}"
            )
        raw_data = archive.read("data")
        weights = archive.read("policy.pth")
        version = "unknown"
        if "_stable_baselines3_version" in names:
            version = archive.read("_stable_baselines3_version").decode("utf-8", "replace").strip()
    try:
        data = json.loads(raw_data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SavedPolicyError(f"{path}: its 'data' entry is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise SavedPolicyError(f"{path}: its 'data' entry is not a JSON object")
    return SavedPolicyFile(path, _plain(data), weights, version)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the cloudpickled payloads, keeping the readable fields SB3 stores beside them."""
    return {
        key: {k: v for k, v in value.items() if k != SERIALIZED}
        if isinstance(value, dict)
        else value
        for key, value in data.items()
    }


def check_policy_class(saved: SavedPolicyFile) -> None:
    """The readable name of the saved policy class must be SB3's ActorCriticPolicy (MlpPolicy).

    A subclass could compute anything from the same weights; its name is all
    the plain JSON tells, and that is enough to refuse it.
    """
    policy_class = saved.data.get("policy_class")
    constructor = policy_class.get("__init__") if isinstance(policy_class, dict) else None
    if constructor is not None and "ActorCriticPolicy.__init__" not in str(constructor):
        raise SavedPolicyError(
            f"{saved.path}: the policy class (constructor {constructor}) is not SB3's "
            f"ActorCriticPolicy; only MlpPolicy models are supported"
        )


def check_spaces(saved: SavedPolicyFile, spec: GameSpec) -> None:
    """The saved observation and action spaces must be the game's Box and Discrete."""
    obs_space = saved.data.get("observation_space")
    act_space = saved.data.get("action_space")
    if not isinstance(obs_space, dict) or not isinstance(act_space, dict):
        raise SavedPolicyError(f"{saved.path}: the model records no observation or action space")
    if "spaces.box.Box" not in str(obs_space.get(":type:", "")):
        raise SavedPolicyError(
            f"{saved.path}: observes a {obs_space.get(':type:')}; only Box observations "
            f"(as {spec.family} games give) are supported"
        )
    shape = tuple(obs_space.get("_shape") or obs_space.get("shape") or ())
    if shape != tuple(spec.obs_shape):
        raise SavedPolicyError(
            f"{saved.path}: the policy observes shape {shape}, but {spec.name} "
            f"observations have shape {tuple(spec.obs_shape)}"
        )
    if "spaces.discrete.Discrete" not in str(act_space.get(":type:", "")):
        raise SavedPolicyError(
            f"{saved.path}: acts in a {act_space.get(':type:')}; "
            "only Discrete actions are supported"
        )
    try:
        actions = int(act_space.get("n"))
    except (TypeError, ValueError):
        raise SavedPolicyError(f"{saved.path}: its action space has no readable size n") from None
    if actions != spec.num_actions:
        raise SavedPolicyError(
            f"{saved.path}: the policy chooses among {actions} actions, "
            f"but {spec.name} has {spec.num_actions}"
        )


def activation_name(saved: SavedPolicyFile) -> str:
    """The activation named in policy_kwargs (plain or readable field), else SB3's default."""
    kwargs = saved.data.get("policy_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise SavedPolicyError(f"{saved.path}: policy_kwargs is not a JSON object")
    extractor = kwargs.get("features_extractor_class")
    if extractor is not None and "FlattenExtractor" not in str(extractor):
        raise SavedPolicyError(
            f"{saved.path}: uses features extractor {extractor}; only the flatten extractor "
            f"of MlpPolicy is supported"
        )
    named = kwargs.get("activation_fn")
    if named is None:
        return DEFAULT_ACTIVATION
    match = re.search(r"torch\.nn\.modules\.activation\.(\w+)'", str(named))
    if match is None or match.group(1) not in ACTIVATIONS:
        raise SavedPolicyError(
            f"{saved.path}: activation {named} is not supported; "
            f"supported: {', '.join(ACTIVATIONS)}"
        )
    return match.group(1)


def load_state_dict(saved: SavedPolicyFile) -> dict[str, Any]:
    """``policy.pth`` as tensors, through ``torch.load(weights_only=True)`` only."""
    torch = _import_torch(saved.path)
    if not zipfile.is_zipfile(io.BytesIO(saved.weights)):
        raise SavedPolicyError(
            f"{saved.path}: policy.pth is not a torch weights archive (a bare pickle "
            f"stream, perhaps); refusing to unpickle it"
        )
    try:
        state = torch.load(io.BytesIO(saved.weights), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, ... by version
        raise SavedPolicyError(
            f"{saved.path}: policy.pth holds more than weights; torch.load(weights_only=True) "
            f"refused it ({_refusal_reason(error)})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise SavedPolicyError(f"{saved.path}: policy.pth is not a state dict of named tensors")
    return state


def policy_shape(saved: SavedPolicyFile, state: dict[str, Any], spec: GameSpec) -> PolicyShape:
    """Hidden layer sizes read off the weights, checked against the game's sizes."""
    unknown = sorted(k for k in state if not _LAYER_KEY.match(k) and k not in _HEAD_KEYS)
    absent = [k for k in _HEAD_KEYS if k not in state]
    if unknown or absent:
        raise SavedPolicyError(
            f"{saved.path}: not an MlpPolicy actor-critic state dict "
            f"(unexpected: {unknown[:5]}, missing: {absent})"
        )
    inputs = math.prod(spec.obs_shape)
    policy = _chain(saved, state, "policy_net", inputs)
    value = _chain(saved, state, "value_net", inputs)
    _expect(
        saved, state, "action_net", rows=spec.num_actions, cols=policy[-1] if policy else inputs
    )
    _expect(saved, state, "value_net", rows=1, cols=value[-1] if value else inputs)
    return PolicyShape(tuple(policy), tuple(value), activation_name(saved))


def _chain(saved: SavedPolicyFile, state: dict[str, Any], net: str, inputs: int) -> list[int]:
    """Sizes of ``mlp_extractor.<net>``'s Linear layers (indices 0, 2, 4, ...), checked."""
    indices = sorted({int(m.group(2)) for k in state if (m := _LAYER_KEY.match(k)) and m[1] == net})
    if indices != list(range(0, 2 * len(indices), 2)):
        raise SavedPolicyError(
            f"{saved.path}: {net} layers sit at {indices}; expected Linear layers at 0, 2, 4, ..."
        )
    sizes, width = [], inputs
    for index in indices:
        prefix = f"mlp_extractor.{net}.{index}"
        rows = int(state[f"{prefix}.weight"].shape[0]) if f"{prefix}.weight" in state else 0
        _expect(saved, state, prefix, rows=rows, cols=width)
        sizes.append(rows)
        width = rows
    return sizes


def _expect(
    saved: SavedPolicyFile, state: dict[str, Any], prefix: str, rows: int, cols: int
) -> None:
    weight, bias = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
    if weight is None or bias is None:
        raise SavedPolicyError(f"{saved.path}: {prefix} lacks a weight or a bias")
    if tuple(weight.shape) != (rows, cols) or tuple(bias.shape) != (rows,):
        raise SavedPolicyError(
            f"{saved.path}: {prefix} has weight {tuple(weight.shape)} and bias "
            f"{tuple(bias.shape)}, but this game needs ({rows}, {cols}) and ({rows},)"
        )


def build_policy_network(saved: SavedPolicyFile, spec: GameSpec) -> Any:
    """A torch module mapping observations (B, *obs_shape) to action logits (B, N)."""
    check_policy_class(saved)
    check_spaces(saved, spec)
    state = load_state_dict(saved)
    shape = policy_shape(saved, state, spec)
    torch = _import_torch(saved.path)
    activation = getattr(torch.nn, shape.activation)
    layers: list[Any] = [torch.nn.Flatten()]
    renamed: dict[str, Any] = {}
    width = math.prod(spec.obs_shape)
    for index, size in enumerate(shape.policy_layers):
        for part in ("weight", "bias"):
            renamed[f"{len(layers)}.{part}"] = state[f"mlp_extractor.policy_net.{2 * index}.{part}"]
        layers += [torch.nn.Linear(width, size), activation()]
        width = size
    for part in ("weight", "bias"):
        renamed[f"{len(layers)}.{part}"] = state[f"action_net.{part}"]
    layers.append(torch.nn.Linear(width, spec.num_actions))
    network = torch.nn.Sequential(*layers)
    network.load_state_dict(renamed, strict=True)
    network.eval()
    return network


def _refusal_reason(error: Exception) -> str:
    """The informative part of torch's long weights_only refusal (which global it met)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"it names {found.group(1)}, which is code, not weights"
    found = re.search(r"WeightsUnpickler error: ([^\n]+)", text)
    if found:
        return found.group(1)[:200]
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def _import_torch(path: Path) -> Any:
    try:
        import torch
    except ImportError:
        raise SavedPolicyError(f"{path}: loading a saved policy needs torch installed") from None
    return torch


class SavedPolicyOpponent(Opponent):
    """A saved SB3 PPO policy playing one seat, its choices restricted to legal actions.

    ``deterministic=True`` plays the legal action with the highest logit;
    ``False`` samples from the policy's distribution renormalised over the
    legal actions, with this opponent's seeded generator.
    """

    def __init__(
        self,
        spec: str | GameSpec,
        path: str | Path,
        seed: int | None = None,
        deterministic: bool = True,
    ):
        spec = parse_spec(spec)
        super().__init__(spec, seed)
        self.path = Path(path)
        self.deterministic = deterministic
        self._network = build_policy_network(read_saved_policy(self.path), spec)
        self.name = f"saved:{self.path.name}"
        mode = "greedy" if deterministic else "sampled"
        self.description = f"stable-baselines3 PPO policy from {self.path.name} ({mode})"

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """The policy's action logits (B, N) for observations (B, *obs_shape)."""
        import torch

        batch = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        with torch.no_grad():
            return self._network(batch).double().numpy()

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        scores = np.where(mask, self.logits(obs), -np.inf)
        if not self.deterministic:
            scores = scores + self.rng.gumbel(size=scores.shape)  # Gumbel-max: one exact sample
        actions = np.argmax(scores, axis=-1)
        return np.where(mask.any(axis=-1), actions, 0).astype(np.int64)


def saved_policy_factory(path: str | Path, deterministic: bool = True) -> Callable[..., Opponent]:
    """A registry-style factory ``factory(spec, seed=None)`` for one saved policy file."""

    def factory(spec: str | GameSpec, seed: int | None = None) -> SavedPolicyOpponent:
        return SavedPolicyOpponent(spec, path, seed=seed, deterministic=deterministic)

    factory.description = f"stable-baselines3 PPO policy from {Path(path).name}"
    return factory
