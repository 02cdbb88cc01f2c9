"""Per-stance video records on small hand-made tracks: joining by time, interpolation between
frames, far-leg and fallback flags, summaries, settings round trips and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.errors import AnalysisError, InputError
from analysis.kinematic_events import contact_bias, detect_foot_events
from analysis.tracking import IRREGULAR, MEASURED
from analysis.video_metrics import PlaneTracks, stance_video_records, summarise
from analysis.vision_settings import MetricSettings, VisionSettings

SAGITTAL = ("shoulder", "hip", "knee", "ankle", "heel", "toe")


def _sagittal_tracks(times: np.ndarray, ankle_x) -> PlaneTracks:
    """A standing leg whose ankle slides along x (as on a belt): straight knee, hip at x = 0."""
    n = len(times)
    ab = np.zeros((n, 6, 2))
    ab[:, 0] = [0.05, 1.45]
    ab[:, 1] = [0.0, 0.95]
    ab[:, 3, 0] = ankle_x(times)
    ab[:, 3, 1] = 0.08
    ab[:, 2, 0] = ab[:, 3, 0] / 2  # knee on the hip–ankle line: no flexion
    ab[:, 2, 1] = (0.95 + 0.08) / 2
    ab[:, 4] = ab[:, 3] + [-0.07, -0.05]
    ab[:, 5] = ab[:, 3] + [0.12, -0.06]
    flags = np.full((n, 6), MEASURED, dtype=np.uint8)
    return PlaneTracks("sagittal", SAGITTAL, times, ab, flags, near_leg="R")


def test_values_at_contact_are_interpolated_between_frames():
    times = np.arange(0, 1, 0.004)
    tracks = _sagittal_tracks(times, lambda t: 0.3 - 3.0 * t)  # belt at 3 m/s
    contact = 0.0503  # between two frames
    result = stance_video_records(
        [("R", contact, 0.25), ("L", 0.4, 0.65)], sagittal=tracks, leg_length_m=0.9
    )
    right, left = result.records
    assert right.hip_ankle_contact_m == pytest.approx(0.3 - 3.0 * contact, abs=1e-9)
    assert right.hip_ankle_contact_pct_leg == pytest.approx(100 * right.hip_ankle_contact_m / 0.9)
    assert right.knee_flexion_contact_deg == pytest.approx(0.0, abs=1e-9)
    assert right.trunk_lean_contact_deg == pytest.approx(math.degrees(math.atan2(0.05, 0.5)))
    assert left.hip_ankle_contact_m is None and "far_leg_not_in_view" in left.flags
    assert "midstance_half_fallback" in left.flags
    assert left.midstance_used_s == pytest.approx((0.4 + 0.65) / 2)
    assert result.leg_length_source == "given"


def test_summary_mean_sd_and_n_per_side():
    times = np.arange(0, 2, 0.004)
    tracks = _sagittal_tracks(times, lambda t: 0.3 - 3.0 * (t % 0.5))
    stances = [("R", 0.5 * k + c, 0.5 * k + 0.2) for k, c in enumerate([0.01, 0.02, 0.03])]
    records = stance_video_records(stances, sagittal=tracks).records
    summary = summarise(records)["R"]["hip_ankle_contact_m"]
    expected = [0.3 - 3.0 * c for c in (0.01, 0.02, 0.03)]
    assert summary["n"] == 3
    assert summary["mean"] == pytest.approx(np.mean(expected))
    assert summary["sd"] == pytest.approx(np.std(expected, ddof=1))
    assert summarise(records)["L"]["hip_ankle_contact_m"]["n"] == 0


def test_settings_round_trip_and_unknown_fields_are_named():
    settings = VisionSettings(metrics=MetricSettings(midstance="pelvis_low"))
    assert VisionSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(InputError, match="thresh"):
        VisionSettings.from_dict({"detection": {"thresh": 3}})
    with pytest.raises(InputError, match="midstance"):
        MetricSettings(midstance="hip_over_ankle")


def test_mismatched_or_short_series_are_analysis_errors():
    with pytest.raises(AnalysisError, match="frame times"):
        detect_foot_events(np.arange(5.0), np.zeros((4, 2)), np.zeros((5, 2)), np.zeros((5, 2)))


def test_kinematic_contact_on_a_synthetic_heel_strike():
    """The heel lifts, swings and comes down at 1 m/s onto the belt at known instants (off the
    frame grid): the peak upward acceleration marks contact to a fraction of a frame."""
    rate, stride, stance = 250.0, 0.7, 0.25
    t = np.arange(0, 5, 1 / rate)
    contacts = 0.35 + stride * np.arange(7) + 0.0013
    since = (t - contacts[0]) % stride  # time since the last contact
    swing = stride - stance
    lift = np.clip(since - stance, 0, None)
    heel = np.zeros((len(t), 2))
    heel[:, 1] = np.where(since > stance, lift * (swing - lift) / swing, 0.0)  # −1 m/s at landing
    heel[:, 0] = 0.3 * np.cos(2 * np.pi * since / stride)  # farthest ahead of the hip at contact
    toe = heel + np.array([0.15, 0.0])
    events = detect_foot_events(t, heel, toe, np.zeros((len(t), 2)))
    inner = contacts[1:-1]
    found = np.array([events.contact_s[np.argmin(np.abs(events.contact_s - c))] for c in inner])
    assert np.abs(found - inner).max() < 0.5 / rate
    assert set(events.method) == {"handsaker"}


def test_contact_bias_pairs_within_tolerance():
    force = np.array([1.0, 1.7, 2.4, 3.1])
    kinematic = np.array([0.2, 1.012, 1.709, 2.411, 3.6])  # +12, +9, +11 ms; 3.1 unmatched
    bias = contact_bias(kinematic, force)
    assert bias.n == 3 and bias.unpaired_force == 1
    assert bias.mean_s == pytest.approx(0.010667, abs=1e-6)
    assert bias.sd_s == pytest.approx(np.std([0.012, 0.009, 0.011], ddof=1))
    with pytest.raises(AnalysisError, match="no contacts"):
        contact_bias([], force)


POSTERIOR = ("L_psis", "R_psis", "L_thigh", "R_thigh", "L_knee", "R_knee", "L_ankle", "R_ankle")


def _posterior_tracks(times: np.ndarray) -> PlaneTracks:
    """Both legs straight below level PSIS (FPPA 0°, no pelvic drop)."""
    ab = np.zeros((len(times), 8, 2))
    for i, name in enumerate(POSTERIOR):
        side = 0.1 if name.startswith("L") else -0.1
        height = {"psis": 1.0, "thigh": 0.75, "knee": 0.5, "ankle": 0.1}[name.split("_")[1]]
        ab[:, i] = [side, height]
    flags = np.full((len(times), 8), MEASURED, dtype=np.uint8)
    return PlaneTracks("posterior", POSTERIOR, times, ab, flags)


def test_irregular_markers_where_a_number_is_read_flag_the_stance():
    """A blob merged with a stray (IRREGULAR) at the frames around contact, midstance or the
    knee-flexion peak makes the stance's numbers doubtful: the record says so. The same bit
    elsewhere in the stance, or on a marker no number uses, does not."""
    times = np.arange(0, 1, 0.004)
    stance = [("R", 0.1003, 0.3)]  # midstance (M5 fallback on a straight knee) at 0.20015 s

    def flagged(marker: str, t: float, view: str = "sagittal") -> tuple[str, ...]:
        tracks = _sagittal_tracks(times, lambda t: 0.3 - 3.0 * t)
        posterior = _posterior_tracks(times)
        target = tracks if view == "sagittal" else posterior
        k = round(t / 0.004)
        target.flags[k, target.names.index(marker)] |= IRREGULAR
        records = stance_video_records(
            stance,
            sagittal=tracks,
            posterior=posterior,
            settings=VisionSettings(metrics=MetricSettings(midstance="half")),
        ).records
        return records[0].flags

    assert "marker_irregular" in flagged("knee", 0.1)  # the frame before contact
    assert "marker_irregular" in flagged("ankle", 0.104)  # the frame after it
    assert "marker_irregular" in flagged("hip", 0.2)  # at midstance
    assert "marker_irregular" in flagged("shoulder", 0.1)  # trunk lean at contact
    assert "marker_irregular" not in flagged("knee", 0.15)  # between: no number read there
    assert "marker_irregular" not in flagged("heel", 0.1)  # no sagittal number uses the heel
    assert "marker_irregular_posterior" in flagged("R_knee", 0.2, "posterior")
    assert "marker_irregular_posterior" in flagged("L_psis", 0.2, "posterior")  # pelvic drop
    assert "marker_irregular_posterior" not in flagged("L_knee", 0.2, "posterior")  # other leg
    assert "marker_irregular_posterior" not in flagged("R_knee", 0.26, "posterior")
    assert not {"marker_irregular", "marker_irregular_posterior"} & set(flagged("heel", 0.5))
