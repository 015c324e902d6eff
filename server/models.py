"""The models a replica serves: one learner per game family, loaded once at start.

:func:`load_models` reads every checkpoint under the models directory with
``game_agent.load``; a file that cannot be loaded stops the server at start
with an error naming it (a half-served model set is worse than none). Which
variants a model serves: those its checkpoint metadata lists (they are what
``ListGames`` shows), plus any other variant of its family for which
``learner.supports(spec)`` is true.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from game_agent.errors import CheckpointError, ConfigError
from game_agent.learner import Learner
from games.errors import GameError
from games.registry import parse_spec
from games.spec import GameSpec
from server.errors import NotFound

log = logging.getLogger(__name__)


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
                raise ValueError(
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_models(models_dir: Path) -> ModelRegistry:
    """Load every checkpoint under ``models_dir``; see the module docstring."""
    from game_agent import load  # torch is imported only when models are really loaded

    if not models_dir.is_dir():
        raise ConfigError(
            f"models directory {models_dir} does not exist; train a model with "
            "`game-agent train` or pass --models DIR"
        )
    paths = sorted(p for p in models_dir.rglob("*") if p.is_file() and _is_checkpoint(p))
    if not paths:
        raise ConfigError(f"models directory {models_dir} holds no checkpoints")
    models = [_load_one(load, path, models_dir) for path in paths]
    return ModelRegistry(models)


CHECKPOINT_SUFFIXES = (".safetensors",)


def _is_checkpoint(path: Path) -> bool:
    return path.suffix in CHECKPOINT_SUFFIXES and not path.name.startswith(".")


def _load_one(load: Callable[[Path], Learner], path: Path, root: Path) -> ServedModel:
    try:
        learner = load(path)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot serve checkpoint {path}: {exc}") from None
    except Exception as exc:  # a truncated or foreign file must still name itself
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a game-agent checkpoint: {exc}"
        ) from None
    meta: dict[str, Any] = dict(getattr(learner, "metadata", None) or {})
    family = meta.get("family")
    if not isinstance(family, str):
        raise CheckpointError(f"checkpoint {path} does not say which game family it plays")
    splits: dict[str, str] = {}
    variants = []
    for split, names in (meta.get("splits") or {}).items():
        for name in names:
            try:
                spec = parse_spec(name)
            except GameError as exc:
                raise CheckpointError(
                    f"checkpoint {path} lists an invalid variant: {exc}"
                ) from None
            if spec.name not in splits and learner.supports(spec):
                splits[spec.name] = split
                variants.append(spec)
    model = ServedModel(
        family=family,
        learner=learner,
        checkpoint=str(path.relative_to(root)),
        sha256=file_sha256(path),
        training_steps=int(meta.get("training_steps", 0)),
        version=str(meta.get("version", "")),
        variants=tuple(variants),
        splits=splits,
    )
    log.info(
        "loaded model",
        extra={"family": family, "checkpoint": model.checkpoint, "learner": learner.name},
    )
    return model
