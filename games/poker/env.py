"""poker: Kuhn poker and Leduc hold'em as one family of two-player limit poker games.

=====================  =====================================================
Import                 ``games.make("poker(game=leduc)")``
Agents                 ``player_0`` (acts first in every round), ``player_1``
Actions                Discrete(3), masked per turn
Observation            Box(0, 1, (72,), float32), same layout in every variant
Turns                  alternating (AEC)
=====================  =====================================================

**The hand.** Each seat antes ``ante`` chips and gets one private card from a
deck of ``ranks`` ranks (Kuhn: one card per rank; Leduc: ``suits`` cards per
rank). Kuhn has one betting round. Leduc has two: after the first, one public
card is turned face up. In every round player_0 acts first; bets and raises have
the round's fixed size (``bet1``, then ``bet2``), and at most ``max_raises``
bets plus raises are allowed per round (a bet counts as the first).

**Actions.**

====  ===========  ============================================================
0     fold         give up the pot; legal only when facing a bet
1     check/call   check when nothing is owed, else call; a check or call that
                   is not the round's first action ends the round
2     bet/raise    put in the amount owed plus the round's bet size; legal
                   while fewer than ``max_raises`` bets/raises were made
====  ===========  ============================================================

In Kuhn's usual words, "pass" is action 1 with nothing to call and action 0
facing a bet.

**Showdown.** A pair (private card of the public card's rank) beats any unpaired
hand; otherwise the higher private rank wins; equal ranks split (reward 0).

**Rewards.** Chips won or lost, zero-sum, paid on the final step only: the
winner gains what the loser put in (ante and bets); 0 on every other step.
Termination: a fold, or the last round closing (showdown). No truncation; a
hand lasts at most ``rounds * (max_raises + 2)`` steps.

**Observation** (own seat's view; nothing about the other private card):

=======  ======================================================================
0-12     own private card, one-hot over rank (padded to 13 ranks)
13-25    public card, one-hot over rank; zeros until revealed (always in Kuhn)
26-61    betting history: round r (0, 1), slot t (0-5), action a at
         ``26 + 18 r + 3 t + a``; empty slots are zero (Kuhn uses round 0)
62       pot / maximum possible pot of the variant
63       own contribution / maximum possible contribution of one seat
64-65    current round, one-hot
66-67    own seat, one-hot (66: player_0, who acts first in every round)
68       own rank / (ranks - 1): the card's relative strength in this deck
69       public rank / (ranks - 1); 0 while hidden
70       ranks / 13
71       1 for Leduc, 0 for Kuhn
=======  ======================================================================

The owed amount is pot minus twice the own contribution (in normalised units,
``max_pot * obs[62] - 2 * max_contribution * obs[63]`` chips).

**Variant parameters** (``0`` means the game's standard value):

===========  ========  ===================================================
game         kuhn      ``kuhn`` or ``leduc``
ranks        3         card ranks, 2 to 13
suits        0         cards per rank: Kuhn 1 (only); Leduc standard 2, at most 4
ante         1         chips each seat antes, 1 to 10
bet1         0         round-1 bet size: Kuhn standard 1, Leduc standard 2
bet2         0         round-2 bet size: Leduc standard 4; Kuhn has none (0 only)
max_raises   0         bets + raises per round, at most 4: Kuhn 1, Leduc 2
===========  ========  ===================================================

Kuhn is ``poker(game=kuhn)``: J, Q, K, ante 1, bet 1, one bet per round, value
-1/18 for player_0. Leduc is ``poker(game=leduc)``: J J Q Q K K, ante 1, bets 2
then 4, two raises per round.

**Splits.** ``train`` variants: standard Kuhn, Kuhn with 5 ranks, Kuhn with bet 2,
standard Leduc, Leduc with 4 ranks; opponents ``random``, ``maniac``,
``calling_station``, ``rock``, ``equilibrium``. ``heldout`` variants: Kuhn with 4
ranks, Kuhn with two raises, Leduc with bets 1 and 3, Leduc with 5 ranks and
three raises; opponents ``bluffer``, ``timid``, ``trapper`` and
``adaptive_exploiter``. Heldout styles differ in kind from the train ones: a
bluffer bets its worst hands, a trapper slow-plays its best, a timid player
folds too much, and the adaptive exploiter learns the agent's betting
frequencies across hands and best-responds to them, so an agent that exploits
naively gets exploited back.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from games.poker.kernel import PokerKernel
from games.pz import KernelAECEnv


class PokerEnv(KernelAECEnv):
    """PettingZoo AEC env of one poker variant; the rules are the module docstring."""

    metadata: ClassVar[dict] = {
        "name": "poker_v0",
        "render_modes": ["human", "rgb_array"],
        "render_fps": 2,
        "is_parallelizable": False,
    }

    def _render_frame(self) -> np.ndarray | None:
        from games.poker.render import render_frame

        kernel = self.kernel
        assert isinstance(kernel, PokerKernel)
        if self._last is None:
            return None
        return render_frame(self, kernel.config, kernel.state())
