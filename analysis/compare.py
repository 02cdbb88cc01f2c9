"""Before/after comparison of two sessions of one runner, on plain stance records and settings.

Only like can be compared with like: the same runner, the same analysis settings, the same
treadmill speed and the same camera set-up. Otherwise the comparison is refused (or, when the
analyst insists, made with every difference stated). Per side and metric it gives n, mean ± SD
before and after, the difference with a bootstrap interval that respects stride-to-stride
dependence (:mod:`analysis.statistics`), and whether the change exceeds the metric's smallest
detectable difference (SDD) where the literature gives one (SCIENCE.md §5). A change smaller
than the SDD is reported as *within measurement error* whatever its interval says: the interval
only describes stride-to-stride scatter within the two sessions, while the SDD also contains
the day-to-day error of placing markers and cameras again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.errors import InputError
from analysis.force_metrics import EXCLUDING_FLAGS
from analysis.statistics import (
    FEW_STEPS,
    BootstrapSettings,
    DifferenceInterval,
    MeanInterval,
    difference_interval,
    mean_interval,
)

ANALYST_EXCLUDED = "excluded_by_analyst"  # flag set by the review window's "exclude step"
DAQ_GAP = "daq_gap"  # the force samples of the stance are partly missing (re-analysis flags it)
SIDES = ("L", "R")
SPEED_TOLERANCE_M_S = 0.05
WITHIN_ERROR = "within measurement error"
EXCEEDS_SDD = "exceeds the smallest detectable difference"
WITHIN_ERROR_MEANING = (
    "A change is 'within measurement error' when it is smaller than the smallest detectable "
    "difference (SDD) found when the same runner is measured twice without any real change "
    "(SDD = 1.96·√2·SEM). Such a change cannot be told apart from the error of re-measuring, "
    "even when many steps make its confidence interval narrow."
)
# Settings that legitimately differ between two sessions of the same lab (each session is
# calibrated again, and the analysis notes record what was measured, e.g. the belt vibration's
# frequency range); the camera set-up is compared separately.
SESSION_SPECIFIC_SETTINGS = (
    "calibrations",
    "trigger_delays_s",
    "plates",
    "source",
    "analysis_notes",
)


class ComparisonRefused(InputError):
    """The two sessions differ in a way that makes their numbers incomparable."""


@dataclass(frozen=True)
class Metric:
    """A per-step number shown in a comparison, in the clinician's display unit."""

    field: str  # stance record field (StanceTruth name)
    label: str
    unit: str  # display unit
    scale: float = 1.0  # display value = stored value × scale
    sdd: float | None = None  # smallest detectable difference, display unit
    sdd_source: str = ""
    headline: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "label": self.label,
            "unit": self.unit,
            "scale": self.scale,
            "sdd": self.sdd,
            "sdd_source": self.sdd_source,
        }


MUNRO = "Munro, Herrington & Carolan 2012 J Sport Rehabil 21:7 (SEM ≈ 3°)"
DINGENEN = "Dingenen et al. 2018 (running)"
METRICS: tuple[Metric, ...] = (
    Metric("hip_ankle_midstance_m", "Hip–ankle distance at midstance", "cm", 100.0,
           headline=True),
    Metric("hip_ankle_contact_m", "Hip–ankle distance at contact", "cm", 100.0, headline=True),
    Metric("fppa_midstance_deg", "Knee valgus (FPPA) at midstance", "deg", 1.0, 8.0, MUNRO,
           headline=True),
    Metric("fppa_peak_deg", "Peak FPPA during stance", "deg", 1.0, 8.0, MUNRO),
    Metric("pelvic_drop_deg", "Contralateral pelvic drop", "deg", 1.0, 2.8, DINGENEN,
           headline=True),
    Metric("knee_medial_displacement_m", "Knee medial displacement", "mm", 1000.0),
    Metric("valr_BW_s", "Vertical average loading rate", "BW/s", 1.0, headline=True),
    Metric("vilr_BW_s", "Vertical instantaneous loading rate", "BW/s"),
    Metric("peak_braking_BW", "Peak braking force", "BW"),
    Metric("peak_vertical_BW", "Peak vertical force", "BW"),
    Metric("contact_time_s", "Contact time", "ms", 1000.0),
    Metric("knee_flexion_contact_deg", "Knee flexion at contact", "deg"),
    Metric("knee_flexion_peak_deg", "Peak knee flexion in stance", "deg"),
    Metric("shank_angle_contact_deg", "Shank angle at contact", "deg"),
)  # fmt: skip
METRIC_BY_FIELD = {m.field: m for m in METRICS}


@dataclass(frozen=True)
class SessionRecords:
    """What a comparison needs from one session (plain data; ``app`` reads it from files)."""

    label: str  # e.g. "before 2026-10-01"
    subject_id: str
    stances: Sequence[Mapping[str, Any]]  # in time order, StanceTruth field names
    settings: Mapping[str, Any]  # analysis settings that produced the stances
    speed_m_s: float | None = None  # treadmill speed of the analysed period
    cameras: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name → set-up
    date: str = ""


@dataclass(frozen=True)
class Mismatch:
    what: str  # "subject", "settings", "speed", "cameras"
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "detail": self.detail}


@dataclass(frozen=True)
class MetricComparison:
    metric: Metric
    side: str
    before: MeanInterval
    after: MeanInterval
    difference: DifferenceInterval
    verdict: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.field,
            "label": self.metric.label,
            "unit": self.metric.unit,
            "side": self.side,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "difference": self.difference.to_dict(),
            "sdd": self.metric.sdd,
            "sdd_source": self.metric.sdd_source,
            "verdict": self.verdict,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Comparison:
    before: SessionRecords
    after: SessionRecords
    rows: tuple[MetricComparison, ...]
    symmetry: tuple[dict[str, Any], ...]
    mismatches: tuple[Mismatch, ...]
    forced: bool
    bootstrap: BootstrapSettings
    excluded: dict[str, int]

    def row(self, metric: str, side: str) -> MetricComparison:
        for r in self.rows:
            if r.metric.field == metric and r.side == side:
                return r
        raise KeyError(f"{metric} {side}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.before.subject_id,
            "before": _session_meta(self.before),
            "after": _session_meta(self.after),
            "mismatches": [m.to_dict() for m in self.mismatches],
            "forced": self.forced,
            "statistics": self.bootstrap.to_dict(),
            "within_measurement_error_means": WITHIN_ERROR_MEANING,
            "excluded_steps": dict(self.excluded),
            "metrics": [r.to_dict() for r in self.rows],
            "symmetry": list(self.symmetry),
        }


def _session_meta(s: SessionRecords) -> dict[str, Any]:
    return {
        "label": s.label,
        "subject_id": s.subject_id,
        "date": s.date,
        "n_stances": len(s.stances),
        "speed_m_s": s.speed_m_s,
        "cameras": {k: dict(v) for k, v in s.cameras.items()},
        "settings": dict(s.settings),
    }


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"force.cutoff_hz": 50.0, ...}``."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0)
    return a == b


def setting_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Each analysis setting that differs, as ``name: before → after``."""
    skip = SESSION_SPECIFIC_SETTINGS
    a = {k: v for k, v in flatten(before).items() if k.split(".")[0] not in skip}
    b = {k: v for k, v in flatten(after).items() if k.split(".")[0] not in skip}
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "(not set)"), b.get(key, "(not set)")
        if not _same(va, vb):
            out.append(f"{key}: {va!r} → {vb!r}")
    return out


def mismatches(before: SessionRecords, after: SessionRecords) -> list[Mismatch]:
    """Everything that makes the two sessions' numbers not comparable as they stand."""
    found: list[Mismatch] = []
    if before.subject_id != after.subject_id:
        found.append(
            Mismatch("subject", f"{before.subject_id!r} before, {after.subject_id!r} after")
        )
    for line in setting_differences(before.settings, after.settings):
        found.append(Mismatch("settings", line))
    sa, sb = before.speed_m_s, after.speed_m_s
    if sa is not None and sb is not None and abs(sa - sb) > SPEED_TOLERANCE_M_S:
        found.append(Mismatch("speed", f"treadmill {sa:.2f} m/s before, {sb:.2f} m/s after"))
    elif (sa is None) != (sb is None):
        found.append(Mismatch("speed", "treadmill speed known for one session only"))
    cams_a, cams_b = dict(before.cameras), dict(after.cameras)
    for name in sorted(set(cams_a) | set(cams_b)):
        if name not in cams_a or name not in cams_b:
            where = "after only" if name not in cams_a else "before only"
            found.append(Mismatch("cameras", f"camera {name!r} {where}"))
            continue
        for key in sorted(set(cams_a[name]) | set(cams_b[name])):
            va, vb = cams_a[name].get(key), cams_b[name].get(key)
            if not _same(va, vb):
                found.append(Mismatch("cameras", f"camera {name!r} {key}: {va!r} → {vb!r}"))
    return found


def is_excluded(stance: Mapping[str, Any]) -> bool:
    flags = stance.get("flags") or ()
    if isinstance(flags, str):
        flags = tuple(f for f in flags.split(",") if f)
    return stance.get("side") not in SIDES or bool(
        (EXCLUDING_FLAGS | {ANALYST_EXCLUDED, DAQ_GAP}).intersection(flags)
    )


def side_values(
    stances: Sequence[Mapping[str, Any]], metric: Metric, side: str
) -> list[float | None]:
    """The metric of every usable step of one side, in time order, in display units."""
    out: list[float | None] = []
    for st in stances:
        if st.get("side") != side or is_excluded(st):
            continue
        value = st.get(metric.field)
        if value is None or not math.isfinite(float(value)):
            continue
        out.append(float(value) * metric.scale)
    return out


def verdict(metric: Metric, difference: DifferenceInterval) -> str:
    d = difference.difference
    if d is None:
        return "not measured in both sessions"
    if metric.sdd is not None:
        if abs(d) < metric.sdd:
            return WITHIN_ERROR
        return EXCEEDS_SDD
    if difference.excludes_zero is None:
        return "too few steps for an interval"
    if difference.excludes_zero:
        return "changed beyond stride-to-stride variability (no published SDD)"
    return "no clear change (interval includes 0; no published SDD)"


def compare_sessions(
    before: SessionRecords,
    after: SessionRecords,
    *,
    metrics: Sequence[Metric] = METRICS,
    bootstrap: BootstrapSettings | None = None,
    force: bool = False,
) -> Comparison:
    """Compare two sessions per side and metric; refuse incomparable ones unless ``force``."""
    bootstrap = bootstrap or BootstrapSettings()
    found = mismatches(before, after)
    if found and not force:
        raise ComparisonRefused(
            "the sessions cannot be compared like with like: "
            + "; ".join(f"{m.what} — {m.detail}" for m in found),
            subject=f"{before.label} vs {after.label}",
            remedy="Re-analyse both sessions with the same settings, or compare anyway with "
            "--force (every difference is then printed on the report).",
        )
    rows = []
    for metric in metrics:
        for side in SIDES:
            a = side_values(before.stances, metric, side)
            b = side_values(after.stances, metric, side)
            if not a and not b:
                continue
            notes = []
            if 0 < len(a) < FEW_STEPS or 0 < len(b) < FEW_STEPS:
                notes.append(f"fewer than {FEW_STEPS} steps in a session: unreliable mean")
            diff = difference_interval(a, b, bootstrap)
            rows.append(
                MetricComparison(
                    metric,
                    side,
                    mean_interval(a, bootstrap),
                    mean_interval(b, bootstrap),
                    diff,
                    verdict(metric, diff),
                    tuple(notes),
                )
            )
    excluded = {
        before.label: sum(is_excluded(s) for s in before.stances),
        after.label: sum(is_excluded(s) for s in after.stances),
    }
    return Comparison(
        before, after, tuple(rows), tuple(symmetry(rows)), tuple(found), force, bootstrap,
        excluded,
    )  # fmt: skip


def symmetry(rows: Sequence[MetricComparison]) -> list[dict[str, Any]]:
    """Left minus right of each metric's mean, before and after (display units)."""
    out = []
    by_key = {(r.metric.field, r.side): r for r in rows}
    for metric in dict.fromkeys(r.metric for r in rows):
        left, right = by_key.get((metric.field, "L")), by_key.get((metric.field, "R"))
        if left is None or right is None:
            continue
        entry: dict[str, Any] = {"metric": metric.field, "label": metric.label,
                                 "unit": metric.unit}  # fmt: skip
        for when in ("before", "after"):
            lm, rm = getattr(left, when).mean, getattr(right, when).mean
            entry[f"{when}_left"] = lm
            entry[f"{when}_right"] = rm
            entry[f"{when}_left_minus_right"] = None if lm is None or rm is None else lm - rm
        out.append(entry)
    return out
