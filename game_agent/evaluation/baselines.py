"""Baselines that are not meta-learners: single-task PPO from scratch, and any fixed policy.

The "learning from scratch" baseline is stable-baselines3 PPO trained on the one
task alone (through :class:`games.gym_single.SingleAgentEnv`) for a budget of
episodes: the same K episodes the meta-learner gets to adapt in, and 100 times
as many. It is saved with SB3's own format and played back through the safe
loader (:class:`games.opponents.saved.SavedPolicyOpponent`), masked to legal moves.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from game_agent.learner import Decision, EpisodeOutcome
from game_agent.state import AdaptationState
from game_agent.tasks import Task
from games.gym_single import SingleAgentEnv
from games.opponents.base import Opponent
from games.opponents.saved import SavedPolicyOpponent
from games.registry import make_opponent
from games.spec import GameSpec

log = logging.getLogger(__name__)


class FixedPolicyLearner:
    """Any stateless Opponent-style policy behind the Learner protocol (it never adapts)."""

    def __init__(self, name: str, policy: Opponent):
        self.name = name
        self.policy = policy

    def supports(self, spec: GameSpec) -> bool:
        return spec == self.policy.spec

    def initial_state(self, spec: GameSpec) -> AdaptationState:
        return AdaptationState(self.name, spec.name)

    def act(
        self,
        states: Sequence[AdaptationState],
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        greedy: bool = False,
        draws: np.ndarray | None = None,
    ) -> tuple[Decision, list[AdaptationState]]:
        """The policy's own move (an Opponent draws from its own generator: ``greedy`` and
        ``draws`` do not apply)."""
        actions = self.policy.act(obs, masks)
        probs = np.zeros(masks.shape, dtype=np.float32)
        probs[np.arange(len(actions)), actions] = 1.0
        return Decision(actions, probs, np.zeros(len(actions), np.float32)), list(states)

    def observe(self, states, rewards, dones) -> list[AdaptationState]:
        return list(states)

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        return state


def train_sb3_from_scratch(task: Task, episodes: int, seed: int, out: Path) -> Path:
    """Train SB3 PPO on one task for ``episodes`` episodes; the saved model's path."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    class StopAfterEpisodes(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.finished = 0

        def _on_step(self) -> bool:
            self.finished += int(np.sum(self.locals["dones"]))
            return self.finished < episodes

    opponent = make_opponent(task.spec, task.opponent, seed=seed)
    env = SingleAgentEnv(task.spec, opponent, seat=task.seat, illegal="random_legal")
    n_steps = 64 if episodes * task.spec.max_steps < 4096 else 512
    model = PPO(
        "MlpPolicy", env, n_steps=n_steps, batch_size=32, seed=seed, device="cpu", verbose=0
    )
    model.learn(total_timesteps=episodes * task.spec.max_steps, callback=StopAfterEpisodes())
    path = out / f"sb3_{task.spec.name}_{task.opponent}_{task.seat}_{episodes}.zip"
    model.save(path)
    return path


class SB3FromScratch:
    """A per-task agent factory for the evaluator: trains, then plays the trained policy."""

    def __init__(self, episodes: int, workdir: Path | None = None):
        self.episodes = episodes
        self.workdir = workdir
        self.name = f"sb3_scratch_{episodes}ep"

    def __call__(self, task: Task, seed: int) -> FixedPolicyLearner:
        out = self.workdir or Path(tempfile.mkdtemp(prefix="sb3-baseline-"))
        out.mkdir(parents=True, exist_ok=True)
        path = train_sb3_from_scratch(task, self.episodes, seed, out)
        log.info("trained %s on %s (%d episodes)", self.name, task.name, self.episodes)
        policy = SavedPolicyOpponent(task.spec, path, seed=seed, deterministic=False)
        return FixedPolicyLearner(self.name, policy)
