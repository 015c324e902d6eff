"""The training loop, as importable functions (the CLI is a thin shell around them).

:func:`train` runs collect-and-update iterations of any registered learner
until a decision budget is spent, with a tqdm progress bar, TensorBoard
scalars, periodic checkpoints and a clean stop on Ctrl-C: the first Ctrl-C
finishes the current iteration, saves a checkpoint and returns; a second one
aborts at once. :func:`build_run` turns a :class:`~game_agent.config.TrainConfig`
(or a checkpoint to resume) into the learner, sampler and task distribution
that :func:`train` needs; :func:`train_from_config` does both.

A learner registered for training provides, besides the Learner protocol:
``policy`` (an ``nn.Module``), ``optimizer``, ``make_sampler(distribution,
seed)``, ``train_iteration(sampler) -> IterationStats``, ``describe()``,
``rng_state()``/``load_rng_state()``, and a class-level ``config_class``.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from game_agent.checkpoint import TrainingProgress, load_checkpoint, save_checkpoint
from game_agent.config import TrainConfig
from game_agent.errors import ConfigError
from game_agent.learners import get_learner_class
from game_agent.learners.base import IterationStats
from game_agent.policies import layout_for
from game_agent.rollout import Sampler
from game_agent.tasks import TaskDistribution

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"


@dataclass(frozen=True)
class TrainOptions:
    """How a run is driven, as opposed to what is learnt (that is the learner's config)."""

    steps: int
    """Total learner decisions to reach, counting those before a resume."""
    out_dir: Path | None = None
    """Run directory for checkpoints and TensorBoard logs; None writes nothing."""
    checkpoint_every: int = 0
    """Decisions between periodic checkpoints (0: only at the end or on Ctrl-C)."""
    tensorboard: bool = True
    """Write scalars under ``out_dir/tensorboard`` (needs ``out_dir``)."""
    progress_bar: bool = True
    """Show a tqdm bar (steps/s, mean return, ETA) on stderr."""
    handle_sigint: bool = True
    """Turn the first Ctrl-C into save-and-stop (main thread only)."""


@dataclass
class TrainResult:
    progress: TrainingProgress
    last: IterationStats | None
    """Statistics of the final iteration (None when no iteration ran)."""
    checkpoint: Path | None
    """The last checkpoint written, if any."""
    interrupted: bool = False
    history: list[IterationStats] = field(default_factory=list)


@dataclass
class Run:
    """Everything :func:`train` needs, built from a config or a checkpoint."""

    learner: Any
    sampler: Sampler
    distribution: TaskDistribution
    progress: TrainingProgress


def train(
    run: Run,
    options: TrainOptions,
    *,
    on_iteration: Callable[[IterationStats, TrainingProgress], None] | None = None,
) -> TrainResult:
    """Train ``run.learner`` until ``options.steps`` decisions; see the module docstring."""
    progress = run.progress
    result = TrainResult(progress, None, None)
    writer = _writer(options)
    bar = _progress_bar(options, progress)
    next_save = _next_multiple(progress.decisions, options.checkpoint_every)
    try:
        with _stop_on_sigint(options.handle_sigint) as stop_requested:
            while progress.decisions < options.steps and not stop_requested():
                started = time.perf_counter()
                stats = run.learner.train_iteration(run.sampler)
                elapsed = time.perf_counter() - started
                _advance(progress, stats)
                result.last = stats
                result.history.append(stats)
                _report(writer, bar, stats, progress, elapsed)
                if on_iteration is not None:
                    on_iteration(stats, progress)
                if next_save and progress.decisions >= next_save and options.out_dir:
                    result.checkpoint = _save(run, options.out_dir)
                    next_save = _next_multiple(progress.decisions, options.checkpoint_every)
            result.interrupted = stop_requested()
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    if result.interrupted:
        log.warning("interrupted at %d decisions", progress.decisions)
    if options.out_dir is not None:
        result.checkpoint = _save(run, options.out_dir)
    return result


def build_run(config: TrainConfig, *, resume: str | Path | None = None) -> Run:
    """The learner, sampler and tasks of a run: fresh from ``config``, or resumed."""
    if not config.game or not config.algo:
        raise ConfigError("a training run needs a game family and a learner (algo)")
    if resume is not None:
        return _resume(config, resume)
    cls = get_learner_class(config.algo)
    distribution = TaskDistribution(
        config.game,
        config.split,
        seed=config.seed,
        variants=config.variants,
        opponents=config.opponents,
        seats=config.seats,
    )
    learner_config = cls.config_class.from_dict(config.learner)
    learner = cls(layout_for(distribution.specs), learner_config, seed=config.seed)
    sampler = learner.make_sampler(distribution, seed=config.seed + 1)
    return Run(learner, sampler, distribution, TrainingProgress())


def train_from_config(
    config: TrainConfig,
    *,
    out_dir: str | Path | None,
    resume: str | Path | None = None,
    progress_bar: bool = True,
    tensorboard: bool = True,
    handle_sigint: bool = True,
) -> TrainResult:
    """Build the run (fresh or resumed) and train it to ``config.steps`` decisions."""
    run = build_run(config, resume=resume)
    options = TrainOptions(
        steps=config.steps,
        out_dir=Path(out_dir) if out_dir is not None else None,
        checkpoint_every=config.checkpoint_every,
        tensorboard=tensorboard,
        progress_bar=progress_bar,
        handle_sigint=handle_sigint,
    )
    log.info(
        "training %s on %r from %d to %d decisions",
        run.learner.name,
        run.distribution,
        run.progress.decisions,
        options.steps,
    )
    return train(run, options)


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint directory, or a run directory (meaning its latest checkpoint)."""
    path = Path(path)
    latest = path / CHECKPOINT_DIR / LATEST
    return latest if latest.is_dir() else path


def _resume(config: TrainConfig, resume: str | Path) -> Run:
    checkpoint = load_checkpoint(resolve_checkpoint(resume))
    learner = checkpoint.learner
    if learner.name != config.algo:
        raise ConfigError(
            f"checkpoint {checkpoint.path} holds a {learner.name} learner, not {config.algo}"
        )
    saved = checkpoint.distribution
    if saved["family"] != config.game:
        raise ConfigError(
            f"checkpoint {checkpoint.path} was trained on {saved['family']}, not {config.game}"
        )
    if config.learner and _settings_differ(learner, config.learner):
        log.warning(
            "resuming with the checkpoint's learner settings; the config's [learner] is ignored"
        )
    distribution = TaskDistribution(
        saved["family"],
        saved["split"],
        variants=saved["variants"],
        opponents=saved["opponents"],
        seats=saved["seats"],
    )
    sampler = learner.make_sampler(distribution, seed=0)
    if checkpoint.sampler_state is not None:
        sampler.load_state_dict(checkpoint.sampler_state)
    return Run(learner, sampler, distribution, checkpoint.progress)


def _settings_differ(learner: Any, settings: dict[str, Any]) -> bool:
    current = learner.config.to_dict()
    return any(current.get(key) != value for key, value in settings.items())


def _save(run: Run, out_dir: Path) -> Path:
    directory = out_dir / CHECKPOINT_DIR
    named = directory / f"step_{run.progress.decisions:010d}"
    for target in (named, directory / LATEST):
        save_checkpoint(
            target,
            run.learner,
            distribution=run.distribution.describe(),
            progress=run.progress,
            sampler_state=run.sampler.state_dict(),
        )
    log.info("saved checkpoint %s", named)
    return named


def _advance(progress: TrainingProgress, stats: IterationStats) -> None:
    progress.decisions += stats.decisions
    progress.iterations += 1
    progress.kernel_steps += stats.kernel_steps
    progress.episodes += stats.episodes


def _next_multiple(value: int, every: int) -> int:
    return (value // every + 1) * every if every > 0 else 0


def _writer(options: TrainOptions) -> Any:
    if not options.tensorboard or options.out_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(options.out_dir / "tensorboard"))


def _progress_bar(options: TrainOptions, progress: TrainingProgress) -> Any:
    if not options.progress_bar:
        return None
    from tqdm import tqdm

    return tqdm(
        total=options.steps,
        initial=min(progress.decisions, options.steps),
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
    )


def _report(
    writer: Any, bar: Any, stats: IterationStats, progress: TrainingProgress, elapsed: float
) -> None:
    rate = stats.decisions / elapsed if elapsed > 0 else math.nan
    if bar is not None:
        bar.update(min(stats.decisions, max(bar.total - bar.n, 0)))  # the last rollout overshoots
        bar.set_postfix(ret=f"{stats.mean_return:.3f}", refresh=False)
    if writer is not None:
        step = progress.decisions
        writer.add_scalar("train/mean_return", stats.mean_return, step)
        for k, value in enumerate(stats.return_by_episode):
            writer.add_scalar(f"adaptation/return_episode_{k}", value, step)
        for key, value in stats.losses.items():
            writer.add_scalar(f"loss/{key}", value, step)
        writer.add_scalar("perf/decisions_per_second", rate, step)
    log.debug(
        "iteration %d: %d decisions, return %.3f, %.0f decisions/s",
        progress.iterations,
        progress.decisions,
        stats.mean_return,
        rate,
    )


@contextmanager
def _stop_on_sigint(enabled: bool) -> Iterator[Callable[[], bool]]:
    """Yield a ``stop_requested()`` flag set by the first Ctrl-C; the second one aborts."""
    requested = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handler(signum: int, frame: Any) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        log.warning("Ctrl-C: finishing this iteration, saving a checkpoint, then stopping")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
