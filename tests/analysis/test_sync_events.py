"""Sync verification: an injected camera trigger delay is recovered from LED and belt-tap events."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError, InputError
from analysis.sync_events import (
    SyncEventSettings,
    acceleration_peak_times,
    led_onsets_analog,
    led_onsets_video,
    pair_events,
    roi_brightness,
    tap_times_force,
)
from drivers.sim import LabSetup, SimulatedLab, preset

DAQ_RATE = 1000.0
FPS = 250.0
DELAY = 1.3e-3  # the camera's true trigger-to-exposure delay, unknown to the analysis
EXPOSURE = 2e-3


def led_session(n_events=20, seed=0, duration_s=40.0):
    """LED on/off intervals at random phases; the loop-back channel and the ROI brightness."""
    rng = np.random.default_rng(seed)
    on = 1.0 + np.arange(n_events) * 1.9 + rng.uniform(0, 0.5, n_events)
    off = on + rng.uniform(0.4, 0.8, n_events)
    t = np.arange(int(duration_s * DAQ_RATE)) / DAQ_RATE
    lit = np.zeros(t.size, dtype=bool)
    for a, b in zip(on, off, strict=True):
        lit |= (t >= a) & (t < b)
    led_V = 5.0 * lit + rng.normal(0, 0.02, t.size)
    frame_start = np.arange(int(duration_s * FPS)) / FPS + DELAY  # true exposure starts
    overlap = np.zeros(frame_start.size)
    for a, b in zip(on, off, strict=True):
        overlap += np.clip(
            np.minimum(frame_start + EXPOSURE, b) - np.maximum(frame_start, a), 0, None
        )
    brightness = 20 + 180 * overlap / EXPOSURE + rng.normal(0, 0.5, frame_start.size)
    return on, led_V, brightness


def test_led_recovers_the_trigger_delay_within_half_a_millisecond():
    on, led_V, brightness = led_session()
    nominal_start = np.arange(brightness.size) / FPS  # what the sync under test believes
    daq = led_onsets_analog(led_V, DAQ_RATE)
    video = led_onsets_video(brightness, nominal_start, EXPOSURE)
    assert daq.size == video.size == on.size
    assert np.max(np.abs(daq - on)) <= 0.5 / DAQ_RATE + 1e-9  # a 0/5 V step: half a sample
    check = pair_events(daq, video, "led")
    assert check.n == 20 and check.flags == ()
    assert -check.mean_s == pytest.approx(DELAY, abs=0.5e-3)
    assert check.sd_s < 1e-3
    assert "over 20 events" in check.summary()
    stored = check.to_dict()
    assert stored["settings"]["max_pair_gap_s"] == 0.05 and len(stored["offsets_s"]) == 20


def test_led_frames_partly_lit_give_the_onset_inside_the_exposure():
    # LED on at 10.5 ms; exposures of 2 ms start every 4 ms: frame 2 (8–10 ms) dark,
    # frame 2 and 3 lit from 10.5 ms: frame at 8 ms is dark, at 12 ms fully lit -> gap 10–12 ms
    start = np.arange(12) * 0.004
    onset = 0.0093  # during frame 2's exposure (8–10 ms): lit for 0.7 of it
    lit = np.clip(np.minimum(start + EXPOSURE, 1.0) - np.maximum(start, onset), 0, None) / EXPOSURE
    brightness = 10 + 100 * lit
    found = led_onsets_video(brightness, start, EXPOSURE)
    np.testing.assert_allclose(found, [onset], atol=1e-9)
    gap_onset = 0.0105  # between exposures: the middle of the gap 10–12 ms is the best estimate
    lit = np.clip(np.minimum(start + EXPOSURE, 1.0) - np.maximum(start, gap_onset), 0, None)
    np.testing.assert_allclose(led_onsets_video(10 + 50 * lit, start, EXPOSURE), [0.011])


def test_roi_brightness_averages_the_region_only():
    frames = np.zeros((3, 20, 30), dtype=np.uint8)
    frames[1, 5:10, 8:12] = 200
    frames[:, 0, 0] = 255  # outside the region: ignored
    np.testing.assert_allclose(roi_brightness(frames, (8, 5, 4, 5)), [0, 200, 0])
    with pytest.raises(InputError, match="not inside"):
        roi_brightness(frames, (25, 5, 10, 5))


def tapping_tool(t_fine, contacts, peak_N=400.0, duration_s=0.006, mass_kg=1.0):
    """Contact force (N) and height (m) of a tool tapping the belt, on a fine time grid.

    Each tap: the tool descends at 1 m/s, a half-sine impact of ``duration_s`` reverses it, and
    gentle (≈10 m/s²) pushes stop the rebound and start the next descent.
    """
    force = np.zeros(t_fine.size)
    accel = np.zeros(t_fine.size)
    rebound = 2 * peak_N * duration_s / (np.pi * mass_kg) - 1.0
    for c in contacts:
        tau = t_fine - c
        inside = (tau >= 0) & (tau <= duration_s)
        force[inside] += peak_N * np.sin(np.pi * tau[inside] / duration_s)
        for centre, area in ((-0.25, -1.0), (0.25, -rebound)):
            accel += (
                area * np.exp(-0.5 * ((tau - centre) / 0.04) ** 2) / (0.04 * np.sqrt(2 * np.pi))
            )
    accel += force / mass_kg
    step = t_fine[1] - t_fine[0]
    height = np.cumsum(np.cumsum(accel) * step) * step
    return force, height


def test_belt_tap_recovers_the_trigger_delay_within_half_a_millisecond():
    rng = np.random.default_rng(4)
    contacts = 0.7 + np.arange(12) * 1.1 + rng.uniform(0, 0.1, 12)
    t_fine = np.arange(int(14.5 * 20_000)) / 20_000
    force, height = tapping_tool(t_fine, contacts)
    t_daq = np.arange(int(14.4 * DAQ_RATE)) / DAQ_RATE
    t_frame = np.arange(int(14.4 * FPS)) / FPS  # nominal; the true exposure is DELAY later
    fz = 30 + np.interp(t_daq, t_fine, force) + rng.normal(0, 2.0, t_daq.size)
    z = np.interp(t_frame + DELAY, t_fine, height) + rng.normal(0, 2e-5, t_frame.size)
    force_events = tap_times_force(fz, DAQ_RATE)
    video_events = acceleration_peak_times(z, t_frame)
    np.testing.assert_allclose(force_events, contacts + 0.003, atol=0.2e-3)  # the half-sine peak
    check = pair_events(force_events, video_events, "belt_tap")
    assert check.n == 12 and check.flags == ()
    assert -check.mean_s == pytest.approx(DELAY, abs=0.5e-3)


def test_unpaired_and_too_few_events_are_flagged():
    check = pair_events(np.array([1.0, 2.0, 3.0]), np.array([1.001, 2.2, 3.002]), "led")
    assert check.n == 2
    np.testing.assert_allclose(check.offsets_s, [0.001, 0.002])
    np.testing.assert_allclose(check.unpaired_daq_s, [2.0])
    np.testing.assert_allclose(check.unpaired_video_s, [2.2])
    assert check.flags == ("too_few_repetitions", "unpaired_events")
    empty = pair_events(np.array([]), np.array([5.0]), "led", SyncEventSettings(min_repetitions=1))
    assert empty.n == 0 and np.isnan(empty.mean_s)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(AnalysisError, match="never changes"):
        led_onsets_video(np.full(50, 7.0), np.arange(50) / FPS, EXPOSURE)
    noise_only = 7 + np.random.default_rng(0).normal(0, 1.0, 500)  # LED not in the region
    with pytest.raises(AnalysisError, match="never changes"):
        led_onsets_video(noise_only, np.arange(500) / FPS, EXPOSURE)
    with pytest.raises(InputError, match="one exposure start"):
        led_onsets_video(np.arange(50.0), np.arange(40) / FPS, EXPOSURE)
    with pytest.raises(InputError, match="evenly spaced"):
        acceleration_peak_times(np.arange(10.0), np.r_[np.arange(5), np.arange(6, 11)] / FPS)
    with pytest.raises(InputError, match=r"sync\.led"):
        led_onsets_analog(np.array([0.0, np.nan, 5.0, 5.0]), DAQ_RATE)


def test_simulated_lab_led_recovers_an_injected_trigger_delay():
    setup = LabSetup(trigger_delay_s=1.5e-3)
    lab = SimulatedLab(preset("overstrider"), setup, seed=3, duration_s=20.0)
    rate = setup.daq_rate_hz
    daq = led_onsets_analog(
        lab.analog(0, lab.n_samples)[:, lab.channel_names.index("sync.led")], rate
    )
    period = 1 / setup.frame_rate_hz
    # decode only the frames around each DAQ onset (each run starts and ends dark)
    near = [np.arange(int(t / period) - 5, int(t / period) + 20) for t in daq]
    ks = np.unique(np.concatenate(near))
    ks = ks[(ks >= 0) & (ks < lab.n_frames("sagittal"))]
    cx, cy = (round(c) for c in lab.renderer("sagittal").led_centre)
    brightness = roi_brightness(np.stack(lab.frames("sagittal", ks)), (cx - 3, cy - 3, 7, 7))
    nominal_start = ks * period  # what a sync that ignored the trigger delay would say
    video = led_onsets_video(brightness, nominal_start, setup.exposure_s)
    check = pair_events(daq, video, "led")
    assert check.n == daq.size >= 20 and check.flags == ()
    assert -check.mean_s == pytest.approx(1.5e-3, abs=0.5e-3)
