"""Move times with acceleration limits: a trapezoidal velocity profile per segment, with lookahead.

Why this model: a print's time is dominated by short moves (infill lines a few mm long, curved
outlines of 0.5 mm facets), where a printer never reaches its nominal speed; length / speed
underestimates them badly. Firmware (Marlin, Prusa-Firmware-Buddy, Klipper) plans every move
as accelerate -> cruise -> decelerate with a constant acceleration `a`, and limits the speed at
each junction between two moves by the angle between them. We use the same model:

* each segment of length L has a cruise speed v, an entry speed v0 and an exit speed v1; it
  accelerates at `a` to the peak speed vp = min(v, sqrt((2 a L + v0^2 + v1^2) / 2)), cruises, and
  decelerates: t = (vp - v0)/a + (vp - v1)/a + (L - d_acc - d_dec)/vp (a triangle when vp < v);
* the junction speed between two segments is Klipper's "square corner velocity" model
  (docs/Kinematics.md): junction_deviation = scv^2 (sqrt 2 - 1) / a and
  v_j^2 = a * junction_deviation * sin(theta/2) / (1 - sin(theta/2)), theta the angle between the
  reversed incoming and the outgoing direction: a straight continuation is unlimited, a 90 degree
  corner is taken at scv, a reversal at 0;
* lookahead: a backward pass (can we still brake to the next junction?) and a forward pass (can
  we accelerate to this junction?) over the whole sequence, exactly as a firmware planner with an
  unbounded buffer would do. Both passes are min-plus recurrences, solved in numpy with a
  running minimum over prefix sums instead of a Python loop.

Not modelled: jerk/pressure-advance smoothing, input shaping, the firmware's finite planner
buffer and minimum segment time, extruder-only moves (retraction is a fixed time per travel).
"""
from __future__ import annotations

import math

import numpy as np

_SQRT2_M1 = math.sqrt(2.0) - 1.0


def junction_speed_sq(directions: np.ndarray, square_corner_velocity: float) -> np.ndarray:
    """Max speed^2 at the junctions between consecutive unit `directions` (n, 2) -> (n - 1,).

    Independent of the acceleration: a * junction_deviation = scv^2 (sqrt 2 - 1).
    """
    if len(directions) < 2:
        return np.zeros(0)
    cos_theta = -np.einsum("ij,ij->i", directions[:-1], directions[1:])
    sin_half = np.sqrt(np.clip(0.5 * (1.0 - cos_theta), 0.0, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sin_half / (1.0 - sin_half)
    return np.where(sin_half >= 1.0 - 1e-12, np.inf, square_corner_velocity**2 * _SQRT2_M1 * r)


def trapezoid_time(length, v_cruise, accel, v_entry, v_exit) -> np.ndarray:
    """Seconds to move `length` mm from v_entry to v_exit with cruise speed and acceleration limits.

    Entry and exit speeds must be reachable from each other within the segment (the planner's
    passes guarantee it; callers passing equal entry and exit speeds satisfy it trivially).
    """
    L = np.asarray(length, dtype=np.float64)
    v = np.broadcast_to(np.asarray(v_cruise, dtype=np.float64), L.shape)
    v0 = np.minimum(np.broadcast_to(np.asarray(v_entry, dtype=np.float64), L.shape), v)
    v1 = np.minimum(np.broadcast_to(np.asarray(v_exit, dtype=np.float64), L.shape), v)
    a = float(accel)
    vp2 = np.minimum(v * v, (2.0 * a * L + v0 * v0 + v1 * v1) / 2.0)
    vp = np.sqrt(np.maximum(vp2, np.maximum(v0 * v0, v1 * v1)))
    d_acc = (vp * vp - v0 * v0) / (2.0 * a)
    d_dec = (vp * vp - v1 * v1) / (2.0 * a)
    cruise = np.maximum(L - d_acc - d_dec, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_cruise = np.where(vp > 0, cruise / vp, 0.0)
    return np.where(L > 0, (vp - v0) / a + (vp - v1) / a + t_cruise, 0.0)


def plan_time(lengths: np.ndarray, v_cruise: np.ndarray, accel: float, junction_sq: np.ndarray) -> float:
    """Seconds for a chain of segments that starts and ends at rest.

    `junction_sq[i]` (len n + 1) caps speed^2 at the start of segment i (index n: the end); a 0
    anywhere splits the chain (a stop), so many polylines can be planned in one call by
    concatenating them with 0 at their ends.
    """
    L = np.asarray(lengths, dtype=np.float64)
    n = L.size
    if n == 0:
        return 0.0
    v = np.asarray(v_cruise, dtype=np.float64) * np.ones(n)
    cap = np.asarray(junction_sq, dtype=np.float64).copy()
    v2 = v * v
    cap[:-1] = np.minimum(cap[:-1], v2)
    cap[1:] = np.minimum(cap[1:], v2)
    cap[0] = cap[-1] = 0.0
    a2 = 2.0 * float(accel)
    s = np.concatenate(([0.0], np.cumsum(L))) * a2
    # backward: w[i] = min(cap[i], w[i+1] + 2 a L_i) = min_{j >= i} (cap[j] + 2a S_j) - 2a S_i
    back = np.minimum.accumulate((cap + s)[::-1])[::-1] - s
    # forward: w[i] = min(back[i], w[i-1] + 2 a L_{i-1}) = min_{j <= i} (back[j] - 2a S_j) + 2a S_i
    fwd = np.minimum.accumulate(back - s) + s
    w = np.maximum(fwd, 0.0)
    return float(trapezoid_time(L, v, accel, np.sqrt(w[:-1]), np.sqrt(w[1:])).sum())


def polyline_segments(rings: list[np.ndarray], square_corner_velocity: float) -> tuple[np.ndarray, np.ndarray]:
    """Segment lengths and junction caps (speed^2) of polylines printed one after another,
    each starting and ending at rest (closed loops: pass the first point again at the end)."""
    lengths, caps = [], [np.zeros(1)]
    for pts in rings:
        d = np.diff(np.asarray(pts, dtype=np.float64), axis=0)
        seg = np.hypot(d[:, 0], d[:, 1])
        keep = seg > 1e-9
        d, seg = d[keep], seg[keep]
        if seg.size == 0:
            continue
        unit = d / seg[:, None]
        lengths.append(seg)
        caps.append(junction_speed_sq(unit, square_corner_velocity))
        caps.append(np.zeros(1))
    if not lengths:
        return np.zeros(0), np.zeros(1)
    return np.concatenate(lengths), np.concatenate(caps)


__all__ = ["junction_speed_sq", "trapezoid_time", "plan_time", "polyline_segments"]
