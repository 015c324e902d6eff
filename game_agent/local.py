"""LocalOpponent: a learner playing one seat in-process, for ``game-agent play --local``.

It speaks the same small protocol as the served opponent of the SDK
(``clients.opponent.AdaptiveOpponent``: ``act``, ``player_moved``,
``end_episode``, ``insight``), so the pygame demos take either without knowing
which. The player's :class:`~game_agent.state.AdaptationState` lives in
memory for as long as the object does; the learner itself is never changed.

The calls to the learner mirror what the server does for a session, so an
agent played locally behaves as it would when served: before every move after
the first of an episode, ``observe`` records the reward since the previous
move; at the end of the episode ``observe`` records the final reward with
``done``, then ``end_episode`` lets the learner adapt.

The read of the player's style is optional and injected (``tracker``: any
object with ``record_move``, ``record_prediction``, ``record_result`` and
``lines``, such as ``clients.insight.PlayerInsight``), because ``game_agent``
never imports ``clients``; the ``play`` command passes one in.

:func:`local_opponent_factory` is what ``game-agent play --local`` hands the
demo: it loads the named checkpoint (or the family's newest one under
``models/``, :func:`default_checkpoint`) with ``game_agent.load``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from game_agent.errors import CheckpointError, IncompatibleGameError
from game_agent.learner import Decision, EpisodeOutcome, Learner
from game_agent.sampling import seeded_draw
from games import GameSpec, parse_spec


class InsightTracker(Protocol):
    """What LocalOpponent reports to, to describe the player (see the module docstring)."""

    def record_move(self, action: int) -> None: ...

    def record_prediction(self, probabilities: np.ndarray | None) -> None: ...

    def record_result(self, agent_result: int) -> None: ...

    def lines(self) -> dict[str, str]: ...


class LocalOpponent:
    """A :class:`~game_agent.learner.Learner` on seat ``seat`` of ``spec``, one player's memory.

    With a ``seed`` (0..2**64-1), every sampled move is drawn as a served session with that
    seed draws it (``game_agent.sampling.seeded_draw`` of the seed and the turn number), so
    one seed and one sequence of the player's moves replay one game, here or on a server.
    """

    def __init__(
        self,
        learner: Learner,
        spec: GameSpec | str,
        seat: int = 1,
        *,
        greedy: bool = False,
        tracker: InsightTracker | None = None,
        seed: int | None = None,
    ):
        self.spec = parse_spec(spec)
        if not learner.supports(self.spec):
            raise IncompatibleGameError(
                f"the {learner.name} learner cannot play {self.spec.name}; "
                "load a checkpoint trained on this game family"
            )
        if not 0 <= seat < self.spec.num_agents:
            raise IncompatibleGameError(
                f"seat must be 0..{self.spec.num_agents - 1} for {self.spec.name}, got {seat}"
            )
        if seed is not None and not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in 0..2**64-1, got {seed}")
        self.learner = learner
        self.seat = seat
        self.agent = self.spec.agents[seat]
        self.greedy = greedy
        self.tracker = tracker
        self.state = learner.initial_state(self.spec)
        self.last_decision: Decision | None = None
        self.results = {"agent": 0, "player": 0, "draw": 0}
        self._episode_reward = 0.0
        self._moves = 0
        self.seed = seed
        """With a seed, sampled moves are those a served session with that seed plays."""
        self._turn = 1
        """The turn number a served session would be at (acts and episode ends count)."""

    def act(self, observation: Any, action_mask: Any = None, reward: float = 0.0) -> int:
        """The agent's move; ``reward`` is what it received since its previous move."""
        obs, mask = self._check(observation, action_mask)
        if self._moves:
            [self.state] = self.learner.observe(
                [self.state], np.array([reward], np.float32), np.array([False])
            )
            self._episode_reward += float(reward)
        draws = None if self.seed is None else np.array([seeded_draw(self.seed, self._turn)])
        decision, [self.state] = self.learner.act(
            [self.state], obs[None], mask[None], greedy=self.greedy, draws=draws
        )
        self.last_decision = decision
        self._moves += 1
        self._turn += 1
        if self.tracker is not None:
            self.tracker.record_prediction(getattr(decision, "player_prediction", None))
        return int(decision.actions[0])

    def player_moved(self, action: int) -> None:
        if self.tracker is not None:
            self.tracker.record_move(int(action))

    def end_episode(self, final_reward: float = 0.0, result: int | None = None) -> None:
        """Adapt to the episode just played (``result``: +1 agent won, -1 player won, 0 draw)."""
        if self._moves:
            [self.state] = self.learner.observe(
                [self.state], np.array([final_reward], np.float32), np.array([True])
            )
        total = self._episode_reward + float(final_reward)
        outcome = int(np.sign(total if result is None else result))
        self.state = self.learner.end_episode(
            self.state, EpisodeOutcome(total, outcome, self._moves)
        )
        self.results[{1: "agent", -1: "player", 0: "draw"}[outcome]] += 1
        if self.tracker is not None:
            self.tracker.record_result(outcome)
        self._episode_reward, self._moves = 0.0, 0
        self._turn += 1

    def insight(self) -> dict[str, str]:
        if self.tracker is not None:
            lines = self.tracker.lines()
        else:
            won, lost, drawn = self.results["player"], self.results["agent"], self.results["draw"]
            lines = {"Your record": f"{won}W {lost}L {drawn}D"}
        games = sum(self.results.values())
        lines["Agent"] = f"{self.learner.name}, in-process, adapted over {games} episodes"
        return lines

    def _check(self, observation: Any, action_mask: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(observation, dict):
            action_mask = observation["action_mask"] if action_mask is None else action_mask
            observation = observation["observation"]
        if action_mask is None:
            raise IncompatibleGameError("act() needs an action_mask (or a PettingZoo obs dict)")
        obs = np.asarray(observation, dtype=np.float32)
        mask = np.asarray(action_mask).astype(bool).reshape(-1)
        if obs.shape != self.spec.obs_shape:
            raise IncompatibleGameError(
                f"observation has shape {obs.shape}; {self.spec.name} observations have "
                f"shape {self.spec.obs_shape}"
            )
        if mask.shape != (self.spec.num_actions,) or not mask.any():
            raise IncompatibleGameError(
                f"action_mask must have {self.spec.num_actions} entries with at least one "
                f"legal action, got {mask.astype(int).tolist()}"
            )
        return obs, mask


DEFAULT_MODELS_DIR = Path("models")


def default_checkpoint(family: str, models_dir: Path = DEFAULT_MODELS_DIR) -> Path:
    """The checkpoint ``play --local`` uses for ``family`` when none is named.

    ``models/<family>`` if it is a checkpoint directory, else the most recently
    written checkpoint under ``models/`` whose ``meta.json`` says it plays ``family``.
    """
    direct = models_dir / family
    if (direct / "meta.json").is_file():
        return direct
    found = []
    for meta_file in models_dir.rglob("meta.json") if models_dir.is_dir() else ():
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("family") == family:
            found.append((meta_file.stat().st_mtime, str(meta_file.parent)))
    if not found:
        raise CheckpointError(
            f"no {family} checkpoint under {models_dir}/; train one with "
            f"`game-agent train {family}` or pass --checkpoint PATH"
        )
    return Path(max(found)[1])


def local_opponent_factory(
    checkpoint: str | Path | None,
    *,
    models_dir: Path = DEFAULT_MODELS_DIR,
    greedy: bool = False,
    seed: int | None = None,
) -> Callable[[GameSpec, int, InsightTracker | None], LocalOpponent]:
    """A ``(spec, agent seat, tracker) -> LocalOpponent`` builder loading ``checkpoint``
    (``seed``: see :class:`LocalOpponent`)."""

    def build(spec: GameSpec, seat: int, tracker: InsightTracker | None) -> LocalOpponent:
        from game_agent.checkpoint import load

        path = Path(checkpoint) if checkpoint else default_checkpoint(spec.family, models_dir)
        return LocalOpponent(load(path), spec, seat, greedy=greedy, tracker=tracker, seed=seed)

    return build
