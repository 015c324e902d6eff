"""The connect_n PettingZoo env: PettingZoo's conformance tests, seeding, rendering."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, seed_test

import games
from games.connect_n.env import ConnectNEnv
from games.connect_n.render import FREE_PALETTE, GRAVITY_PALETTE, cell_size

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

VARIANTS = (
    "connect_n",
    "connect_n(rows=3,cols=3,k=3,gravity=false)",
    "connect_n(rows=9,cols=9,k=5,gravity=false)",
    "connect_n(rows=5,cols=6,k=4,gravity=true)",
    "connect_n(rows=1,cols=4,k=2,gravity=true)",
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pettingzoo_api_test(variant):
    with warnings.catch_warnings():
        # api_test warns about the all-zero first observation and Dict spaces: both by design.
        warnings.simplefilter("ignore", UserWarning)
        api_test(games.make(variant), num_cycles=300)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pettingzoo_seed_test(variant):
    seed_test(lambda: games.make(variant), num_cycles=300)


def test_env_identity_and_spaces():
    env = games.make("connect_n(rows=4,cols=5,k=3,gravity=false)")
    assert isinstance(env, ConnectNEnv)
    assert env.metadata["name"] == "connect_n_v0"
    assert env.possible_agents == ["player_0", "player_1"]
    space = env.observation_space("player_1")
    assert space["observation"].shape == (2, 4, 5) and space["observation"].dtype == np.float32
    assert env.action_space("player_0").n == 20
    assert games.make("connect_n").action_space("player_0").n == 7


def test_pygame_is_not_imported_without_rendering():
    """In a fresh interpreter: playing without a render mode never imports pygame."""
    script = (
        "import sys, games\n"
        "env = games.make('connect_n')\n"
        "env.reset()\n"
        "env.step(3)\n"
        "games.make_opponent('connect_n', 'mirror').reset(1)\n"
        "assert 'pygame' not in sys.modules, 'pygame was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_unknown_render_mode_is_rejected():
    with pytest.raises(ValueError, match="render_mode"):
        games.make("connect_n", render_mode="ascii")


def _centre_pixel(frame: np.ndarray, row: int, col: int, size: int) -> tuple[int, ...]:
    return tuple(int(v) for v in frame[row * size + size // 2, col * size + size // 2])


def test_rgb_array_frame_shows_the_stones_where_they_are():
    env = games.make("connect_n", render_mode="rgb_array")
    env.reset()
    empty = env.render()
    size = cell_size(6, 7)
    assert empty.shape == (6 * size, 7 * size, 3) and empty.dtype == np.uint8
    assert _centre_pixel(empty, 5, 3, size) == GRAVITY_PALETTE.empty
    env.step(3)  # player_0 drops into the centre column: lands on the bottom row
    env.step(0)
    frame = env.render()
    assert frame.std() > 10, "a frame of one colour is blank"
    # The last stone wears a ring, so sample a little off its centre.
    offset = size // 4
    assert (
        tuple(frame[5 * size + size // 2 + offset, 0 * size + size // 2])
        == (GRAVITY_PALETTE.pieces[1])
    )
    assert _centre_pixel(frame, 5, 3, size) == GRAVITY_PALETTE.pieces[0]
    assert _centre_pixel(frame, 4, 3, size) == GRAVITY_PALETTE.empty
    env.close()


def test_rgb_array_frame_of_a_free_placement_board():
    env = games.make("connect_n(rows=3,cols=3,k=3,gravity=false)", render_mode="rgb_array")
    env.reset()
    env.step(4)
    env.step(0)
    env.step(8)
    frame = env.render()
    size = cell_size(3, 3)
    assert _centre_pixel(frame, 0, 0, size) == FREE_PALETTE.pieces[1]
    assert _centre_pixel(frame, 1, 1, size) == FREE_PALETTE.pieces[0]
    assert _centre_pixel(frame, 0, 2, size) != FREE_PALETTE.pieces[0]
    env.close()


def test_human_mode_draws_a_window_and_returns_nothing():
    env = games.make("connect_n(rows=3,cols=3,k=3,gravity=false)", render_mode="human")
    env.reset()
    env.step(4)
    assert env.render() is None
    env.close()
