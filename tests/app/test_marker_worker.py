"""Marker tracking in a worker process gives exactly what the same work in this thread gives,
and a worker that dies fails its camera's tracking with a sentence, never a hang or a leak."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from analysis.marker_sets import ImageOrientation, marker_set
from analysis.vision_settings import VisionSettings
from app.marker_worker import InlineMarkerEngine, ProcessMarkerEngine, TrackingWorkerError
from drivers.sim.lab import SimulatedLab
from drivers.sim.params import LabSetup, preset

ORIENTATION = ImageOrientation(forward_x=1, left_x=-1)


@pytest.fixture(scope="module")
def frames():
    """300 posterior frames (1.2 s: stances, swing, occlusions) of the simulated runner."""
    lab = SimulatedLab(
        preset("valgus-left"), LabSetup(image_width=320, image_height=240), seed=7, duration_s=3
    )
    out = np.empty((300, 240, 320), np.uint8)
    lab.render_into("posterior", np.arange(300), out)
    return out


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


def test_the_worker_labels_exactly_as_this_thread_does(frames):
    inline = InlineMarkerEngine(marker_set("posterior"), ORIENTATION, VisionSettings())
    worker = _engine()
    try:
        assert worker.pid is not None and worker.pid != os.getpid()
        got = {"inline": ([], []), "worker": ([], [])}
        start, sizes = 0, [1, 16, 7, 16, 3]  # batches of every size the readers hand out
        while start < len(frames):
            batch = frames[start : start + sizes[len(got["inline"][0]) % len(sizes)]]
            for name, engine in (("inline", inline), ("worker", worker)):
                xy, flags = engine.label(batch)
                assert xy.shape[0] == flags.shape[0] == len(batch)
                got[name][0].append(xy)
                got[name][1].append(flags)
            start += len(batch)
    finally:
        worker.close()
    xy_inline, xy_worker = np.concatenate(got["inline"][0]), np.concatenate(got["worker"][0])
    assert xy_inline.shape == (300, len(marker_set("posterior").markers), 2)
    # the tracker labelled the runner (not just NaN everywhere), identically in both places
    assert np.isfinite(xy_inline).mean() > 0.9
    np.testing.assert_array_equal(xy_worker, xy_inline)
    np.testing.assert_array_equal(
        np.concatenate(got["worker"][1]), np.concatenate(got["inline"][1])
    )


def test_a_worker_that_dies_fails_its_camera_with_a_sentence_and_leaks_nothing(frames):
    from multiprocessing.shared_memory import SharedMemory

    worker = _engine()
    shm_name = worker._shm.name
    worker.label(frames[:4])
    os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(TrackingWorkerError) as caught:
        worker.label(frames[4:8])
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
            worker.label(frames[:17])
        xy, _ = worker.label(frames[:16])  # and the worker still serves the next batch
        assert xy.shape[0] == 16
    finally:
        worker.close()
