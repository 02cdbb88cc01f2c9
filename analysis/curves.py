"""Time-normalised stance curves: each stance resampled to 0–100 % of its contact time.

Stances of different length become comparable point by point, so a session's stances can be
averaged (mean ± SD per side) and two sessions overlaid. Forces are divided by body weight when
it is known, so that before/after curves of a runner whose weight changed stay comparable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import AnalysisError

COMPONENTS = ("anterior_posterior", "mediolateral", "vertical")  # lab x, y, z
DEFAULT_POINTS = 101


@dataclass(frozen=True)
class StanceCurves:
    """Resampled stances of one session: ``values[i, j, c]`` is stance ``i`` at ``percent[j]``,
    component ``c`` (lab x, y, z), in ``unit``."""

    percent: np.ndarray  # (points,)
    values: np.ndarray  # (n_stances, points, 3)
    sides: tuple[str, ...]  # side of each stance ("L", "R" or "")
    unit: str  # "BW" or "N"

    def side(self, side: str) -> np.ndarray:
        keep = [i for i, s in enumerate(self.sides) if s == side]
        return self.values[keep]

    def mean_sd(self, side: str) -> tuple[np.ndarray, np.ndarray, int]:
        """Mean and SD over the stances of one side: (points, 3) each, and how many stances."""
        curves = self.side(side)
        n = len(curves)
        if n == 0:
            empty = np.full((len(self.percent), 3), np.nan)
            return empty, empty.copy(), 0
        sd = curves.std(axis=0, ddof=1) if n > 1 else np.full_like(curves[0], np.nan)
        return curves.mean(axis=0), sd, n

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"percent": self.percent.tolist(), "unit": self.unit}
        for side in ("L", "R"):
            mean, sd, n = self.mean_sd(side)
            out[side] = {
                "n": n,
                **{f"{c}_mean": _listed(mean[:, i]) for i, c in enumerate(COMPONENTS)},
                **{f"{c}_sd": _listed(sd[:, i]) for i, c in enumerate(COMPONENTS)},
            }
        return out


def _listed(a: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in a]


def stance_curves(
    force_N: np.ndarray,
    rate_hz: float,
    stances: Iterable[Mapping[str, Any]],
    *,
    start_index: int = 0,
    body_weight_N: float | None = None,
    points: int = DEFAULT_POINTS,
) -> StanceCurves:
    """Resample ``force_N`` (n, 3; lab frame; row 0 = DAQ sample ``start_index``) between each
    stance's ``contact_s`` and ``toe_off_s`` onto ``points`` equally spaced stance percentages.

    Stances outside the recorded samples, or with missing times, are left out (not padded).
    """
    force = np.asarray(force_N, dtype=float)
    if force.ndim != 2 or force.shape[1] != 3:
        raise AnalysisError(f"force must be (n, 3), not {force.shape}", subject="stance curves")
    if points < 3:
        raise AnalysisError("need at least 3 points per curve", subject="stance curves")
    percent = np.linspace(0.0, 100.0, points)
    t_samples = (start_index + np.arange(len(force))) / rate_hz
    curves, sides = [], []
    for st in stances:
        t0, t1 = _number(st.get("contact_s")), _number(st.get("toe_off_s"))
        if t0 is None or t1 is None or not t1 > t0:
            continue
        if t0 < t_samples[0] or t1 > t_samples[-1]:
            continue
        t = t0 + (t1 - t0) * percent / 100.0
        curve = np.column_stack([np.interp(t, t_samples, force[:, c]) for c in range(3)])
        curves.append(curve)
        sides.append(str(st.get("side") or ""))
    values = np.array(curves) if curves else np.zeros((0, points, 3))
    unit = "N"
    if body_weight_N is not None and body_weight_N > 0:
        values = values / body_weight_N
        unit = "BW"
    return StanceCurves(percent, values, tuple(sides), unit)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
