"""The body moves consistently with the force, and the presets show what they are named for."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.sim import LabSetup, SimulatedLab, noise_free, preset


def test_the_foot_lands_when_the_force_rises_and_rides_the_belt(clean_lab):
    lab = clean_lab
    speed = lab.runner.speed_m_s
    sch = lab.schedule
    for stance in lab.truth.stances[:8]:
        side = stance.side
        i = int(np.argmin(np.abs(sch.onset_s - stance.contact_s)))
        onset = sch.onset_s[i]  # where the force starts to rise (it reaches 20 N ms later)
        assert onset < stance.contact_s < onset + 0.006
        ankle = f"{side}_ankle_joint"
        t = np.array([onset - 0.004, onset, onset + 0.004, stance.contact_s + 0.05])
        z = lab.points(t)[ankle][:, 2]
        assert z[0] > z[1] + 0.002  # still coming down 4 ms before
        assert z[2] == pytest.approx(z[1], abs=1e-9)  # then on the belt
        t_stance = np.linspace(stance.contact_s, stance.toe_off_s, 50)
        x = lab.points(t_stance)[ankle][:, 0]
        np.testing.assert_allclose(np.diff(x) / np.diff(t_stance), -speed, rtol=1e-9)


def test_midstance_instants_lie_inside_stance_in_a_plausible_order(clean_lab):
    for s in clean_lab.truth.stances:
        for m in (
            s.midstance_knee_flexion_s,
            s.midstance_pelvis_low_s,
            s.midstance_peak_vgrf_s,
            s.midstance_ap_s,
            s.midstance_half_s,
        ):
            assert s.contact_s + 0.2 * (s.toe_off_s - s.contact_s) < m
            assert m < s.contact_s + 0.65 * (s.toe_off_s - s.contact_s)
        assert abs(s.midstance_knee_flexion_s - s.midstance_pelvis_low_s) < 0.02
        assert s.knee_flexion_peak_deg > s.knee_flexion_contact_deg + 20


def _means(lab: SimulatedLab, field: str, side: str | None = None) -> float:
    values = [getattr(s, field) for s in lab.truth.stances if side in (None, s.side)]
    return float(np.mean(values))


@pytest.fixture(scope="module")
def presets_labs():
    return {
        name: SimulatedLab(preset(name), noise_free(LabSetup()), seed=1, duration_s=6)
        for name in ("healthy", "overstrider", "valgus-left", "crossover")
    }


def test_overstrider_lands_far_ahead_and_keeps_the_hip_behind(presets_labs):
    healthy, over = presets_labs["healthy"], presets_labs["overstrider"]
    assert _means(over, "hip_ankle_contact_m") == pytest.approx(0.40, abs=0.03)
    assert _means(healthy, "hip_ankle_contact_m") == pytest.approx(0.28, abs=0.03)
    assert _means(over, "hip_ankle_midstance_m") > 0.04  # hip still behind the ankle
    assert abs(_means(healthy, "hip_ankle_midstance_m")) < 0.04
    assert _means(over, "shank_angle_contact_deg") > _means(healthy, "shank_angle_contact_deg") + 4
    bw = over.truth.body_weight_N
    assert _means(over, "valr_N_s") / bw > 1.25 * _means(healthy, "valr_N_s") / bw
    assert _means(over, "peak_braking_N") > 1.4 * _means(healthy, "peak_braking_N")


def test_valgus_left_shows_in_the_posterior_image(presets_labs):
    lab = presets_labs["valgus-left"]
    left = _means(lab, "fppa_midstance_deg", "L")
    right = _means(lab, "fppa_midstance_deg", "R")
    assert left == pytest.approx(14, abs=2.5) and right == pytest.approx(4, abs=2)
    assert _means(lab, "pelvic_drop_deg", "L") == pytest.approx(8, abs=1.5)
    assert _means(lab, "pelvic_drop_deg", "R") == pytest.approx(3, abs=1.5)
    assert _means(lab, "knee_medial_displacement_m", "L") > 0.02
    for s in lab.truth.stances:
        assert s.fppa_peak_deg >= s.fppa_midstance_deg - 1e-9


def test_crossover_feet_land_across_the_midline(presets_labs):
    lab = presets_labs["crossover"]
    rate = lab.setup.daq_rate_hz
    for s in lab.truth.stances:
        mid = int(s.midstance_peak_vgrf_s * rate)
        y = lab.true_cop(mid, 1)[0, 1]
        assert (y < 0) if s.side == "L" else (y > 0)  # the left foot lands right of the midline
