"""Task distributions over the registry's splits."""

import pytest

from game_agent.errors import ConfigError
from game_agent.tasks import Task, TaskDistribution
from games import get_split, parse_spec
from games.errors import SpecError, UnknownOpponentError


def test_default_split_comes_from_the_registry():
    dist = TaskDistribution("matrix", seed=0)
    split = get_split("matrix", "train")
    assert [s.name for s in dist.specs] == [parse_spec(v).name for v in split.variants]
    assert dist.opponents == split.opponents
    assert dist.seats == (0, 1)
    heldout = TaskDistribution("matrix", split="heldout")
    assert not set(heldout.opponents) & set(dist.opponents)


def test_sampling_is_seeded_and_covers_the_product():
    a = TaskDistribution("matrix", seed=5).sample(200)
    b = TaskDistribution("matrix", seed=5).sample(200)
    assert a == b
    dist = TaskDistribution("matrix", seed=5)
    assert {t.spec for t in a} == set(dist.specs)
    assert {t.opponent for t in a} == set(dist.opponents)
    assert {t.seat for t in a} == {0, 1}
    assert len(dist.all_tasks()) == len(dist.specs) * len(dist.opponents) * 2


def test_explicit_lists_override_the_split():
    dist = TaskDistribution(
        "connect_n",
        variants=["connect_n(rows=3,cols=3,k=3,gravity=false)"],
        opponents=["random"],
        seats=[1],
        seed=0,
    )
    tasks = dist.sample(5)
    assert {t.name for t in tasks} == {
        "connect_n(cols=3,gravity=false,k=3,rows=3) vs random (seat 1)"
    }
    same_variant = dist.sample_for(dist.specs[0], 3)
    assert all(t.spec == dist.specs[0] for t in same_variant)


def test_bad_inputs_name_the_problem():
    with pytest.raises(UnknownOpponentError, match="nobody"):
        TaskDistribution("matrix", opponents=["nobody"])
    with pytest.raises(SpecError, match="no split"):
        TaskDistribution("matrix", split="test")
    with pytest.raises(ConfigError, match="not a matrix game"):
        TaskDistribution("matrix", variants=["connect_n"], opponents=["nash"])
    with pytest.raises(ConfigError, match="seat 2"):
        Task(parse_spec("matrix"), "nash", 2)
    with pytest.raises(ConfigError, match="at least one"):
        TaskDistribution("matrix", variants=[], opponents=["nash"])
