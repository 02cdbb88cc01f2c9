"""Rendered frames: marker centroids, timing on both clocks, drops, LED, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drivers.sim import LabSetup, SimulatedLab, noise_free, preset


def _marker_centroids(lab: SimulatedLab, camera: str, k: int):
    """Intensity-weighted centroid of each drawn marker: the frame minus the same frame drawn
    without markers leaves the markers alone."""
    with_markers = lab.frame(camera, k, noise=False).astype(np.int32)
    without = lab.frame(camera, k, markers=False, noise=False).astype(np.int32)
    markers = with_markers - without
    truth = lab.frame_truth(camera, k)
    found = {}
    for name, (u, v), radius in zip(truth.names, truth.pixels, truth.radius_px, strict=True):
        others = np.delete(truth.pixels, truth.names.index(name), axis=0)
        half = int(np.ceil(radius + 4))
        if np.min(np.hypot(*(others - (u, v)).T)) < 2 * half + 1:
            continue  # overlapping patches would mix two markers
        iu, iv = round(u), round(v)
        patch = markers[iv - half : iv + half + 1, iu - half : iu + half + 1].astype(float)
        ys, xs = np.mgrid[iv - half : iv + half + 1, iu - half : iu + half + 1]
        found[name] = (
            np.array([(patch * xs).sum() / patch.sum(), (patch * ys).sum() / patch.sum()]),
            np.array([u, v]),
        )
    return found


@pytest.mark.parametrize("camera", ["sagittal", "posterior"])
def test_rendered_marker_centroids_match_the_truth(clean_lab, camera):
    errors = []
    for k in range(100, 1400, 97):
        for measured, true in _marker_centroids(clean_lab, camera, k).values():
            errors.append(np.hypot(*(measured - true)))
    errors = np.asarray(errors)
    assert len(errors) > 60
    assert errors.max() < 0.2
    assert np.sqrt(np.mean(errors**2)) < 0.06


def test_pixels_agree_with_opencv_projection(healthy_lab):
    for camera, model in healthy_lab.cameras.items():
        truth = healthy_lab.frame_truth(camera, 321)
        rvec, _ = cv2.Rodrigues(model.R)
        projected, _ = cv2.projectPoints(truth.lab_m, rvec, model.t, model.K, model.dist)
        np.testing.assert_allclose(projected[:, 0, :], truth.pixels, atol=1e-6)
        projected, _ = cv2.projectPoints(truth.lab_m, rvec, model.t, model.K, np.zeros(5))
        np.testing.assert_allclose(projected[:, 0, :], truth.pixels_undistorted, atol=1e-6)
        w, h = model.size
        assert np.all((truth.pixels > 0) & (truth.pixels < (w, h)))


def test_frames_are_seeded_and_random_access_equals_sequential(healthy_lab):
    lab = healthy_lab
    sequential = lab.frames("posterior", range(40, 46))
    again = SimulatedLab(lab.runner, lab.setup, seed=lab.seed, duration_s=lab.duration_s)
    for k in (45, 41, 43):
        np.testing.assert_array_equal(again.frame("posterior", k), sequential[k - 40])
    other_seed = SimulatedLab(lab.runner, lab.setup, seed=lab.seed + 1, duration_s=lab.duration_s)
    assert not np.array_equal(other_seed.frame("posterior", 43), sequential[3])
    # image noise is there, of the configured size
    clean = lab.frame("posterior", 43, noise=False).astype(float)
    residual = sequential[3] - clean
    assert residual.std() == pytest.approx(lab.setup.image_noise_dn, rel=0.15)
    assert abs(residual.mean()) < 0.2


def test_hardware_sync_frames_follow_the_exposure_witness(healthy_lab):
    lab = healthy_lab
    setup = lab.setup
    rate = setup.daq_rate_hz
    n = lab.n_frames("sagittal")
    assert n == int((lab.duration_s - setup.exposure_s - setup.trigger_delay_s) * 250) + 1
    for k in (0, 1, 7, n - 1):
        assert lab.frame_time("sagittal", k) == pytest.approx(k / 250 + setup.trigger_delay_s)
        assert lab.frame_truth("sagittal", k).session_time_s == lab.frame_time("sagittal", k)
    witness = lab.analog(0, lab.n_samples)[:, lab.channel_names.index("exposure.sagittal")] > 2.5
    rising = np.flatnonzero(witness[1:] & ~witness[:-1]) + 1
    expected = np.ceil(lab.frame_time("sagittal", np.arange(n)) * rate).astype(int)
    np.testing.assert_array_equal(rising, expected)


def test_software_sync_frames_run_on_a_drifting_camera_clock():
    setup = LabSetup(sync_mode="software", camera_clock_offset_s=0.25, camera_drift_ppm=100.0)
    lab = SimulatedLab(preset("healthy"), setup, seed=1, duration_s=4.0)
    for k in (0, 10, 900):
        truth = lab.frame_truth("posterior", k)
        assert truth.camera_time_s == pytest.approx(k / 250, abs=1e-12)
        assert truth.session_time_s == pytest.approx(0.25 + k / 250 / (1 + 100e-6), abs=1e-12)
    # after 900 frames (3.6 s) the camera clock has gained 0.36 ms on the session clock
    t900 = lab.frame_time("posterior", 900)
    assert (900 / 250 - (t900 - 0.25)) == pytest.approx(3.6 * 100e-6, rel=1e-3)


def test_dropped_frames_are_exposed_but_flagged():
    setup = LabSetup(dropped_frames={"sagittal": (5, 6, 200)}, drop_probability=0.01)
    lab = SimulatedLab(preset("healthy"), setup, seed=4, duration_s=4.0)
    dropped = lab.dropped_frames("sagittal")
    assert {5, 6, 200} <= set(dropped.tolist())
    assert 3 < len(dropped) < 30  # ~1 % of 1000 frames plus the explicit ones
    assert lab.frame_truth("sagittal", 6).dropped and not lab.frame_truth("sagittal", 7).dropped
    rate = setup.daq_rate_hz
    witness = lab.analog(0, lab.n_samples)[:, lab.channel_names.index("exposure.sagittal")]
    assert witness[int(np.ceil(lab.frame_time("sagittal", 6) * rate))] > 4.5  # it was exposed
    assert not np.array_equal(lab.dropped_frames("posterior"), dropped)


def test_sync_led_in_the_analog_channel_and_in_the_video(healthy_lab):
    lab = healthy_lab
    led = lab.analog(0, lab.n_samples)[:, lab.channel_names.index("sync.led")] > 2.5
    onsets = np.flatnonzero(led[1:] & ~led[:-1]) + 1
    np.testing.assert_array_equal(onsets, np.ceil(lab.truth.led_on_s * lab.setup.daq_rate_hz))
    assert len(onsets) >= 6
    renderer = lab.renderer("sagittal")
    u, v = (round(c) for c in renderer.led_centre)
    levels, brightness = [], []
    for t_on in lab.truth.led_on_s[:4]:
        k = int(np.floor((t_on - lab.setup.trigger_delay_s) * 250))
        for kk in (k - 1, k, k + 1, k + 2):
            levels.append(lab.frame_truth("sagittal", kk).led_level)
            brightness.append(lab.frame("sagittal", kk, noise=False)[v, u])
    levels, brightness = np.asarray(levels), np.asarray(brightness, dtype=float)
    assert levels.min() == 0.0 and levels.max() == 1.0
    assert np.corrcoef(levels, brightness)[0, 1] > 0.99


def test_occlusions_and_strays_are_reported():
    setup = LabSetup(marker_occlusion_probability=0.2, stray_reflections_per_frame=1.5)
    lab = SimulatedLab(preset("healthy"), setup, seed=9, duration_s=2.0)
    visible = np.array([lab.frame_truth("posterior", k).visible for k in range(200)])
    strays = [len(lab.frame_truth("posterior", k).stray_pixels) for k in range(200)]
    assert visible.mean() == pytest.approx(0.8, abs=0.05)
    assert np.mean(strays) == pytest.approx(1.5, abs=0.3)
    # an occluded marker is really not drawn
    k = int(np.flatnonzero(~visible[:, 0])[0])
    truth = lab.frame_truth("posterior", k)
    u, v = np.round(truth.pixels[0]).astype(int)
    no_noise = lab.frame("posterior", k, noise=False)
    no_markers = lab.frame("posterior", k, markers=False, noise=False)
    assert no_noise[v, u] == no_markers[v, u]


def test_noise_free_setup_switches_off_every_random_imperfection():
    setup = noise_free(LabSetup(stray_reflections_per_frame=3, dropped_frames={"sagittal": (1,)}))
    lab = SimulatedLab(preset("crossover"), setup, seed=2, duration_s=1.0)
    assert len(lab.dropped_frames("sagittal")) == 0
    assert len(lab.frame_truth("sagittal", 3).stray_pixels) == 0
    np.testing.assert_array_equal(lab.frame("sagittal", 3), lab.frame("sagittal", 3, noise=False))
