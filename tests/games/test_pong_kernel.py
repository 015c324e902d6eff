"""Pong physics against hand-worked frames, and B games against B single games."""

from __future__ import annotations

import math

import numpy as np
import pytest

import games
from games.errors import GameError, IllegalActionError
from games.pong.kernel import PongKernel, PongState

STAY = np.ones((1, 2), dtype=np.int64)
# The default court: width 64, height 48, paddle_height 10, paddle_speed 1.0, ball_speed 1.5.
DEFAULT = "pong"


def placed(
    ball: tuple[float, float],
    vel: tuple[float, float],
    paddles: tuple[float, float] = (24.0, 24.0),
    spec: str = DEFAULT,
) -> PongKernel:
    """A kernel with one game whose paddles and ball are put by hand."""
    kernel = games.make_kernel(spec)
    kernel.reset(1, seed=0)
    kernel.set_state(
        PongState(
            paddle_y=np.array([paddles]),
            ball_pos=np.array([ball]),
            ball_vel=np.array([vel]),
            frame=np.zeros(1, dtype=np.int64),
            terminated=np.zeros(1, dtype=bool),
            truncated=np.zeros(1, dtype=bool),
        )
    )
    return kernel


def test_ball_straight_at_the_top_wall_comes_back_with_vy_negated():
    kernel = placed(ball=(32.0, 47.5), vel=(0.0, 1.5))
    step = kernel.step(STAY)
    state = kernel.state()
    # 47.5 + 1.5 = 49 is 1 past the wall at 48, mirrored to 47.
    np.testing.assert_allclose(state.ball_pos[0], (32.0, 47.0))
    np.testing.assert_allclose(state.ball_vel[0], (0.0, -1.5))
    assert not step.done[0]
    kernel.step(STAY)
    np.testing.assert_allclose(kernel.state().ball_pos[0], (32.0, 45.5))


def test_diagonal_ball_off_the_bottom_wall_keeps_vx():
    kernel = placed(ball=(32.0, 1.0), vel=(0.9, -1.2))
    kernel.step(STAY)
    state = kernel.state()
    np.testing.assert_allclose(state.ball_pos[0], (32.9, 0.2))
    np.testing.assert_allclose(state.ball_vel[0], (0.9, 1.2))


def test_ball_passing_the_left_paddle_scores_for_the_right_on_the_second_frame():
    # Left paddle centred at 24 covers [19, 29]; the ball at y=40 passes above it.
    kernel = placed(ball=(3.0, 40.0), vel=(-1.5, 0.0))
    first = kernel.step(STAY)
    assert not first.done[0]
    np.testing.assert_array_equal(first.rewards, [[0.0, 0.0]])
    second = kernel.step(STAY)  # x = 3 - 1.5 - 1.5 = 0: on the goal line, missed
    assert second.terminated[0] and not second.truncated[0]
    np.testing.assert_array_equal(second.rewards, [[-1.0, 1.0]])
    np.testing.assert_array_equal(second.acting, [[False, False]])
    assert not second.action_mask.any()


def test_ball_passing_the_right_paddle_scores_for_the_left():
    kernel = placed(ball=(61.0, 10.0), vel=(1.5, 0.0))
    kernel.step(STAY)
    second = kernel.step(STAY)  # x = 64: the right goal line
    np.testing.assert_array_equal(second.rewards, [[1.0, -1.0]])
    assert second.terminated[0]
    assert kernel.state().ball_pos[0, 0] == 64.0


def test_paddle_hit_above_centre_returns_the_ball_at_thirty_degrees():
    # The ball meets the left paddle 2.5 above its centre: offset 0.5 of half a paddle (5).
    kernel = placed(ball=(1.0, 26.5), vel=(-1.5, 0.0))
    step = kernel.step(STAY)
    state = kernel.state()
    assert not step.done[0]
    np.testing.assert_array_equal(step.rewards, [[0.0, 0.0]])
    np.testing.assert_allclose(state.ball_pos[0], (0.5, 26.5))  # overshoot -0.5 mirrored
    angle = math.radians(30)
    np.testing.assert_allclose(state.ball_vel[0], (1.5 * math.cos(angle), 1.5 * math.sin(angle)))


def test_centre_hit_returns_flat_and_end_hit_returns_at_sixty_degrees():
    centre = placed(ball=(63.0, 24.0), vel=(1.5, 0.0))
    centre.step(STAY)
    np.testing.assert_allclose(centre.state().ball_vel[0], (-1.5, 0.0), atol=1e-12)
    np.testing.assert_allclose(centre.state().ball_pos[0], (63.5, 24.0))  # 64.5 mirrored
    # The right paddle's bottom end (offset -1): the ball leaves down-left at 60 degrees.
    end = placed(ball=(63.0, 19.0), vel=(1.5, 0.0))
    end.step(STAY)
    np.testing.assert_allclose(end.state().ball_vel[0], (-0.75, -1.5 * math.sin(math.pi / 3)))


def test_paddles_move_by_their_speed_and_cannot_leave_the_court():
    kernel = placed(ball=(32.0, 24.0), vel=(0.0, 0.5))
    kernel.step(np.array([[0, 2]]))
    np.testing.assert_allclose(kernel.state().paddle_y[0], (25.0, 23.0))
    for _ in range(40):
        step = kernel.step(np.array([[0, 2]]))
    np.testing.assert_allclose(kernel.state().paddle_y[0], (43.0, 5.0))  # 48 - 10/2 and 10/2
    np.testing.assert_allclose(step.obs[0, 0, :2], (2 * 43 / 48 - 1, 2 * 5 / 48 - 1), rtol=1e-6)


def test_an_unscored_point_is_truncated_at_max_frames_with_no_reward():
    kernel = placed(ball=(32.0, 24.0), vel=(0.0, 1.5), spec="pong(max_frames=100)")
    for frame in range(1, 101):
        step = kernel.step(STAY)
        assert bool(step.truncated[0]) == (frame == 100)
    assert not step.terminated[0]
    np.testing.assert_array_equal(step.rewards, [[0.0, 0.0]])


def test_a_finished_point_stays_unchanged_until_re_dealt():
    kernel = placed(ball=(1.0, 40.0), vel=(-1.5, 0.0))
    kernel.step(STAY)
    before = kernel.state()
    after_step = kernel.step(np.array([[0, 0]]))
    after = kernel.state()
    for field in PongState._fields:
        np.testing.assert_array_equal(getattr(after, field), getattr(before, field))
    np.testing.assert_array_equal(after_step.rewards, [[0.0, 0.0]])
    assert after_step.terminated[0]


def test_observations_are_egocentric_and_scaled():
    kernel = placed(ball=(16.0, 36.0), vel=(-1.2, 0.9), paddles=(12.0, 30.0))
    obs = kernel.step(STAY).obs[0]
    # After one frame: paddles unmoved, ball at (14.8, 36.9).
    x, y = 2 * 14.8 / 64 - 1, 2 * 36.9 / 48 - 1
    me, them = 2 * 12 / 48 - 1, 2 * 30 / 48 - 1
    np.testing.assert_allclose(obs[0, :6], (me, them, x, y, -0.8, 0.6), rtol=1e-5)
    np.testing.assert_allclose(obs[1, :6], (them, me, -x, y, 0.8, 0.6), rtol=1e-5)
    # Parameters: paddle_speed 1 and ball_speed 1.5 over [0.25, 8], paddle 10 of 48,
    # width 64 over [32, 160], height 48 over [16, 120].
    features = (2 * 0.75 / 7.75 - 1, 2 * 10 / 48 - 1, 2 * 1.25 / 7.75 - 1, -0.5, 2 * 32 / 104 - 1)
    np.testing.assert_allclose(obs[0, 6:], features, rtol=1e-6)
    np.testing.assert_array_equal(obs[1, 6:], obs[0, 6:])
    assert obs.dtype == np.float32


def test_serves_start_centred_at_ball_speed_within_45_degrees_both_ways():
    kernel = games.make_kernel(DEFAULT)
    kernel.reset(400, seed=3)
    state = kernel.state()
    np.testing.assert_allclose(state.ball_pos, np.tile((32.0, 24.0), (400, 1)))
    np.testing.assert_allclose(state.paddle_y, 24.0)
    np.testing.assert_allclose(np.hypot(*state.ball_vel.T), 1.5)
    angles = np.arctan2(np.abs(state.ball_vel[:, 1]), np.abs(state.ball_vel[:, 0]))
    assert angles.max() <= math.pi / 4 + 1e-12
    going_left = (state.ball_vel[:, 0] < 0).mean()
    assert 0.4 < going_left < 0.6
    again = games.make_kernel(DEFAULT)
    again.reset(400, seed=3)
    np.testing.assert_array_equal(again.state().ball_vel, state.ball_vel)
    again.reset(400, seed=4)
    assert not np.array_equal(again.state().ball_vel, state.ball_vel)


def test_reset_where_re_deals_only_the_flagged_games():
    kernel = games.make_kernel(DEFAULT)
    kernel.reset(6, seed=0)
    for _ in range(10):
        kernel.step(np.zeros((6, 2), dtype=np.int64))
    before = kernel.state()
    which = np.array([True, False, True, False, False, True])
    step = kernel.reset_where(which)
    after = kernel.state()
    np.testing.assert_array_equal(after.frame, np.where(which, 0, 10))
    np.testing.assert_array_equal(after.paddle_y[~which], before.paddle_y[~which])
    np.testing.assert_array_equal(after.ball_pos[~which], before.ball_pos[~which])
    np.testing.assert_allclose(after.ball_pos[which], np.tile((32.0, 24.0), (3, 1)))
    assert step.acting.all() and step.action_mask.all()


def test_out_of_range_action_raises():
    kernel = games.make_kernel(DEFAULT)
    kernel.reset(2, seed=0)
    with pytest.raises(IllegalActionError, match="illegal action 3 for seat 1"):
        kernel.step(np.array([[1, 1], [0, 3]]))


def test_set_state_refuses_impossible_positions():
    kernel = games.make_kernel(DEFAULT)
    kernel.reset(1, seed=0)
    good = kernel.state()
    with pytest.raises(GameError, match="reset"):
        games.make_kernel(DEFAULT).set_state(good)
    with pytest.raises(GameError, match="paddle centres"):
        kernel.set_state(good._replace(paddle_y=np.array([[2.0, 24.0]])))
    with pytest.raises(GameError, match="ball_pos must have shape"):
        kernel.set_state(good._replace(ball_pos=np.zeros((2, 2))))
    with pytest.raises(GameError, match="ball must lie"):
        kernel.set_state(good._replace(ball_pos=np.array([[70.0, 10.0]])))
    with pytest.raises(GameError, match="non-finite"):
        kernel.set_state(good._replace(ball_vel=np.array([[np.nan, 1.0]])))


@pytest.mark.parametrize("spec", ["pong", "pong(ball_speed=2.5,paddle_height=6.0)"])
def test_batch_equals_the_same_games_one_at_a_time(spec):
    """300 games stepped together match 300 single-game kernels started in the same states."""
    batch, n = games.make_kernel(spec), 300
    step = batch.reset(n, seed=11)
    singles = [games.make_kernel(spec) for _ in range(n)]
    for kernel in singles:
        kernel.reset(1, seed=0)
    _copy_rows(batch, singles, np.ones(n, dtype=bool))
    rng = np.random.default_rng(5)
    finished = 0
    for frame in range(100):
        if frame == 50:  # re-deal the finished points mid-way, as a trial does
            done = step.done.copy()
            finished += int(done.sum())
            batch.reset_where(done)
            _copy_rows(batch, singles, done)
        actions = rng.integers(0, 3, size=(n, 2))
        step = batch.step(actions)
        ones = [kernel.step(actions[b : b + 1]) for b, kernel in enumerate(singles)]
        for name, want in zip(step._fields, step, strict=True):
            got = np.concatenate([getattr(one, name) for one in ones])
            np.testing.assert_array_equal(got, want, err_msg=f"{name} at frame {frame}")
    assert finished > 50  # random paddles miss: the re-deal branch really ran


def _copy_rows(batch: PongKernel, singles: list[PongKernel], which: np.ndarray) -> None:
    state = batch.state()
    for b in np.flatnonzero(which):
        singles[b].set_state(PongState(*(field[b : b + 1] for field in state)))
