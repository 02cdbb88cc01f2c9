"""Synthetic marker frames with known sub-pixel centres, shared by the vision tests.

The simulated lab gives the acceptance tests; these small renderings pin the detector and tracker
down on their own (anti-aliased discs drawn with OpenCV's fixed-point ``shift``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

SHIFT = 4  # 1/16 pixel drawing precision
ONE = 1 << SHIFT


def render_discs(
    centres: np.ndarray,
    *,
    size: tuple[int, int] = (320, 240),
    radius: float = 4.0,
    brightness: int = 220,
    background: int = 20,
    blur_sigma: float = 0.8,
    noise_sd: float = 3.0,
    rng: np.random.Generator | None = None,
    strays: np.ndarray | None = None,
) -> np.ndarray:
    """Bright discs at ``centres`` (x, y pixels) on a dark frame, blurred, with noise."""
    width, height = size
    canvas = np.zeros((height, width), np.float32)
    for x, y in np.asarray(centres, dtype=float):
        if not np.isfinite(x):
            continue
        layer = np.zeros((height, width), np.uint8)
        cv2.circle(
            layer,
            (round(x * ONE), round(y * ONE)),
            round(radius * ONE),
            255,
            thickness=-1,
            lineType=cv2.LINE_AA,
            shift=SHIFT,
        )
        canvas = np.maximum(canvas, layer.astype(np.float32) / 255.0)
    if strays is not None:
        for x, y in strays:
            canvas[int(y) : int(y) + 2, int(x) : int(x) + 14] = 1.0  # a thin streak: not round
    image = background + (brightness - background) * canvas
    if blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
    if noise_sd > 0:
        rng = rng or np.random.default_rng(0)
        image = image + rng.normal(0.0, noise_sd, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def render():
    """The disc renderer (tests cannot import conftest under --import-mode=importlib)."""
    return render_discs


def sagittal_pixels(n_frames: int, fps: float = 250.0, stride_s: float = 0.7) -> np.ndarray:
    """A running-like sagittal marker cloud (shoulder, hip, knee, ankle, heel, toe) in pixels of a
    320×240 image, runner facing image right: (n_frames, 6, 2)."""
    t = np.arange(n_frames) / fps
    phase = 2 * np.pi * t / stride_s
    hip = np.column_stack([160 + 4 * np.sin(phase), 70 + 3 * np.sin(2 * phase)])
    shoulder = hip + np.column_stack([8 + 0 * t, -55 + 0 * t])
    thigh = np.radians(25 * np.sin(phase))  # forward swing of the thigh from vertical
    knee = hip + 50 * np.column_stack([np.sin(thigh), np.cos(thigh)])
    flex = np.radians(45 + 40 * np.sin(phase - 1.2))
    shank = thigh - flex
    ankle = knee + 50 * np.column_stack([np.sin(shank), np.cos(shank)])
    foot = shank + np.pi / 2  # foot roughly perpendicular to the shank, pointing forward
    heel = ankle + np.column_stack([-6 * np.sin(foot) + 0 * t, 7 + 0 * t])
    toe = ankle + 22 * np.column_stack([np.sin(foot), np.cos(foot) * 0.3]) + [0, 8]
    return np.stack([shoulder, hip, knee, ankle, heel, toe], axis=1)


@pytest.fixture
def sagittal_motion():
    return sagittal_pixels
