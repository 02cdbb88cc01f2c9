"""Shared simulated labs for the drivers/sim tests (built once per session: they are immutable)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.sim import LabSetup, SimulatedLab, noise_free, preset


@pytest.fixture(scope="session")
def healthy_lab() -> SimulatedLab:
    return SimulatedLab(preset("healthy"), LabSetup(), seed=3, duration_s=6.0)


@pytest.fixture(scope="session")
def clean_lab() -> SimulatedLab:
    """No force, voltage or image noise: the samples are the model itself."""
    return SimulatedLab(preset("healthy"), noise_free(LabSetup()), seed=3, duration_s=6.0)


@pytest.fixture(scope="session")
def clean_forefoot_lab() -> SimulatedLab:
    return SimulatedLab(preset("forefoot"), noise_free(LabSetup()), seed=5, duration_s=6.0)


def sampled_loading_rate(fz: np.ndarray, rate_hz: float, bw: float) -> dict:
    """SCIENCE.md §4 on samples, written independently of the simulator: 20 N contact by linear
    interpolation, impact peak = first local maximum in the first 30 % of stance before the
    active peak with prominence ≥ 0.1 BW, else the force at 13 % of stance; VALR between the
    interpolated 20 %/80 % crossings, VILR the largest sample-to-sample slope in that window."""
    from scipy.signal import find_peaks

    above = np.flatnonzero(fz >= 20.0)
    first, last = above[0], above[-1]
    contact = (first - 1) + (20.0 - fz[first - 1]) / (fz[first] - fz[first - 1])
    toe_off = last + (fz[last] - 20.0) / (fz[last] - fz[last + 1])
    stance = toe_off - contact
    peaks, _ = find_peaks(fz, prominence=0.1 * bw)
    active = int(np.argmax(fz))
    early = [p for p in peaks if p <= contact + 0.3 * stance and p < active]
    if early:
        end = early[0]
        reference = fz[end]
        method = "impact_peak"
    else:
        at = contact + 0.13 * stance
        reference = float(np.interp(at, np.arange(len(fz)), fz))
        end = int(np.ceil(at))
        method = "stance_13pct"

    def crossing(level: float) -> float:
        k = np.flatnonzero(fz[: end + 1] >= level)[0]
        return (k - 1) + (level - fz[k - 1]) / (fz[k] - fz[k - 1])

    t20, t80 = crossing(0.2 * reference), crossing(0.8 * reference)
    valr = 0.6 * reference / ((t80 - t20) / rate_hz)
    lo, hi = int(np.floor(t20)), int(np.ceil(t80))
    vilr = float(np.max(np.diff(fz[lo : hi + 1]))) * rate_hz
    return {
        "contact": contact / rate_hz,
        "toe_off": toe_off / rate_hz,
        "method": method,
        "reference": float(reference),
        "valr": valr,
        "vilr": vilr,
    }


@pytest.fixture(scope="session")
def loading_rate_on_samples():
    """The independent §4 implementation above, as a fixture (tests cannot import conftest)."""
    return sampled_loading_rate
