"""Clock sync: camera clock → session clock from one-sided receive jitter; hardware times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from analysis.clock_sync import (
    ClockSyncSettings,
    SoftwareClockSync,
    fit_offline,
    hardware_frame_time,
)
from analysis.errors import AnalysisError, InputError
from drivers.sim import LabSetup, SimulatedLab, preset

FPS = 250.0
DAQ_RATE = 1000.0
BLOCK = 100


@dataclass
class Timeline:
    frame_session_s: np.ndarray  # truth: exposure start of each frame on the session clock
    camera_time_s: np.ndarray
    camera_host_s: np.ndarray
    block_end_s: np.ndarray
    block_host_s: np.ndarray


def software_session(
    *,
    duration_s=600.0,
    camera_offset_s=0.0375,
    drift_ppm=50.0,
    host_drift_ppm=-15.0,
    jitter_mean_s=1e-3,
    jitter_shape=1.0,
    camera_floor_s=0.0,
    seed=3,
):
    """A session with three crystals: DAQ (session), camera, host; gamma-distributed receive
    latency (shape 1 = exponential)."""
    rng = np.random.default_rng(seed)

    def latency(n):
        return rng.gamma(jitter_shape, jitter_mean_s / jitter_shape, n)

    frame_t = np.arange(int(duration_s * FPS)) / FPS + 0.0007
    camera_t = (frame_t - camera_offset_s) * (1 + drift_ppm * 1e-6)

    def host(t):
        return 12.3 + t * (1 + host_drift_ppm * 1e-6)

    block_end = (np.arange(int(duration_s * DAQ_RATE) // BLOCK) + 1) * BLOCK / DAQ_RATE
    return Timeline(
        frame_session_s=frame_t,
        camera_time_s=camera_t,
        camera_host_s=host(frame_t) + camera_floor_s + latency(frame_t.size),
        block_end_s=block_end,
        block_host_s=host(block_end) + latency(block_end.size),
    )


def run_online(tl: Timeline, settings: ClockSyncSettings, chunk=50):
    """Feed frames and blocks in arrival order; map each chunk with the fit as it stands then."""
    n = tl.camera_time_s.size
    est = np.full(n, np.nan)
    se = np.full(n, np.inf)
    uncertain = np.ones(n, dtype=bool)
    sync = SoftwareClockSync(settings)
    fed_blocks = 0
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        arrived = int(np.searchsorted(tl.block_host_s, tl.camera_host_s[part].max()))
        if arrived > fed_blocks:
            sync.add_daq_blocks(
                tl.block_end_s[fed_blocks:arrived], tl.block_host_s[fed_blocks:arrived]
            )
            fed_blocks = arrived
        sync.add_frames(tl.camera_time_s[part], tl.camera_host_s[part])
        if fed_blocks:
            mapped = sync.map_frames(tl.camera_time_s[part])
            est[part], se[part] = mapped.session_time_s, mapped.standard_error_s
            uncertain[part] = mapped.uncertain
    return est, se, uncertain, sync


@pytest.fixture(scope="module")
def ten_minutes():
    tl = software_session()
    return tl, run_online(tl, ClockSyncSettings(frame_period_s=1 / FPS))


def test_online_offset_within_a_quarter_frame_over_ten_minutes(ten_minutes):
    tl, (est, _se, _unc, _sync) = ten_minutes
    error = est - tl.frame_session_s
    quarter_frame = 0.25 / FPS
    assert np.nanmax(np.abs(error)) < quarter_frame
    assert np.sqrt(np.nanmean(error**2)) < 0.2e-3


def test_online_uncertainty_is_honest(ten_minutes):
    tl, (est, se, uncertain, _sync) = ten_minutes
    mapped = np.isfinite(est)
    error = np.abs(est - tl.frame_session_s)[mapped]
    assert np.mean(error <= 3 * se[mapped]) >= 0.99
    # and useful: after the first seconds it is a small fraction of a frame, with no warning
    assert np.median(se[mapped]) < 0.05 / FPS
    assert not uncertain[int(5 * FPS) :].any()


@pytest.mark.parametrize(("shape", "mean_s"), [(2.0, 1e-3), (1.0, 5e-3)])
def test_online_uncertainty_stays_honest_for_other_latencies(shape, mean_s):
    # peaked (gamma 2) delays leave more latency in a segment minimum than exponential ones
    tl = software_session(duration_s=120.0, jitter_shape=shape, jitter_mean_s=mean_s, seed=11)
    est, se, _unc, _sync = run_online(tl, ClockSyncSettings(frame_period_s=1 / FPS))
    mapped = np.isfinite(se)
    error = np.abs(est - tl.frame_session_s)[mapped]
    assert np.mean(error <= 3 * se[mapped]) >= 0.99
    assert np.max(error[int(2 * FPS) :]) < 0.25 / FPS


def test_online_fit_recovers_offset_and_drift(ten_minutes):
    tl, (_est, _se, _unc, sync) = ten_minutes
    mapping = sync.mapping()
    # truth: session = 0.0375 + camera / (1 + 50e-6); a 30 s window pins the drift to a few ppm
    assert mapping.drift_ppm == pytest.approx(-50.0, abs=5.0)
    now = tl.camera_time_s[-1]
    assert float(mapping.session_time(now)) == pytest.approx(tl.frame_session_s[-1], abs=2e-4)
    stored = mapping.to_dict()
    assert stored["settings"]["window_s"] == 30.0 and "software" in stored
    assert stored["offset_s"] == mapping.offset_s


def test_offline_refit_is_better_than_online_everywhere(ten_minutes):
    tl, (est, _se, _unc, _sync) = ten_minutes
    offline = fit_offline(
        tl.block_end_s, tl.block_host_s, tl.camera_time_s, tl.camera_host_s, ClockSyncSettings()
    )
    error = offline.session_time_s - tl.frame_session_s
    assert np.max(np.abs(error)) < 0.08e-3
    assert np.max(np.abs(error)) < np.nanmax(np.abs(est - tl.frame_session_s))
    assert np.all(np.abs(error) <= 3 * offline.standard_error_s)
    assert offline.mapping.drift_ppm == pytest.approx(-50.0 * (1 - 50e-6), abs=0.2)
    assert offline.flags == ()
    assert offline.mapping.offset_s == pytest.approx(0.0375, abs=1e-4)
    assert offline.mapping.settings.window_s == float("inf")


def test_heavy_jitter_is_flagged_not_hidden():
    # 30 ms mean latency, 2 s of data at 1000 fps: half a frame is 0.5 ms, the fit cannot promise it
    tl = software_session(duration_s=2.0, jitter_mean_s=0.03, seed=8)
    mapped = fit_offline(
        tl.block_end_s,
        tl.block_host_s,
        tl.camera_time_s,
        tl.camera_host_s,
        ClockSyncSettings(frame_period_s=0.001),
    )
    assert mapped.flags == ("clock_sync_uncertain",)
    assert mapped.uncertain.all()
    error = np.abs(mapped.session_time_s - tl.frame_session_s)
    assert np.mean(error <= 3 * mapped.standard_error_s) >= 0.99


def test_a_known_delivery_latency_is_removed():
    # frames reach the host 3 ms after exposure start at best; the fit alone cannot see that
    tl = software_session(duration_s=60.0, camera_floor_s=0.003, seed=4)
    naive = fit_offline(tl.block_end_s, tl.block_host_s, tl.camera_time_s, tl.camera_host_s)
    corrected = fit_offline(
        tl.block_end_s,
        tl.block_host_s,
        tl.camera_time_s,
        tl.camera_host_s,
        ClockSyncSettings(camera_floor_latency_s=0.003),
    )
    assert np.median(naive.session_time_s - tl.frame_session_s) == pytest.approx(0.003, abs=2e-4)
    assert np.max(np.abs(corrected.session_time_s - tl.frame_session_s)) < 0.2e-3


def test_hardware_frame_time_is_exact():
    samples = np.array([0, 4, 8, 4000])
    np.testing.assert_array_equal(
        hardware_frame_time(samples, 1000.0, 25e-6), (samples + 0.025) / 1000.0
    )


def test_bad_input_is_a_clear_error():
    with pytest.raises(InputError, match="window_s"):
        ClockSyncSettings(window_s=2.0, segment_s=1.0)
    with pytest.raises(InputError, match="positive"):
        ClockSyncSettings(segment_s=0)
    sync = SoftwareClockSync()
    with pytest.raises(AnalysisError, match="no timestamps yet"):
        sync.mapping()
    with pytest.raises(InputError, match="NaN"):
        sync.add_frames(np.array([0.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="one receive time"):
        sync.add_frames(np.array([0.0, 1.0]), np.array([1.0]))
    with pytest.raises(InputError, match="DAQ rate"):
        hardware_frame_time(3, 0.0)


def test_simulated_lab_software_mode_camera_clock_is_mapped_within_a_quarter_frame():
    setup = LabSetup(sync_mode="software", camera_drift_ppm=50.0, camera_clock_offset_s=0.0437)
    lab = SimulatedLab(preset("overstrider"), setup, seed=4, duration_s=120.0)
    rng = np.random.default_rng(0)
    k = np.arange(lab.n_frames("sagittal"))
    session = lab.frame_time("sagittal", k)
    camera = lab.camera_time(session)
    assert camera[7] == pytest.approx(lab.frame_truth("sagittal", 7).camera_time_s)
    # a frame reaches the host after its exposure plus jitter; a DAQ block after its last sample
    host = 100.0 + session + setup.exposure_s + rng.exponential(1e-3, k.size)
    block_end = np.arange(1, lab.n_samples // 100 + 1) * 100 / setup.daq_rate_hz
    block_host = 100.0 + block_end + rng.exponential(1e-3, block_end.size)
    settings = ClockSyncSettings(camera_floor_latency_s=setup.exposure_s)
    mapped = fit_offline(block_end, block_host, camera, host, settings)
    assert np.max(np.abs(mapped.session_time_s - session)) < 0.25 / setup.frame_rate_hz
    assert mapped.mapping.offset_s == pytest.approx(0.0437, abs=1e-4)
    assert mapped.mapping.drift_ppm == pytest.approx(-50.0, abs=1.0)
