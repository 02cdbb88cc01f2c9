"""A slow disk under the real-time session, and the soak test (no memory growth, no drift in the
per-stance delay) — short in CI, long with ``--soak`` (``MIDSTANCE_SOAK_MINUTES``, default 30)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from app.recorder import HEAP_TRIM_INTERVAL_S
from app.session_controller import SessionController
from data import open_session
from data.session_writer import SessionWriter


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _frames_accounted_for(s, lab, camera: str) -> None:
    """Every frame in the file sits at its exact trigger time; every index between the first and
    the last is either in the file or listed as dropped — nothing vanishes silently."""
    cam = s.camera(camera)
    index = np.asarray(cam.frame_index)
    assert np.all(np.diff(index) > 0)
    np.testing.assert_allclose(cam.session_time, lab.frame_time(camera, index), atol=1e-12)
    dropped = set(np.asarray(s._f[f"cameras/{camera}/dropped_frames"][:]).tolist())
    assert set(range(int(index[0]), int(index[-1]) + 1)) <= set(index.tolist()) | dropped


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_a_slow_disk_makes_the_recorder_fall_behind_visibly(
    fault_lab, prerendered_camera, session_path, monkeypatch
):
    """Every frame write takes at least 6 ms: two cameras at 250 fps need 500 frame writes a
    second, the disk takes at most 167, three times too few on any machine. The cameras serve
    pre-rendered frames on the real-time trigger timeline, so they deliver at full rate whatever
    the machine (rendering cost is not the subject) and the 2 s frame rings fill in about 3 s.
    User sees: the status says the recorder is behind, with the banner "Use a faster disk or a
    lighter video codec", and the listeners get "recorder-behind"; acquisition waits for the
    recorder rather than overwriting unwritten frames, and the file (complete, its note saying
    the recorder fell behind) accounts for every frame: stored at its exact time or listed as
    dropped; the force is continuous."""
    original = SessionWriter.append_frame
    disk = threading.Event()  # never set: wait() is the slow disk's latency

    def slow_append(self, *args, **kwargs):
        disk.wait(0.006)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SessionWriter, "append_frame", slow_append)
    config = fault_lab.sim_config(duration_s=60.0, camera_kind=prerendered_camera.KIND)
    controller = SessionController(
        config, pace="realtime", device_factory=prerendered_camera.factory
    )
    behind = threading.Event()
    controller.add_listener(lambda kind, p: kind == "recorder-behind" and behind.set())
    controller.connect()
    controller.start_recording(session_path)
    # the rings fill in ~3 s; the bound only keeps a broken recorder from hanging the test
    filled = behind.wait(timeout=40.0)
    status = controller.status()
    lab = controller.shared["sim.lab"]
    path = controller.stop_recording()
    controller.close()
    assert filled, "the rings never filled: the recorder kept up with a disk 3x too slow"
    assert status.recorder_behind
    banner = next(b for b in status.banners if "recorder fell behind" in b.text)
    assert banner.level == "warning" and "faster disk" in banner.remedy
    with open_session(path) as s:
        assert s.is_complete and "recorder fell behind" in s.recording_note
        for camera in ("sagittal", "posterior"):
            _frames_accounted_for(s, lab, camera)
            assert s.camera(camera).n_frames > 2.0 * fault_lab.FPS  # a full ring, at least
        analog, start = s.analog.read(), int(s.analog.start_index)
        assert s.gaps.size == 0 and np.isfinite(analog).all()
        np.testing.assert_array_equal(analog, lab.analog(start, len(analog)))


def _soak(fault_lab, cameras, path, seconds: float, *, fps: float, file_s: float | None = None):
    """Record ``seconds`` of the simulated lab in real time with ``cameras`` (the pre-rendered
    camera double) at ``fps``, as back-to-back files of ``file_s`` (one file if None; each
    checked, then deleted but the last: a lossless soak writes ~1.3 GB a minute); RSS and the
    per-stance delay along the way."""
    config = fault_lab.sim_config(duration_s=seconds + 60, camera_kind=cameras.KIND, fps=fps)
    controller = SessionController(config, pace="realtime", device_factory=cameras.factory)
    delays: list[tuple[float, float]] = []

    def on_event(kind, payload):
        if kind == "stance":  # DAQ session time at emission - toe-off
            now = controller.synchronised_time_s()
            delays.append((payload["toe_off_s"], now - payload["toe_off_s"]))

    controller.add_listener(on_event)
    controller.connect()
    controller.set_subject({"id": "SOAK", "body_mass_kg": 70.0})
    lab = controller.shared["sim.lab"]
    file_s = file_s or seconds
    lengths = [min(file_s, seconds - k * file_s) for k in range(int(np.ceil(seconds / file_s)))]
    memory = []  # (seconds recorded, RSS MB); the rings are resident from connect (touched there)
    statuses = []
    for k, length in enumerate(lengths):
        last = k == len(lengths) - 1
        controller.start_recording(path if last else path.with_name(f"soak-{k}.midstance.h5"))
        start = max(0.0, controller.synchronised_time_s())
        for t in np.arange(1.0, length + 0.5):
            assert controller.wait_for_session_time(start + t, timeout_s=60)
            memory.append((k * file_s + t, _rss_mb()))
        statuses.append(controller.status())
        if last:
            break
        done = controller.stop_recording()
        _check_soak_file(done, lab, length)
        done.unlink()
    missed = {n: t.missed for n, t in controller.trackers.items()}
    missed["force"] = controller.force.missed
    # what the session keeps since connect: frame counters as runs (one per gap + 1)
    runs = {
        n: (s.received.runs, len(s.received), s.items) for n, s in controller.camera_streams.items()
    }
    trims = controller.recorder.heap_trims  # the recorder gives the heap's free pages back
    out = controller.stop_recording()
    controller.close()
    return {
        "runs": runs,
        "trims": trims,
        "memory": np.array(memory),
        "delays": np.array(delays),
        "statuses": statuses,
        "missed": missed,
        "path": out,
        "lab": lab,
        "last_file_s": lengths[-1],
    }


def _check_soak_file(path, lab, seconds: float) -> None:
    """The file is complete, its force continuous, and every frame of both cameras in it."""
    with open_session(path) as s:
        assert s.is_complete and s.gaps.size == 0
        assert s.analog.n_samples >= (seconds - 0.1) * 2000.0
        for camera in ("sagittal", "posterior"):
            cam = s.camera(camera)
            _frames_accounted_for(s, lab, camera)
            np.testing.assert_array_equal(np.diff(cam.frame_index), 1)  # none dropped


def _check_soak(result: dict, seconds: float, growth_mb: float, drift_s: float) -> list[float]:
    """Nothing dropped, memory flat after warm-up, no drift in the per-stance delay; the
    medians of the delay in each third."""
    for status in result["statuses"]:  # each file's, just before its stop
        assert not status.recorder_behind and not status.banners, status.banners
        assert {d.name: d.dropped for d in status.devices} == dict.fromkeys(
            ("force", "sagittal", "posterior"), 0
        )
        assert not any(status.dropped_frames.values()), status.dropped_frames
    assert result["missed"]["force"] == 0, result["missed"]  # the live force analysis saw all
    t, rss = result["memory"].T
    settled = rss[t >= seconds / 3]  # may grow only as far as HDF5's bounded caches
    assert settled.max() - settled[0] < growth_mb, np.c_[t, rss].round(1).tolist()
    # every frame counted since connect, kept as one run of counters per camera (issue #5)
    assert result["runs"] == {n: (1, k, k) for n, (_, k, _) in result["runs"].items()}
    assert result["trims"] >= result["last_file_s"] // HEAP_TRIM_INTERVAL_S - 1
    delays = result["delays"]
    assert len(delays) >= seconds * 2  # ~2.7 stances per second at this cadence
    thirds = [float(np.median(d)) for d in np.array_split(delays[:, 1], 3)]
    assert thirds[2] <= thirds[0] + drift_s, thirds
    _check_soak_file(result["path"], result["lab"], result["last_file_s"])
    return thirds


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_short_soak_no_memory_growth_no_delay_drift(fault_lab, prerendered_camera, session_path):
    """20 s of session in real time (CI) with a workload this 2-core machine sustains with a
    wide margin (about a third of a core): two 320x240 cameras at 100 fps serving pre-rendered
    frames (rendering is not the subject) with marker tracking on both, the 2 kHz DAQ, the force
    analysis, the per-stance join and the recorder.
    User sees: no dropped frame or sample, no "recorder behind"; stances keep arriving with the
    same delay after toe-off: median of the last third within 0.2 s of the first third's, p95
    under 1.5 s (measured here under load averages of 8-14: medians 0.05-0.1 s, p95 0.12-0.5 s;
    a pipeline that does not keep up drifts by seconds in 20 s); memory stays flat (the rings are
    resident from connect): it grows less than 12 MB over the last two thirds (measured here:
    ~0.65 MB/s over these 20 s, bounded stores filling up — the force analysis's 10 s of volts
    kept for a restart (2.6 MB), the open file's HDF5 caches and chunk index (the writer alone at
    2 x 500 fps: ~13 MB after a minute, +0.1 MB over the next 1.5 minutes, freed at close);
    keeping every frame would add 15 MB/s). Every frame is counted since connect in one run of
    counters per camera, and the recorder gives the heap's free pages back every 10 s."""
    result = _soak(fault_lab, prerendered_camera, session_path, 20.0, fps=100.0)
    _check_soak(result, 20.0, growth_mb=12.0, drift_s=0.2)
    assert np.percentile(result["delays"][:, 1], 95) < 1.5


SOAK_MINUTES = float(os.environ.get("MIDSTANCE_SOAK_MINUTES", "30"))


@pytest.mark.soak
@pytest.mark.timeout(60.0 * SOAK_MINUTES + 600.0)  # the suite's per-test limit is 300 s
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_long_soak_no_memory_growth_no_delay_drift(fault_lab, prerendered_camera, session_path):
    """MIDSTANCE_SOAK_MINUTES (default 30) minutes in real time at full rate (two 320x240
    cameras at 250 fps, 2 kHz), recorded as back-to-back files of MIDSTANCE_SOAK_FILE_MINUTES
    (default 5; each checked, then deleted: ~1.3 GB a minute); run with --soak on a machine not
    shared with other work. User sees: the same delay after toe-off at the end as at the start
    (p95 under 2 s), nothing dropped, flat memory."""
    seconds = 60.0 * SOAK_MINUTES
    file_s = 60.0 * float(os.environ.get("MIDSTANCE_SOAK_FILE_MINUTES", "5"))
    result = _soak(
        fault_lab, prerendered_camera, session_path, seconds, fps=fault_lab.FPS, file_s=file_s
    )
    _check_soak(result, seconds, growth_mb=60.0, drift_s=0.1)
    assert np.percentile(result["delays"][:, 1], 95) < 2.0
