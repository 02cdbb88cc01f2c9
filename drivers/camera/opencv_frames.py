"""What the OpenCV-based cameras share: turning a decoded frame into the caller's Mono8 slot."""

from __future__ import annotations

import cv2
import numpy as np


class FrameShapeMismatch(ValueError):
    """A decoded frame whose size differs from the stream's (a resolution change mid-stream)."""


def to_mono8(frame: np.ndarray, out: np.ndarray) -> None:
    """Write ``frame`` (BGR, BGRA or grey, 8 or 16 bit) into ``out`` (height, width) uint8.

    Colour goes through OpenCV's luma weights (0.299 R + 0.587 G + 0.114 B, ITU-R BT.601);
    16-bit grey is scaled down by 256.
    """
    if frame.shape[:2] != out.shape:
        height, width = out.shape
        raise FrameShapeMismatch(
            f"a {frame.shape[1]}×{frame.shape[0]} frame arrived in a {width}×{height} stream"
        )
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    if frame.ndim == 2:
        np.copyto(out, frame)
    elif frame.shape[2] == 1:
        np.copyto(out, frame[:, :, 0])
    elif frame.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        if out.flags.c_contiguous:
            cv2.cvtColor(frame, code, dst=out)  # straight into the caller's buffer
        else:
            np.copyto(out, cv2.cvtColor(frame, code))
    else:
        raise FrameShapeMismatch(f"a frame with {frame.shape[2]} channels cannot be made grey")
