"""The actor-critic network shared by RL2 and the multi-task baseline.

One module, two modes:

- ``recurrent=True`` (RL2): a GRU cell reads the encoded observation together
  with the previous action, the previous reward and an episode-done flag, and
  its hidden state is the agent's memory of the player. The memory is reset to
  zeros at the first decision of every trial (``trial_start``).
- ``recurrent=False`` (multi-task): the same encoder and heads with a
  feed-forward core; no memory, no previous action or reward.

Acting and training call the same :meth:`ActorCritic.forward` on time-major
sequences ``(T, N)``, acting with ``T = 1``, so the memory a served player
carries is computed by exactly the code that training replays.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
from torch import Tensor, nn

from game_agent.policies.distributions import MaskedCategorical
from game_agent.policies.encoders import (
    BoardActorHead,
    BoardEncoder,
    VectorEncoder,
    orthogonal,
    previous_action_plane,
)
from game_agent.policies.layout import BOARD, ObsLayout, board_action_kind
from games.spec import GameSpec

_GRU_FLAGS = (True, 1, 0.0, False, False, False)
"""torch.gru's has_biases, num_layers, dropout, train, bidirectional, batch_first."""


class PolicyInput(NamedTuple):
    """What the policy sees at each of T x N decisions (time-major)."""

    obs: Tensor
    """(T, N, *obs_shape) float32."""
    mask: Tensor
    """(T, N, num_actions) bool legal actions."""
    prev_action: Tensor
    """(T, N) int64: the agent's previous action in this trial, -1 for none."""
    prev_reward: Tensor
    """(T, N) float32: the agent's rewards since its previous decision."""
    prev_done: Tensor
    """(T, N) float32: 1 when an episode ended since the previous decision."""
    trial_start: Tensor
    """(T, N) bool: the first decision of a trial; memory restarts from zeros."""


class PolicyOutput(NamedTuple):
    dist: MaskedCategorical
    """Action distribution over (T, N, num_actions)."""
    values: Tensor
    """(T, N) state-value estimates."""
    memory: Tensor
    """(N, memory_size) memory after the last step."""


class ActorCritic(nn.Module):
    """Encoder, optional GRU core, masked policy head and value head; see the module doc."""

    def __init__(
        self,
        layout: ObsLayout,
        *,
        recurrent: bool,
        hidden_size: int = 64,
        conv_channels: int = 32,
        conv_layers: int = 3,
    ):
        super().__init__()
        self.layout = layout
        self.recurrent = recurrent
        self.hidden_size = hidden_size
        self.memory_size = hidden_size if recurrent else 0
        if layout.kind == BOARD:
            self.board = BoardEncoder(layout.planes + int(recurrent), conv_channels, conv_layers)
            encoded = self.board.out_size
            self.board_actor = BoardActorHead(conv_channels, hidden_size)
        else:
            self.vector = VectorEncoder(layout.obs_size, hidden_size)
            encoded = self.vector.out_size
            self.actor = orthogonal(nn.Linear(hidden_size, layout.num_actions), gain=0.01)
            if recurrent:
                encoded += layout.num_actions  # one-hot previous action
        if recurrent:
            self.gru = nn.GRUCell(encoded + 2, hidden_size)
            nn.init.orthogonal_(self.gru.weight_hh)
            nn.init.orthogonal_(self.gru.weight_ih)
            nn.init.zeros_(self.gru.bias_hh)
            nn.init.zeros_(self.gru.bias_ih)
        elif layout.kind == BOARD:
            self.core = nn.Sequential(orthogonal(nn.Linear(encoded, hidden_size)), nn.Tanh())
        self.critic = orthogonal(nn.Linear(hidden_size, 1), gain=1.0)

    def forward_key(self, spec: GameSpec) -> tuple[object, ...]:
        """Variants with equal keys can share one forward pass (stacked along the lanes).

        A vector network never looks at the variant; a board network needs the same board
        shape and action kind.
        """
        if self.layout.kind == BOARD:
            return (tuple(spec.obs_shape), board_action_kind(spec))
        return ()

    def initial_memory(self, n: int) -> Tensor:
        """Memory of ``n`` lanes that have seen nothing yet."""
        return torch.zeros(n, self.memory_size)

    def forward(
        self, spec: GameSpec, inputs: PolicyInput, memory: Tensor, live: Tensor | None = None
    ) -> PolicyOutput:
        """Run T steps for N lanes starting from ``memory`` (N, memory_size).

        ``live`` (T, N), when given, marks the rows worth encoding: a replayed batch passes
        its padding as not live, and those rows get a zero encoding instead of a pass
        through the encoder (their outputs are weighted out of every loss anyway).
        """
        steps, lanes = inputs.prev_action.shape
        flat = PolicyInput(*(x.reshape(steps * lanes, *x.shape[2:]) for x in inputs))
        kind = board_action_kind(spec) if self.layout.kind == BOARD else ""
        if live is None or bool(live.all()):
            features, encoded = self._encode(flat, kind)
        else:
            rows = torch.nonzero(live.reshape(-1)).flatten()
            features, encoded = self._encode(PolicyInput(*(x[rows] for x in flat)), kind)
            encoded = encoded.new_zeros(steps * lanes, *encoded.shape[1:]).index_copy(
                0, rows, encoded
            )
            if features is not None:
                features = features.new_zeros(steps * lanes, *features.shape[1:]).index_copy(
                    0, rows, features
                )
        if self.recurrent:
            core, memory = self._recur(encoded, flat, steps, lanes, memory)
        elif self.layout.kind == BOARD:
            core = self.core(encoded)
        else:
            core = encoded
        if features is not None:
            logits = self.board_actor(features, core, kind)
        else:
            logits = self.actor(core)
        logits = logits.reshape(steps, lanes, -1)
        dist = MaskedCategorical(logits, inputs.mask)
        values = self.critic(core).reshape(steps, lanes)
        return PolicyOutput(dist, values, memory)

    def _encode(self, flat: PolicyInput, kind: str) -> tuple[Tensor | None, Tensor]:
        """(board feature map or None, encoded vector) for each row of ``flat``."""
        if self.layout.kind == BOARD:
            return self._encode_board(flat, kind)
        return None, self._encode_vector(flat)

    def _encode_board(self, flat: PolicyInput, kind: str) -> tuple[Tensor, Tensor]:
        planes = flat.obs
        if self.recurrent:
            rows, cols = planes.shape[-2:]
            prev = previous_action_plane(flat.prev_action, rows, cols, kind, planes.dtype)
            planes = torch.cat([planes, prev], dim=1)
        return self.board(planes)

    def _encode_vector(self, flat: PolicyInput) -> Tensor:
        encoded = self.vector(flat.obs)
        if self.recurrent:
            num_actions = self.layout.num_actions
            onehot = torch.zeros(flat.prev_action.shape[0], num_actions, dtype=encoded.dtype)
            has = flat.prev_action >= 0
            onehot[has, flat.prev_action[has]] = 1.0
            encoded = torch.cat([encoded, onehot], dim=1)
        return encoded

    def _recur(
        self, encoded: Tensor, flat: PolicyInput, steps: int, lanes: int, memory: Tensor
    ) -> tuple[Tensor, Tensor]:
        extra = torch.stack([flat.prev_reward, flat.prev_done], dim=1).to(encoded.dtype)
        x = torch.cat([encoded, extra], dim=1).reshape(steps, lanes, -1)
        starts = flat.trial_start.reshape(steps, lanes)
        keep = (~starts).unsqueeze(-1).to(encoded.dtype)
        # The GRU runs as torch's fused multi-step kernel (the same gates and weights as the
        # cell, without a Python loop and per-step autograd nodes), restarted only at the
        # steps where some lane begins a new trial and its memory must be zeroed.
        bounds = [0, *(torch.nonzero(starts[1:].any(dim=1)).flatten() + 1).tolist(), steps]
        weights = [self.gru.weight_ih, self.gru.weight_hh, self.gru.bias_ih, self.gru.bias_hh]
        outputs = []
        for begin, end in itertools.pairwise(bounds):
            hidden = (memory * keep[begin])[None]
            # Flags: biases, one layer, no dropout, not training-mode dropout, one direction,
            # time-major.
            out, hidden = torch.gru(x[begin:end], hidden, weights, *_GRU_FLAGS)
            outputs.append(out)
            memory = hidden[0]
        return torch.cat(outputs).reshape(steps * lanes, -1), memory
