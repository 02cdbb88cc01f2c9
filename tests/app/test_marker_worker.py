"""Marker tracking in a worker process gives exactly what the same work in this thread gives,
and a worker that dies fails its camera's tracking with a sentence, never a hang or a leak."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from analysis.marker_sets import ImageOrientation, marker_set
from analysis.markers import detect_markers
from analysis.tracking import track_frames
from analysis.vision_settings import TrackingSettings, VisionSettings
from app.marker_worker import (
    WORKER_NICENESS,
    InlineMarkerEngine,
    ProcessMarkerEngine,
    TrackingWorkerError,
    label,
)
from drivers.sim.lab import SimulatedLab
from drivers.sim.params import LabSetup, preset
from drivers.sim.render import MARKER_SETS

ORIENTATION = ImageOrientation(forward_x=1, left_x=-1)


@pytest.fixture(scope="module")
def lab():
    return SimulatedLab(
        preset("valgus-left"), LabSetup(image_width=320, image_height=240), seed=7, duration_s=3
    )


@pytest.fixture(scope="module")
def frames(lab):
    """500 posterior frames (2 s: stances, swing, occlusions) of the simulated runner."""
    out = np.empty((500, 240, 320), np.uint8)
    lab.render_into("posterior", np.arange(500), out)
    return out


def true_pixels(lab, index: np.ndarray) -> np.ndarray:
    """Where the simulator drew each posterior marker in frames ``index``."""
    names = marker_set("posterior").markers
    points = lab.points(lab.frame_time("posterior", index))
    camera = lab.cameras["posterior"]
    return np.stack([camera.project(points[MARKER_SETS["posterior"][m]])[0] for m in names], 1)


def _engine(**kwargs) -> ProcessMarkerEngine:
    return ProcessMarkerEngine(
        "posterior",
        marker_set("posterior"),
        ORIENTATION,
        VisionSettings(),
        frame_shape=(240, 320),
        dtype=np.uint8,
        max_frames=16,
        **kwargs,
    )


# frames 0–199, then 200–239 not seen (a tracker that fell behind), then 240–499
SEEN = np.r_[np.arange(200), np.arange(240, 500)]


def _batches():
    start, sizes = 0, [1, 16, 7, 16, 3]  # batches of every size the readers hand out
    while start < len(SEEN):
        size = sizes[start % len(sizes)]
        yield SEEN[start : start + size]
        start += size


def test_the_worker_labels_exactly_as_this_thread_does(frames):
    inline = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    worker = _engine()
    got: dict[str, list] = {"inline": [], "worker": []}
    try:
        assert worker.pid is not None and worker.pid != os.getpid()
        batches = list(_batches())
        for engine, name in ((inline, "inline"), (worker, "worker")):
            # two batches in flight at a time, as the tracker thread keeps them
            engine.submit(frames[batches[0]], batches[0])
            for k in range(1, len(batches) + 1):
                if k < len(batches):
                    engine.submit(frames[batches[k]], batches[k])
                xy, flags = engine.collect()
                assert xy.shape[0] == flags.shape[0] == len(batches[k - 1])
                got[name].append((xy, flags))
    finally:
        worker.close()
    xy_inline = np.concatenate([xy for xy, _ in got["inline"]])
    assert xy_inline.shape == (len(SEEN), len(marker_set("posterior").markers), 2)
    # the tracker labelled the runner (not just NaN everywhere), identically in both places
    assert np.isfinite(xy_inline).mean() > 0.9
    np.testing.assert_array_equal(np.concatenate([xy for xy, _ in got["worker"]]), xy_inline)
    np.testing.assert_array_equal(
        np.concatenate([f for _, f in got["worker"]]), np.concatenate([f for _, f in got["inline"]])
    )
    assert inline.labeller.tracker.restarts == 1  # at the 40 unseen frames


def test_labelling_restarts_after_unseen_frames_instead_of_labelling_wrong_blobs(lab, frames):
    """40 frames not seen (160 ms at 250 fps): the constant-velocity prediction cannot bridge
    them — carried on, it labelled wrong blobs (measured: 728 marker positions > 5 px off the
    drawn markers, up to 33 px). Restarted, every labelled position is on its marker and only
    the frames of the restart are unlabelled."""
    engine = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    xy, flags = label(engine, frames[SEEN], SEEN)
    error_px = np.linalg.norm(xy - true_pixels(lab, SEEN), axis=2)[200:]
    assert engine.labeller.tracker.restarts == 1
    assert np.nanmax(error_px) < 1.0
    # offline (re-analysis from the frames) restarts at the same frame: same positions and flags
    blobs = [detect_markers(f, VisionSettings().detection) for f in frames[SEEN]]
    offline = track_frames(blobs, marker_set("posterior"), ORIENTATION, fill=False,
                           frame_index=SEEN)  # fmt: skip
    np.testing.assert_array_equal(offline.xy, xy)
    np.testing.assert_array_equal(offline.flags, flags)  # the blob-shape test included
    assert 0 < np.isnan(error_px).sum() <= 6 * 4  # a few frames while it re-initialises
    # a camera's few dropped frames are bridged, not restarted
    short = np.r_[np.arange(100), np.arange(100 + TrackingSettings().restart_after_unseen, 200)]
    bridged = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    label(bridged, frames[short], short)
    assert bridged.labeller.tracker.restarts == 0


def test_a_worker_that_dies_fails_its_camera_with_a_sentence_and_leaks_nothing(frames):
    from multiprocessing.shared_memory import SharedMemory

    worker = _engine()
    shm_name = worker._shm.name
    label(worker, frames[:4], np.arange(4))
    os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(TrackingWorkerError) as caught:
        label(worker, frames[4:8], np.arange(4, 8))
    message = str(caught.value)
    assert "camera 'posterior' marker tracking" in message
    assert "ended unexpectedly" in message or "closed its pipe" in message
    assert "re-analyse" in message
    worker.close()
    worker.close()  # idempotent
    with pytest.raises(FileNotFoundError):
        SharedMemory(name=shm_name)  # the frames' shared memory was freed


def test_a_batch_larger_than_the_shared_memory_is_refused(frames):
    worker = _engine()
    try:
        with pytest.raises(ValueError, match="17 frames"):
            worker.submit(frames[:17], np.arange(17))
        xy, _ = label(worker, frames[:16], np.arange(16))  # the worker serves the next batch
        assert xy.shape[0] == 16
    finally:
        worker.close()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="process priorities are Unix only")
def test_the_worker_runs_at_a_lower_priority_than_acquisition(frames):
    """Short of cores, the process that acquires, records and draws the window goes first; a
    tracker that falls behind skips frames the file still holds."""
    worker = _engine()
    try:
        label(worker, frames[:2], np.arange(2))  # the worker has started and served a batch
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, ours + WORKER_NICENESS)
    finally:
        worker.close()


RESTART = 90  # a frame where a fresh start labels differently from the running tracker


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "worker"])
def test_a_restart_inside_a_batch_labels_from_there_as_a_fresh_start_does(frames, in_process):
    """A recording's first frame is labelled as a re-analysis of the file labels it: by a
    tracker that starts there, whatever the live tracker had labelled before."""
    index = np.arange(500)
    here = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    running, running_flags = label(here, frames, index)
    fresh_engine = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    fresh, fresh_flags = label(fresh_engine, frames[RESTART:], index[RESTART:])
    # the test means something: from this frame a fresh start labels hundreds of frames apart
    differ = ~np.isclose(running[RESTART:], fresh, equal_nan=True).all(axis=(1, 2))
    assert differ.sum() > 100
    engine = _engine() if in_process else InlineMarkerEngine(
        marker_set("posterior"), ORIENTATION, VisionSettings()
    )  # fmt: skip
    got = []
    try:
        for start in range(0, 500, 16):  # the restart falls at frame 10 of the sixth batch
            batch = index[start : start + 16]
            at = RESTART - start if batch[0] <= RESTART <= batch[-1] else -1
            engine.submit(frames[batch], batch, restart_at=at)
            got.append(engine.collect())
    finally:
        engine.close()
    xy = np.concatenate([b[0] for b in got])
    flags = np.concatenate([b[1] for b in got])
    np.testing.assert_array_equal(xy[:RESTART], running[:RESTART])
    np.testing.assert_array_equal(flags[:RESTART], running_flags[:RESTART])
    np.testing.assert_array_equal(xy[RESTART:], fresh)
    np.testing.assert_array_equal(flags[RESTART:], fresh_flags)


def test_the_camera_tracker_restarts_at_the_first_frame_of_a_recording(frames, monkeypatch):
    """prepare_restart() holds the labelling until restart_at() gives the recording's start;
    the tracker starts afresh at the first frame from then, and a stance of the recording
    reads no frame labelled before it."""
    from types import SimpleNamespace

    from app import live_analysis
    from app.live_analysis import CameraTracker
    from app.ring_buffer import RingBuffer

    monkeypatch.setattr(live_analysis, "RESTART_WAIT_S", 120.0)  # however slow this machine
    rate, index = 250.0, np.arange(500)
    ring = RingBuffer("posterior", (240, 320), "uint8", 600)
    stream = SimpleNamespace(name="posterior", rate_hz=rate, ring=ring)
    calibration = SimpleNamespace(view="posterior", orientation=ORIENTATION)
    tracker = CameraTracker(
        stream, marker_set("posterior"), calibration, VisionSettings(), lossless=True
    )
    tracker.prepare_restart()
    tracker.start()
    ring.write(frames, first_index=0, session_time_s=index / rate)
    start_s = (RESTART - 0.5) / rate  # a recording's start falls between two frames
    tracker.restart_at(start_s)
    ring.close()
    tracker.join(120.0)
    assert tracker.done and tracker.error is None
    times, xy, flags = tracker.store.window(-np.inf, np.inf)
    fresh_engine = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    fresh, fresh_flags = label(fresh_engine, frames[RESTART:], index[RESTART:])
    np.testing.assert_array_equal(times, index / rate)
    np.testing.assert_array_equal(xy[RESTART:], fresh)
    np.testing.assert_array_equal(flags[RESTART:], fresh_flags)
    assert tracker.restarts == 1
    assert tracker.restarted_at_s == start_s and tracker.track_from_s == RESTART / rate
    # a stance of the recording (contact after its start) reads from the fresh frame on; one
    # from before the start keeps its frames
    late = tracker.window((RESTART + 5) / rate, (RESTART + 60) / rate)
    assert late.times_s[0] == RESTART / rate
    early = tracker.window((RESTART - 5) / rate, (RESTART + 60) / rate)
    assert early.times_s[0] < (RESTART - 5) / rate
