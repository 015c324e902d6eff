"""The served forward pass of a vector actor-critic in numpy: a drop-in for its onnxruntime session.

    forward = VectorForward(learner.policy)
    probs, value, memory, greedy = forward.run(None, feed)

``run`` has the contract of an onnxruntime session of
:class:`~game_agent.export.ExportedPolicy` (the inputs, outputs, dtypes and shapes
tabled in :mod:`game_agent.export`), so anything that feeds such a session can feed
this instead, and :func:`~game_agent.export.verify_session` checks it the same way.

Why it exists and is built this way:

- **Batch 1 is mostly overhead in onnxruntime.** For the small vector networks
  (an 81->64->64 tanh MLP, a 64-wide GRU cell, two linear heads) a batch-1
  ``InferenceSession.run`` costs about 90 to 140 us, nearly all of it per-node
  dispatch and input/output binding. The same arithmetic is four BLAS
  matrix-vector products and a few dozen element-wise numpy calls: about a third
  of that (``python -m benchmarks.forward_bench``). The advantage shrinks with the
  batch: at 64 players numpy ran at 0.8 to 1.1 times onnxruntime's speed, since the
  products are then real work and numpy's float32 ``tanh`` is the slower one.
  Board networks (convolutions) stay with onnxruntime.
- **Weights snapshotted at construction**, as contiguous float32 arrays, like the
  graph :func:`~game_agent.inference.accelerate` traces: the torch policy may train
  on afterwards without changing what this serves.
- **Laid out for the fewest numpy calls.** Weights are stored transposed (input,
  output), so ``np.dot(x, w)`` serves a 1-D row at batch 1 and a 2-D batch alike,
  and ``np.dot`` on a vector is cheaper than the ``@`` operator. The GRU's input
  is assembled in one zeroed buffer (encoding, one-hot previous action, reward,
  done flag, a constant 1 for the biases, then the memory), so one product gives
  every gate's pre-activation: no one-hot vector to concatenate, no bias to add.
  Actor and critic are one product too. The reset and update gates' columns are
  pre-scaled by 1/2, so their sigmoid is ``1/2 + tanh(x)/2``, from ``tanh`` alone
  (``1 / (1 + exp(-x))`` warns about overflow for large ``x``); the halves are a
  vector, because an array-by-scalar operation costs about three times an
  array-by-array one in numpy 2.
- **Batch 1 has its own path** (one server turn): 1-D products (a 2-D ``(1, n)``
  pass measured about 35% slower end to end, about 10 us), scalar reads of the previous action,
  reward and done flag, and the masked softmax over Python floats, since each numpy
  reduction on five numbers costs more than the whole Python loop. Batches, and
  batch 1 with many actions, take the vectorised softmax.
- **Thread-safe.** ``run`` may be called from several threads at once: it allocates
  everything it writes, and the instance holds only read-only arrays.
- **Onnxruntime's refusals.** A missing or unknown input, a wrong dtype or shape, or
  a previous action past the last action raises ``ValueError`` naming the input,
  where onnxruntime raises its own error. A previous action below -1 means none,
  as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from game_agent.export import input_names, output_names
from game_agent.policies import ActorCritic
from game_agent.policies.layout import VECTOR
from games import GameSpec

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_LIST_SOFTMAX_MAX_ACTIONS = 32
"""Batch 1 takes the softmax over Python floats up to this many actions: the Python
loop costs about 0.1 us an action, numpy's masked softmax 10 to 15 us whatever the size."""


class VectorForward:
    """A vector :class:`ActorCritic`'s exported forward pass in numpy; see the module doc."""

    def __init__(self, policy: ActorCritic, spec: GameSpec | None = None):
        """Snapshot ``policy``'s weights; ``spec`` (checked against the policy) fixes the
        observation shape the inputs must have, by default ``(obs_size,)``."""
        layout = policy.layout
        if layout.kind != VECTOR:
            raise ValueError(
                f"VectorForward runs vector-layout policies; this {layout.family} policy has "
                f"the {layout.kind!r} layout: serve it with its onnxruntime session"
            )
        if spec is not None:
            layout.check(spec)
        self.recurrent = bool(policy.recurrent)
        self.num_actions = layout.num_actions
        self.memory_size = policy.memory_size
        self.obs_shape = tuple(spec.obs_shape) if spec is not None else (layout.obs_size,)
        self.input_names = input_names(policy)
        self.output_names = output_names(policy)
        self._output_index = {name: i for i, name in enumerate(self.output_names)}
        specs = {
            "observation": (_F32, self.obs_shape),
            "action_mask": (_F32, (self.num_actions,)),
            "hidden_state": (_F32, (self.memory_size,)),
            "prev_action": (_I64, ()),
            "prev_reward": (_F32, ()),
            "prev_done": (_F32, ()),
        }
        self._input_specs = tuple((name, *specs[name]) for name in self.input_names)
        """Each input's name, dtype and shape after the batch dimension."""
        with torch.no_grad():
            self._snapshot(policy)

    # -------------------------------------------------------------- weights

    def _snapshot(self, policy: ActorCritic) -> None:
        first, second = policy.vector.net[0], policy.vector.net[2]
        self._enc_w1, self._enc_b1 = _transposed(first.weight), _frozen(first.bias)
        self._enc_w2, self._enc_b2 = _transposed(second.weight), _frozen(second.bias)
        self._encoded = second.out_features
        heads = torch.cat([policy.actor.weight, policy.critic.weight])
        self._heads_w = _transposed(heads)
        self._heads_b = _frozen(torch.cat([policy.actor.bias, policy.critic.bias]))
        if self.recurrent:
            self._snapshot_gru(policy.gru)

    def _snapshot_gru(self, gru: torch.nn.GRUCell) -> None:
        """The GRU cell as one product of the assembled input (see ``_gru_input_one``) with
        columns r, z (halved), n's input part and n's memory part, which r scales."""
        size = gru.hidden_size
        w_ir, w_in = gru.weight_ih[: 2 * size], gru.weight_ih[2 * size :]
        w_hr, w_hn = gru.weight_hh[: 2 * size], gru.weight_hh[2 * size :]
        b_ir, b_in = gru.bias_ih[: 2 * size], gru.bias_ih[2 * size :]
        b_hr, b_hn = gru.bias_hh[: 2 * size], gru.bias_hh[2 * size :]
        inputs, memory = gru.input_size, size
        weight = torch.zeros(inputs + 1 + memory, 4 * size, dtype=gru.weight_ih.dtype)
        weight[:inputs, : 2 * size] = 0.5 * w_ir.T
        weight[:inputs, 2 * size : 3 * size] = w_in.T
        weight[inputs, : 2 * size] = 0.5 * (b_ir + b_hr)
        weight[inputs, 2 * size : 3 * size] = b_in
        weight[inputs, 3 * size :] = b_hn
        weight[inputs + 1 :, : 2 * size] = 0.5 * w_hr.T
        weight[inputs + 1 :, 3 * size :] = w_hn.T
        self._gru_w = _frozen(weight)
        self._half = np.full(2 * size, 0.5, dtype=_F32)
        self._half.flags.writeable = False

    # -------------------------------------------------------------- run

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: Any = None,
    ) -> list[np.ndarray]:
        """The outputs named (all, in order, for None) for the inputs in ``input_feed``.

        ``run_options`` is accepted, and ignored, for onnxruntime's signature.
        """
        del run_options
        arrays = self._checked_inputs(input_feed)
        if len(arrays[0]) == 1 and self.num_actions <= _LIST_SOFTMAX_MAX_ACTIONS:
            produced = self._run_one(*arrays)
        else:
            produced = self._run_batch(*arrays)
        if output_names is None:
            return list(produced)
        try:
            return [produced[self._output_index[name]] for name in output_names]
        except KeyError as exc:
            raise ValueError(
                f"unknown output {exc.args[0]!r}; this network outputs {list(self.output_names)}"
            ) from None

    def _run_one(self, obs: np.ndarray, mask: np.ndarray, *memory: np.ndarray) -> tuple:
        """One player (``memory``: the four recurrent inputs, if any): 1-D products and a
        softmax over Python floats."""
        pre = self._encode(obs.reshape(-1))
        if memory:
            hidden = memory[0][0]
            core = self._gru(self._gru_input_one(pre, hidden, *memory[1:]), hidden)
        else:
            core = np.tanh(pre, out=pre)
        out = np.dot(core, self._heads_w)
        out += self._heads_b
        probs, greedy = _masked_softmax_one(out.tolist(), mask[0].tolist(), self.num_actions)
        outputs = [np.array([probs], dtype=_F32), out[self.num_actions :]]
        if memory:
            outputs.append(core[None])
        outputs.append(np.array([greedy], dtype=_I64))
        return tuple(outputs)

    def _run_batch(self, obs: np.ndarray, mask: np.ndarray, *memory: np.ndarray) -> tuple:
        """Any number of players: 2-D products and a vectorised softmax."""
        pre = self._encode(obs.reshape(len(obs), -1))
        if memory:
            core = self._gru(self._gru_input_batch(pre, *memory), memory[0])
        else:
            core = np.tanh(pre, out=pre)
        out = np.dot(core, self._heads_w)
        out += self._heads_b
        probs, greedy = _masked_softmax(out[:, : self.num_actions], mask)
        outputs = [probs, np.ascontiguousarray(out[:, self.num_actions])]
        if memory:
            outputs.append(core)
        outputs.append(greedy)
        return tuple(outputs)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """The encoder up to its last tanh, which the caller applies where it wants it."""
        hidden = np.dot(x, self._enc_w1)
        hidden += self._enc_b1
        np.tanh(hidden, out=hidden)
        pre = np.dot(hidden, self._enc_w2)
        pre += self._enc_b2
        return pre

    def _gru_input_one(self, pre, memory, prev_action, prev_reward, prev_done) -> np.ndarray:
        """[tanh(pre), one-hot previous action, reward, done, 1, memory] for one player."""
        encoded, actions = self._encoded, self.num_actions
        x = np.zeros(encoded + actions + 3 + self.memory_size, dtype=_F32)
        np.tanh(pre, out=x[:encoded])
        action = int(prev_action[0])
        if action >= 0:
            x[encoded + action] = 1.0
        x[encoded + actions] = prev_reward[0]
        x[encoded + actions + 1] = prev_done[0]
        x[encoded + actions + 2] = 1.0
        x[encoded + actions + 3 :] = memory
        return x

    def _gru_input_batch(self, pre, memory, prev_action, prev_reward, prev_done) -> np.ndarray:
        """[tanh(pre), one-hot previous action, reward, done, 1, memory] for each player."""
        encoded, actions = self._encoded, self.num_actions
        x = np.zeros((len(pre), encoded + actions + 3 + self.memory_size), dtype=_F32)
        np.tanh(pre, out=x[:, :encoded])
        lanes = np.flatnonzero(prev_action >= 0)
        x[lanes, encoded + prev_action[lanes]] = 1.0
        x[:, encoded + actions] = prev_reward
        x[:, encoded + actions + 1] = prev_done
        x[:, encoded + actions + 2] = 1.0
        x[:, encoded + actions + 3 :] = memory
        return x

    def _gru(self, x: np.ndarray, memory: np.ndarray) -> np.ndarray:
        """torch.GRUCell's step on the assembled input, for one row (1-D) or many (2-D):
        r, z = sigmoid(.), n = tanh(x_n + r * h_n), h' = n + z * (h - n)."""
        size = self.memory_size
        gates = np.dot(x, self._gru_w)
        reset_update = gates[..., : 2 * size]
        np.tanh(reset_update, out=reset_update)  # the columns were halved: sigmoid = (1 + tanh) / 2
        reset_update *= self._half
        reset_update += self._half
        candidate = reset_update[..., :size] * gates[..., 3 * size :]
        candidate += gates[..., 2 * size : 3 * size]
        np.tanh(candidate, out=candidate)
        new = memory - candidate
        new *= reset_update[..., size:]
        new += candidate
        return new

    # -------------------------------------------------------------- inputs

    def _checked_inputs(self, feed: Mapping[str, Any]) -> list[np.ndarray]:
        """The inputs in :attr:`input_names` order, as onnxruntime would accept them; the
        observation's first dimension is the batch every other input must have."""
        if len(feed) != len(self.input_names):
            self._check_names(feed)
        arrays = []
        batch = 0
        for name, dtype, tail in self._input_specs:
            value = feed.get(name)
            if value is None:
                self._check_names(feed)
            if type(value) is not np.ndarray:
                value = np.asarray(value, dtype=dtype)
            if value.dtype != dtype:
                raise ValueError(f"input {name!r} has dtype {value.dtype}; expected {dtype}")
            if not arrays and value.ndim == len(tail) + 1:
                batch = value.shape[0]
            if value.shape != (batch, *tail) or not batch:
                raise ValueError(self._shape_error(name, value.shape, tail, batch))
            arrays.append(value)
        if self.recurrent:
            self._check_prev_action(arrays[3])
        return arrays

    def _shape_error(self, name: str, shape: tuple[int, ...], tail: tuple, batch: int) -> str:
        expected = f"input {name!r} has shape {shape}; expected {_shape_text(('batch', *tail))}"
        if name == self.input_names[0] or not batch:
            return f"{expected} with batch >= 1"
        return f"{expected} = {_shape_text((batch, *tail))} (the observation's batch)"

    def _check_names(self, feed: Mapping[str, Any]) -> None:
        missing = [name for name in self.input_names if feed.get(name) is None]
        unknown = sorted(set(feed) - set(self.input_names))
        problems = [f"missing inputs {missing}"] if missing else []
        problems += [f"unknown inputs {unknown}"] if unknown else []
        if problems:
            raise ValueError(f"{'; '.join(problems)}: this network takes {list(self.input_names)}")

    def _check_prev_action(self, prev_action: np.ndarray) -> None:
        last = int(prev_action[0]) if len(prev_action) == 1 else int(prev_action.max())
        if last >= self.num_actions:
            raise ValueError(
                f"input 'prev_action' holds {last}; expected -1 (none) to "
                f"{self.num_actions - 1}, the last action"
            )


def _masked_softmax_one(
    row: list[float], mask: list[float], actions: int
) -> tuple[list[float], int]:
    """Probabilities and greedy action of one player, as :class:`MaskedCategorical`:
    legal where the mask is > 0.5, every action legal when none is, first index on
    ties. ``row`` holds the logits first (the value may follow)."""
    legal = [i for i in range(actions) if mask[i] > 0.5] or list(range(actions))
    greedy = max(legal, key=row.__getitem__)
    top = row[greedy]
    probs = [0.0] * actions
    total = 0.0
    for i in legal:
        probs[i] = math.exp(row[i] - top)
        total += probs[i]
    return [p / total for p in probs], greedy


def _masked_softmax(logits: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and greedy actions of every row; see :func:`_masked_softmax_one`."""
    legal = mask > 0.5
    legal |= ~legal.any(axis=1, keepdims=True)
    masked = np.where(legal, logits, np.float32(-np.inf))
    greedy = masked.argmax(axis=1).astype(_I64, copy=False)
    masked -= masked.max(axis=1, keepdims=True)
    probs = np.exp(masked, out=masked)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs, greedy


def _transposed(weight: torch.Tensor) -> np.ndarray:
    """A (out, in) torch weight as a read-only contiguous float32 (in, out) array."""
    return _frozen(weight.detach().T)


def _frozen(tensor: torch.Tensor) -> np.ndarray:
    """A read-only float32 copy of ``tensor``, which the policy's training cannot change."""
    array = np.array(tensor.detach().cpu().numpy(), dtype=_F32, order="C", copy=True)
    array.flags.writeable = False
    return array


def _shape_text(shape: tuple[object, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
