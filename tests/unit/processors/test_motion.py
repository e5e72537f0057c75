"""Move-time model against closed-form trapezoidal profiles."""
from __future__ import annotations

import math

import numpy as np
import pytest

from processors.motion import junction_speed_sq, plan_time, polyline_segments, trapezoid_time


def closed_form(L, v, a, v0, v1):
    """Accelerate v0 -> v, cruise, decelerate v -> v1 (the segment is long enough to reach v)."""
    d_acc, d_dec = (v * v - v0 * v0) / (2 * a), (v * v - v1 * v1) / (2 * a)
    assert d_acc + d_dec <= L
    return (v - v0) / a + (v - v1) / a + (L - d_acc - d_dec) / v


def test_long_move_from_rest_to_rest():
    assert trapezoid_time(np.array([100.0]), 50.0, 1000.0, 0.0, 0.0)[0] == pytest.approx(100 / 50 + 50 / 1000)


def test_short_move_never_reaches_cruise_speed():
    # triangle profile: peak sqrt(a L) = 31.6 mm/s < 50 mm/s; t = 2 sqrt(L / a)
    assert trapezoid_time(np.array([1.0]), 50.0, 1000.0, 0.0, 0.0)[0] == pytest.approx(2 * math.sqrt(1 / 1000))


def test_high_acceleration_tends_to_length_over_speed():
    assert trapezoid_time(np.array([10.0]), 50.0, 1e9, 0.0, 0.0)[0] == pytest.approx(10 / 50, rel=1e-6)


def test_junction_speeds_straight_corner_reversal():
    d = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    j = junction_speed_sq(d, 5.0)
    assert math.isinf(j[0])  # straight on: no limit
    assert j[1] == pytest.approx(25.0)  # 90 degrees: the square corner velocity
    assert j[2] == pytest.approx(0.0)  # reversal: full stop


def test_collinear_pieces_take_as_long_as_one_move():
    pts = np.c_[np.linspace(0, 100, 11), np.zeros(11)]
    lengths, caps = polyline_segments([pts], 5.0)
    assert plan_time(lengths, 50.0, 1000.0, caps) == pytest.approx(100 / 50 + 50 / 1000)


def test_square_loop_slows_to_the_corner_speed():
    side, v, a, scv = 20.0, 50.0, 1000.0, 5.0
    square = np.array([[0, 0], [side, 0], [side, side], [0, side], [0, 0]], dtype=float)
    lengths, caps = polyline_segments([square], scv)
    expected = (closed_form(side, v, a, 0, scv) + 2 * closed_form(side, v, a, scv, scv) + closed_form(side, v, a, scv, 0))
    assert plan_time(lengths, v, a, caps) == pytest.approx(expected, rel=1e-9)
    assert expected > 4 * side / v  # slower than length / speed


def test_lookahead_brakes_in_time_for_a_short_segment():
    # the stop (a reversal) comes 0.1 mm after a junction: braking from 50 mm/s needs 1.25 mm,
    # so it must begin on the previous segment (the backward pass); likewise the first 0.1 mm
    # cannot reach cruise speed (the forward pass)
    pts = np.array([[0, 0], [0.1, 0], [50, 0], [100, 0], [100.1, 0], [0, 0]], dtype=float)
    lengths, caps = polyline_segments([pts], 5.0)
    t = plan_time(lengths, 50.0, 1000.0, caps)
    # two rest-to-rest straight runs: 100.1 mm out, 100.1 mm back
    assert t == pytest.approx(2 * (100.1 / 50 + 50 / 1000))
