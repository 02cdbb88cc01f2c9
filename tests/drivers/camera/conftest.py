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


def _ebml_vint(buf: bytes, pos: int, keep_marker: bool = False) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length in bytes)."""
    first, length, mask = buf[pos], 1, 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    value = first if keep_marker else first & (mask - 1)
    for byte in buf[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, length


_MKV_SEGMENT, _MKV_CLUSTER, _MKV_BLOCK_GROUP = 0x18538067, 0x1F43B675, 0xA0
_MKV_SIMPLE_BLOCK, _MKV_CLUSTER_TIMECODE = 0xA3, 0xE7


def _simple_blocks(buf: bytes, start: int, end: int, cluster_ms: int = 0) -> list[tuple[int, int]]:
    """(payload offset, its cluster's timecode) of every SimpleBlock in a Matroska file."""
    found, pos = [], start
    while pos < end:
        element, n = _ebml_vint(buf, pos, keep_marker=True)
        size, m = _ebml_vint(buf, pos + n)
        data = pos + n + m
        stop = end if size == (1 << (7 * m)) - 1 else data + size  # all ones: unknown size
        if element == _MKV_CLUSTER_TIMECODE:
            cluster_ms = int.from_bytes(buf[data:stop], "big")
        elif element in (_MKV_SEGMENT, _MKV_CLUSTER, _MKV_BLOCK_GROUP):
            found += _simple_blocks(buf, data, stop, cluster_ms)
        elif element == _MKV_SIMPLE_BLOCK:
            found.append((data, cluster_ms))
        pos = stop
    return found


def write_lossless_video(
    path: Path, frames: np.ndarray, fps: float, timestamps_ms: list[int] | None = None
) -> Path:
    """Write grey ``frames`` losslessly (FFV1 in Matroska); optionally rewrite each frame's
    timestamp in the container (Matroska SimpleBlock timecodes, 1 ms units) to make a
    variable-frame-rate file, which OpenCV's writer cannot produce by itself."""
    height, width = frames.shape[1:]
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height), False
    )
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    if timestamps_ms is not None:
        data = bytearray(path.read_bytes())
        blocks = _simple_blocks(bytes(data), 0, len(data))
        assert len(blocks) == len(frames) == len(timestamps_ms)
        for (offset, cluster_ms), stamp in zip(blocks, timestamps_ms, strict=True):
            _, track_bytes = _ebml_vint(data, offset)  # track number, then a signed 16-bit time
            relative = (stamp - cluster_ms).to_bytes(2, "big", signed=True)
            data[offset + track_bytes : offset + track_bytes + 2] = relative
        path.write_bytes(bytes(data))
    return path


@pytest.fixture
def make_video():
    """``make_video(path, frames, fps, timestamps_ms=None)`` writes a lossless test video."""
    return write_lossless_video
