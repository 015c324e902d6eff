"""A categorical distribution over legal actions only.

Illegal actions get a logit of ``-inf``, so their probability is exactly 0 and
they can never be sampled, whatever the network outputs. Rows with no legal
action at all (padding in a replayed batch) are treated as uniform over every
action, so they stay finite and contribute nothing once weighted out: a single
``nan`` in a padded row would otherwise poison the gradient of the whole batch.
"""

from __future__ import annotations

import torch
from torch import Tensor


class MaskedCategorical:
    """Categorical distribution over ``logits`` (..., A) restricted to ``mask`` (..., A)."""

    def __init__(self, logits: Tensor, mask: Tensor):
        if logits.shape != mask.shape:
            raise ValueError(
                f"logits {tuple(logits.shape)} and mask {tuple(mask.shape)} must have one shape"
            )
        mask = mask.to(torch.bool)
        self.mask = mask | ~mask.any(dim=-1, keepdim=True)
        self.logits = logits.masked_fill(~self.mask, float("-inf"))
        self.log_probs = torch.log_softmax(self.logits, dim=-1)
        self.probs = self.log_probs.exp()

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """One action per row; masked actions have probability exactly 0."""
        flat = self.probs.reshape(-1, self.probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(self.probs.shape[:-1])

    def greedy(self) -> Tensor:
        """The most probable legal action per row."""
        return self.logits.argmax(dim=-1)

    def log_prob(self, actions: Tensor) -> Tensor:
        return self.log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        # Zero the -inf log-probs *before* multiplying: 0 * -inf is nan, in the gradient too.
        safe = torch.where(self.mask, self.log_probs, torch.zeros_like(self.log_probs))
        return -(self.probs * safe).sum(dim=-1)
