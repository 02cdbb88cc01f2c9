"""Synthetic running force with exact ground truth, for the force-analysis tests.

Each stance: vertical force = active half-sine (+ an impact transient for rearfoot strikes, a
smooth gamma-shaped bump starting from zero at contact); AP force = −B·sin(2πt/T) (braking first,
so the braking→propulsion instant is exactly mid-stance); the centre of pressure sits at ±y of
the belt midline for left/right feet and moves backwards with the belt. Truth is computed from the
noise-free continuous curves on a 1 µs grid, independently of the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from analysis.forceplate import parse_plate

G = 9.81


@dataclass
class SyntheticTruth:
    contact_s: list[float] = field(default_factory=list)
    toe_off_s: list[float] = field(default_factory=list)
    side: list[str] = field(default_factory=list)
    peak_s: list[float] = field(default_factory=list)
    ap_s: list[float] = field(default_factory=list)
    impact_N: list[float | None] = field(default_factory=list)
    valr_N_s: list[float] = field(default_factory=list)
    vilr_N_s: list[float] = field(default_factory=list)


def vertical(t: np.ndarray, tc: float, bw: float, rearfoot: bool) -> np.ndarray:
    active = np.where((t >= 0) & (t <= tc), 2.4 * bw * np.sin(np.pi * np.clip(t, 0, tc) / tc), 0)
    if not rearfoot:
        return active
    ti, k = 0.022, 3.0
    x = np.clip(t, 0, None) / ti
    impact = 1.1 * bw * x**k * np.exp(k * (1 - x)) * (t >= 0) * (t <= tc)
    return active + impact


def _truth_of_stance(tc: float, bw: float, rearfoot: bool, settings_off: float = 20.0):
    t = np.arange(-0.001, tc + 0.001, 1e-6)
    f = vertical(t, tc, bw, rearfoot)
    above = np.flatnonzero(f >= settings_off)
    c, o = t[above[0]], t[above[-1]]
    peak = t[np.argmax(f)]
    impact = None
    first = t < 0.3 * tc
    ref = None
    d = np.diff(f)
    local = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0)) + 1
    local = [i for i in local if first[i]]
    if rearfoot and local:
        impact = float(f[local[0]])
        ref = impact
    else:
        ref = float(np.interp(c + 0.13 * (o - c), t, f))
    t20 = t[np.flatnonzero(f >= 0.2 * ref)[0]]
    t80 = t[np.flatnonzero(f >= 0.8 * ref)[0]]
    valr = 0.6 * ref / (t80 - t20)
    inside = (t >= t20) & (t <= t80)
    vilr = float(np.max(np.gradient(f[inside], t[inside])))
    return c, o, peak, impact, valr, vilr


def synthetic_running(
    duration_s: float = 12.0,
    rate_hz: float = 2000.0,
    *,
    body_weight_N: float = 700.0,
    contact_time_s: float = 0.25,
    step_time_s: float = 0.36,
    rearfoot: bool = True,
    half_width_m: float = 0.06,
    noise_N: float = 2.0,
    drift_N_per_s: float = 0.0,
    seed: int = 3,
    start_s: float = 0.5,
) -> tuple[np.ndarray, SyntheticTruth]:
    """Lab wrench (n, 6) about the belt-surface centre, and the truth of every stance."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    wrench = np.zeros((n, 6))
    truth = SyntheticTruth()
    c0, o0, peak, impact, valr, vilr = _truth_of_stance(contact_time_s, body_weight_N, rearfoot)
    k = 0
    # contacts are placed off the sample grid on purpose
    contact = start_s + 0.000137
    while contact + contact_time_s + 0.05 < duration_s:
        local = t - contact
        fz = vertical(local, contact_time_s, body_weight_N, rearfoot)
        in_stance = (local >= 0) & (local <= contact_time_s)
        fx = np.where(
            in_stance, -0.45 * body_weight_N * np.sin(2 * np.pi * local / contact_time_s), 0
        )
        side = "L" if k % 2 == 0 else "R"
        y = half_width_m if side == "L" else -half_width_m
        x = 0.10 - 3.0 * np.clip(local, 0, contact_time_s)  # belt carries the foot backwards
        wrench[:, 0] += fx
        wrench[:, 2] += fz
        wrench[:, 3] += y * fz
        wrench[:, 4] += -x * fz
        truth.contact_s.append(contact + c0)
        truth.toe_off_s.append(contact + o0)
        truth.side.append(side)
        truth.peak_s.append(contact + peak)
        truth.ap_s.append(contact + contact_time_s / 2)
        truth.impact_N.append(impact)
        truth.valr_N_s.append(valr)
        truth.vilr_N_s.append(vilr)
        contact += step_time_s
        k += 1
    wrench[:, 2] += rng.normal(0, noise_N, n) + drift_N_per_s * t
    wrench[:, :2] += rng.normal(0, noise_N / 2, (n, 2))
    return wrench, truth


PLATE_TABLE = {
    "name": "belt",
    "type": "six-channel",
    "channels": ["belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz"],
    "matrix": np.diag([500.0, 500.0, 1000.0, 400.0, 300.0, 200.0]).tolist(),
    "offsets_V": [0.01, -0.02, 0.03, 0.0, 0.005, -0.004],
    "z_surface_m": 0.045,
    "origin_m": [0.0, 0.0, -0.045],
    "rotation": [[-1, 0, 0], [0, -1, 0], [0, 0, 1]],
    "corners_m": [[0.8, 0.25, 0], [0.8, -0.25, 0], [-0.8, -0.25, 0], [-0.8, 0.25, 0]],
    "belt": "both",
}


def volts_from_lab_wrench(plate, wrench: np.ndarray) -> np.ndarray:
    """Invert the plate model: what the DAQ would read for this lab wrench (for tests)."""
    r = plate.rotation
    force_p = wrench[:, :3] @ r  # lab -> plate axes (R^T x)
    moment_s = wrench[:, 3:] @ r
    zs = plate.z_surface_m
    moment_o = moment_s.copy()
    moment_o[:, 0] -= zs * force_p[:, 1]
    moment_o[:, 1] += zs * force_p[:, 0]
    plate_wrench = np.column_stack([force_p, moment_o])
    return np.linalg.solve(plate.matrix, plate_wrench.T).T + plate.offsets_V


@pytest.fixture
def belt_plate():
    return parse_plate(PLATE_TABLE, subject="test")


@pytest.fixture(scope="module")
def rearfoot_run():
    return synthetic_running()


@pytest.fixture(scope="module")
def forefoot_run():
    return synthetic_running(rearfoot=False, seed=5)


@pytest.fixture(scope="session")
def make_run():
    """The synthetic running generator (tests cannot import conftest under importlib mode)."""
    return synthetic_running


@pytest.fixture(scope="session")
def to_volts():
    return volts_from_lab_wrench
