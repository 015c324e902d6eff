"""The models a replica serves: one learner per game family, loaded once at start.

:func:`load_models` reads every checkpoint under the models directory with
``game_agent.load``; a file that cannot be loaded stops the server at start
with an error naming it (a half-served model set is worse than none). Which
variants a model serves: those its checkpoint metadata lists (they are what
``ListGames`` shows), plus any other variant of its family for which
``learner.supports(spec)`` is true.

Inference. By default each learner is served through onnxruntime
(:func:`game_agent.inference.accelerate`): a batch-1 torch forward pass of these
small networks is about a millisecond of per-op overhead, the verified ONNX
graph a tenth of it. Graphs for the listed variants are compiled and checked
against torch at start; other variants' on their first turn. Given a
``trace_dir`` (the server's ``<data>/graphs``), traced graphs are kept there, so
a restarted server skips most of the compile time (tracing) for checkpoints it
has served before; every graph is still checked against torch, and a cached one
that fails is traced again (:mod:`game_agent.graph_cache`). Learners that cannot
be accelerated (MAML) are served by torch, and ``inference="torch"`` serves
every learner by torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from game_agent.errors import CheckpointError, ConfigError, GameAgentError
from game_agent.learner import Learner
from games.errors import GameError
from games.registry import get_split, parse_spec
from games.spec import GameSpec
from server.errors import NotFound

log = logging.getLogger(__name__)

META_FILE = "meta.json"
MODEL_FILE = "model.safetensors"
"""File names of a ``game_agent.checkpoint`` directory (read here without importing torch)."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded checkpoint and what the service says about it."""

    family: str
    """The game family this model plays; also its key in the registry."""
    learner: Learner
    checkpoint: str
    """Checkpoint file name (relative to the models directory)."""
    sha256: str
    """Content hash of the checkpoint file; sessions and profiles remember it."""
    training_steps: int = 0
    version: str = ""
    variants: tuple[GameSpec, ...] = ()
    """Variants listed by ``ListGames`` (the model's training and held-out variants)."""
    splits: dict[str, str] = field(default_factory=dict)
    """Canonical spec -> split name ("train" / "heldout") for the listed variants."""

    @property
    def name(self) -> str:
        return self.family

    def supports(self, spec: GameSpec) -> bool:
        return spec.family == self.family and bool(self.learner.supports(spec))


class ModelRegistry:
    """The served models by family; lookups raise NOT_FOUND naming what is served."""

    def __init__(self, models: Iterable[ServedModel]):
        self._models: dict[str, ServedModel] = {}
        for model in models:
            if model.family in self._models:
                other = self._models[model.family].checkpoint
                raise ConfigError(
                    f"two checkpoints serve family {model.family!r}: {other} and {model.checkpoint}"
                )
            self._models[model.family] = model

    def __iter__(self):
        return iter(sorted(self._models.values(), key=lambda m: m.family))

    def __len__(self) -> int:
        return len(self._models)

    def get(self, family: str) -> ServedModel | None:
        return self._models.get(family)

    def for_family(self, family: str) -> ServedModel:
        model = self._models.get(family)
        if model is None:
            served = ", ".join(sorted(self._models)) or "none"
            raise NotFound(f"no model serves game family {family!r}; served families: {served}")
        return model

    def for_spec(self, spec: GameSpec) -> ServedModel:
        model = self.for_family(spec.family)
        if not model.supports(spec):
            raise NotFound(
                f"game variant {spec.name} is not served: the {model.learner.name} model for "
                f"{spec.family} ({model.checkpoint}) cannot play it; "
                "ListGames lists the served variants"
            )
        return model


INFERENCE_BACKENDS = ("onnxruntime", "torch")


def load_models(
    models_dir: Path, inference: str = "onnxruntime", *, trace_dir: Path | None = None
) -> ModelRegistry:
    """Load every checkpoint under ``models_dir``; see the module docstring.

    A checkpoint is a directory holding ``meta.json`` and ``model.safetensors``
    (``game_agent.checkpoint``); directories whose name starts with "." (a save in
    progress) are skipped. ``trace_dir`` caches the onnxruntime graphs' traces on
    disk (None: only in this process).
    """
    from game_agent import load  # torch is imported only when models are really loaded

    if not models_dir.is_dir():
        raise ConfigError(
            f"models directory {models_dir} does not exist; train a model with "
            "`game-agent train` or pass --models DIR"
        )
    found = {
        file.parent
        for pattern in (META_FILE, MODEL_FILE)
        for file in models_dir.rglob(pattern)
        if not any(part.startswith(".") for part in file.relative_to(models_dir).parts)
    }
    if not found:
        raise ConfigError(
            f"models directory {models_dir} holds no checkpoints "
            f"(directories with {META_FILE} and {MODEL_FILE})"
        )
    if inference not in INFERENCE_BACKENDS:
        raise ConfigError(f"inference must be one of {INFERENCE_BACKENDS}, got {inference!r}")
    registry = ModelRegistry(_load_one(load, path, models_dir) for path in sorted(found))
    if inference == "torch":
        return registry
    return ModelRegistry(_accelerated(model, trace_dir) for model in registry)


def _accelerated(model: ServedModel, trace_dir: Path | None) -> ServedModel:
    from game_agent.inference import accelerate

    try:
        learner = accelerate(model.learner, model.variants, trace_dir=trace_dir)
    except GameAgentError as exc:
        raise CheckpointError(
            f"cannot serve checkpoint {model.checkpoint} through onnxruntime ({exc}); "
            "serve it with --inference torch"
        ) from None
    return dataclasses.replace(model, learner=learner)


def _load_one(load: Callable[[Path], Learner], path: Path, root: Path) -> ServedModel:
    try:
        learner = load(path)
        meta = json.loads((path / META_FILE).read_text())
        family = str(meta["family"])
        sha256 = str(meta["files"][MODEL_FILE])
        trained = meta.get("distribution", {})
    except CheckpointError as exc:
        raise CheckpointError(f"cannot serve checkpoint {path}: {exc}") from None
    except Exception as exc:  # a truncated or foreign file must still name itself
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a game-agent checkpoint: {exc}"
        ) from None
    splits = _listed_variants(learner, family, trained, path)
    model = ServedModel(
        family=family,
        learner=learner,
        checkpoint=str(path.relative_to(root)),
        sha256=sha256,
        training_steps=int(meta.get("progress", {}).get("decisions", 0)),
        version=str(meta.get("versions", {}).get("game_agent", "")),
        variants=tuple(parse_spec(name) for name in splits),
        splits=splits,
    )
    log.info(
        "loaded model",
        extra={"family": family, "checkpoint": model.checkpoint, "learner": learner.name},
    )
    return model


def _listed_variants(
    learner: Learner, family: str, trained: dict[str, Any], path: Path
) -> dict[str, str]:
    """Canonical spec -> split of the variants ListGames shows: those trained on, then
    the family's own train and heldout variants the learner can play."""
    sources = [(str(trained.get("split", "train")), trained.get("variants", []))]
    for split in ("train", "heldout"):
        with contextlib.suppress(GameError):
            sources.append((split, list(get_split(family, split).variants)))
    listed: dict[str, str] = {}
    for split, names in sources:
        for name in names:
            try:
                spec = parse_spec(name)
            except GameError as exc:
                raise CheckpointError(
                    f"checkpoint {path} lists a variant that no longer parses: {exc}"
                ) from None
            if spec.name not in listed and learner.supports(spec):
                listed[spec.name] = split
    return listed
