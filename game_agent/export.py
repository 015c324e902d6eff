"""ONNX export: a trained policy as one graph a game engine runs in-process, with no server.

    game-agent export --checkpoint runs/connect_n_rl2 --onnx c4.onnx \\
        --game "connect_n(rows=6,cols=7,k=4,gravity=true)"

writes ``c4.onnx`` and a JSON sidecar ``c4.onnx.json`` (inputs, outputs, game
spec, action numbering, learner). The batch dimension ``batch`` is dynamic, so
one call can answer many players; every other dimension is fixed.

=================  =======  ==============  =====================================
input              dtype    shape           meaning
=================  =======  ==============  =====================================
observation        float32  (batch, *obs)   the agent's observation (family docs)
action_mask        float32  (batch, A)      1.0 = legal, 0.0 = illegal
hidden_state       float32  (batch, H)      RL2 only: memory, zeros for a new player
prev_action        int64    (batch,)        RL2 only: agent's previous action, -1 none
prev_reward        float32  (batch,)        RL2 only: agent's rewards since then
prev_done          float32  (batch,)        RL2 only: 1.0 if an episode ended since
=================  =======  ==============  =====================================

=================  =======  ==============  =====================================
output             dtype    shape           meaning
=================  =======  ==============  =====================================
action_probs       float32  (batch, A)      policy over legal actions (0 if masked)
value              float32  (batch,)        expected return from here
next_hidden_state  float32  (batch, H)      RL2 only: carry into the next call
greedy_action      int64    (batch,)        the most probable legal action
=================  =======  ==============  =====================================

The recurrent inputs are exactly the arrays of an RL2
:class:`~game_agent.state.AdaptationState` (``memory``, ``prev_action``,
``prev_reward``, ``prev_done``), so an engine carries them between turns as
the server does: see ``docs/ENGINE_INTEGRATION.md``.

Why it is built this way:

- The graph is traced from :meth:`ActorCritic.forward` with one time step, the
  very call ``learner.act`` makes, so there is no second copy of the network
  to drift from the one that was trained and is served.
- The TorchScript exporter (``dynamo=False``): the torch.export-based exporter
  needs ``onnxscript``, which is not a dependency; the TorchScript one exports
  the GRU cell, the masked softmax and the convolutional board heads as they are.
- Tracing records one branch of any data-dependent ``if``. The board encoder
  skips drawing the previous-action plane when no lane has a previous action,
  so the example input gives every lane one: the recorded drawing code also
  handles -1 (it draws nothing). Every export is then checked against torch on
  random inputs, ``-1`` included, before anything is written.
- Board families: ONNX shapes are fixed, so a file plays one board size
  (``--game``, by default the checkpoint's first training variant).
- The mask is float32 rather than bool because some engine runtimes have no
  boolean tensors.
- MAML: the file holds the meta-learned initial weights. Adapting them to a
  player takes gradient steps, which need the server or ``game_agent`` in Python.
- A checkpoint served with a ``safety.json`` (:mod:`game_agent.learners.safe`)
  falls back to the equilibrium when the adaptive policy loses too much; that
  switch is bookkeeping around the network, not part of it, so the file holds
  the adaptive policy alone and the sidecar says so.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from game_agent.checkpoint import MODEL_FILE, load_checkpoint
from game_agent.errors import ConfigError, GameAgentError
from game_agent.learners.safe import read_safety_file
from game_agent.policies import ActorCritic, PolicyInput
from game_agent.policies.layout import BOARD, board_action_kind
from games import GameSpec, parse_spec

log = logging.getLogger(__name__)

FORMAT = "game-agent-onnx/1"
DEFAULT_OPSET = 17
VERIFY_TOLERANCE = 1e-4
"""Largest difference between onnxruntime and torch an export may show on random inputs."""
METADATA_KEY = "game_agent"
"""Key of the ONNX ``metadata_props`` entry that holds the sidecar JSON."""

FEEDFORWARD_INPUTS = ("observation", "action_mask")
RECURRENT_INPUTS = ("hidden_state", "prev_action", "prev_reward", "prev_done")
FEEDFORWARD_OUTPUTS = ("action_probs", "value", "greedy_action")
RECURRENT_OUTPUTS = ("action_probs", "value", "next_hidden_state", "greedy_action")

ADAPTATION = {
    "rl2": "in_context: carry hidden_state, prev_action, prev_reward and prev_done "
    "between calls; the weights never change",
    "multitask": "none: the policy is the same for every player",
    "maml": "gradient steps between episodes, which this file cannot take: it holds the "
    "meta-learned initial weights; adapt through the server or game_agent in Python",
}


class ExportedPolicy(nn.Module):
    """One decision of ``policy`` on ``spec``, with the recurrent state as explicit tensors."""

    def __init__(self, policy: ActorCritic, spec: GameSpec):
        super().__init__()
        self.policy = policy
        self.spec = spec

    def forward(
        self,
        observation: Tensor,
        action_mask: Tensor,
        hidden_state: Tensor | None = None,
        prev_action: Tensor | None = None,
        prev_reward: Tensor | None = None,
        prev_done: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        # Per-lane constants are derived from an input, never from a traced size, so the
        # batch dimension stays dynamic in the exported graph.
        lane_zeros = action_mask[:, 0] * 0.0
        if hidden_state is None:  # feed-forward: the network reads none of these
            hidden_state = action_mask[:, :0]
            prev_action = lane_zeros.to(torch.int64) - 1
            prev_reward = prev_done = lane_zeros
        assert prev_action is not None and prev_reward is not None and prev_done is not None
        inputs = PolicyInput(
            obs=observation[None],
            mask=(action_mask > 0.5)[None],
            prev_action=prev_action.to(torch.int64)[None],
            prev_reward=prev_reward[None],
            prev_done=prev_done[None],
            trial_start=(lane_zeros > 0.0)[None],
        )
        out = self.policy(self.spec, inputs, hidden_state)
        probs, value, greedy = out.dist.probs[0], out.values[0], out.dist.greedy()[0]
        if self.policy.recurrent:
            return probs, value, out.memory, greedy
        return probs, value, greedy


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote."""

    onnx_path: Path
    sidecar_path: Path
    sidecar: dict[str, Any]
    max_error: float
    """Largest onnxruntime-vs-torch difference seen by the check on random inputs."""


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    game: str | GameSpec | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    verify_samples: int = 16,
) -> ExportResult:
    """Export the policy of ``checkpoint`` (directory or run directory) for ``game``.

    ``game`` defaults to the checkpoint's first training variant. Writes ``out``
    and ``out + ".json"``; raises :class:`ConfigError` for options that cannot
    work, ``IncompatibleGameError`` for a game the policy cannot play, and
    :class:`GameAgentError` if the exported graph does not reproduce torch.
    """
    from game_agent.train import resolve_checkpoint

    loaded = load_checkpoint(resolve_checkpoint(checkpoint))
    learner = loaded.learner
    policy: ActorCritic = learner.policy.eval()
    spec = _choose_game(game, loaded.distribution)
    learner.layout.check(spec)
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--onnx {out} is a directory; name the .onnx file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    module = ExportedPolicy(policy, spec).eval()
    sidecar = describe(learner.name, policy, spec, loaded.meta, loaded.path, opset)
    sidecar["safety_fallback"] = _safety_fallback(loaded.path)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staged = staging / out.name
        _trace(module, staged, spec, opset)
        max_error = verify(module, staged, spec, samples=verify_samples)
        sidecar["verified_max_abs_error"] = max_error
        _embed_metadata(staged, sidecar)
        sidecar_path = out.with_name(out.name + ".json")
        staged_sidecar = staging / sidecar_path.name
        staged_sidecar.write_text(json.dumps(sidecar, indent=1) + "\n")
        os.replace(staged, out)
        os.replace(staged_sidecar, sidecar_path)
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    log.info("exported %s for %s to %s (max error %.2g)", learner.name, spec.name, out, max_error)
    return ExportResult(out, sidecar_path, sidecar, max_error)


def _safety_fallback(checkpoint: Path) -> dict[str, Any] | None:
    """The sidecar's note on a checkpoint's safety fallback (None without one)."""
    safety = read_safety_file(checkpoint)
    if safety is None:
        return None
    log.warning(
        "%s has a safety fallback; the ONNX graph holds the adaptive policy without it",
        checkpoint,
    )
    return {
        "exported": False,
        "settings": asdict(safety),
        "note": "the served agent switches to the equilibrium after losing its budget; "
        "this graph is the adaptive policy alone",
    }


def _choose_game(game: str | GameSpec | None, distribution: dict[str, Any]) -> GameSpec:
    if game is not None:
        return parse_spec(game)
    variants = distribution.get("variants") or []
    if not variants:
        raise ConfigError("the checkpoint lists no training variant; name one with --game")
    return parse_spec(variants[0])


def input_names(policy: ActorCritic) -> tuple[str, ...]:
    return FEEDFORWARD_INPUTS + (RECURRENT_INPUTS if policy.recurrent else ())


def output_names(policy: ActorCritic) -> tuple[str, ...]:
    return RECURRENT_OUTPUTS if policy.recurrent else FEEDFORWARD_OUTPUTS


def example_inputs(
    policy: ActorCritic, spec: GameSpec, batch: int, generator: torch.Generator | None = None
) -> tuple[Tensor, ...]:
    """Inputs for ``batch`` players: random when ``generator`` is given, else the trace example.

    Random inputs cover what an engine may send: observations within the
    variant's bounds (0/1 planes for boards), masks with at least one legal
    action, previous actions from -1 (none) upward, any reward, done 0 or 1.
    The trace example gives every lane previous action 0 (see the module doc).
    """
    actions = spec.num_actions
    if generator is None:
        obs = torch.zeros(batch, *spec.obs_shape)
        mask = torch.ones(batch, actions)
        hidden = torch.zeros(batch, policy.memory_size)
        prev_action = torch.zeros(batch, dtype=torch.int64)
        prev_reward, prev_done = torch.zeros(batch), torch.zeros(batch)
    else:
        obs = torch.rand(batch, *spec.obs_shape, generator=generator)
        if policy.layout.kind == BOARD:
            obs = (obs > 0.6).to(torch.float32)
        else:
            obs = spec.obs_low + (spec.obs_high - spec.obs_low) * obs
        mask = (torch.rand(batch, actions, generator=generator) > 0.4).to(torch.float32)
        first = torch.randint(actions, (batch,), generator=generator)
        mask[torch.arange(batch), first] = 1.0
        hidden = torch.randn(batch, policy.memory_size, generator=generator)
        prev_action = torch.randint(-1, actions, (batch,), generator=generator)
        prev_reward = torch.randn(batch, generator=generator)
        prev_done = (torch.rand(batch, generator=generator) > 0.5).to(torch.float32)
    if not policy.recurrent:
        return obs, mask
    return obs, mask, hidden, prev_action, prev_reward, prev_done


def _trace(module: ExportedPolicy, path: Path, spec: GameSpec, opset: int) -> None:
    path.write_bytes(trace_graph(module, spec, opset))


def trace_graph(module: ExportedPolicy, spec: GameSpec, opset: int = DEFAULT_OPSET) -> bytes:
    """The serialised ONNX model of ``module``, traced in memory rather than to a file.

    Shared by :func:`export_onnx` and :mod:`game_agent.inference`, which compiles the
    same graph for serving.
    """
    policy = module.policy
    names = input_names(policy)
    outputs = output_names(policy)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter's deprecation notice and the tracer's notes about the
        # data-dependent branch the module docstring explains; verify() is the real check.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example_inputs(policy, spec, batch=2),
            buffer,
            dynamo=False,
            input_names=list(names),
            output_names=list(outputs),
            dynamic_axes={name: {0: "batch"} for name in (*names, *outputs)},
            opset_version=opset,
        )
    return buffer.getvalue()


def verify(module: ExportedPolicy, path: Path, spec: GameSpec, *, samples: int) -> float:
    """Run the exported graph and torch on the same random inputs; the largest difference.

    See :func:`verify_session`; errors name the file.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return verify_session(module, session, spec, samples=samples, label=f"ONNX export {path.name}")


def verify_session(
    module: ExportedPolicy,
    session: Any,
    spec: GameSpec,
    *,
    samples: int,
    label: str,
    batches: Sequence[int] = (1, 3, 7),
) -> float:
    """Run ``session`` (an onnxruntime InferenceSession of ``module``'s graph) and torch on
    the same random inputs; the largest difference.

    Samples cycle through ``batches`` players: by default 1, 3 and 7 check the
    dynamic batch dimension (a session whose batch is fixed passes its size). Raises
    :class:`GameAgentError`, starting with ``label``, when any output differs by more
    than VERIFY_TOLERANCE or a greedy action differs where the choice is not a near-tie.
    """
    names = input_names(module.policy)
    outputs = output_names(module.policy)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for sample in range(max(1, samples)):
        batch = batches[sample % len(batches)]
        inputs = example_inputs(module.policy, spec, batch, generator)
        with torch.no_grad():
            expected = [t.numpy() for t in module(*inputs)]
        got = session.run(list(outputs), {n: t.numpy() for n, t in zip(names, inputs, strict=True)})
        for name, want, have in zip(outputs, expected, got, strict=True):
            if name == "greedy_action":
                _check_greedy(want, have, expected[0], label)
                continue
            error = float(np.max(np.abs(want - have))) if want.size else 0.0
            worst = max(worst, error)
            if not error <= VERIFY_TOLERANCE:
                raise GameAgentError(
                    f"{label}: output {name!r} differs from torch by {error:.3g} "
                    f"(tolerance {VERIFY_TOLERANCE:g}); the graph cannot be used"
                )
    return worst


def _check_greedy(want: np.ndarray, have: np.ndarray, probs: np.ndarray, label: str) -> None:
    top2 = np.sort(probs, axis=1)[:, -2:] if probs.shape[1] > 1 else np.ones((len(probs), 2))
    clear = (top2[:, 1] - top2[:, 0]) > VERIFY_TOLERANCE
    if (want[clear] != have[clear]).any():
        raise GameAgentError(
            f"{label}: greedy actions {have.tolist()} differ from torch's "
            f"{want.tolist()}; the graph cannot be used"
        )


# ------------------------------------------------------------------ sidecar


def describe(
    learner: str,
    policy: ActorCritic,
    spec: GameSpec,
    meta: dict[str, Any],
    checkpoint: Path,
    opset: int,
) -> dict[str, Any]:
    """The sidecar: what an engine needs to feed the graph and read its answer."""
    actions = spec.num_actions
    recurrent = policy.recurrent
    hidden = policy.memory_size
    tensors_in = [
        _tensor("observation", "float32", ["batch", *spec.obs_shape], _observation_note(spec)),
        _tensor("action_mask", "float32", ["batch", actions], "1.0 where legal, 0.0 elsewhere"),
    ]
    if recurrent:
        tensors_in += [
            _tensor("hidden_state", "float32", ["batch", hidden], "zeros for a new player"),
            _tensor("prev_action", "int64", ["batch"], "the agent's previous action; -1 for none"),
            _tensor(
                "prev_reward",
                "float32",
                ["batch"],
                "sum of the agent's rewards since its previous action (0 for none)",
            ),
            _tensor(
                "prev_done", "float32", ["batch"], "1.0 if an episode ended since then, else 0.0"
            ),
        ]
    tensors_out = [
        _tensor("action_probs", "float32", ["batch", actions], "0.0 on masked actions"),
        _tensor("value", "float32", ["batch"], "the agent's expected return from here"),
    ]
    if recurrent:
        tensors_out.append(
            _tensor("next_hidden_state", "float32", ["batch", hidden], "feed back as hidden_state")
        )
    tensors_out.append(
        _tensor("greedy_action", "int64", ["batch"], "the most probable legal action")
    )
    return {
        "format": FORMAT,
        "learner": learner,
        "adaptation": ADAPTATION.get(learner, "see the learner's documentation"),
        "game": {
            "spec": spec.name,
            "family": spec.family,
            "agents": list(spec.agents),
            "turn_based": spec.turn_based,
            "observation_shape": list(spec.obs_shape),
            "observation_low": spec.obs_low,
            "observation_high": spec.obs_high,
            "num_actions": actions,
            "actions": action_numbering(spec),
            "plays_other_variants": policy.layout.kind != BOARD,
        },
        "inputs": tensors_in,
        "outputs": tensors_out,
        "recurrent": (
            {
                "hidden_size": hidden,
                "initial": {
                    "hidden_state": 0.0,
                    "prev_action": -1,
                    "prev_reward": 0.0,
                    "prev_done": 0.0,
                },
                "after_each_call": "hidden_state = next_hidden_state, prev_action = the action "
                "played, prev_reward = 0, prev_done = 0",
                "on_reward": "prev_reward += reward, once the agent has acted in the episode",
                "on_episode_end": "if the agent acted in the episode: prev_reward += final "
                "reward, prev_done = 1 (keep hidden_state: the memory spans episodes)",
            }
            if recurrent
            else None
        ),
        "checkpoint": {
            "path": str(checkpoint),
            "model_sha256": meta.get("files", {}).get(MODEL_FILE, ""),
            "training_decisions": int(meta.get("progress", {}).get("decisions", 0)),
            "trained_variants": list(meta.get("distribution", {}).get("variants", [])),
            "version": meta.get("versions", {}).get("game_agent", ""),
        },
        "opset": opset,
        "docs": "docs/ENGINE_INTEGRATION.md",
    }


def action_numbering(spec: GameSpec) -> list[dict[str, Any]]:
    """Index and name of every action; ``null`` names are spare actions, always masked."""
    info = spec.info_dict()
    if spec.family == "connect_n" or info.get("action_kind") in ("column", "cell"):
        rows, cols = spec.obs_shape[1], spec.obs_shape[2]
        if board_action_kind(spec) == "column":
            names = [f"column {c}" for c in range(cols)]
        else:
            names = [f"row {i // cols} column {i % cols}" for i in range(rows * cols)]
    else:
        named = list(info.get("action_names") or info.get("actions") or ())
        names = named + [None] * (spec.num_actions - len(named))
    return [{"index": i, "name": name} for i, name in enumerate(names)]


def _observation_note(spec: GameSpec) -> str:
    if spec.family == "connect_n":
        return (
            "plane 0: the agent's stones, plane 1: the opponent's (1.0 or 0.0); "
            "row 0 is the top row"
        )
    return f"the {spec.family} encoding of docs/ENGINE_INTEGRATION.md, from the agent's seat"


def _tensor(name: str, dtype: str, shape: list[Any], meaning: str) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape, "meaning": meaning}


def _embed_metadata(path: Path, sidecar: dict[str, Any]) -> None:
    """Copy the sidecar into the model's metadata, so the .onnx describes itself alone."""
    import onnx

    model = onnx.load(str(path))
    model.doc_string = f"game-agent {sidecar['learner']} policy for {sidecar['game']['spec']}"
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(sidecar)
    onnx.save(model, str(path))


# ------------------------------------------------------------------ CLI


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` subcommand's options."""
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        metavar="CKPT",
        help="checkpoint directory, or a run directory (its latest checkpoint)",
    )
    parser.add_argument(
        "--onnx", type=Path, required=True, metavar="OUT", help="the .onnx file to write"
    )
    parser.add_argument(
        "--game",
        metavar="SPEC",
        help="variant to export for (board games: fixes the board size); "
        "default: the checkpoint's first training variant",
    )
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)"
    )


def run_export(args: argparse.Namespace) -> int:
    """Export as the arguments say; returns the process exit code."""
    if args.opset < 13:
        raise ConfigError(f"--opset must be 13 or newer, got {args.opset}")
    result = export_onnx(args.checkpoint, args.onnx, args.game, opset=args.opset)
    game = result.sidecar["game"]
    print(
        f"exported {result.sidecar['learner']} policy for {game['spec']} to {result.onnx_path} "
        f"(sidecar {result.sidecar_path}; onnxruntime matches torch within "
        f"{result.max_error:.1e})"
    )
    return 0
