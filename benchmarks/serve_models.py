"""The checkpoints the serving benchmark serves: RL2 per family, found or trained on the spot.

Latency does not depend on how well a model plays, only on its architecture,
so a checkpoint trained for a few thousand decisions measures the service as
well as a fully trained one. :func:`prepare_models` looks for an RL2
checkpoint of each family under ``models/`` (the directory ``game-agent
serve`` reads by default); a family without one gets a tiny one, trained with
:mod:`game_agent.train` and cached under ``var/bench-models/`` so later runs
reuse it. The chosen checkpoints are copied into one directory for the server
(it refuses two checkpoints for one family, so ``models/`` itself may not do).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "models"
CACHE_DIR = ROOT / "var" / "bench-models"

TINY_RL2 = {
    "matrix": {"num_lanes": 8, "episodes_per_trial": 2, "hidden_size": 32, "num_minibatches": 2},
    "connect_n": {
        "num_lanes": 8,
        "episodes_per_trial": 2,
        "hidden_size": 32,
        "conv_channels": 16,
        "conv_layers": 2,
        "num_minibatches": 2,
    },
}
"""Small but real RL2 settings per family (the default architecture of each, narrower)."""


@dataclass(frozen=True)
class ModelChoice:
    family: str
    path: Path
    trained_here: bool
    """True when the checkpoint was trained (or taken from the cache) by the benchmark."""
    decisions: int


def find_rl2(family: str, root: Path = MODELS_DIR) -> Path | None:
    """The newest RL2 checkpoint of ``family`` under ``root``, or None."""
    found = []
    for meta_file in root.rglob("meta.json") if root.is_dir() else ():
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if meta.get("learner") == "rl2" and meta.get("family") == family:
            found.append((meta_file.stat().st_mtime, meta_file.parent))
    return max(found)[1] if found else None


def train_tiny_rl2(family: str, steps: int, out: Path) -> Path:
    """Train an RL2 learner on ``family``'s train split for ``steps`` decisions; save to ``out``."""
    from game_agent.checkpoint import save_checkpoint
    from game_agent.config import TrainConfig
    from game_agent.train import TrainOptions, build_run, train

    config = TrainConfig(game=family, algo="rl2", steps=steps, learner=TINY_RL2.get(family, {}))
    run = build_run(config)
    options = TrainOptions(steps=steps, progress_bar=False, tensorboard=False, handle_sigint=False)
    train(run, options)
    save_checkpoint(
        out, run.learner, distribution=run.distribution.describe(), progress=run.progress
    )
    log.info("trained a tiny RL2 checkpoint for %s: %s", family, out)
    return out


def _decisions(path: Path) -> int:
    meta = json.loads((path / "meta.json").read_text())
    return int(meta.get("progress", {}).get("decisions", 0))


def prepare_models(
    families: tuple[str, ...],
    train_steps: int,
    served: Path,
    models: Path = MODELS_DIR,
    cache: Path = CACHE_DIR,
) -> list[ModelChoice]:
    """Copy one RL2 checkpoint per family into ``served`` (found, cached or trained)."""
    choices = []
    for family in families:
        path, trained = find_rl2(family, models), False
        if path is None:
            path, trained = find_rl2(family, cache), True
        if path is None:
            path = train_tiny_rl2(family, train_steps, cache / f"rl2-{family}")
        shutil.copytree(path, served / f"rl2-{family}")
        choices.append(ModelChoice(family, path, trained, _decisions(path)))
    return choices
