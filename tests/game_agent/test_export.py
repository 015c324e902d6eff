"""ONNX export: onnxruntime plays real games exactly as the torch learner does.

The reference is the learner itself, driven the way the server drives it
(``act`` on the agent's turns, ``observe`` for the rewards that follow its
moves, ``end_episode``); the exported graph is fed the same observations while
the test carries the recurrent inputs the way docs/ENGINE_INTEGRATION.md tells
an engine to, from the graph's own outputs. Greedy actions must be identical
and probabilities, values and next memory agree within 1e-5 over 1,000
decisions, with each side's memory carried through all of them (and, fed the
learner's own state, within one decision).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from game_agent import load
from game_agent.checkpoint import TrainingProgress, save_checkpoint
from game_agent.cli import main
from game_agent.errors import GameAgentError, IncompatibleGameError
from game_agent.export import ExportResult, example_inputs, export_onnx
from game_agent.learner import EpisodeOutcome
from game_agent.learners.maml import MAMLConfig, MAMLLearner
from game_agent.learners.multitask import MultitaskConfig, MultitaskLearner
from game_agent.learners.rl2 import RL2Config, RL2Learner
from game_agent.learners.safe import SafetyConfig, write_safety_file
from game_agent.policies import layout_for
from games import make_kernel, parse_spec
from tests.clients.tiny_models import VARIANTS, tiny_distribution

log = logging.getLogger(__name__)

TOLERANCE = 1e-5
DECISIONS = 1000
BOARD = VARIANTS["connect_n"][0]
VECTOR = VARIANTS["matrix"][0]


SMALL = {
    "num_lanes": 2,
    "episodes_per_trial": 3,
    "hidden_size": 16,
    "conv_channels": 8,
    "conv_layers": 2,
    "update_epochs": 1,
    "num_minibatches": 1,
}
"""Small enough to train in a second, wide enough that greedy play uses every action."""


def save_learner(path: Path, learner, family: str, *, train: bool) -> Path:
    """Optionally one PPO update, then noise on every weight (sd 0.3), saved as a checkpoint.

    The noise makes greedy play use every action instead of the near-uniform
    policy of a fresh network, while keeping activations the size a trained
    network's are (much larger weights make float32 rounding, not the export,
    the biggest difference)."""
    distribution = tiny_distribution(family)
    if train:
        learner.train_iteration(learner.make_sampler(distribution, seed=0))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in learner.policy.parameters():
            param.add_(0.3 * torch.randn(param.shape, generator=generator))
    return save_checkpoint(
        path, learner, distribution=distribution.describe(), progress=TrainingProgress()
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export-checkpoints")
    built = {
        "rl2-connect_n": (RL2Learner, RL2Config, "connect_n", True),
        "rl2-matrix": (RL2Learner, RL2Config, "matrix", True),
        "multitask-connect_n": (MultitaskLearner, MultitaskConfig, "connect_n", False),
        "maml-poker": (MAMLLearner, MAMLConfig, "poker", False),
    }
    paths = {}
    for name, (cls, config, family, train) in built.items():
        layout = layout_for([parse_spec(VARIANTS[family][0])])
        learner = cls(layout, config(**SMALL), seed=0)
        paths[name] = save_learner(root / name, learner, family, train=train)
    return paths


def session_for(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class Errors:
    """Largest differences between onnxruntime and torch."""

    probs: float = 0.0
    values: float = 0.0
    memory: float = 0.0

    def compare(self, name: str, want: np.ndarray, have: np.ndarray) -> None:
        """Absolute error, relative where |want| > 1 (values are unbounded; float32 keeps
        about seven significant digits of them)."""
        error = float(np.max(np.abs(want - have) / np.maximum(1.0, np.abs(want))))
        setattr(self, name, max(getattr(self, name), error))


@dataclass
class Parity:
    """What a run of games measured, and which situations it reached."""

    decisions: int = 0
    carried: Errors = field(default_factory=Errors)
    """The graph fed the state the test carried from its own outputs, as an engine would."""
    step: Errors = field(default_factory=Errors)
    """The graph fed the learner's own state: one decision's error, without feedback."""
    seen: set[str] = field(default_factory=set)
    actions: set[int] = field(default_factory=set)


class EngineCarry:
    """What an engine keeps per player between calls, per docs/ENGINE_INTEGRATION.md."""

    def __init__(self, lanes: int, hidden_size: int):
        self.hidden = np.zeros((lanes, hidden_size), np.float32)
        self.prev_action = np.full(lanes, -1, np.int64)
        self.prev_reward = np.zeros(lanes, np.float32)
        self.prev_done = np.zeros(lanes, np.float32)

    def feeds(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "hidden_state": self.hidden[idx],
            "prev_action": self.prev_action[idx],
            "prev_reward": self.prev_reward[idx],
            "prev_done": self.prev_done[idx],
        }

    def acted(self, idx: np.ndarray, actions: np.ndarray, next_hidden: np.ndarray) -> None:
        self.hidden[idx] = next_hidden
        self.prev_action[idx] = actions
        self.prev_reward[idx] = 0.0
        self.prev_done[idx] = 0.0

    def rewarded(self, lane: int, reward: float, done: bool) -> None:
        self.prev_reward[lane] += np.float32(reward)
        if done:
            self.prev_done[lane] = 1.0


def learner_feeds(states) -> dict[str, np.ndarray]:
    """The recurrent inputs as the learner's AdaptationStates hold them."""
    return {
        "hidden_state": np.stack([s.arrays["memory"] for s in states]),
        "prev_action": np.concatenate([s.arrays["prev_action"] for s in states]),
        "prev_reward": np.concatenate([s.arrays["prev_reward"] for s in states]),
        "prev_done": np.concatenate([s.arrays["prev_done"] for s in states]),
    }


def run_graph(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def compare(errors: Errors, decision, new_states, out: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(out["greedy_action"], decision.actions)
    errors.compare("probs", decision.probs, out["action_probs"])
    errors.compare("values", decision.values, out["value"])
    if "next_hidden_state" in out:
        memory = np.stack([s.arrays["memory"] for s in new_states])
        errors.compare("memory", memory, out["next_hidden_state"])


def play(
    learner,
    session: onnxruntime.InferenceSession,
    game: str,
    decisions: int = DECISIONS,
    lanes: int = 4,
    seed: int = 0,
    *,
    adapt: bool = True,
) -> Parity:
    """``lanes`` games side by side (the agent on seat ``lane % 2``) against random legal moves.

    ``adapt=False`` never reports rewards or episode ends to the learner, so a
    MAML learner keeps playing its meta-learned initial weights.
    """
    spec = parse_spec(game)
    kernel = make_kernel(spec)
    step = kernel.reset(lanes, seed=seed)
    rng = np.random.default_rng(seed)
    seats = np.arange(lanes) % spec.num_agents
    lane_ids = np.arange(lanes)
    recurrent = learner.policy.recurrent
    carry = EngineCarry(lanes, learner.policy.memory_size)
    states = [learner.initial_state(spec) for _ in range(lanes)]
    acted = np.zeros(lanes, dtype=bool)
    episode_reward = np.zeros(lanes)
    parity = Parity()
    while parity.decisions < decisions:
        actions = np.zeros((lanes, spec.num_agents), dtype=np.int64)
        idx = np.flatnonzero(step.acting[lane_ids, seats])
        if len(idx):
            obs = step.obs[idx, seats[idx]]
            mask = step.action_mask[idx, seats[idx]]
            before = [states[i] for i in idx]
            decision, new_states = learner.act(before, obs, mask, greedy=True)
            feeds = {"observation": obs, "action_mask": mask.astype(np.float32)}
            if recurrent:
                held = learner_feeds(before)
                # The engine's bookkeeping is the server's: same previous action, reward, done.
                for name in ("prev_action", "prev_reward", "prev_done"):
                    np.testing.assert_array_equal(carry.feeds(idx)[name], held[name])
                compare(parity.step, decision, new_states, run_graph(session, feeds | held))
                feeds |= carry.feeds(idx)
                parity.seen |= {f"prev_action={a}" for a in np.sign(carry.prev_action[idx])}
                parity.seen |= {"prev_done"} if carry.prev_done[idx].any() else set()
                parity.seen |= {"prev_reward"} if carry.prev_reward[idx].any() else set()
            out = run_graph(session, feeds)
            compare(parity.carried, decision, new_states, out)
            if recurrent:
                carry.acted(idx, out["greedy_action"], out["next_hidden_state"])
            parity.seen.add(f"batch={len(idx)}")
            parity.actions |= set(decision.actions.tolist())
            parity.decisions += len(idx)
            for i, state in zip(idx, new_states, strict=True):
                states[i] = state if adapt else learner.initial_state(spec)
            acted[idx] = True
            actions[idx, seats[idx]] = decision.actions
        for lane, seat in np.argwhere(step.acting):
            if seat != seats[lane]:
                actions[lane, seat] = rng.choice(np.flatnonzero(step.action_mask[lane, seat]))
        step = kernel.step(actions)
        rewards = step.rewards[lane_ids, seats]
        episode_reward += rewards
        for lane in np.flatnonzero(acted):
            # As the server does: rewards count once the agent has moved in the episode.
            carry.rewarded(lane, rewards[lane], bool(step.done[lane]))
            if adapt:
                [states[lane]] = learner.observe(
                    [states[lane]], rewards[lane : lane + 1], step.done[lane : lane + 1]
                )
        for lane in np.flatnonzero(step.done):
            if adapt:
                total = float(episode_reward[lane])
                outcome = EpisodeOutcome(total, int(np.sign(total)), 0)
                states[lane] = learner.end_episode(states[lane], outcome)
            acted[lane], episode_reward[lane] = False, 0.0
        if step.done.any():
            step = kernel.reset_where(step.done)
    log.info("%s parity over %d decisions: %s", game, parity.decisions, parity)
    return parity


def export(checkpoint: Path, tmp_path: Path, game: str | None = None) -> ExportResult:
    return export_onnx(checkpoint, tmp_path / "policy.onnx", game)


@pytest.mark.parametrize("game", [BOARD, VECTOR], ids=["board", "vector"])
def test_rl2_onnx_plays_a_thousand_decisions_like_torch(checkpoints, tmp_path, game):
    family = parse_spec(game).family
    result = export(checkpoints[f"rl2-{family}"], tmp_path)
    parity = play(load(checkpoints[f"rl2-{family}"]), session_for(result.onnx_path), game)
    assert parity.decisions >= DECISIONS
    assert parity.step.probs <= TOLERANCE and parity.step.values <= TOLERANCE
    assert parity.step.memory <= TOLERANCE
    assert parity.carried.probs <= TOLERANCE
    assert parity.carried.values <= TOLERANCE
    assert parity.carried.memory <= TOLERANCE
    assert len(parity.actions) >= 3  # greedy play is not stuck on one move
    # The games reached every situation the recurrent inputs encode.
    assert {"prev_action=-1", "prev_action=1", "prev_done", "prev_reward"} <= parity.seen
    if family == "connect_n":  # seats alternate, so the batch size varies from turn to turn
        assert {"batch=1", "batch=2"} <= parity.seen


def test_rl2_board_export_for_another_board_size(checkpoints, tmp_path):
    game = "connect_n(rows=3,cols=3,k=3,gravity=false)"  # cells, not columns
    result = export(checkpoints["rl2-connect_n"], tmp_path, game)
    assert result.sidecar["game"]["observation_shape"] == [2, 3, 3]
    parity = play(load(checkpoints["rl2-connect_n"]), session_for(result.onnx_path), game, 300)
    assert parity.carried.probs <= TOLERANCE and parity.step.memory <= TOLERANCE


def test_multitask_onnx_plays_like_torch(checkpoints, tmp_path):
    result = export(checkpoints["multitask-connect_n"], tmp_path)
    session = session_for(result.onnx_path)
    assert [i.name for i in session.get_inputs()] == ["observation", "action_mask"]
    parity = play(load(checkpoints["multitask-connect_n"]), session, BOARD)
    assert parity.decisions >= DECISIONS and parity.carried.probs <= TOLERANCE
    assert parity.carried.values <= TOLERANCE


def test_maml_onnx_holds_the_meta_learned_initial_weights(checkpoints, tmp_path):
    result = export(checkpoints["maml-poker"], tmp_path)
    assert result.sidecar["learner"] == "maml" and "initial weights" in result.sidecar["adaptation"]
    learner = load(checkpoints["maml-poker"])
    parity = play(learner, session_for(result.onnx_path), VARIANTS["poker"][0], 300, adapt=False)
    assert parity.carried.probs <= TOLERANCE and parity.carried.values <= TOLERANCE


def test_the_sidecar_describes_the_graph_it_sits_beside(checkpoints, tmp_path):
    result = export(checkpoints["rl2-connect_n"], tmp_path)
    sidecar = json.loads(result.sidecar_path.read_text())
    assert result.sidecar_path == tmp_path / "policy.onnx.json"
    model = onnx.load(str(result.onnx_path))
    onnx.checker.check_model(model)
    types = {1: "float32", 7: "int64"}

    def described(values) -> list[dict]:
        return [
            {
                "name": v.name,
                "dtype": types[v.type.tensor_type.elem_type],
                "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
            }
            for v in values
        ]

    def declared(tensors) -> list[dict]:
        return [{k: t[k] for k in ("name", "dtype", "shape")} for t in tensors]

    assert described(model.graph.input) == declared(sidecar["inputs"])
    assert described(model.graph.output) == declared(sidecar["outputs"])
    assert [t["name"] for t in sidecar["inputs"]][2:] == [
        "hidden_state",
        "prev_action",
        "prev_reward",
        "prev_done",
    ]
    assert sidecar["game"]["spec"] == parse_spec(BOARD).name  # the first training variant
    assert sidecar["game"]["actions"][4] == {"index": 4, "name": "column 4"}
    assert sidecar["recurrent"]["hidden_size"] == SMALL["hidden_size"]
    assert json.loads(next(p.value for p in model.metadata_props)) == sidecar


def test_a_safety_fallback_is_declared_not_exported(checkpoints, tmp_path):
    checkpoint = shutil.copytree(checkpoints["rl2-matrix"], tmp_path / "safe")
    write_safety_file(checkpoint, SafetyConfig(budget=0.5))
    assert export(checkpoints["rl2-matrix"], tmp_path).sidecar["safety_fallback"] is None
    fallback = export(checkpoint, tmp_path).sidecar["safety_fallback"]
    assert fallback["exported"] is False and fallback["settings"]["budget"] == 0.5


def test_vector_action_names_pad_spare_actions(checkpoints, tmp_path):
    sidecar = export(checkpoints["rl2-matrix"], tmp_path).sidecar
    names = [a["name"] for a in sidecar["game"]["actions"]]
    assert names == ["rock", "paper", "scissors", None, None]
    assert sidecar["game"]["plays_other_variants"] is True


def test_a_trace_that_missed_the_previous_action_is_refused(checkpoints, tmp_path, monkeypatch):
    """If the trace example had no previous action, the plane would be dropped: verify() sees it."""
    import game_agent.export as export_module

    def without_previous_action(policy, spec, batch, generator=None):
        inputs = example_inputs(policy, spec, batch, generator)
        if generator is None:
            inputs[3].fill_(-1)
        return inputs

    monkeypatch.setattr(export_module, "example_inputs", without_previous_action)
    with pytest.raises(GameAgentError, match="differs from torch"):
        export(checkpoints["rl2-connect_n"], tmp_path)
    assert not (tmp_path / "policy.onnx").exists()
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_export_from_the_command_line(checkpoints, tmp_path, capsys):
    out = tmp_path / "models" / "c4.onnx"
    args = ["export", "--checkpoint", str(checkpoints["rl2-connect_n"]), "--onnx", str(out)]
    assert main([*args, "--game", "connect_n(rows=6,cols=7,k=4,gravity=true)"]) == 0
    assert "exported rl2 policy for connect_n(cols=7" in capsys.readouterr().out
    assert out.is_file() and out.with_name("c4.onnx.json").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--game", "matrix(name=rps)"], "plays connect_n"),
        (["--game", "connect_n(rows=99)"], "rows"),
        (["--opset", "9"], "--opset must be 13"),
    ],
)
def test_command_line_mistakes_are_clear_errors(checkpoints, tmp_path, capsys, extra, message):
    args = ["export", "--checkpoint", str(checkpoints["rl2-connect_n"])]
    assert main([*args, "--onnx", str(tmp_path / "x.onnx"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("game-agent export: error:") and message in err


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["export", "--checkpoint", str(missing), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert str(missing) in capsys.readouterr().err


def test_incompatible_game_raises_from_the_library(checkpoints, tmp_path):
    with pytest.raises(IncompatibleGameError, match="matrix game"):
        export(checkpoints["rl2-connect_n"], tmp_path, "matrix(name=rps)")
