"""Marker detection: sub-pixel accuracy, filters, region of interest, undistortion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analysis.errors import InputError
from analysis.markers import detect_markers, undistort_points
from analysis.vision_settings import DetectionSettings

GRID = np.array([[x, y] for x in range(40, 300, 60) for y in range(40, 220, 60)], float)


def _match(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(truth[:, None] - found[None], axis=2)
    assert (d.min(axis=1) < 1.0).all(), "a marker was not detected"
    return d.min(axis=1)


def _errors(render, rng, settings, **kw):
    errors = []
    for _ in range(40):
        centres = GRID + rng.uniform(-5, 5, GRID.shape)
        frame = render(centres, rng=rng, **kw)
        blobs = detect_markers(frame, settings)
        assert len(blobs) == len(GRID)
        errors.append(_match(centres, blobs.xy))
    return np.concatenate(errors)


def test_subpixel_centroids_on_blurred_noisy_discs(render, rng):
    refined = _errors(render, rng, DetectionSettings())
    binary = _errors(render, rng, DetectionSettings(refine=False))
    rms = float(np.sqrt(np.mean(refined**2)))
    assert rms < 0.06  # measured 0.037 px
    assert refined.max() < 0.15
    # the refinement is the point: binary moments are at least twice as far off
    assert np.sqrt(np.mean(binary**2)) > 2 * rms


@pytest.mark.parametrize("radius", [2.0, 3.0, 6.0])
def test_small_and_large_markers_stay_within_a_tenth_of_a_pixel(render, rng, radius):
    settings = DetectionSettings(min_area_px=3)
    errors = _errors(render, rng, settings, radius=radius, blur_sigma=1.0, noise_sd=4.0)
    assert np.sqrt(np.mean(errors**2)) < 0.1


def test_streaks_and_specks_are_rejected(render, rng):
    centres = GRID[:4]
    frame = render(centres, rng=rng, strays=np.array([[200.0, 200.0]]))
    frame[10, 10] = 255  # a single hot pixel
    blobs = detect_markers(frame)
    assert len(blobs) == 4
    _match(centres, blobs.xy)
    assert (blobs.circularity > 0.6).all()
    assert ((blobs.area_px > 30) & (blobs.area_px < 90)).all()  # a radius-4 disc ≈ 50 px


def test_region_of_interest_reports_full_frame_coordinates(render, rng):
    centres = np.array([[50.3, 60.7], [250.2, 180.4]])
    frame = render(centres, rng=rng)
    blobs = detect_markers(frame, DetectionSettings(roi=(200, 120, 100, 100)))
    assert len(blobs) == 1
    assert np.allclose(blobs.xy[0], centres[1], atol=0.1)


def test_sixteen_bit_frames_are_accepted(render, rng):
    centres = np.array([[100.4, 80.6]])
    frame = render(centres, rng=rng).astype(np.uint16) * 256
    blobs = detect_markers(frame, DetectionSettings(threshold=100 * 256))
    assert np.allclose(blobs.xy[0], centres[0], atol=0.1)


def test_empty_frame_gives_no_blobs():
    blobs = detect_markers(np.zeros((48, 64), np.uint8))
    assert len(blobs) == 0 and blobs.xy.shape == (0, 2)


def test_bad_frames_and_settings_are_named():
    with pytest.raises(InputError, match="single-channel"):
        detect_markers(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="pixel type"):
        detect_markers(np.zeros((4, 4), np.float32))
    with pytest.raises(InputError, match="roi"):
        detect_markers(np.zeros((40, 40), np.uint8), DetectionSettings(roi=(100, 100, 10, 10)))
    with pytest.raises(InputError, match="area"):
        DetectionSettings(min_area_px=10, max_area_px=5)


def test_undistortion_inverts_the_lens_model():
    K = np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]])
    dist = np.array([-0.25, 0.08, 0.001, -0.0005, 0.0])
    rng = np.random.default_rng(3)
    ideal = np.column_stack([rng.uniform(20, 620, 50), rng.uniform(20, 460, 50)])
    rays = np.column_stack([(ideal - K[:2, 2]) / [800, 800], np.ones(50)])
    distorted, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, dist)
    distorted = distorted.reshape(-1, 2)
    assert np.abs(distorted - ideal).max() > 5  # the lens really bends these points
    back = undistort_points(np.vstack([distorted, [np.nan, np.nan]]), K, dist)
    assert np.abs(back[:-1] - ideal).max() < 0.01
    assert np.isnan(back[-1]).all()


def test_a_spot_beside_a_marker_does_not_pull_its_centroid(render, rng):
    """A stray reflection 2–3 px from a marker's edge is a separate blob but lies in the marker's
    refinement window; its pixels get no weight (before, it pulled the centroid by up to 1.4 px)."""
    errors = []
    for _ in range(20):
        centre = np.array([160.0, 120.0]) + rng.uniform(-0.5, 0.5, 2)
        angle = rng.uniform(0, 2 * np.pi)
        spot = centre + 8.5 * np.array([np.cos(angle), np.sin(angle)])  # edges 2.5 px apart
        marker = render(centre[None], rng=rng, radius=4.0)
        frame = np.maximum(marker, render(spot[None], rng=rng, radius=2.0, noise_sd=0.0))
        blobs = detect_markers(frame)
        assert len(blobs) == 2  # two separate outlines
        errors.append(_match(centre[None], blobs.xy)[0])
    assert max(errors) < 0.15  # measured ≤ 0.1 px


def _one_blob_at_a_time(image: np.ndarray, settings: DetectionSettings) -> np.ndarray:
    """The refinement as written before batching: OpenCV calls per blob (reference)."""
    binary = (image > settings.threshold).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    height, width = image.shape
    pad, out = settings.refine_pad_px, []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        x0, y0 = max(x - pad, 0), max(y - pad, 0)
        window = image[y0 : min(y + h + pad, height), x0 : min(x + w + pad, width)]
        low, high, _, _ = cv2.minMaxLoc(window)
        m = cv2.moments(cv2.subtract(window, int(low + settings.refine_level * (high - low))))
        out.append((x0 + m["m10"] / m["m00"], y0 + m["m01"] / m["m00"]))
    return np.array(sorted(out))


@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_batched_refinement_equals_per_blob_moments(render, rng, sixteen_bit):
    """All blobs are refined in one set of array operations; the centroids are the same numbers
    as OpenCV's moments one window at a time, for discs of different sizes, discs cut by every
    edge of the frame (windows clipped) and a region of interest (a strided view)."""
    edges = np.array([[1.2, 50.3], [318.6, 120.4], [160.5, 0.8], [200.2, 238.9], [0.9, 0.7]])
    centres = np.vstack([GRID + rng.uniform(-5, 5, GRID.shape), edges])
    frame = np.maximum(
        render(centres[::2], rng=rng, radius=5.0), render(centres[1::2], rng=rng, radius=2.5)
    )
    settings = DetectionSettings(min_area_px=2, min_circularity=0.0)
    if sixteen_bit:
        frame = frame.astype(np.uint16) * 256 + 17
        settings = DetectionSettings(threshold=100 * 256, min_area_px=2, min_circularity=0.0)
    found = np.array(sorted(map(tuple, detect_markers(frame, settings).xy)))
    assert len(found) == len(centres)
    assert np.array_equal(found, _one_blob_at_a_time(frame, settings))
    roi = DetectionSettings(
        threshold=settings.threshold, min_area_px=2, min_circularity=0.0, roi=(30, 20, 250, 190)
    )
    inner = detect_markers(frame, roi).xy
    reference = _one_blob_at_a_time(frame[20:210, 30:280], settings) + np.array([30, 20])
    assert len(inner) > 10
    assert np.allclose(np.array(sorted(map(tuple, inner))), reference, rtol=0, atol=1e-9)
