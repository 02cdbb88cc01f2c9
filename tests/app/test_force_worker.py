"""The force analysis in a worker process gives exactly what the same analysis in this thread
gives, and a worker that dies fails the live force analysis with a sentence, never a hang."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest

from analysis.force_settings import ForceSettings
from analysis.forceplate import parse_plates
from app.force_worker import ForceWorkerError, InlineForceEngine, ProcessForceEngine
from drivers.sim import LabSetup, SimulatedLab, preset

BLOCK = 20  # 10 ms at 2 kHz, as the live pipeline reads


@pytest.fixture(scope="module")
def lab_volts():
    lab = SimulatedLab(preset("overstrider"), LabSetup(), seed=9, duration_s=6.0)
    return lab, parse_plates(lab.plate_configs()), lab.analog(0, lab.n_samples)


def _engines(lab, plates):
    args = (plates, lab.setup.daq_rate_hz, ForceSettings(), lab.channel_names)
    return InlineForceEngine(*args), ProcessForceEngine("force", *args)


def _run(engine, volts, body_weight_N):
    """Blocks of 10 ms; a restart at 3 s (a recording's first sample); the body weight known
    only from 1 s on (typed in while the runner runs)."""
    out = []
    engine.restart(None)
    for start in range(0, len(volts), BLOCK):
        if start == 6000:
            out += engine.finish()
            engine.restart(body_weight_N)
        weight = body_weight_N if start >= 2000 else None
        out += engine.push(volts[start : start + BLOCK], weight)
    return out + engine.finish()


def test_the_worker_analyses_exactly_as_this_thread_does(lab_volts):
    lab, plates, volts = lab_volts
    inline, worker = _engines(lab, plates)
    try:
        assert worker.pid is not None and worker.pid != os.getpid()
        weight = lab.truth.body_weight_N
        here, there = _run(inline, volts, weight), _run(worker, volts, weight)
    finally:
        worker.close()
    worker.close()  # idempotent
    # the runner's stances, with loading rates in body weights once the weight is known
    assert len(here) >= 12
    assert any(r.valr_BW_s is None for r in here) and any(r.valr_BW_s for r in here)
    assert [dataclasses.asdict(r) for r in there] == [dataclasses.asdict(r) for r in here]


def test_a_worker_that_dies_fails_the_analysis_with_a_sentence(lab_volts):
    lab, plates, volts = lab_volts
    _, worker = _engines(lab, plates)
    try:
        worker.restart(None)
        worker.push(volts[:BLOCK], None)
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(ForceWorkerError) as caught:
            worker.push(volts[BLOCK : 2 * BLOCK], None)
    finally:
        worker.close()
    message = str(caught.value)
    assert "DAQ 'force' force analysis" in message
    assert "ended unexpectedly" in message
    assert "re-analyse the saved session" in message


def test_a_failure_inside_the_worker_comes_back_as_its_sentence(lab_volts):
    lab, plates, volts = lab_volts
    _, worker = _engines(lab, plates)
    try:
        with pytest.raises(ValueError, match="expected"):
            worker.push(volts[:BLOCK, :3], None)  # refused here: the worker never sees it
        with pytest.raises(ForceWorkerError, match="failed: RuntimeError: request"):
            worker.push(volts[:BLOCK], None)  # pushed before any restart: out of order
    finally:
        worker.close()


def test_the_worker_computes_a_stance_s_video_metrics_exactly_as_this_thread_does(lab_volts):
    """The live join's video metrics (app.stance_video) computed in the worker."""
    from analysis.marker_sets import ImageOrientation
    from analysis.plane_calibration import from_points
    from analysis.vision_settings import VisionSettings
    from app.stance_video import CameraWindow, StanceVideoRequest

    lab, plates, _ = lab_volts
    plane = np.array([[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]])
    image = np.column_stack([100 + plane[:, 0] * 1000, 1100 - plane[:, 1] * 1000])
    calibration = from_points(image, plane, view="sagittal", orientation=ImageOrientation())
    names = ("shoulder", "hip", "knee", "ankle", "heel", "toe")
    times = np.arange(0.0, 0.6, 1 / 250)
    rng = np.random.default_rng(3)
    # a knee that bends and straightens over the stance, with pixel noise
    ab = np.array([[-0.05, 1.4], [0.0, 0.9], [0.05, 0.5], [0.1, 0.1], [0.08, 0.03], [0.25, 0.02]])
    ab = np.repeat(ab[None], times.size, axis=0)
    ab[:, 2, 0] += 0.08 * np.sin(np.pi * np.clip((times - 0.2) / 0.25, 0, 1))
    xy = np.stack([100 + ab[..., 0] * 1000, 1100 - ab[..., 1] * 1000], axis=-1)
    xy += rng.normal(0, 0.3, xy.shape)
    window = CameraWindow(calibration, names, times, xy, np.zeros(xy.shape[:2], np.uint8), 0.004)
    request = StanceVideoRequest("R", 0.2, 0.45, (), [window], VisionSettings(), None)
    inline, worker = _engines(lab, plates)
    try:
        there = worker.video(request)
    finally:
        worker.close()
    here = inline.video(request)
    assert here[0]["knee_flexion_peak_deg"] > 5  # the metrics were computed, not left empty
    assert there == here
