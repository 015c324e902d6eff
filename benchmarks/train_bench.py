"""Meta-training throughput: env-steps/s of RL2 and multi-task PPO vs stable-baselines3 PPO.

For each family (connect_n, matrix) one task is fixed: a train-split variant
and a train-split opponent style. In the same run, on this machine:

- stable-baselines3 PPO (``MlpPolicy``, CPU) trains on that task through a
  gymnasium wrapper around the family's PettingZoo env (:class:`OpponentSeatEnv`:
  the opponent plays inside ``step``, the learner's seat is drawn per episode,
  an illegal action is replaced by a uniformly random legal one);
- ``game-agent``'s RL2 and multi-task learners train on the same task, with
  the learner settings of the shipped ``configs/<family>_<algo>.toml``;
- the same two learners train on their shipped config unchanged (the whole
  train split), for reference against the same SB3 figure.

**One env-step is one learner decision on both sides**: one ``step`` of the
gymnasium env for SB3 (the opponent's moves inside it are not counted), one
decision of ``IterationStats.decisions`` for ours. Both figures are wall-clock
rates of whole training (acting, opponents, rules and PPO updates), with the
same number of torch threads (the ``game-agent train`` default). SB3 keeps its
default rollout and minibatch sizes (2048 and 64) but runs the shipped
configs' 4 epochs per update instead of its default 10, so neither side is
charged for more gradient passes than the other makes.

Usage::

    python -m benchmarks.train_bench [--quick] [--families connect_n,matrix] [--out FILE]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

import games
from benchmarks.kernel_bench import machine
from game_agent.config import TrainConfig, load_train_config
from game_agent.train import build_run
from game_agent.train_cli import default_threads
from games.opponents.base import random_legal

logger = logging.getLogger("train_bench")

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
ALGOS = ("rl2", "multitask")
SB3 = "stable-baselines3 PPO (MlpPolicy)"


@dataclass(frozen=True)
class Case:
    """The one task both sides train on."""

    family: str
    variant: str
    opponent: str


CASES = {
    "connect_n": Case("connect_n", "connect_n(rows=6,cols=7,k=4,gravity=true)", "greedy"),
    "matrix": Case("matrix", "matrix(name=rps)", "copy_last"),
}


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run measures."""

    families: tuple[str, ...]
    seconds: float
    """Minimum wall time of each of our measurements (whole training iterations)."""
    sb3_steps: int
    """Env-steps SB3 trains for (a multiple of its rollout length)."""
    sb3_rollout: int = 2048
    """SB3's n_steps (its default)."""
    sb3_batch: int = 64
    """SB3's minibatch size (its default)."""
    quick_lanes: int = 0
    """When positive, our learners play this many lanes (a smoke run)."""
    warmup: bool = True
    """Train one iteration of ours before timing (first-call costs are not throughput)."""
    seed: int = 0


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    family: str
    task: str
    trainer: str
    env_steps: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.env_steps / self.seconds


class OpponentSeatEnv(gymnasium.Env):
    """One seat of a family's PettingZoo env as a gymnasium env; ``opponent`` plays the other.

    Works over the AEC env of turn-based families and the Parallel env of
    simultaneous ones. Each ``step`` is one move of the learner; in AEC games the
    opponent's replies are played inside it, and the reward is the learner's
    over all of them. The learner's seat is drawn at every reset, as the
    meta-training task distribution draws it per trial.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(self, spec: games.GameSpec, opponent: str, seed: int = 0):
        self.game_spec = spec
        """The variant (``spec`` is gymnasium's registration record, None here)."""
        self.env = games.make(spec)
        self.parallel = games.get_family(spec.family).parallel
        self.style = opponent
        self.opponent = games.make_opponent(spec, opponent, seed=seed)
        self.opponent.reset(1)
        box = self.env.observation_space(spec.agents[0])["observation"]
        self.observation_space = spaces.Box(
            box.low.reshape(-1), box.high.reshape(-1), dtype=np.float32
        )
        self.action_space = spaces.Discrete(spec.num_actions)
        self.me, self.them = spec.agents[0], spec.agents[1]
        self._obs: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # a seeded reset reseeds the opponent too, so episodes repeat
            self.opponent = games.make_opponent(self.game_spec, self.style, seed=seed)
            self.opponent.reset(1)
        seat = int(self.np_random.integers(2))
        self.me, self.them = self.game_spec.agents[seat], self.game_spec.agents[1 - seat]
        self.opponent.reset_where(np.ones(1, dtype=bool))
        game_seed = int(self.np_random.integers(2**31))
        if self.parallel:
            self._obs, _ = self.env.reset(seed=game_seed)
        else:
            self.env.reset(seed=game_seed)
            self._opponent_turns()
        return self._observation(self.me), {}

    def step(self, action: int):
        mask = self._observation_dict(self.me)["action_mask"].astype(bool)
        if not mask[action]:
            action = int(random_legal(mask[None], self.np_random)[0])
        if self.parallel:
            reply = self._opponent_move()
            self._obs, rewards, terminated, truncated, _ = self.env.step(
                {self.me: action, self.them: reply}
            )
            self._opponent_sees()
            done = terminated[self.me] or truncated[self.me]
            return self._observation(self.me), float(rewards[self.me]), done, False, {}
        self.env.step(action)
        self._opponent_sees()
        reward = float(self.env.rewards[self.me]) + self._opponent_turns()
        done = self.env.terminations[self.me] or self.env.truncations[self.me]
        return self._observation(self.me), reward, bool(done), False, {}

    def _opponent_turns(self) -> float:
        """Play the opponent's AEC turns until the learner moves or the game ends."""
        reward = 0.0
        while self.env.agent_selection == self.them and not self._over():
            self.env.step(self._opponent_move())
            self._opponent_sees()
            reward += float(self.env.rewards[self.me])
        return reward

    def _over(self) -> bool:
        return bool(self.env.terminations[self.me] or self.env.truncations[self.me])

    def _opponent_move(self) -> int:
        seen = self._observation_dict(self.them)
        mask = seen["action_mask"].astype(bool)[None]
        return int(self.opponent.act(seen["observation"][None], mask)[0])

    def _opponent_sees(self) -> None:
        self.opponent.observe(self._observation_dict(self.them)["observation"][None])

    def _observation_dict(self, agent: str) -> dict[str, np.ndarray]:
        return self._obs[agent] if self.parallel else self.env.observe(agent)

    def _observation(self, agent: str) -> np.ndarray:
        return self._observation_dict(agent)["observation"].astype(np.float32).reshape(-1)


def sb3_row(case: Case, config: BenchConfig) -> Row:
    """Env-steps/s of stable-baselines3 PPO training on ``case`` for ``config.sb3_steps``."""
    from stable_baselines3 import PPO

    env = OpponentSeatEnv(games.parse_spec(case.variant), case.opponent, seed=config.seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=config.sb3_rollout,
        batch_size=config.sb3_batch,
        n_epochs=4,
        device="cpu",
        seed=config.seed,
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=config.sb3_steps)
    elapsed = time.perf_counter() - start
    return Row(case.family, _task(case), SB3, int(model.num_timesteps), elapsed)


def shipped_config(family: str, algo: str) -> TrainConfig:
    return load_train_config(CONFIG_DIR / f"{family}_{algo}.toml")


def meta_row(case: Case, algo: str, config: BenchConfig, *, whole_split: bool) -> Row:
    """Env-steps/s of our ``algo`` with its shipped settings, on ``case`` or the whole split."""
    train = shipped_config(case.family, algo)
    if not whole_split:
        train = replace(train, variants=(case.variant,), opponents=(case.opponent,))
    if config.quick_lanes:
        train = replace(train, learner={**train.learner, "num_lanes": config.quick_lanes})
    run = build_run(replace(train, seed=config.seed))
    if config.warmup:
        run.learner.train_iteration(run.sampler)
    decisions, start = 0, time.perf_counter()
    while True:
        decisions += run.learner.train_iteration(run.sampler).decisions
        elapsed = time.perf_counter() - start
        if elapsed >= config.seconds:
            break
    task = f"train split ({len(run.distribution.specs)} variants)" if whole_split else _task(case)
    return Row(case.family, task, f"game-agent {algo} (shipped config)", decisions, elapsed)


def _task(case: Case) -> str:
    return f"`{case.variant}` vs {case.opponent}"


def bench_family(family: str, config: BenchConfig) -> list[Row]:
    case = CASES[family]
    logger.info("%s: stable-baselines3 PPO", family)
    rows = [sb3_row(case, config)]
    for whole_split in (False, True):
        for algo in ALGOS:
            logger.info("%s: %s (%s)", family, algo, "train split" if whole_split else "one task")
            rows.append(meta_row(case, algo, config, whole_split=whole_split))
    return rows


def table(rows: list[Row]) -> str:
    """The result as a markdown table; ratios are against SB3 on the same family."""
    lines = [
        "| family | task | trainer | env-steps | seconds | env-steps/s | vs SB3 PPO |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    base = {row.family: row.rate for row in rows if row.trainer == SB3}
    for row in rows:
        lines.append(
            f"| {row.family} | {row.task} | {row.trainer} | {row.env_steps:,} "
            f"| {row.seconds:.1f} | {row.rate:,.0f} | {row.rate / base[row.family]:,.1f}x |"
        )
    return "\n".join(lines)


def report(rows: list[Row], config: BenchConfig) -> str:
    """Table plus the machine and the counting rule."""
    facts = machine()
    header = [
        "## Meta-training throughput",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {facts['cpu']}, {facts['cores']} "
        f"cores; {facts['platform']}; Python {facts['python']}, NumPy {facts['numpy']}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s).",
        "One env-step = one learner decision on both sides (SB3: one gymnasium `step`, "
        "opponent moves inside it not counted). Rates are wall-clock over whole training "
        "(acting, opponents, rules, PPO updates).",
        "",
    ]
    return "\n".join([*header, table(rows)]) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--families", default=",".join(CASES), help="comma-separated families")
    parser.add_argument("--out", default=None, help="also write the report to this file")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    unknown = sorted(set(families) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown families {unknown}; this benchmark knows {', '.join(CASES)}")
    torch.set_num_threads(default_threads())
    if args.quick:
        config = BenchConfig(
            families,
            seconds=args.seconds or 0.0,
            sb3_steps=64,
            sb3_rollout=64,
            sb3_batch=32,
            quick_lanes=4,
            warmup=False,
            seed=args.seed,
        )
    else:
        config = BenchConfig(families, seconds=args.seconds or 20.0, sb3_steps=4096, seed=args.seed)
    rows = [row for family in families for row in bench_family(family, config)]
    text = report(rows, config)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
