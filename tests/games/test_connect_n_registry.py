"""connect_n in the registry: spec strings, shapes, clear errors, splits."""

from __future__ import annotations

import pytest

import games
from games.connect_n import FAMILY


def test_defaults_are_connect_four():
    spec = games.parse_spec("connect_n")
    assert dict(spec.params) == {"rows": 6, "cols": 7, "k": 4, "gravity": True}
    assert spec.obs_shape == (2, 6, 7) and spec.num_actions == 7
    assert spec.agents == ("player_0", "player_1") and spec.turn_based
    assert spec.max_steps == 42
    assert games.parse_spec(spec.name) == spec


def test_free_placement_numbers_cells():
    spec = games.parse_spec("connect_n(rows=9, cols=9, k=5, gravity=false)")
    assert spec.num_actions == 81 and spec.obs_shape == (2, 9, 9)
    assert spec.info_dict()["action_kind"] == "cell"
    assert games.parse_spec(spec.name) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("connect_n(rows=3,cols=3,k=4)", r"k=4 cannot fit on a 3x3 board; k must be between 2 and"),
        ("connect_n(k=1)", r"k must be >= 2"),
        ("connect_n(rows=16)", r"rows must be <= 15"),
        ("connect_n(cols=0)", r"cols must be >= 1"),
        (
            "connect_n(width=7)",
            r"has no parameter width; its parameters are cols, gravity, k, rows",
        ),
        ("connect_n(gravity=maybe)", r"gravity='maybe' is not a valid bool"),
        ("connect_n(rows=six)", r"rows='six' is not a valid int"),
        ("connect_n(rows=6,rows=7)", r"given twice"),
    ],
)
def test_impossible_or_malformed_variants_say_what_is_wrong(text, message):
    with pytest.raises(games.SpecError, match=message):
        games.parse_spec(text)


def test_unknown_opponent_lists_the_known_styles():
    with pytest.raises(games.UnknownOpponentError, match=r"no opponent 'chess_master'.*greedy"):
        games.make_opponent("connect_n", "chess_master")


def test_at_least_six_scripted_styles_and_three_skill_levels():
    styles = set(games.list_opponents("connect_n"))
    assert {"random", "centre", "edge", "greedy", "mirror", "first_legal"} <= styles
    assert {"search_d1", "search_d2", "search_d3"} <= styles


def test_splits_are_disjoint_playable_and_documented():
    train, heldout = games.get_split("connect_n", "train"), games.get_split("connect_n", "heldout")
    train_specs = {games.parse_spec(v) for v in train.variants}
    heldout_specs = {games.parse_spec(v) for v in heldout.variants}
    assert train_specs and heldout_specs and not train_specs & heldout_specs
    assert games.parse_spec("connect_n") in train_specs
    assert games.parse_spec("connect_n(rows=3,cols=3,k=3,gravity=false)") in train_specs
    assert not set(train.opponents) & set(heldout.opponents)
    assert set(train.opponents) | set(heldout.opponents) <= set(FAMILY.opponents)
    for spec in heldout_specs | train_specs:
        games.make_kernel(spec).reset(2)
    for style in heldout.opponents:
        assert style in FAMILY.doc
    assert "Splits" in FAMILY.doc and "Rewards" in FAMILY.doc
