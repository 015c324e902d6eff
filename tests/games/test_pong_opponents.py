"""Pong's scripted styles: legal, seeded, and each playing the way it claims to."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import games
from games.pong import FAMILY
from games.pong.config import DOWN, STAY, UP
from games.pong.kernel import PongKernel, PongState
from games.pong.opponents import AnticipatorOpponent, TrackerOpponent

SPEC = games.parse_spec("pong")
STYLES = sorted(FAMILY.opponents)


def play(spec, left: str, right: str, n: int, seed: int = 1, frames: int | None = None):
    """Play n points between two styles; return (kernel, per-frame states, summed rewards)."""
    kernel = games.make_kernel(spec)
    step = kernel.reset(n, seed=seed)
    seats = [
        games.make_opponent(spec, left, seed=seed + 1),
        games.make_opponent(spec, right, seed=seed + 2),
    ]
    for opponent in seats:
        opponent.reset(n)
    total = np.zeros(2)
    states = [kernel.state()]
    for _ in range(frames or kernel.spec.max_steps):
        actions = np.stack(
            [o.act(step.obs[:, i], step.action_mask[:, i]) for i, o in enumerate(seats)], 1
        )
        step = kernel.step(actions)
        total += step.rewards.sum(axis=0)
        states.append(kernel.state())
        if step.done.all():
            break
    return kernel, states, total


def test_every_style_is_registered_with_a_name_and_a_description():
    assert len(STYLES) >= 6
    for name in STYLES:
        opponent = games.make_opponent(SPEC, name, seed=0)
        assert opponent.name == name
        assert opponent.description and "\n" not in opponent.description
        assert FAMILY.opponents[name].description == opponent.description


@pytest.mark.parametrize("name", STYLES)
def test_style_returns_legal_actions_everywhere(name):
    """Random positions, some points finished (empty masks get 0), batch size changing."""
    rng = np.random.default_rng(0)
    for spec in ("pong", "pong(ball_speed=2.5,paddle_height=6.0)", "pong(width=48,height=40)"):
        kernel = games.make_kernel(spec)
        step = kernel.reset(64, seed=2)
        opponent = games.make_opponent(spec, name, seed=3)
        opponent.reset(64)
        for frame in range(300):
            for seat in (0, 1):
                actions = opponent.act(step.obs[:, seat], step.action_mask[:, seat])
                assert actions.shape == (64,) and actions.dtype == np.int64
                live = step.action_mask[:, seat].any(axis=1)
                assert np.all((actions[live] >= 0) & (actions[live] < 3))
                assert np.all(actions[~live] == 0)
            step = kernel.step(rng.integers(0, 3, size=(64, 2)))
            if frame % 50 == 49:
                opponent.reset_where(step.done)
                step = kernel.reset_where(step.done)
        smaller = opponent.act(step.obs[:5, 0], step.action_mask[:5, 0])
        assert smaller.shape == (5,)


@pytest.mark.parametrize("name", ["random", "jittery", "edge_aimer"])
def test_style_is_reproducible_from_its_seed(name):
    _, first, _ = play(SPEC, name, "random", n=16, seed=7, frames=200)
    _, second, _ = play(SPEC, name, "random", n=16, seed=7, frames=200)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.paddle_y, b.paddle_y)


def test_a_perfect_tracker_beats_random_from_either_seat():
    _, _, left = play(SPEC, "tracker_delay0", "random", n=200)
    _, _, right = play(SPEC, "random", "tracker_delay0", n=200)
    assert left[0] / 200 > 0.8  # over 200 points, it wins at least 90%
    assert right[1] / 200 > 0.8


def test_longer_reaction_delays_play_worse():
    _, _, result = play(SPEC, "tracker_delay0", "tracker_delay8", n=200)
    assert result[0] / 200 > 0.3


def _obs(my_y: float, ball_y: float, ball_x: float = 0.0, vx: float = -1.0) -> np.ndarray:
    obs = np.zeros((1, 11), dtype=np.float32)
    obs[0, [0, 2, 3, 4]] = (my_y, ball_x, ball_y, vx)
    return obs


def test_a_delayed_tracker_reacts_exactly_delay_frames_late():
    mask = np.ones((1, 3), dtype=bool)
    prompt, late = TrackerOpponent(SPEC, delay=0), TrackerOpponent(SPEC, delay=4)
    prompt.reset(1)
    late.reset(1)
    # The ball sits far above for 3 frames, then far below from frame 3 on.
    heard = [
        (int(prompt.act(o, mask)[0]), int(late.act(o, mask)[0]))
        for o in [_obs(0.0, 0.9)] * 3 + [_obs(0.0, -0.9)] * 8
    ]
    assert [p for p, _ in heard] == [UP] * 3 + [DOWN] * 8
    assert [d for _, d in heard] == [UP] * 7 + [DOWN] * 4
    # A new point forgets the old ball: the first frame is reacted to at once.
    late.reset_where(np.array([True]))
    assert late.act(_obs(0.0, 0.9), mask)[0] == UP


def test_tracker_holds_still_within_half_a_paddle_step():
    tracker = TrackerOpponent(SPEC)
    tracker.reset(3)
    step_in_obs = 2 * 1.0 / 48  # paddle_speed 1 on a court 48 high
    obs = np.concatenate(
        [_obs(0.0, 0.4 * step_in_obs), _obs(0.0, 0.6 * step_in_obs), _obs(0.3, 0.0)]
    )
    np.testing.assert_array_equal(tracker.act(obs, np.ones((3, 3), dtype=bool)), [STAY, UP, DOWN])


def test_slow_tracker_moves_only_on_every_other_frame():
    _, states, _ = play(SPEC, "slow_tracker", "random", n=32, frames=120)
    moved = np.array(
        [np.abs(b.paddle_y[:, 0] - a.paddle_y[:, 0]) > 0 for a, b in itertools.pairwise(states)]
    )
    assert moved[1::2].sum() == 0  # frames 1, 3, 5, ... (0-based) are the idle ones
    assert moved[0::2].sum() > 100


def test_anticipator_predicts_where_the_ball_reaches_its_goal_line():
    """The prediction (walls folded in) against the kernel's own flight of 300 serves."""
    kernel = games.make_kernel(SPEC)
    step = kernel.reset(300, seed=9)
    predictor = AnticipatorOpponent(SPEC)
    for seat, sign in ((0, -1.0), (1, 1.0)):
        coming = kernel.state().ball_vel[:, 0] * sign > 0
        predicted = predictor.intercept(step.obs[:, seat])
        actual = _first_goal_line_y(kernel, step, seat)
        # The kernel tests a paddle at the end of the crossing frame: at most one frame's vy away.
        tolerance = 2 * 1.5 * np.sin(np.pi / 4) / 48 + 1e-6
        assert coming.sum() > 100
        np.testing.assert_array_less(np.abs(predicted - actual)[coming], tolerance)


def _first_goal_line_y(kernel: PongKernel, step, seat: int) -> np.ndarray:
    """Fly every serve with still paddles raised out of the way; y (scaled) at seat's goal line."""
    state = kernel.state()
    top = 48 - 5.0
    kernel.set_state(state._replace(paddle_y=np.full_like(state.paddle_y, top)))
    reached = np.full(kernel.num_envs, np.nan)
    for _ in range(80):
        before = kernel.state()
        kernel.step(np.full((kernel.num_envs, 2), STAY))
        after = kernel.state()
        x_goal = 0.0 if seat == 0 else 64.0
        arrived = np.isnan(reached) & (after.ball_pos[:, 0] == x_goal) & ~before.terminated
        arrived |= np.isnan(reached) & _returned(before, after, seat)
        reached[arrived] = 2 * after.ball_pos[arrived, 1] / 48 - 1
    kernel.set_state(PongState(*state))
    return reached


def _returned(before: PongState, after: PongState, seat: int) -> np.ndarray:
    sign = -1.0 if seat == 0 else 1.0
    return (before.ball_vel[:, 0] * sign > 0) & (after.ball_vel[:, 0] * sign < 0)


def test_edge_aimer_returns_steeper_balls_than_the_anticipator():
    def steepness(style: str) -> float:
        _, states, _ = play(SPEC, style, "tracker_delay0", n=200, frames=400)
        sines = [
            np.abs(b.ball_vel[returned, 1]) / 1.5
            for a, b in itertools.pairwise(states)
            if (returned := (a.ball_vel[:, 0] < 0) & (b.ball_vel[:, 0] > 0)).any()
        ]
        return float(np.concatenate(sines).mean())

    assert steepness("edge_aimer") > 0.45
    assert steepness("anticipator") < 0.3


def test_lazy_rests_at_the_centre_until_the_ball_comes_into_its_half():
    lazy = games.make_opponent(SPEC, "lazy")
    lazy.reset(3)
    obs = np.concatenate(
        [
            _obs(0.5, 0.9, ball_x=0.5, vx=-1.0),  # ball coming but still in the far half: centre
            _obs(0.5, 0.9, ball_x=-0.5, vx=-1.0),  # in its half and coming: follow it up
            _obs(-0.5, -0.9, ball_x=-0.5, vx=1.0),  # going away: back up to the centre
        ]
    )
    np.testing.assert_array_equal(lazy.act(obs, np.ones((3, 3), dtype=bool)), [DOWN, UP, UP])
