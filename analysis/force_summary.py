"""Per-side summaries of stance records: mean, SD, CV, symmetry, and change over the trial.

Only stances fit for a side summary count (``StanceRecord.usable``: a side, and no flag such as
``side_conflict`` or ``wrong_belt``); how many were left out, and why, is part of the summary, and
so is how many kept stances have their side from alternation alone (``ambiguous_side``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.force_metrics import EXCLUDING_FLAGS
from analysis.force_settings import ForceSettings

SUMMARY_METRICS = (
    "contact_time_s",
    "flight_time_s",
    "step_time_s",
    "step_length_m",
    "peak_vertical_N",
    "peak_vertical_BW",
    "impact_peak_N",
    "valr_N_s",
    "vilr_N_s",
    "valr_BW_s",
    "vilr_BW_s",
    "peak_braking_N",
    "peak_braking_BW",
    "braking_impulse_Ns",
    "propulsive_impulse_Ns",
)


def describe(values: Sequence[float | None]) -> dict[str, Any]:
    """n, mean, SD and CV (%) of the values that exist."""
    x = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return {"n": 0, "mean": None, "sd": None, "cv_pct": None}
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if x.size > 1 else None
    cv = 100.0 * sd / abs(mean) if sd is not None and mean != 0 else None
    return {"n": int(x.size), "mean": mean, "sd": sd, "cv_pct": cv}


def symmetry_index(left: float | None, right: float | None) -> float | None:
    """100·(L − R)/(½(L + R)): 0 is symmetric, positive means the left value is larger."""
    if left is None or right is None or left + right == 0:
        return None
    return 100.0 * (left - right) / (0.5 * (left + right))


def summarise(records: Sequence[Any], settings: ForceSettings) -> dict[str, Any]:
    """Per-side statistics, symmetry, cadence, windows over time and first-vs-last window."""
    usable = [r for r in records if r.usable]
    excluded: dict[str, int] = {}
    for r in records:
        if not r.usable:
            fallback = "ambiguous_side" if "ambiguous_side" in r.flags else "no_side"
            reason = next((f for f in r.flags if f in EXCLUDING_FLAGS), fallback)
            excluded[reason] = excluded.get(reason, 0) + 1
    sides = {s: [r for r in usable if r.side == s] for s in ("L", "R")}
    out: dict[str, Any] = {
        side: {m: describe([getattr(r, m) for r in rs]) for m in SUMMARY_METRICS}
        for side, rs in sides.items()
    }
    for side in ("L", "R"):
        out[side]["n_stances"] = len(sides[side])
    out["symmetry_index_pct"] = {
        m: symmetry_index(out["L"][m]["mean"], out["R"][m]["mean"]) for m in SUMMARY_METRICS
    }
    steps = describe([r.step_time_s for r in usable])
    out["cadence_steps_per_min"] = 60.0 / steps["mean"] if steps["mean"] else None
    out["n_stances"] = len(records)
    out["n_excluded"] = excluded
    out["n_side_by_alternation_only"] = sum("ambiguous_side" in r.flags for r in usable)
    out["windows"] = _windows(usable, settings.summary_window_s)
    out["first_vs_last_window"] = _first_vs_last(out["windows"])
    return out


def _windows(records: Sequence[Any], window_s: float) -> list[dict[str, Any]]:
    """Consecutive windows of ``window_s`` from the first contact; per side, mean of each metric."""
    if not records:
        return []
    t0 = min(r.contact_s for r in records)
    t1 = max(r.contact_s for r in records)
    count = int((t1 - t0) // window_s) + 1
    windows = []
    for k in range(count):
        lo, hi = t0 + k * window_s, t0 + (k + 1) * window_s
        inside = [r for r in records if lo <= r.contact_s < hi]
        entry: dict[str, Any] = {"start_s": lo, "end_s": hi}
        for side in ("L", "R"):
            rs = [r for r in inside if r.side == side]
            entry[side] = {m: describe([getattr(r, m) for r in rs]) for m in SUMMARY_METRICS}
            entry[side]["n_stances"] = len(rs)
        windows.append(entry)
    return windows


def _first_vs_last(windows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Change of each per-side mean from the first to the last full window (fatigue)."""
    if len(windows) < 2:
        return None
    first, last = windows[0], windows[-1]
    out: dict[str, Any] = {"first_start_s": first["start_s"], "last_start_s": last["start_s"]}
    for side in ("L", "R"):
        out[side] = {}
        for m in SUMMARY_METRICS:
            a, b = first[side][m]["mean"], last[side][m]["mean"]
            if a is None or b is None:
                continue
            out[side][m] = {
                "first": a,
                "last": b,
                "change": b - a,
                "change_pct": 100.0 * (b - a) / abs(a) if a else None,
            }
    return out
