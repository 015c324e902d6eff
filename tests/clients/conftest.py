"""Fixtures for the client tests: a real game-agent server with a tiny deterministic learner.

The server is the real one (``server.app.create_server``) on 127.0.0.1 port 0,
running on its own event loop in a daemon thread; clients talk to it over
real gRPC channels. :class:`StepLearner` is a Learner whose action depends on
how many turns and episodes its state has seen, so a turn applied twice (or
lost) changes every later action, and tests can recompute the expected
actions in-process with :func:`replay`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from game_agent.learner import Decision, EpisodeOutcome
from game_agent.state import AdaptationState
from games import GameSpec, get_split, parse_spec
from server.app import AgentServer, create_server
from server.config import ServerConfig
from server.models import ModelRegistry, ServedModel

FAMILIES = ("connect_n", "matrix", "poker", "pong")


class StepLearner:
    """Plays legal action number ``(turns + 2 * episodes + round(reward_sum)) mod L``."""

    name = "step"

    def __init__(self, families: Sequence[str] = FAMILIES):
        self.families = tuple(families)

    def supports(self, spec: GameSpec) -> bool:
        return spec.family in self.families

    def initial_state(self, spec: GameSpec) -> AdaptationState:
        arrays = {"counts": np.zeros(2, dtype=np.int64), "reward_sum": np.zeros(1)}
        return AdaptationState(self.name, spec.name, arrays, {})

    @staticmethod
    def choose(state: AdaptationState, mask: np.ndarray) -> int:
        turns, episodes = (int(c) for c in state.arrays["counts"])
        legal = np.flatnonzero(mask)
        shift = round(float(state.arrays["reward_sum"][0]))
        return int(legal[(turns + 2 * episodes + shift) % len(legal)])

    def act(self, states, obs, masks, *, greedy=False):
        actions, probs, values, new_states = [], [], [], []
        for state, mask in zip(states, masks, strict=True):
            actions.append(self.choose(state, mask))
            probs.append(mask / mask.sum())
            values.append(float(state.arrays["counts"][0]))
            new = state.copy()
            new.arrays["counts"][0] += 1
            new_states.append(new)
        decision = Decision(
            np.array(actions, dtype=np.int64),
            np.stack(probs).astype(np.float32),
            np.array(values, dtype=np.float32),
        )
        return decision, new_states

    def observe(self, states, rewards, dones):
        out = []
        for state, reward in zip(states, rewards, strict=True):
            new = state.copy()
            new.arrays["reward_sum"][0] += float(reward)
            out.append(new)
        return out

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        new = state.copy()
        new.arrays["counts"][1] += 1
        return new


def replay(spec: str | GameSpec, script) -> list[int]:
    """The actions StepLearner takes for ``script``: ("act", mask, reward) / ("end", reward)."""
    learner, spec = StepLearner(), parse_spec(spec)
    state, acted, actions = learner.initial_state(spec), False, []
    for step in script:
        if step[0] == "act":
            _, mask, reward = step
            if acted:
                [state] = learner.observe([state], np.array([reward]), np.array([False]))
            obs = np.zeros((1, *spec.obs_shape), np.float32)
            decision, [state] = learner.act([state], obs, np.array([mask], dtype=bool))
            actions.append(int(decision.actions[0]))
            acted = True
        else:
            if acted:
                [state] = learner.observe([state], np.array([step[1]]), np.array([True]))
            state = learner.end_episode(state, EpisodeOutcome(0.0, 0, 0))
            acted = False
    return actions


def served_model(family: str, learner=None) -> ServedModel:
    specs = tuple(parse_spec(v) for v in get_split(family, "train").variants[:2])
    return ServedModel(
        family=family,
        learner=learner or StepLearner(),
        checkpoint=f"step-{family}.safetensors",
        sha256="ab" * 32,
        training_steps=100,
        version="test",
        variants=specs,
        splits={spec.name: "train" for spec in specs},
    )


class ServerThread:
    """A real server on its own event loop in a daemon thread (the tests are synchronous)."""

    def __init__(self, config: ServerConfig, models: ModelRegistry):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: AgentServer
        self.server, self.port = self._run(create_server(config, models=models))

    def _run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._run(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def server_config(root: Path, **overrides) -> ServerConfig:
    base = {
        "models_dir": root / "models",
        "data_dir": root / "var",
        "address": "127.0.0.1:0",
        "sync_commits": False,
        "expiry_sweep_s": 3600.0,
        "batch_window_s": 0.0,
    }
    return ServerConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory) -> Iterator[ServerThread]:
    """One server per test module, serving every family with StepLearner."""
    root = tmp_path_factory.mktemp("server")
    models = ModelRegistry([served_model(family) for family in FAMILIES])
    running = ServerThread(server_config(root), models)
    yield running
    running.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """``start(models=None, **config overrides) -> ServerThread``, stopped at the end."""
    started: list[ServerThread] = []

    def start(models: ModelRegistry | None = None, **overrides) -> ServerThread:
        registry = models or ModelRegistry([served_model(f) for f in FAMILIES])
        running = ServerThread(server_config(tmp_path, **overrides), registry)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
