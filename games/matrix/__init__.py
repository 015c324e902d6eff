"""The ``matrix`` family: repeated two-player normal-form games (rules table: ``env.py``).

Spec strings: ``matrix(name=rpsls,rounds=50,history=3)``,
``matrix(name=biased_rps,bias=3.0)``. Parameters are listed in the rules
table of :mod:`games.matrix.env`; an unknown ``name`` lists the allowed ones.

Opponent styles (``games.make_opponent(spec, style)``):

| style             | split   | plays                                                            |
|-------------------|---------|------------------------------------------------------------------|
| nash              | train   | the stage game's equilibrium mixture                             |
| rock_heavy        | train   | action 0 with probability 0.6, the rest uniformly                |
| paper_heavy       | train   | action 1 with probability 0.6, the rest uniformly                |
| last_heavy        | train   | its highest action (scissors, lizard, defect) w.p. 0.75          |
| cycle_up          | train   | 0, 1, 2, ... (R->P->S) from a random start                       |
| cycle_double      | train   | each action twice in order (R,R,P,P,S,S)                         |
| copy_last         | train   | your previous move                                               |
| beat_last         | train   | its best response to your previous move                          |
| wsls              | train   | win-stay/lose-shift (good round: above its mean payoff)          |
| freq_counter      | train   | best response to your move frequencies over the whole match      |
| switching         | train   | one simple style, then another from a random middle round        |
| second_order      | heldout | beats what would beat your last move                             |
| win_shift         | heldout | win-shift/lose-stay, the reverse habit of wsls                   |
| adv_freq_br       | heldout | adversary: best response to recency-weighted counts (decay 0.7)  |
| adv_last_br2      | heldout | adversary: beats your best response to its last move             |
| adv_reverse_cycle | heldout | adversary: counters cycles in your moves, else cycles S->P->R    |
| echo2             | heldout | adversary: your move from two rounds back                        |

Splits: train variants are rps, rpsls, matching_pennies, prisoners_dilemma,
chicken and biased_rps with bias 2; held-out variants are stag_hunt (a
coordination game: no train variant rewards matching the other player's
cooperation) and biased_rps with bias 3 and 0.5 (the same rules with
different equilibria). Held-out styles are habits no train style has, and
the four adversaries, which punish an agent for following simple patterns.

Exact best responses and equilibrium values: :mod:`games.matrix.best_response`
(per match through ``games.best_response_value`` and ``games.equilibrium_value``).
"""

from __future__ import annotations

from typing import Any

from games.errors import SpecError
from games.matrix import adversaries, opponents
from games.matrix.best_response import best_response_value, equilibrium_payoff
from games.matrix.env import MatrixEnv
from games.matrix.kernel import MatrixKernel
from games.matrix.payoffs import DEFAULT_BIAS, GAME_NAMES, NUM_ACTIONS, ObsLayout, stage_game
from games.registry import Family, Param, Split
from games.spec import GameSpec

PARAMS = (
    Param("name", str, "rps", "which stage game is repeated", choices=GAME_NAMES),
    Param("rounds", int, 50, "rounds per match (the episode)", minimum=1, maximum=10_000),
    Param("history", int, 3, "past rounds shown in the observation", minimum=1, maximum=50),
    Param(
        "bias",
        float,
        DEFAULT_BIAS,
        "biased_rps: payoff of a win with rock (other wins pay 1)",
        minimum=0.1,
        maximum=10.0,
    ),
)


def build_spec(values: dict[str, Any]) -> GameSpec:
    """The GameSpec of one variant; rejects a bias given to a game other than biased_rps."""
    name, bias = values["name"], float(values["bias"])
    if name != "biased_rps" and bias != DEFAULT_BIAS:
        raise SpecError(
            f"matrix: bias={bias!r} only applies to name=biased_rps, not name={name}; "
            f"leave bias at its default {DEFAULT_BIAS!r}"
        )
    game = stage_game(name, bias)
    history = int(values["history"])
    params = dict(values, bias=bias)
    return GameSpec(
        family="matrix",
        params=tuple(sorted(params.items())),
        agents=("player_0", "player_1"),
        obs_shape=(ObsLayout(history).size,),
        num_actions=NUM_ACTIONS,
        turn_based=False,
        max_steps=int(values["rounds"]),
        obs_low=-1.0,
        obs_high=1.0,
        info=(
            ("actions", game.actions),
            ("num_legal", game.num_legal),
            ("zero_sum", game.zero_sum),
        ),
    )


def match_best_response(spec: GameSpec, opponent: str, seat: int) -> float | None:
    """Registry hook: the exact best response's expected total over one match, or None."""
    result = best_response_value(spec, opponent, seat)
    return None if result is None else result.value


def match_equilibrium(spec: GameSpec, seat: int) -> float:
    """Registry hook: expected total over one match when both seats play the ``nash`` style."""
    return equilibrium_payoff(spec, seat) * int(spec.param("rounds"))


TRAIN_STYLES = (
    opponents.Equilibrium,
    opponents.RockHeavy,
    opponents.PaperHeavy,
    opponents.LastHeavy,
    opponents.CycleUp,
    opponents.CycleDouble,
    opponents.CopyLast,
    opponents.BeatLast,
    opponents.WinStayLoseShift,
    opponents.FrequencyCounter,
    opponents.Switching,
)
HELDOUT_STYLES = (
    adversaries.SecondOrder,
    adversaries.WinShiftLoseStay,
    adversaries.DiscountedFrequencyBR,
    adversaries.LastBestResponse2,
    adversaries.ReverseCycle,
    adversaries.EchoTwo,
)

SPLITS = {
    "train": Split(
        variants=(
            "matrix(name=rps)",
            "matrix(name=rpsls)",
            "matrix(name=matching_pennies)",
            "matrix(name=prisoners_dilemma)",
            "matrix(name=chicken)",
            "matrix(name=biased_rps,bias=2.0)",
        ),
        opponents=tuple(style.name for style in TRAIN_STYLES),
    ),
    "heldout": Split(
        variants=(
            "matrix(name=stag_hunt)",
            "matrix(name=biased_rps,bias=3.0)",
            "matrix(name=biased_rps,bias=0.5)",
        ),
        opponents=tuple(style.name for style in HELDOUT_STYLES),
    ),
}

FAMILY = Family(
    name="matrix",
    params=PARAMS,
    build_spec=build_spec,
    kernel=MatrixKernel,
    env=MatrixEnv,
    opponents={style.name: style for style in TRAIN_STYLES + HELDOUT_STYLES},
    splits=SPLITS,
    doc=__doc__ or "",
    parallel=True,
    best_response_value=match_best_response,
    equilibrium_value=match_equilibrium,
)
