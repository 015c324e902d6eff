"""How many rounds an agent needs to recover when a matrix-game opponent switches style.

The ``switching`` style plays one simple style, then another from a random
round in the middle half of the match. Rewards of all trials are aligned on
their switch round; the agent has recovered at the first offset after the dip
where its (3-round smoothed) mean reward is back to 90% of the way from the dip
to its level over the 10 rounds before the switch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from game_agent.evaluation.runner import play_trials
from game_agent.learner import Learner
from games.registry import make_opponent, parse_spec

BEFORE, AFTER, RECOVERED = 10, 12, 0.9


def aligned_rewards(step_rewards: np.ndarray, switch_round: np.ndarray) -> np.ndarray:
    """(trials, BEFORE + AFTER) rewards at offsets -BEFORE..AFTER-1 around each switch."""
    rows = []
    for rewards, switch in zip(step_rewards, switch_round, strict=True):
        rows.append(rewards[switch - BEFORE : switch + AFTER])
    return np.stack(rows)


def rounds_to_recover(aligned_mean: np.ndarray) -> tuple[float, float, int | None]:
    """(pre-switch level, dip, rounds from the switch until recovered or None)."""
    smooth = np.convolve(aligned_mean, np.ones(3) / 3, mode="same")
    pre = float(aligned_mean[:BEFORE].mean())
    after = smooth[BEFORE:]
    dip_at = int(np.argmin(after[:6]))
    dip = float(after[dip_at])
    if pre - dip <= 1e-9:
        return pre, dip, 0
    target = dip + RECOVERED * (pre - dip)
    for offset in range(dip_at, len(after)):
        if after[offset] >= target:
            return pre, dip, offset
    return pre, dip, None


def switching_recovery(
    learner: Learner, variant: str, *, trials: int, seed: int, seat: int = 0
) -> dict[str, Any]:
    """Play ``trials`` matches against the switching style; the aligned curve and recovery."""
    spec = parse_spec(variant)
    opponent = make_opponent(spec, "switching", seed=seed)
    results = play_trials(learner, spec, opponent, seat=seat, trials=trials, episodes=1, seed=seed)
    switches = np.asarray(opponent.switch_round)
    aligned = aligned_rewards(results.step_rewards[:, 0, :], switches)
    curve = aligned.mean(axis=0)
    pre, dip, rounds = rounds_to_recover(curve)
    return {
        "variant": spec.name,
        "offsets": list(range(-BEFORE, AFTER)),
        "aligned_reward": [float(x) for x in curve],
        "pre_switch_reward": pre,
        "dip_reward": dip,
        "rounds_to_recover": rounds,
    }
