"""Fixtures for the camera driver tests: pylon's camera emulator and images with known content."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

EMULATOR_SERIAL = "0815-0000"  # the first camera PYLON_CAMEMU creates
DISC_FRAME_SIZE = (96, 128)  # height, width
DISC_CENTRES = [(20, 30), (50, 40), (80, 60), (100, 70), (64, 48)]  # (x, y) per frame


@pytest.fixture
def pylon_emulator(monkeypatch: pytest.MonkeyPatch) -> str:
    """Two emulated Basler cameras; returns the first one's serial.

    pylon reads ``PYLON_CAMEMU`` each time it enumerates devices (checked: setting it after the
    first ``TlFactory.GetInstance()`` still adds the emulator), so a per-test environment works.
    """
    pytest.importorskip("pypylon")
    monkeypatch.setenv("PYLON_CAMEMU", "2")
    return EMULATOR_SERIAL


def disc_frame(k: int) -> np.ndarray:
    """Frame k: dark background with a gradient, one bright disc at a known centre."""
    height, width = DISC_FRAME_SIZE
    frame = np.add.outer(np.arange(height), np.arange(width)).astype(np.uint8) // 8
    x, y = DISC_CENTRES[k % len(DISC_CENTRES)]
    cv2.circle(frame, (x, y), 9, 230, -1)
    frame[0, 0] = k  # makes every frame distinct even where discs would coincide
    return frame


@pytest.fixture
def disc_images(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A folder of PNG frames (sorted by name = replay order) and the frames themselves."""
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = np.stack([disc_frame(k) for k in range(len(DISC_CENTRES))])
    for k, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"frame_{k:03d}.png"), frame)
    return folder, frames
