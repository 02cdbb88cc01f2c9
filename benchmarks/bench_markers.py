"""Marker detection + tracking + labelling per frame, against a naive baseline on the same frames.

Plain script (not a test): ``python benchmarks/bench_markers.py``. Renders simulated-lab frames
(sagittal and posterior, 640×480 and 1280×1024, with blur, noise, occlusions and strays), then
times on one core, per frame:
  - Midstance: threshold + findContours + sub-pixel refinement (analysis.markers) and
    MarkerTracker.update (prediction, optimal assignment, ambiguity and geometry checks);
  - baseline: OpenCV SimpleBlobDetector + nearest-neighbour labelling from the previous frame.
Prints figures, ratios, and the centroid error of each against the simulator's truth (ours over
measured markers; the baseline over all, since it never says a marker is missing).
"""

from __future__ import annotations

import contextlib
import os
import time

import cv2
import numpy as np

from analysis.marker_sets import ImageOrientation, marker_set
from analysis.markers import detect_markers
from analysis.tracking import MEASURED, MarkerTracker
from drivers.sim.lab import SimulatedLab
from drivers.sim.params import LabSetup, preset

N_FRAMES = 400
ORIENTATION = ImageOrientation(forward_x=1, left_x=-1)


def _baseline_detector() -> cv2.SimpleBlobDetector:
    params = cv2.SimpleBlobDetector_Params()
    params.filterByColor = True
    params.blobColor = 255
    params.minThreshold = 100
    params.maxThreshold = 101
    params.thresholdStep = 1
    params.minRepeatability = 1
    params.filterByArea = True
    params.minArea = 4
    params.maxArea = 4000
    params.filterByCircularity = True
    params.minCircularity = 0.6
    params.filterByInertia = False
    params.filterByConvexity = False
    return cv2.SimpleBlobDetector_create(params)


def _baseline(frames: list[np.ndarray], first_truth: np.ndarray) -> tuple[float, np.ndarray]:
    """SimpleBlobDetector + nearest neighbour to the previous position (started from truth)."""
    detector = _baseline_detector()
    previous = first_truth.copy()
    out = np.empty((len(frames), *first_truth.shape))
    start = time.perf_counter()
    for k, frame in enumerate(frames):
        points = detector.detect(frame)
        xy = np.array([p.pt for p in points]) if points else np.empty((0, 2))
        if len(xy):
            d = np.linalg.norm(previous[:, None] - xy[None], axis=2)
            previous = xy[np.argmin(d, axis=1)]
        out[k] = previous
    return (time.perf_counter() - start) / len(frames), out


def _midstance(frames: list[np.ndarray], view: str) -> tuple[float, float, np.ndarray]:
    tracker = MarkerTracker(marker_set(view), ORIENTATION)
    out = np.empty((len(frames), len(marker_set(view).markers), 2))
    flags = np.empty(out.shape[:2], dtype=np.uint8)
    detect_s = 0.0
    start = time.perf_counter()
    for k, frame in enumerate(frames):
        t0 = time.perf_counter()
        blobs = detect_markers(frame)
        detect_s += time.perf_counter() - t0
        out[k], flags[k] = tracker.update(blobs.xy, blobs.area_px)
    total = (time.perf_counter() - start) / len(frames)
    out[(flags & MEASURED) == 0] = np.nan  # predictions are not measurements
    return total, detect_s / len(frames), out


def _rms(found: np.ndarray, truth: np.ndarray) -> float:
    err = np.linalg.norm(found - truth, axis=2)
    ok = np.isfinite(err)
    return float(np.sqrt(np.mean(err[ok] ** 2)))


def main() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cv2.setNumThreads(1)
    print(
        f"{'view':10} {'size':>10} {'midstance ms':>13} {'(detect)':>9} {'baseline ms':>12}"
        f" {'ratio':>6} {'rms px':>7} {'base rms px':>12}"
    )
    for width, height in ((640, 480), (1280, 1024)):
        setup = LabSetup(
            image_width=width,
            image_height=height,
            marker_occlusion_probability=0.02,
            stray_reflections_per_frame=1.0,
        )
        lab = SimulatedLab(preset("healthy"), setup, seed=3, duration_s=N_FRAMES / 250 + 1)
        for view in ("sagittal", "posterior"):
            frames = lab.frames(view, range(N_FRAMES))
            truth = np.array([lab.frame_truth(view, k).pixels for k in range(N_FRAMES)])
            ours, detect, tracked = _midstance(frames, view)
            base, base_tracked = _baseline(frames, truth[0])
            print(
                f"{view:10} {width:>5}x{height:<4} {ours * 1e3:13.3f} {detect * 1e3:9.3f}"
                f" {base * 1e3:12.3f} {base / ours:6.1f} {_rms(tracked, truth):7.3f}"
                f" {_rms(base_tracked, truth):12.3f}"
            )


if __name__ == "__main__":
    main()
