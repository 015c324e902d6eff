"""pygame demos: a human plays the agent, and watches it learn about them.

One module per game family, all run by :func:`run_demo`. The rules come from
``games`` (each family's PettingZoo env), the agent's moves from any
:class:`clients.opponent.AdaptiveOpponent` (served, in-process or scripted),
and a side panel shows what the agent has learned about the player, refreshed
every game. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

# pygame greets on import; a game window needs no banner on the terminal.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from clients.demos.ui import DemoResult, InputScript, key_press, mouse_click
from clients.opponent import AdaptiveOpponent
from games import GameSpec, SpecError, parse_spec

DEMOS = {
    "connect_n": ("clients.demos.connect_n", "ConnectNDemo"),
    "matrix": ("clients.demos.matrix", "MatrixDemo"),
    "poker": ("clients.demos.poker", "PokerDemo"),
    "pong": ("clients.demos.pong", "PongDemo"),
}
"""Family name -> (module, demo class), imported only when that family is played."""

DEFAULT_VARIANTS = {
    "connect_n": "connect_n(rows=6,cols=7,k=4,gravity=true)",
    "matrix": "matrix(name=rps,rounds=20)",
    "poker": "poker(game=kuhn)",
    "pong": "pong",
}
"""What ``game-agent play FAMILY`` plays when no ``--variant`` is given."""

__all__ = [
    "DEFAULT_VARIANTS",
    "DEMOS",
    "DemoResult",
    "demo_spec",
    "key_press",
    "make_demo",
    "mouse_click",
    "run_demo",
]


def demo_spec(family: str, variant: str | None = None) -> GameSpec:
    """The variant a demo plays: ``variant`` (checked to belong to ``family``) or the default."""
    if family not in DEMOS:
        raise SpecError(f"no demo for family {family!r}; demos: {', '.join(sorted(DEMOS))}")
    spec = parse_spec(variant or DEFAULT_VARIANTS[family])
    if spec.family != family:
        raise SpecError(f"variant {spec.name} is a {spec.family} game, not {family}")
    return spec


def make_demo(
    family: str,
    opponent: AdaptiveOpponent,
    variant: str | None = None,
    *,
    human_seat: int = 0,
    seed: int | None = None,
    **options: object,
):
    """The family's demo object (not yet running)."""
    spec = demo_spec(family, variant)
    module, name = DEMOS[family]
    demo_class = getattr(importlib.import_module(module), name)
    return demo_class(spec, opponent, human_seat=human_seat, seed=seed, **options)


def run_demo(
    family: str,
    opponent: AdaptiveOpponent,
    variant: str | None = None,
    *,
    input_script: InputScript | None = None,
    max_frames: int | None = None,
    games: int | None = None,
    screenshot_path: str | Path | None = None,
    fps: int | None = None,
    human_seat: int = 0,
    seed: int | None = None,
    **options: object,
) -> DemoResult:
    """Play ``family`` against ``opponent`` in a pygame window until the player quits.

    For headless runs (tests), ``input_script`` injects events, ``games`` and
    ``max_frames`` stop the run, ``fps=0`` lifts the frame cap and
    ``screenshot_path`` saves the last frame.
    """
    from clients.demos.ui import run

    demo = make_demo(family, opponent, variant, human_seat=human_seat, seed=seed, **options)
    return run(
        demo,
        input_script=input_script,
        max_frames=max_frames,
        games=games,
        screenshot_path=screenshot_path,
        fps=fps,
    )
