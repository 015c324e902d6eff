"""The agents shipped under models/: one loadable checkpoint per family, safe where promised,
small enough for the repository, and a README whose command reproduces it."""

from pathlib import Path

import pytest

from game_agent.checkpoint import load
from game_agent.learners.safe import SafeLearner
from game_agent.local import default_checkpoint
from games import get_split, parse_spec

MODELS = Path(__file__).resolve().parents[2] / "models"
SAFE = {"matrix", "poker"}


@pytest.mark.parametrize("family", ["connect_n", "matrix", "poker", "pong"])
def test_shipped_agent_loads_plays_the_heldout_split_and_says_how_it_was_made(family):
    path = MODELS / family
    assert default_checkpoint(family, MODELS) == path
    learner = load(path)
    assert isinstance(learner, SafeLearner) == (family in SAFE)
    assert learner.layout.family == family
    for variant in get_split(family, "heldout").variants:
        assert learner.supports(parse_spec(variant)), variant
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 5_000_000
    readme = (path / "README.md").read_text()
    assert f"game-agent train --config configs/{family}_rl2.toml --steps" in readme
    assert f"--seed 0 --out runs/{family}_rl2" in readme
