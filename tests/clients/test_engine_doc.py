"""docs/ENGINE_INTEGRATION.md states facts that code decides; these tests hold the two together.

The worked example's observation and mask are recomputed with the connect_n
kernel from the moves the text describes, the Kuhn example from the poker
kernel, and every family, observation size and ONNX tensor name the code has
must appear in the document.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from game_agent.export import (
    FEEDFORWARD_INPUTS,
    FEEDFORWARD_OUTPUTS,
    RECURRENT_INPUTS,
    RECURRENT_OUTPUTS,
)
from games import make_kernel, parse_spec
from games.registry import list_families

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ENGINE_INTEGRATION.md").read_text()


def block_after(marker: str) -> str:
    """The fenced code block that starts with the line ``marker``."""
    start = DOC.index(f"```\n{marker}\n")
    return DOC[start : DOC.index("```", start + 3)]


def test_every_family_has_its_encoding_section():
    for family in list_families():
        assert f"### `{family}`" in DOC


def test_observation_sizes_match_the_specs():
    assert parse_spec("matrix(history=3)").obs_shape == (81,)
    assert "`[10 * h + 51]` (81 with h = 3)" in DOC
    for spec, size in (("poker(game=leduc)", 72), ("pong()", 11)):
        assert parse_spec(spec).obs_shape == (size,)
        assert f"shape `[{size}]`" in DOC


def test_the_worked_example_is_what_the_kernel_shows_the_agent():
    spec = parse_spec("connect_n(rows=6,cols=7,k=4,gravity=true)")
    kernel = make_kernel(spec)
    kernel.reset(1)
    for seat, column in ((0, 3), (1, 3), (0, 2)):  # player, agent (turn 1), player
        actions = np.zeros((1, 2), dtype=np.int64)
        actions[0, seat] = column
        step = kernel.step(actions)
    request = block_after("# ActRequest")
    listed = re.search(r"values: \[(.*?)\]", request, re.S).group(1)
    values = [float(v) for v in re.sub(r"#[^\n]*", "", listed).replace(",", " ").split()]
    np.testing.assert_array_equal(np.array(values), step.obs[0, 1].ravel())
    assert np.flatnonzero(step.obs[0, 1].ravel()).tolist() == [31, 79, 80]
    mask = re.search(r"action_mask: \[(.*?)\]", request).group(1).split(", ")
    assert mask == [str(bool(m)).lower() for m in step.action_mask[0, 1]]
    assert "shape: [2, 6, 7]" in request and "turn: 2" in request


def test_the_kuhn_example_is_what_the_kernel_shows_the_agent():
    kernel = make_kernel(parse_spec("poker(game=kuhn)"))
    kernel.reset_with_cards(np.array([[2, 0]]))  # player_0 holds K, the agent (player_1) J
    step = kernel.step(np.array([[2, 0]]))  # player_0 bets
    text = DOC[DOC.index("Example (standard Kuhn") :]
    text = text[: text.index("**Rewards")]
    stated = text[text.index("Non-zero entries:") : text.index("entry 68 is 0")]
    entries = {}
    for index, value in re.findall(r"(\d+)(?: = ([\d./]+))? \(", stated):
        entries[int(index)] = float(Fraction(value)) if value else 1.0  # "0.75", "3/13"
    obs = step.obs[0, 1]
    assert entries.keys() == set(np.flatnonzero(obs).tolist())
    for index, value in entries.items():
        assert abs(obs[index] - value) < 1e-6, index
    assert "Mask `[true, true, false]`" in text
    assert step.action_mask[0, 1].tolist() == [True, True, False]


def test_every_onnx_tensor_name_is_documented():
    onnx_section = DOC[DOC.index("## 9. In-engine inference with ONNX") :]
    names = {*FEEDFORWARD_INPUTS, *RECURRENT_INPUTS, *FEEDFORWARD_OUTPUTS, *RECURRENT_OUTPUTS}
    for name in names:
        assert f"| `{name}` |" in onnx_section
