"""Checkpoints: safetensors for every tensor, JSON for everything else, never pickle.

A checkpoint is a directory::

    model.safetensors       the policy weights (what ``game_agent.load`` needs to play)
    optimizer.safetensors   the optimiser's per-parameter state (Adam moments, steps)
    meta.json               learner name and config, network layout, family and task
                            distribution, observation/action spaces, package versions,
                            training progress, optimiser hyper-parameters, RNG states,
                            and a SHA-256 of each tensor file

Everything needed to resume is there, so training N steps, saving, loading and
training M more gives bit-identical weights to training N + M in one go. A
checkpoint is written to a temporary sibling directory and renamed into place,
so an interrupted save never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from game_agent.errors import CheckpointError, ConfigError
from game_agent.learners import get_learner_class
from game_agent.policies import ObsLayout
from games import parse_spec

FORMAT = "game-agent-checkpoint/1"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
META_FILE = "meta.json"


@dataclass
class TrainingProgress:
    """How far training has got; stored in the checkpoint and continued on resume."""

    decisions: int = 0
    """Learner decisions trained on (the unit of ``--steps``)."""
    iterations: int = 0
    """Collect-and-update iterations."""
    kernel_steps: int = 0
    episodes: int = 0


@dataclass
class Checkpoint:
    """A loaded checkpoint: the learner ready to act or train, and what resuming needs."""

    learner: Any
    meta: dict[str, Any]
    progress: TrainingProgress
    distribution: dict[str, Any]
    """The task distribution trained on (family, split, variants, opponents, seats)."""
    sampler_state: dict[str, Any] | None
    path: Path


def save_checkpoint(
    path: str | Path,
    learner: Any,
    *,
    distribution: dict[str, Any],
    progress: TrainingProgress,
    sampler_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``learner`` (weights, optimiser, RNG) and training state to directory ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        weights = {
            k: v.detach().contiguous().clone() for k, v in learner.policy.state_dict().items()
        }
        save_file(weights, staging / MODEL_FILE)
        optimizer_tensors, optimizer_meta = _optimizer_to_tensors(learner.optimizer)
        save_file(optimizer_tensors, staging / OPTIMIZER_FILE)
        meta = {
            "format": FORMAT,
            **learner.describe(),
            "family": distribution["family"],
            "distribution": distribution,
            "spaces": _spaces(distribution["variants"]),
            "versions": _versions(),
            "progress": asdict(progress),
            "optimizer": optimizer_meta,
            "rng": {"learner": learner.rng_state(), "sampler": sampler_state},
            "files": {name: _sha256(staging / name) for name in (MODEL_FILE, OPTIMIZER_FILE)},
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def load_checkpoint(path: str | Path, *, optimizer: bool = True) -> Checkpoint:
    """Read a checkpoint directory; raise :class:`CheckpointError` naming any bad file.

    Every file is checked against its SHA-256 and read now. ``optimizer=False`` (a
    learner that will only act, :func:`load`) applies the saved optimiser state when
    the learner's optimiser is first built instead of building it now; a state that
    does not fit it then raises the same :class:`CheckpointError`.
    """
    path = Path(path)
    if path.name == META_FILE:
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    meta = _read_meta(path / META_FILE)
    for name in (MODEL_FILE, OPTIMIZER_FILE):
        _verify(path / name, meta)
    try:
        cls = get_learner_class(meta["learner"])
        config = cls.config_class.from_dict(meta["config"])
        layout = ObsLayout.from_dict(meta["layout"])
        learner = cls(layout, config, seed=int(meta["seed"]))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path / META_FILE} describes no learner we can build: {exc}"
        ) from None
    _load_weights(learner, path / MODEL_FILE)
    restore = _optimizer_restorer(path / OPTIMIZER_FILE, meta)
    if optimizer:
        restore(learner.optimizer)
    else:
        learner.restore_optimizer_later(restore)
    try:
        learner.load_rng_state(meta["rng"]["learner"])
        progress = TrainingProgress(**meta["progress"])
        distribution = dict(meta["distribution"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path / META_FILE} has malformed training state: {exc}") from None
    return Checkpoint(learner, meta, progress, distribution, meta["rng"].get("sampler"), path)


def load(path: str | Path, *, safety: bool = True) -> Any:
    """The learner stored at ``path``, ready to ``act`` (see :func:`load_checkpoint`).

    A ``safety.json`` beside ``meta.json`` wraps it in
    :class:`~game_agent.learners.safe.SafeLearner`; ``safety=False`` returns the
    adaptive learner alone (to measure what the wrapper costs).
    """
    from game_agent.learners.safe import with_safety

    learner = load_checkpoint(path, optimizer=False).learner
    learner.policy.eval()
    return with_safety(learner, path) if safety else learner


def _read_meta(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise CheckpointError(f"checkpoint file {file} is missing")
    try:
        meta = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint file {file} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{file} is not a {FORMAT} checkpoint (format {found!r})")
    return meta


def _verify(file: Path, meta: dict[str, Any]) -> None:
    if not file.is_file():
        raise CheckpointError(f"checkpoint file {file} is missing")
    expected = meta.get("files", {}).get(file.name)
    if expected != _sha256(file):
        raise CheckpointError(f"checkpoint file {file} is corrupt (its SHA-256 does not match)")


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint file {file} cannot be read: {exc}") from None


def _load_weights(learner: Any, file: Path) -> None:
    weights = _load_tensors(file)
    try:
        learner.policy.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{file} does not fit the network: {exc}") from None


def _optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            name = f"state.{index}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value.detach().contiguous().clone()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_restorer(
    file: Path, meta: dict[str, Any]
) -> Callable[[torch.optim.Optimizer], None]:
    """Read and parse the saved optimiser state now; the function returned loads it into
    an optimiser (``load_state_dict`` copies the tensors: no two optimisers share them)."""
    tensors = _load_tensors(file)
    try:
        saved = meta["optimizer"]
        parsed: list[tuple[int, str, Any]] = []
        for name, value in [*tensors.items(), *saved["scalars"].items()]:
            _, index, key = name.split(".", 2)
            parsed.append((int(index), key, value))
        groups = [
            {k: tuple(v) if k == "betas" else v for k, v in group.items()}
            for group in saved["param_groups"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{file} does not fit the optimiser: {exc}") from None

    def restore(optimizer: torch.optim.Optimizer) -> None:
        state: dict[int, dict[str, Any]] = {}
        for index, key, value in parsed:
            state.setdefault(index, {})[key] = value
        try:
            optimizer.load_state_dict({"state": state, "param_groups": groups})
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{file} does not fit the optimiser: {exc}") from None

    return restore


def _spaces(variants: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in variants:
        spec = parse_spec(name)
        out[spec.name] = {
            "agents": list(spec.agents),
            "obs_shape": list(spec.obs_shape),
            "obs_low": spec.obs_low,
            "obs_high": spec.obs_high,
            "num_actions": spec.num_actions,
            "turn_based": spec.turn_based,
        }
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("game-agent")
    except PackageNotFoundError:
        package = "unknown"
    return {
        "game_agent": package,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
