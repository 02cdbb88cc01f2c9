"""Before/after comparison on the simulated lab's per-stance truth with measurement noise added:
true changes inside their intervals, a change below the SDD called within measurement error,
incomparable sessions refused unless forced; time-normalised stance curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.compare import (
    ANALYST_EXCLUDED,
    EXCEEDS_SDD,
    WITHIN_ERROR,
    ComparisonRefused,
    SessionRecords,
    compare_sessions,
    mismatches,
)
from analysis.curves import stance_curves
from analysis.statistics import BootstrapSettings
from drivers.sim import LabSetup, SimulatedLab, preset

SETTINGS = {"force": {"cutoff_hz": 50.0, "threshold_off_N": 20.0}, "vision": {"midstance": "M1"}}
CAMERAS = {"sagittal": {"view": "sagittal", "rate_hz": 250.0, "width": 640, "height": 480}}
BEFORE = preset("overstrider")
AFTER = BEFORE.replace(  # six weeks later: shorter stride, hip over the foot, FPPA up by 3°
    hip_ankle_contact_m=0.26, hip_ankle_midstance_m=-0.03, fppa_deg=(7.0, 7.0)
)
NOISE = {"hip_ankle_midstance_m": 0.008, "hip_ankle_contact_m": 0.008, "fppa_midstance_deg": 1.5,
         "pelvic_drop_deg": 0.8}  # fmt: skip


def truth_rows(lab: SimulatedLab) -> list[dict]:
    return [s.to_dict() for s in lab.truth.stances]


def measured(rows: list[dict], seed: int) -> list[dict]:
    """The truth as a camera would measure it: independent noise on every step."""
    rng = np.random.default_rng(seed)
    out = []
    for truth in rows:
        row = dict(truth, flags=())
        for name, sd in NOISE.items():
            row[name] = row[name] + rng.normal(0.0, sd)
        out.append(row)
    return out


@pytest.fixture(scope="module")
def labs():
    return (
        SimulatedLab(BEFORE, LabSetup(), seed=1, duration_s=25),
        SimulatedLab(AFTER, LabSetup(), seed=2, duration_s=25),
    )


def records(label, rows, **changes):
    base = {"label": label, "subject_id": "P-007", "stances": rows, "settings": SETTINGS,
            "speed_m_s": 3.3, "cameras": CAMERAS}  # fmt: skip
    base.update(changes)
    return SessionRecords(**base)


def true_mean(rows, field, side, scale):
    return scale * np.mean([r[field] for r in rows if r["side"] == side])


def test_comparison_recovers_the_true_changes(labs):
    before_rows, after_rows = truth_rows(labs[0]), truth_rows(labs[1])
    result = compare_sessions(
        records("before", measured(before_rows, 1)), records("after", measured(after_rows, 2))
    )
    for field, scale in (("hip_ankle_midstance_m", 100), ("hip_ankle_contact_m", 100),
                         ("fppa_midstance_deg", 1), ("pelvic_drop_deg", 1)):  # fmt: skip
        for side in ("L", "R"):
            row = result.row(field, side)
            truth = true_mean(after_rows, field, side, scale) - true_mean(
                before_rows, field, side, scale
            )
            d = row.difference
            assert d.low <= truth <= d.high, (field, side, truth, d)
            assert row.before.n == sum(r["side"] == side for r in before_rows) >= 30
    # hip–ankle at midstance moved by several cm: no published SDD, but well beyond the scatter
    hip = result.row("hip_ankle_midstance_m", "R")
    assert hip.difference.difference < -3.0 and hip.difference.high < 0  # truth: −4.1 cm
    assert hip.verdict.startswith("changed beyond stride-to-stride variability")
    # FPPA changed by about 3°: the interval excludes zero, but 3° < SDD 8° — measurement error
    fppa = result.row("fppa_midstance_deg", "L")
    assert 1.5 < fppa.difference.difference < 4.5 and fppa.difference.excludes_zero
    assert fppa.verdict == WITHIN_ERROR
    assert result.to_dict()["statistics"]["method"] == "moving_block"


def test_a_change_beyond_the_sdd_is_called_so(labs):
    before_rows = truth_rows(labs[0])
    after_rows = [dict(r, fppa_midstance_deg=r["fppa_midstance_deg"] + 10.0) for r in before_rows]
    result = compare_sessions(records("before", before_rows), records("after", after_rows))
    row = result.row("fppa_midstance_deg", "R")
    assert row.difference.difference == pytest.approx(10.0)
    assert row.verdict == EXCEEDS_SDD
    assert result.row("pelvic_drop_deg", "R").verdict == WITHIN_ERROR  # unchanged


def test_mismatched_sessions_are_refused_unless_forced(labs):
    rows = truth_rows(labs[0])
    before = records("before", rows)
    changed = records(
        "after",
        rows,
        settings={**SETTINGS, "force": {"cutoff_hz": 30.0, "threshold_off_N": 20.0}},
        speed_m_s=3.6,
        cameras={"sagittal": {**CAMERAS["sagittal"], "rate_hz": 120.0}},
    )
    with pytest.raises(ComparisonRefused) as info:
        compare_sessions(before, changed)
    text = info.value.sentence()
    assert "force.cutoff_hz: 50.0 → 30.0" in text
    assert "3.30 m/s before, 3.60 m/s after" in text
    assert "rate_hz: 250.0 → 120.0" in text and "--force" in text
    forced = compare_sessions(before, changed, force=True)
    assert forced.forced and {m.what for m in forced.mismatches} == {"settings", "speed", "cameras"}
    # per-session calibrations differ every visit and are not a reason to refuse
    recalibrated = records("after", rows, settings={**SETTINGS, "calibrations": {"x": 1}})
    assert mismatches(before, recalibrated) == []
    other = records("after", rows, subject_id="P-008")
    assert [m.what for m in mismatches(before, other)] == ["subject"]


def test_excluded_and_flagged_steps_do_not_count(labs):
    rows = truth_rows(labs[0])
    flagged = [dict(r, flags=(ANALYST_EXCLUDED,)) if i < 6 else r for i, r in enumerate(rows)]
    flagged[10] = dict(flagged[10], flags=("side_conflict",))
    flagged[12] = dict(flagged[12], flags=("daq_gap",))
    result = compare_sessions(
        records("before", rows), records("after", flagged),
        bootstrap=BootstrapSettings(n_resamples=500),
    )  # fmt: skip
    n_after = sum(result.row("pelvic_drop_deg", side).after.n for side in ("L", "R"))
    assert n_after == len(rows) - 8
    assert result.excluded == {"before": 0, "after": 8}


def test_symmetry_reports_left_minus_right(labs):
    valgus = SimulatedLab(preset("valgus-left"), LabSetup(), seed=4, duration_s=12)
    rows = truth_rows(valgus)
    result = compare_sessions(records("before", rows), records("after", rows))
    entry = next(s for s in result.symmetry if s["metric"] == "fppa_midstance_deg")
    assert entry["before_left_minus_right"] == pytest.approx(
        true_mean(rows, "fppa_midstance_deg", "L", 1)
        - true_mean(rows, "fppa_midstance_deg", "R", 1)
    )
    assert 7.0 < entry["before_left_minus_right"] < 13.0  # preset: 14° left, 4° right


def test_stance_curves_resample_every_stance_to_its_own_contact_time(labs):
    lab = labs[0]
    n = lab.n_samples
    force = lab.true_forces(0, n)["belt"][:, :3]
    rows = truth_rows(lab)
    bw = lab.truth.body_weight_N
    curves = stance_curves(force, lab.setup.daq_rate_hz, rows, body_weight_N=bw)
    assert curves.unit == "BW" and curves.values.shape == (len(rows), 101, 3)
    # each curve starts and ends at the 20 N contact threshold and peaks at the true peak
    vertical = curves.values[:, :, 2] * bw
    np.testing.assert_allclose(vertical[:, 0], 20.0, atol=2.0)
    np.testing.assert_allclose(vertical[:, -1], 20.0, atol=2.0)
    peaks = np.array([r["peak_vertical_N"] for r in rows])
    np.testing.assert_allclose(vertical.max(axis=1), peaks, rtol=0.01)
    mean, sd, count = curves.mean_sd("L")
    assert count == sum(r["side"] == "L" for r in rows)
    assert 0.0 < np.nanmax(sd[:, 2]) < 0.2 and math.isclose(curves.percent[50], 50.0)
    # braking first (Fx < 0 in the lab frame), propulsion last
    assert mean[20, 0] < 0 < mean[80, 0]
    shifted = stance_curves(force[1000:], lab.setup.daq_rate_hz, rows, start_index=1000)
    assert len(shifted.sides) < len(rows)  # stances before the first sample are left out
    assert shifted.unit == "N"
