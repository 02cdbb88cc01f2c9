"""Bright-marker detection with sub-pixel centroids, and lens undistortion of marker coordinates.

The fast path measured in DESIGN.md: one threshold, ``cv2.findContours`` and per-blob moments
(``connectedComponentsWithStats`` is ~30× slower here). Binary moments quantise the blob edge,
which biases the centroid by up to a few tenths of a pixel, so every accepted blob is refined with
an intensity-weighted centroid in a small window (all OpenCV calls: ``minMaxLoc``, a saturating
``subtract`` and ``moments`` on the grey levels). Pixel coordinates: x right, y down, the centre
of pixel (row i, column j) at (j, i) — OpenCV's convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.errors import InputError
from analysis.vision_settings import DetectionSettings

DEFAULT_DETECTION = DetectionSettings()


@dataclass(frozen=True)
class Blobs:
    """The marker candidates found in one frame (full-frame pixel coordinates)."""

    xy: np.ndarray  # (n, 2) float64 sub-pixel centroids
    area_px: np.ndarray  # (n,) approximate pixel count of each blob
    circularity: np.ndarray  # (n,) 4·pi·area/perimeter^2 of the outline

    def __len__(self) -> int:
        return len(self.xy)


def _no_blobs() -> Blobs:
    return Blobs(xy=np.empty((0, 2)), area_px=np.empty(0), circularity=np.empty(0))


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 2:
        shape = getattr(frame, "shape", None)
        raise InputError(
            f"expected a single-channel image, got shape {shape}",
            subject="marker detection frame",
            remedy="pass a 2-D greyscale array (height, width)",
        )
    if frame.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"unsupported pixel type {frame.dtype}",
            subject="marker detection frame",
            remedy="pass uint8 or uint16 grey levels",
        )


def detect_markers(frame: np.ndarray, settings: DetectionSettings = DEFAULT_DETECTION) -> Blobs:
    """Find bright, round blobs in ``frame``; return their sub-pixel centroids, areas and shapes."""
    _check_frame(frame)
    ox = oy = 0
    image = frame
    if settings.roi is not None:
        ox, oy, w, h = settings.roi
        image = frame[max(oy, 0) : oy + h, max(ox, 0) : ox + w]
        ox, oy = max(ox, 0), max(oy, 0)
    if image.size == 0:
        raise InputError(
            f"region of interest {settings.roi} lies outside the {frame.shape[1]}×{frame.shape[0]}"
            " frame",
            subject="detection.roi",
            remedy="set roi = [x, y, width, height] inside the image",
        )
    if image.dtype == np.uint8:
        _, binary = cv2.threshold(image, settings.threshold, 255, cv2.THRESH_BINARY)
    else:
        binary = (image > settings.threshold).view(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pad = settings.refine_pad_px
    accepted: list[int] = []
    areas: list[float] = []
    circs: list[float] = []
    four_pi = 4.0 * math.pi
    for k, contour in enumerate(contours):
        polygon_area = cv2.contourArea(contour)
        perimeter = cv2.arcLength(contour, True)
        area = polygon_area + 0.5 * perimeter + 1.0  # ≈ pixel count (Pick's theorem)
        if area < settings.min_area_px or area > settings.max_area_px:
            continue
        circularity = four_pi * polygon_area / (perimeter * perimeter) if perimeter > 0 else 0.0
        if circularity < settings.min_circularity:
            continue
        accepted.append(k)
        areas.append(area)
        circs.append(circularity)
    if not accepted:
        return _no_blobs()
    if settings.refine:
        xy, ok = _refined_centroids(
            image, binary, contours, accepted, pad=pad, refine_level=settings.refine_level
        )
    else:
        xy, ok = _outline_centroids([contours[k] for k in accepted])
    xy = xy[ok]
    xy[:, 0] += ox
    xy[:, 1] += oy
    return Blobs(xy=xy, area_px=np.asarray(areas)[ok], circularity=np.asarray(circs)[ok])


def _refined_centroids(
    image: np.ndarray,
    binary: np.ndarray,
    contours,
    accepted: list[int],
    *,
    pad: int,
    refine_level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity-weighted centroid of each accepted blob in its bounding box plus ``pad``.

    Weights are ``max(grey - (low + refine_level·(high - low)), 0)`` in the window (OpenCV
    ``minMaxLoc``, saturating ``subtract``, ``moments``). When another bright outline (a stray
    reflection, a neighbouring marker, even one rejected as too small) lies in the window — the
    window holds more above-threshold pixels than the blob's own box — its pixels and a 2-pixel
    halo around them get no weight: otherwise a spot that does not touch the marker still pulls
    its centroid by up to 1.4 px.
    """
    height, width = image.shape
    xy = np.zeros((len(accepted), 2))
    ok = np.zeros(len(accepted), dtype=bool)
    for row, k in enumerate(accepted):
        bx, by, bw, bh = cv2.boundingRect(contours[k])
        x0, y0 = max(bx - pad, 0), max(by - pad, 0)
        x1, y1 = min(bx + bw + pad, width), min(by + bh + pad, height)
        window = image[y0:y1, x0:x1]
        low, high, _, _ = cv2.minMaxLoc(window)
        level = int(low + refine_level * (high - low))
        weights = cv2.subtract(window, level)  # saturating: max(grey - level, 0)
        lit = binary[y0:y1, x0:x1]
        if cv2.countNonZero(lit) > cv2.countNonZero(binary[by : by + bh, bx : bx + bw]):
            _mask_neighbours(weights, lit, contours[k], (x0, y0))
        m = cv2.moments(weights)
        if m["m00"] > 0:
            xy[row] = x0 + m["m10"] / m["m00"], y0 + m["m01"] / m["m00"]
            ok[row] = True
    return xy, ok


_HALO = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _mask_neighbours(weights: np.ndarray, lit: np.ndarray, own, origin) -> None:
    """Zero the weights of every other above-threshold pixel in one blob's window, dilated by
    2 px, keeping the blob's own pixels."""
    offset = (-origin[0], -origin[1])
    others = lit.copy()
    cv2.drawContours(others, [own], -1, 0, thickness=cv2.FILLED, offset=offset)
    others = cv2.dilate(others, _HALO)
    cv2.drawContours(others, [own], -1, 0, thickness=cv2.FILLED, offset=offset)
    weights[others > 0] = 0


def _outline_centroids(contours) -> tuple[np.ndarray, np.ndarray]:
    """Binary (polygon) moments' centroid of each contour: the unrefined position."""
    xy = np.zeros((len(contours), 2))
    ok = np.zeros(len(contours), dtype=bool)
    for row, contour in enumerate(contours):
        m = cv2.moments(contour)
        if m["m00"] > 0:
            xy[row] = m["m10"] / m["m00"], m["m01"] / m["m00"]
            ok[row] = True
    return xy, ok


def undistort_points(xy: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Remove lens distortion from pixel coordinates, staying in pixels (``P = K``).

    Only the marker coordinates are corrected, never whole images (far cheaper, no resampling).
    NaN rows (missing markers) stay NaN.
    """
    points = np.asarray(xy, dtype=np.float64)
    if points.ndim != 2 or points.shape[-1] != 2:
        raise InputError(
            f"expected (n, 2) pixel coordinates, got shape {points.shape}",
            subject="undistort_points",
            remedy="pass an array of x, y rows",
        )
    out = np.full_like(points, np.nan)
    ok = np.isfinite(points).all(axis=1)
    if ok.any():
        K = np.asarray(K, dtype=np.float64)
        und = cv2.undistortPoints(
            points[ok].reshape(-1, 1, 2), K, np.asarray(dist, dtype=np.float64), P=K
        )
        out[ok] = und.reshape(-1, 2)
    return out
