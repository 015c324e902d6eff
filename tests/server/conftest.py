"""Fixtures for the service tests: a deterministic test-double learner and live servers.

:class:`CountingLearner` implements the Learner protocol with a state that counts
turns, observed rewards and episodes, and chooses actions from those counts,
so any state advanced twice (or lost) shows up as a different action later.
Servers run on their own event loop in a background thread, bound to
127.0.0.1 port 0, and tests talk to them through real gRPC channels.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest

from game_agent.learner import Decision, EpisodeOutcome
from game_agent.state import AdaptationState
from games.registry import parse_spec
from games.spec import GameSpec
from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from server.app import AgentServer, create_server
from server.config import ServerConfig
from server.models import ModelRegistry, ServedModel

MATRIX = "matrix(name=rps)"


class CountingLearner:
    """A deterministic learner whose actions depend on everything its state has seen.

    State arrays: ``counts`` = [turns acted, rewards observed, episodes ended,
    episode-end observations] and ``reward_sum``. The action is the
    ``(turns + 3 * episodes + round(reward_sum)) mod L``-th legal action (L legal
    actions); probabilities put 0.5 on the chosen action and share the rest
    over the other legal ones; the value is ``turns + 0.5 * episodes``.
    """

    name = "counting"

    def __init__(
        self,
        families: Sequence[str] = ("matrix",),
        adapt_delay_s: float = 0.0,
        act_delay_s: float = 0.0,
    ):
        self.families = tuple(families)
        self.adapt_delay_s = adapt_delay_s
        self.act_delay_s = act_delay_s
        self.act_batches: list[int] = []
        self.draws: list[float | None] = []
        """Each row's draw, in the order rows were acted on (None: none was given)."""
        self.adaptations = 0

    def supports(self, spec: GameSpec) -> bool:
        return spec.family in self.families

    def initial_state(self, spec: GameSpec) -> AdaptationState:
        arrays = {"counts": np.zeros(4, dtype=np.int64), "reward_sum": np.zeros(1)}
        return AdaptationState(self.name, spec.name, arrays, {"outcomes": []})

    @staticmethod
    def choose(state: AdaptationState, mask: np.ndarray) -> int:
        turns, _, episodes, _ = (int(c) for c in state.arrays["counts"])
        legal = np.flatnonzero(mask)
        index = (turns + 3 * episodes + round(float(state.arrays["reward_sum"][0]))) % len(legal)
        return int(legal[index])

    def act(self, states, obs, masks, *, greedy=False, draws=None):
        assert obs.shape[0] == masks.shape[0] == len(states)
        self.act_batches.append(len(states))
        self.draws += [None] * len(states) if draws is None else draws.tolist()
        if self.act_delay_s:
            time.sleep(self.act_delay_s)
        actions, probs, values, new_states = [], [], [], []
        for state, mask in zip(states, masks, strict=True):
            action = self.choose(state, mask)
            legal = np.flatnonzero(mask)
            p = np.zeros(mask.shape[0], dtype=np.float32)
            p[legal] = 0.5 / max(len(legal) - 1, 1) if len(legal) > 1 else 0.0
            p[action] = 0.5 if len(legal) > 1 else 1.0
            counts = state.arrays["counts"]
            actions.append(action)
            probs.append(p)
            values.append(float(counts[0]) + 0.5 * float(counts[2]))
            new = state.copy()
            new.arrays["counts"][0] += 1
            new_states.append(new)
        decision = Decision(
            np.array(actions, dtype=np.int64),
            np.stack(probs),
            np.array(values, dtype=np.float32),
        )
        return decision, new_states

    def observe(self, states, rewards, dones):
        out = []
        for state, reward, done in zip(states, rewards, dones, strict=True):
            new = state.copy()
            new.arrays["counts"][3 if done else 1] += 1
            new.arrays["reward_sum"][0] += float(reward)
            out.append(new)
        return out

    def end_episode(self, state: AdaptationState, outcome: EpisodeOutcome) -> AdaptationState:
        if self.adapt_delay_s:
            time.sleep(self.adapt_delay_s)
        self.adaptations += 1
        new = state.copy()
        new.arrays["counts"][2] += 1
        new.meta["outcomes"] = [*new.meta["outcomes"], list(outcome)][-5:]
        return new


def counting_model(learner: CountingLearner | None = None, family: str = "matrix") -> ServedModel:
    learner = learner or CountingLearner((family,))
    variants = {
        "matrix": (MATRIX, "matrix(name=rpsls)", "matrix(name=stag_hunt)"),
    }.get(family, ())
    specs = tuple(parse_spec(v) for v in variants)
    return ServedModel(
        family=family,
        learner=learner,
        checkpoint=f"counting-{family}.safetensors",
        sha256="c0ffee" + "0" * 58,
        training_steps=1234,
        version="test",
        variants=specs,
        splits={specs[0].name: "train", specs[-1].name: "heldout"} if specs else {},
    )


class ServerThread:
    """A server on its own event loop in a daemon thread (tests are synchronous)."""

    def __init__(self, config: ServerConfig, models: ModelRegistry | None):
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: AgentServer
        try:
            self.server, self.port = self.run(create_server(config, models=models))
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            raise
        self.channels: list[grpc.Channel] = []

    def run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self) -> grpc.Channel:
        channel = grpc.insecure_channel(self.target)
        self.channels.append(channel)
        return channel

    def stub(self) -> pb_grpc.AgentServiceStub:
        return pb_grpc.AgentServiceStub(self.channel())

    def stop(self, grace: float | None = 0) -> None:
        self.run(self.server.stop(grace))
        for channel in self.channels:
            channel.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on 127.0.0.1 with append-only fsync on every write."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self._spawn()

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.workdir),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def kill_and_restart(self) -> None:
        """SIGKILL, then start again on the same port and directory (its append-only file)."""
        self.process.kill()
        self.process.wait(10)
        self._spawn()


requires_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (apt-get install redis-server); Redis store untested",
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def make_config(tmp_path: Path, **overrides) -> ServerConfig:
    base = {
        "models_dir": tmp_path / "models",
        "data_dir": tmp_path / "var",
        "address": "127.0.0.1:0",
        "sync_commits": False,
        "expiry_sweep_s": 3600.0,
    }
    return ServerConfig(**{**base, **overrides})


@pytest.fixture
def learner() -> CountingLearner:
    return CountingLearner(("matrix",))


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """``start(models=None, **config overrides) -> ServerThread``; all are stopped at the end."""
    started: list[ServerThread] = []

    def start(models: ModelRegistry | None = None, **overrides) -> ServerThread:
        registry = models if models is not None else ModelRegistry([counting_model()])
        running = ServerThread(make_config(tmp_path, **overrides), registry)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()


@pytest.fixture
def served(server_factory, learner: CountingLearner) -> ServerThread:
    return server_factory(ModelRegistry([counting_model(learner)]))


@pytest.fixture
def stub(served: ServerThread) -> pb_grpc.AgentServiceStub:
    return served.stub()


def obs_for(spec: str | GameSpec, fill: float = 0.0) -> pb.Tensor:
    spec = parse_spec(spec)
    size = int(np.prod(spec.obs_shape))
    return pb.Tensor(shape=list(spec.obs_shape), values=[fill] * size)


def act_request(session: pb.Session, turn: int, mask=None, reward: float = 0.0) -> pb.ActRequest:
    spec = parse_spec(session.game.spec)
    mask = [True] * spec.num_actions if mask is None else mask
    return pb.ActRequest(
        session_id=session.session_id,
        turn=turn,
        observation=obs_for(spec),
        action_mask=mask,
        reward=reward,
    )


def start_session(stub, player: str = "alice", game: str = MATRIX, **options) -> pb.Session:
    return stub.StartSession(
        pb.StartSessionRequest(
            player_id=player, game=game, agent_seat=0, options=pb.SessionOptions(**options)
        )
    )


def expected_actions(learner: CountingLearner, spec: str, script) -> list[int]:
    """Replay ``script`` (("act", mask, reward) / ("end", reward)) on the learner in-process."""
    spec = parse_spec(spec)
    state = learner.initial_state(spec)
    acted, actions = False, []
    for step in script:
        if step[0] == "act":
            _, mask, reward = step
            if acted:
                [state] = learner.observe([state], np.array([reward]), np.array([False]))
            decision, [state] = learner.act(
                [state], np.zeros((1, *spec.obs_shape), np.float32), np.array([mask])
            )
            actions.append(int(decision.actions[0]))
            acted = True
        else:
            if acted:
                [state] = learner.observe([state], np.array([step[1]]), np.array([True]))
            state = learner.end_episode(state, EpisodeOutcome(0.0, 0, 0))
            acted = False
    return actions


RL2_VARIANTS = ("matrix(name=rps,rounds=10)", "matrix(name=rpsls,rounds=10)")


@pytest.fixture(scope="session")
def rl2_models_dir(tmp_path_factory) -> Path:
    """A models directory with one tiny RL2 checkpoint for ``matrix``, trained here.

    A few hundred decisions on two variants against two styles: far from a good
    agent, but real weights in the real checkpoint format, loaded by the server
    exactly as a trained model would be.
    """
    from game_agent.checkpoint import TrainingProgress, save_checkpoint
    from game_agent.learners import get_learner_class
    from game_agent.policies import layout_for
    from game_agent.tasks import TaskDistribution

    cls = get_learner_class("rl2")
    config = cls.config_class(num_lanes=8, episodes_per_trial=2, hidden_size=16, num_minibatches=2)
    distribution = TaskDistribution(
        "matrix", variants=list(RL2_VARIANTS), opponents=["rock_heavy", "copy_last"], seed=0
    )
    learner = cls(layout_for(distribution.specs), config, seed=0)
    sampler = learner.make_sampler(distribution, seed=0)
    progress = TrainingProgress()
    while progress.decisions < 300:
        stats = learner.train_iteration(sampler)
        progress.decisions += stats.decisions
        progress.iterations += 1
    models = tmp_path_factory.mktemp("rl2") / "models"
    save_checkpoint(
        models / "rl2-matrix", learner, distribution=distribution.describe(), progress=progress
    )
    return models
