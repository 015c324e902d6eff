"""Observation encoders and action heads for the two layouts (see ``layout.py``).

The board encoder is fully convolutional (3x3 convolutions with padding, no
dense layer over cells), so a 3x3 tic-tac-toe board and a 9x9 gomoku board go
through the same weights; the board action head is convolutional too and
emits one logit per cell, or per column by pooling each column. The previous
action reaches a board network as an extra plane marking its cell or column,
which, unlike a one-hot vector, means the same thing on every board size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def orthogonal(layer: nn.Module, gain: float = math.sqrt(2.0)) -> nn.Module:
    """CleanRL's initialisation: orthogonal weights, zero biases."""
    nn.init.orthogonal_(layer.weight, gain)  # type: ignore[arg-type]
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)  # type: ignore[arg-type]
    return layer


class VectorEncoder(nn.Module):
    """Flattened observation -> two tanh layers (tanh as in CleanRL's MLP PPO)."""

    def __init__(self, obs_size: int, hidden_size: int):
        super().__init__()
        self.out_size = hidden_size
        self.net = nn.Sequential(
            orthogonal(nn.Linear(obs_size, hidden_size)),
            nn.Tanh(),
            orthogonal(nn.Linear(hidden_size, hidden_size)),
            nn.Tanh(),
        )

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs.flatten(start_dim=1))


class BoardEncoder(nn.Module):
    """Planes (N, P, rows, cols) -> a feature map of the same size and a pooled vector."""

    def __init__(self, in_planes: int, channels: int, layers: int):
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [orthogonal(nn.Conv2d(in_planes if i == 0 else channels, channels, 3, 1, 1))]
            blocks += [nn.ReLU()]
        self.net = nn.Sequential(*blocks)
        self.out_size = 2 * channels
        """Mean- and max-pooled channels: the mean counts, the max spots a local threat."""

    def forward(self, planes: Tensor) -> tuple[Tensor, Tensor]:
        features = self.net(planes)
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return features, pooled


def previous_action_plane(
    prev_action: Tensor, rows: int, cols: int, action_kind: str, dtype: torch.dtype
) -> Tensor:
    """(N, 1, rows, cols): 1 on the previous action's cell or column, all 0 when none (-1)."""
    n = prev_action.shape[0]
    plane = torch.zeros(n, rows * cols, dtype=dtype, device=prev_action.device)
    has = prev_action >= 0
    if has.any():
        index = prev_action.clamp_min(0)
        if action_kind == "column":
            cells = index[:, None] + cols * torch.arange(rows, device=index.device)[None, :]
        else:
            cells = index[:, None]
        values = has.to(dtype)[:, None].expand(cells.shape).contiguous()
        plane.scatter_(1, cells, values)
    return plane.reshape(n, 1, rows, cols)


class BoardActorHead(nn.Module):
    """Per-cell or per-column logits from the feature map, conditioned on the core state.

    The core state (GRU memory or feed-forward summary) shifts every channel of
    the feature map (a FiLM-style bias), so what the agent has learnt about the
    opponent can change which cells look good, without any size-specific layer.
    """

    def __init__(self, channels: int, core_size: int):
        super().__init__()
        self.condition = orthogonal(nn.Linear(core_size, channels))
        self.cell = orthogonal(nn.Conv2d(channels, 1, 1), gain=0.01)
        self.column = orthogonal(nn.Linear(channels, 1), gain=0.01)

    def forward(self, features: Tensor, core: Tensor, action_kind: str) -> Tensor:
        mixed = torch.relu(features + self.condition(core)[:, :, None, None])
        if action_kind == "column":
            per_column = mixed.amax(dim=2).transpose(1, 2)  # (N, cols, C)
            return self.column(per_column).squeeze(-1)
        return self.cell(mixed).flatten(start_dim=1)
