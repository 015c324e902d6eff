"""The ``pettingzoo`` family: any PettingZoo env a user brings, through a generic adapter.

    pettingzoo(env=package.module:env_fn,max_steps=1000)

``env_fn`` is imported and called with no arguments; it must return an AEC or
Parallel env whose observations are dicts with ``observation`` (a Box) and
``action_mask`` (one entry per discrete action), as PettingZoo's classic games
do; envs with plain Box observations are played with every action legal.
Parallel envs are stepped through PettingZoo's ``parallel_to_aec``, so the
learner sees one acting seat at a time. The adapter steps B env copies in a
Python loop: far slower than a native kernel, but it lets a new game be
trained without writing one.

Opponents: ``random`` (uniform over legal moves) and ``first_legal``. Splits:
both ``train`` and ``heldout`` hold only the two generic opponents; the variant
is the one the user names.
"""

from games.opponents.generic import FirstLegalOpponent, RandomOpponent
from games.pettingzoo_env.adapter import PettingZooKernel, build_spec, make_env
from games.registry import Family, Param, Split

FAMILY = Family(
    name="pettingzoo",
    params=(
        Param(
            "env",
            str,
            "pettingzoo.classic.tictactoe_v3:env",
            "import path 'package.module:callable' returning a PettingZoo env",
        ),
        Param("max_steps", int, 1000, "steps after which an episode is truncated", minimum=1),
    ),
    build_spec=build_spec,
    kernel=PettingZooKernel,
    env=make_env,
    opponents={"random": RandomOpponent, "first_legal": FirstLegalOpponent},
    splits={
        "train": Split(variants=(), opponents=("random", "first_legal")),
        "heldout": Split(variants=(), opponents=("random", "first_legal")),
    },
    doc=__doc__ or "",
)
