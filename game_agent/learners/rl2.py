"""RL2: a recurrent policy that adapts to a player in its memory, trained with PPO over trials.

Duan et al. (2016), "RL^2: Fast Reinforcement Learning via Slow Reinforcement
Learning". A GRU reads, at every decision, the encoded observation with the
previous action (a one-hot vector, or for boards a plane marking its cell or
column, so one network plays every board size), the rewards since that action
and a flag saying an episode ended in between. Its hidden state is kept across
the K episodes of a trial against one opponent and reset only when a new trial
(a new player) begins, so whatever it learns about the player in episode 1 is
still there in episode K. No gradient step happens at play time, and the
learner never clears a player's memory on its own: a player who keeps playing
past K episodes is still remembered (a new player starts from
``initial_state``, exactly as a new trial does in training).

Training treats the trial as the episode: GAE bootstraps across episode
boundaries inside a trial (exploring early is paid for by exploiting later)
and is cut at trial ends. The update is recurrent PPO in the style of
CleanRL's ``ppo_atari_lstm``: the memory each sequence started from is stored
with the rollout, minibatches are whole sequences (or ``bptt_len`` chunks),
and replay restarts the memory wherever a trial started.
"""

from __future__ import annotations

from dataclasses import dataclass

from game_agent.errors import ConfigError
from game_agent.learners.base import PPOConfig, PPOLearner


@dataclass(frozen=True)
class RL2Config(PPOConfig):
    """RL2 settings: every PPO setting (see :class:`PPOConfig`) plus the replay length."""

    episodes_per_trial: int = 4
    """K: episodes against one player per trial; memory persists across them."""
    gamma: float = 0.995
    """Discount per decision; close to 1 so information gathered early in a trial pays later."""
    bptt_len: int = 0
    """Length of the sequences replayed in the update; 0 replays each lane's whole rollout
    (exact back-propagation through the trial), a positive value truncates it into chunks
    that start from the memory stored while acting."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bptt_len < 0:
            raise ConfigError(
                f"bptt_len must be 0 (whole rollouts) or positive, got {self.bptt_len}"
            )


class RL2Learner(PPOLearner):
    """The RL2 meta-learner (see the module docstring)."""

    name = "rl2"
    config_class = RL2Config
    recurrent = True
    cut_at_trials = True

    def _sequence_length(self, steps: int) -> int:
        bptt_len = self.config.bptt_len  # type: ignore[attr-defined]
        return steps if bptt_len == 0 else min(bptt_len, steps)


LEARNER = RL2Learner
