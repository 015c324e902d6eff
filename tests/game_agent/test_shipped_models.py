"""The agents shipped under models/ are served the way the docs promise: behind the safety
wrapper for matrix and poker, found by ``play --local``, with the command that made them.

(That each loads, plays its held-out variants, stays small and serves on the ``make serve``
defaults is checked in ``tests/test_shipped_models.py``.)
"""

from pathlib import Path

import pytest

from game_agent.checkpoint import load
from game_agent.learners.safe import SafeLearner, SafetyConfig, read_safety_file
from game_agent.local import default_checkpoint

MODELS = Path(__file__).resolve().parents[2] / "models"
SAFETY = {"matrix": SafetyConfig(), "poker": SafetyConfig(budget=0.5)}
"""The settings EVALUATION.md and the safety bound in game_agent/learners/safe.py quote."""


@pytest.mark.parametrize("family", ["connect_n", "matrix", "poker", "pong"])
def test_shipped_agent_is_safe_where_promised_and_documents_its_training(family):
    path = MODELS / family
    assert default_checkpoint(family, MODELS) == path
    assert read_safety_file(path) == SAFETY.get(family)
    learner = load(path)
    assert isinstance(learner, SafeLearner) == (family in SAFETY)
    assert load(path, safety=False).name == "rl2"
    readme = (path / "README.md").read_text()
    assert f"game-agent train --config configs/{family}_rl2.toml --steps" in readme
    assert f"--seed 0 --out runs/{family}_rl2" in readme
