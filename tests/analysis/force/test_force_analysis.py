"""Offline force analysis against the synthetic runner's exact truth."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.drift import flight_drift_correction, noise_floor, unloaded_offsets
from analysis.errors import AnalysisError, InputError
from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plate

RATE = 2000.0


def _analyse(plate, wrench, **kw):
    return analyse_force_trial({"belt": wrench}, [plate], RATE, **kw)


@pytest.mark.parametrize("rearfoot", [True, False])
def test_events_midstance_and_loading_rates_match_truth(belt_plate, make_run, rearfoot):
    wrench, truth = make_run(rearfoot=rearfoot, seed=7, drift_N_per_s=2.0)
    result = _analyse(belt_plate, wrench, body_weight_N=700.0)
    st = result.stances
    assert len(st) == len(truth.contact_s)
    sample = 1 / RATE
    for i, s in enumerate(st):
        assert abs(s.contact_s - truth.contact_s[i]) <= sample
        assert abs(s.toe_off_s - truth.toe_off_s[i]) <= sample
        assert abs(s.midstance_peak_vgrf_s - truth.peak_s[i]) <= 2 * sample
        assert abs(s.midstance_ap_s - truth.ap_s[i]) <= 2 * sample
        half = 0.5 * (truth.contact_s[i] + truth.toe_off_s[i])
        assert abs(s.midstance_half_s - half) <= sample
        assert s.valr_N_s == pytest.approx(truth.valr_N_s[i], rel=0.02)
        assert s.vilr_N_s == pytest.approx(truth.vilr_N_s[i], rel=0.02 if rearfoot else 0.06)
        assert s.valr_BW_s == pytest.approx(s.valr_N_s / 700.0)
        assert s.side == truth.side[i]
        if rearfoot:
            assert s.loading_rate_reference == "impact_peak"
            assert s.impact_peak_N == pytest.approx(truth.impact_N[i], rel=0.01)
            assert "loading_rate_13pct" not in s.flags
        else:
            assert s.loading_rate_reference == "stance_13pct"
            assert s.impact_peak_N is None
            assert "loading_rate_13pct" in s.flags
    summary = result.summary()
    # the first step has no previous step to confirm its side against
    assert st[0].flags[-1] == "side_unconfirmed" and not st[0].usable
    assert summary["L"]["n_stances"] + summary["R"]["n_stances"] == len(st) - 1
    assert summary["cadence_steps_per_min"] == pytest.approx(60 / 0.36, rel=1e-3)
    assert summary["L"]["contact_time_s"]["mean"] == pytest.approx(
        np.mean(np.subtract(truth.toe_off_s, truth.contact_s)), abs=2e-4
    )


def test_body_weight_from_whole_strides(belt_plate, make_run):
    wrench, _truth = make_run(duration_s=10.0, noise_N=1.0)
    result = _analyse(belt_plate, wrench)
    # mean force over whole strides = impulse per step / step time, computed here independently
    t = np.arange(0, 0.25, 1e-6)
    from_shape = float(np.sum(np.interp(t, np.arange(wrench.shape[0]) / RATE, wrench[:, 2])))
    assert result.body_weight_N is not None and "whole strides" in result.body_weight_source
    step_impulse = np.trapezoid(wrench[1000:1720, 2], dx=1 / RATE)
    assert result.body_weight_N == pytest.approx(step_impulse / 0.36, rel=0.01)
    assert from_shape > 0


def test_crossover_runner_steps_are_flagged_not_mislabelled(belt_plate, make_run):
    wrench, truth = make_run(half_width_m=0.005)
    result = _analyse(belt_plate, wrench, body_weight_N=700.0)
    # every step lands within 2 cm of the midline and none anchors the alternation: no side is
    # invented, every step is flagged and none enters a per-side summary
    assert len(result.stances) == len(truth.contact_s)
    assert all("ambiguous_side" in s.flags and s.side is None for s in result.stances)
    summary = result.summary()
    assert summary["L"]["n_stances"] == summary["R"]["n_stances"] == 0
    assert summary["n_excluded"]["ambiguous_side"] == len(result.stances) - 1


def test_near_midline_steps_take_their_side_from_alternation(belt_plate, make_run):
    wrench, truth = make_run()
    n_first = round((truth.toe_off_s[2] + 0.05) * 2000)
    narrow, _ = make_run(half_width_m=0.004)
    wrench[n_first:] = narrow[n_first:]  # after 3 clear steps the runner crosses over
    result = _analyse(belt_plate, wrench, body_weight_N=700.0)
    sides = [s.side for s in result.stances]
    assert sides == truth.side[: len(sides)]
    assert all("ambiguous_side" in s.flags for s in result.stances[4:])
    assert result.summary()["n_side_by_alternation_only"] >= len(result.stances) - 5


def test_step_length_from_belt_speed(belt_plate, make_run):
    wrench, _ = make_run(duration_s=4.0)
    result = _analyse(belt_plate, wrench, body_weight_N=700.0, belt_speed_m_s=3.5)
    lengths = [s.step_length_m for s in result.stances if s.step_length_m is not None]
    assert lengths and np.allclose(lengths, 3.5 * 0.36, atol=1e-3)


def test_split_belt_sides_and_wrong_belt(make_run):
    plates = []
    for side, y in (("left", 0.13), ("right", -0.13)):
        table = {
            "name": side,
            "type": "six-channel",
            "channels": [f"{side}.{c}" for c in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")],
            "matrix": np.eye(6).tolist(),
            "origin_m": [0, y, 0],
            "belt": side,
        }
        plates.append(parse_plate(table))
    wrench, truth = make_run(duration_s=6.0)
    n = wrench.shape[0]
    left, right = np.zeros((n, 6)), np.zeros((n, 6))
    t = np.arange(n) / RATE
    for i, c in enumerate(truth.contact_s):
        window = (t >= c - 0.05) & (t < truth.toe_off_s[i] + 0.05)
        # stance 7 is a right foot landing on the left belt
        target = left if (truth.side[i] == "L" or i == 7) else right
        target[window] += wrench[window]
    result = analyse_force_trial({"left": left, "right": right}, plates, RATE, body_weight_N=700.0)
    assert len(result.stances) == len(truth.contact_s)
    for i, s in enumerate(result.stances):
        if i == 7:
            assert "wrong_belt" in s.flags and not s.usable
        else:
            assert s.side == truth.side[i] and s.usable, (i, s.flags)


def test_short_bumps_are_not_stances(belt_plate, make_run):
    wrench, truth = make_run(duration_s=3.0)
    wrench[100:140, 2] += 200.0  # a 20 ms knock on the plate
    result = _analyse(belt_plate, wrench, body_weight_N=700.0)
    assert len(result.stances) == len(truth.contact_s)
    assert [r.reason for r in result.rejected] == ["shorter_than_min_stance"]


def test_thresholds_move_events_consistently(belt_plate, make_run):
    wrench, _truth = make_run(noise_N=0.5)
    low = _analyse(belt_plate, wrench, body_weight_N=700.0)
    high = _analyse(
        belt_plate,
        wrench,
        body_weight_N=700.0,
        settings=ForceSettings(threshold_on_N=80.0, threshold_off_N=50.0),
    )
    assert len(low.stances) == len(high.stances)
    for a, b in zip(low.stances, high.stances, strict=True):
        assert b.contact_s > a.contact_s and b.toe_off_s < a.toe_off_s
        assert b.valr_N_s == pytest.approx(a.valr_N_s, rel=0.005)
    assert high.to_dict()["settings"]["threshold_off_N"] == 50.0


def test_settings_round_trip_and_validation():
    s = ForceSettings(cutoff_hz=40.0, midstance="M4")
    assert ForceSettings.from_dict(s.to_dict()) == s
    with pytest.raises(InputError, match="thresold_on_N"):
        ForceSettings.from_dict({"thresold_on_N": 40})
    with pytest.raises(InputError, match="threshold_off_N"):
        ForceSettings(threshold_on_N=20.0, threshold_off_N=50.0)
    with pytest.raises(InputError, match="midstance"):
        ForceSettings(midstance="M9")


def test_cutoff_above_nyquist_is_a_clear_error(belt_plate, make_run):
    wrench, _ = make_run(duration_s=2.0, rate_hz=150.0)
    with pytest.raises(InputError, match="Nyquist"):
        analyse_force_trial({"belt": wrench}, [belt_plate], 150.0)


def test_nan_samples_are_refused(belt_plate, make_run):
    wrench, _ = make_run(duration_s=2.0)
    wrench[50, 2] = np.nan
    with pytest.raises(AnalysisError, match="NaN"):
        _analyse(belt_plate, wrench)


def test_whole_trial_flight_drift_correction(make_run):
    wrench, truth = make_run(duration_s=4.0, noise_N=0.0, drift_N_per_s=10.0)
    contacts = [
        (int(c * RATE) - 2, int(o * RATE) + 2)
        for c, o in zip(truth.contact_s, truth.toe_off_s, strict=True)
    ]
    corrected, table = flight_drift_correction(wrench, contacts)
    t = np.arange(wrench.shape[0]) / RATE
    clean = wrench[:, 2] - 10.0 * t
    inner = slice(int(truth.contact_s[0] * RATE), int(truth.toe_off_s[-1] * RATE))
    assert np.max(np.abs(corrected[inner, 2] - clean[inner])) < 0.05
    assert table.shape[0] == len(contacts) + 1


def test_zeroing_and_noise_floor(belt_plate, to_volts):
    rng = np.random.default_rng(0)
    unloaded = to_volts(belt_plate, np.zeros((2000, 6))) + rng.normal(0, 1e-3, (2000, 6))
    v0 = unloaded_offsets(unloaded)
    assert np.allclose(v0, belt_plate.offsets_V, atol=1e-4)
    zeroed = belt_plate.with_offsets(v0)
    fz = plate_wrenches([zeroed], unloaded, belt_plate.channels)["belt"][:, 2]
    floor = noise_floor(fz, threshold_N=20.0)
    assert floor.sd_N == pytest.approx(1.0, rel=0.1)  # 1 mV x 1000 N/V
    assert floor.threshold_ok and floor.ratio > 15
    assert not noise_floor(fz * 10, threshold_N=20.0).threshold_ok


def test_settings_adapt_the_metrics_filter_to_low_rates_and_say_so():
    same, notes = ForceSettings().adapted_to(2000.0)
    assert same == ForceSettings() and notes == []
    low, notes = ForceSettings().adapted_to(300.0)
    assert low.metrics_cutoff_hz == 100.0 and low.cutoff_hz == 50.0
    assert "300 Hz" in notes[0]


def test_first_versus_last_window_shows_a_change_over_the_trial(belt_plate, make_run):
    rate = 1000.0
    fresh, _ = make_run(duration_s=16.0, rate_hz=rate, contact_time_s=0.25, seed=1)
    tired, _ = make_run(duration_s=16.0, rate_hz=rate, contact_time_s=0.28, seed=2)
    wrench = np.concatenate([fresh, tired])
    settings = ForceSettings(summary_window_s=8.0)
    result = analyse_force_trial(
        {"belt": wrench}, [belt_plate], rate, settings, body_weight_N=700.0
    )
    summary = result.summary()
    assert len(summary["windows"]) == 4
    change = summary["first_vs_last_window"]
    for side in ("L", "R"):
        contact = change[side]["contact_time_s"]
        assert contact["change"] == pytest.approx(0.03, abs=0.002)
        assert contact["change_pct"] == pytest.approx(12.0, abs=1.0)
        assert summary[side]["contact_time_s"]["cv_pct"] > 3.0  # two populations
    assert summary["symmetry_index_pct"]["contact_time_s"] == pytest.approx(0.0, abs=1.0)


def test_noise_floor_finds_the_belt_vibration():
    rng = np.random.default_rng(4)
    t = np.arange(2000) / RATE
    fz = 4.0 * np.sin(2 * np.pi * 25.3 * t + 0.7) + rng.normal(0, 1.0, t.size) + 2.0
    floor = noise_floor(fz, threshold_N=20.0, rate_hz=RATE)
    assert floor.vibration_hz == pytest.approx(25.3, abs=0.1)
    assert floor.vibration_amplitude_N == pytest.approx(4.0, rel=0.05)
    assert "25.3 Hz" in floor.sentence()
    quiet = noise_floor(rng.normal(0, 1.0, t.size), threshold_N=20.0, rate_hz=RATE)
    assert quiet.vibration_hz is None


def test_body_weight_from_a_standing_trial():
    from analysis.force_trial import body_weight_from_standing

    rng = np.random.default_rng(8)
    t = np.arange(int(4 * RATE)) / RATE
    fz = 712.0 + rng.normal(0, 2.0, t.size)
    fz[: int(RATE)] = np.linspace(0, 712, int(RATE))  # stepping on
    weight, source = body_weight_from_standing(fz, RATE)
    assert weight == pytest.approx(712.0, abs=0.5)
    assert "standing trial" in source
    fidgeting = 712.0 + 60.0 * np.sin(2 * np.pi * 1.3 * t)
    with pytest.raises(AnalysisError, match="not still"):
        body_weight_from_standing(fidgeting, RATE)
