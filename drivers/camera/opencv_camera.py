"""A UVC (USB video class) camera through OpenCV: webcams and USB cameras without a trigger input.

Such cameras give no frame counter and no trustworthy timestamps, so they are used with software
sync (``[sync] mode = "software"``): every frame is delivered in its own chunk, stamped with the
host clock the moment it arrives, and the clock fit in ``analysis`` ties those times to the DAQ.
Probing never hangs: on Linux a missing ``/dev/videoN`` is reported at once, and opening is given
a few seconds in a helper thread before the camera is declared unresponsive.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from drivers.base import (
    Chunk,
    Device,
    DeviceLost,
    DeviceUnavailable,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
    monotonic,
)
from drivers.camera.opencv_frames import FrameShapeMismatch, to_mono8
from drivers.camera.settings import CameraSettingError, SettingsReader

OPEN_TIMEOUT_S = 5.0
RATE_MATCH_TOLERANCE = 0.01  # relative: UVC cameras report their nominal rate
BACKENDS = {
    "auto": cv2.CAP_ANY,
    "v4l2": cv2.CAP_V4L2,
    "dshow": cv2.CAP_DSHOW,
    "msmf": cv2.CAP_MSMF,
    "avfoundation": cv2.CAP_AVFOUNDATION,
}


def open_capture(index: int, backend: str) -> Any:
    """OpenCV's capture for camera ``index`` (a seam the tests replace with a file reader)."""
    return cv2.VideoCapture(index, BACKENDS[backend])


def video_device_nodes() -> list[str]:
    """The V4L2 device nodes present (Linux only; empty elsewhere)."""
    return sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform == "linux" else []


def _open_with_timeout(index: int, backend: str, timeout_s: float) -> tuple[bool, Any]:
    """(finished, capture or None): opening a camera can block in some drivers."""
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(open_capture(index, backend)), daemon=True
    )
    worker.start()
    worker.join(timeout_s)
    return (not worker.is_alive(), result[0] if result else None)


def _parse(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    read = SettingsReader(name, settings)
    rate = settings.get("rate_hz")
    return {
        "index": int(read.number("index", 0, low=0, high=255, integer=True)),
        "backend": read.choice("backend", tuple(BACKENDS), "auto"),
        "width": read.optional_int("width", low=1, high=16384),
        "height": read.optional_int("height", low=1, high=16384),
        "rate_hz": None if rate is None else read.number("rate_hz", low=0.1, high=1000.0),
    }


class UvcCamera(Device):
    """Settings: ``index`` (0 = first camera), ``backend``, optional ``width``/``height``,
    ``rate_hz`` (refused when the camera reports another rate)."""

    kind: ClassVar[str] = "opencv"

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._capture: Any = None
        self._next_index = 0
        self._stopping = threading.Event()

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        try:
            parsed = _parse(name, settings)
        except CameraSettingError as exc:
            return exc.health()
        index = parsed["index"]
        nodes = video_device_nodes()
        absent = Health(
            HealthStatus.ABSENT,
            f"no camera at index {index}"
            + (
                f"; video devices present: {', '.join(nodes) or 'none'}"
                if sys.platform == "linux"
                else ""
            ),
            "Plug the camera in (a USB 3 port for high frame rates) or correct 'index'.",
        )
        if sys.platform == "linux" and f"/dev/video{index}" not in nodes:
            return absent
        finished, capture = _open_with_timeout(index, parsed["backend"], OPEN_TIMEOUT_S)
        if not finished:
            return Health(
                HealthStatus.ERROR,
                f"camera {index} did not answer within {OPEN_TIMEOUT_S:g} s",
                "Unplug and replug it; close other programs using it.",
            )
        try:
            if capture is None or not capture.isOpened():
                return absent
        finally:
            if capture is not None:
                capture.release()
        return Health(HealthStatus.OK, f"UVC camera {index}")

    def _open(self) -> StreamDescription:
        parsed = _parse(self.name, self.settings)
        finished, capture = _open_with_timeout(parsed["index"], parsed["backend"], OPEN_TIMEOUT_S)
        if not finished or capture is None or not capture.isOpened():
            raise DeviceUnavailable(self.name, type(self).probe(self.name, self.settings))
        try:
            description = self._configure(capture, parsed)
        except DeviceUnavailable:
            capture.release()
            raise
        self._capture = capture
        return description

    def _configure(self, capture: Any, parsed: dict[str, Any]) -> StreamDescription:
        def refuse(key: str, problem: str, remedy: str) -> DeviceUnavailable:
            health = Health(HealthStatus.MISCONFIGURED, f"{key}: {problem}", remedy)
            return DeviceUnavailable(self.name, health)

        if parsed["width"]:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, parsed["width"])
        if parsed["height"]:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, parsed["height"])
        if parsed["rate_hz"]:
            capture.set(cv2.CAP_PROP_FPS, parsed["rate_hz"])
        ok, frame = capture.read()  # the real size is the size of a real frame
        if not ok:
            raise refuse("index", "the camera opened but sent no frame", "Replug the camera.")
        height, width = frame.shape[:2]
        for key, wanted, actual in (
            ("width", parsed["width"], width),
            ("height", parsed["height"], height),
        ):
            if wanted and wanted != actual:
                raise refuse(
                    key,
                    f"the camera delivers {width}×{height}, not the requested {key} {wanted}",
                    f"Use a mode the camera supports (it chose {width}×{height}).",
                )
        reported = float(capture.get(cv2.CAP_PROP_FPS))
        rate_hz = parsed["rate_hz"] or reported
        if (
            parsed["rate_hz"]
            and reported > 0
            and abs(reported - rate_hz) > RATE_MATCH_TOLERANCE * rate_hz
        ):
            raise refuse(
                "rate_hz",
                f"the camera runs at {reported:g} fps, not {rate_hz:g}",
                f"Set rate_hz = {reported:g} or choose a mode with that rate.",
            )
        if not rate_hz or rate_hz <= 0:
            raise refuse("rate_hz", "the camera does not report its frame rate", "Set rate_hz.")
        return StreamDescription(
            device=self.name,
            kind=StreamKind.FRAMES,
            source=f"uvc {parsed['index']} ({capture.getBackendName()})",
            dtype="uint8",
            shape=(height, width),
            rate_hz=rate_hz,
            units=("DN",),
            settings={
                **self.settings,
                **parsed,
                "reported_rate_hz": reported,
                "timing": "host receive time per frame (one frame per chunk); no camera clock",
                "pixel_format": "Mono8 (BT.601 luma of the decoded colour frames)",
            },
        )

    def _start(self) -> None:
        self._stopping.clear()

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        # One frame per chunk, so that each frame carries its own host receive time.
        if self._stopping.is_set() or len(out) == 0:
            return Chunk(count=0, first_index=self._next_index, host_time_s=monotonic())
        if not self._capture.grab():  # blocks for at most about one frame period
            delivered = (
                f"after frame {self._next_index - 1}" if self._next_index else "before any frame"
            )
            raise DeviceLost(
                self.name,
                f"the camera stopped sending frames {delivered}",
                "Check the USB cable, replug the camera and start a new recording.",
            )
        host_time = monotonic()
        ok, frame = self._capture.retrieve()
        if not ok:
            raise DeviceLost(self.name, f"frame {self._next_index} could not be decoded")
        try:
            to_mono8(frame, out[0])
        except FrameShapeMismatch as exc:
            raise DeviceLost(self.name, f"frame {self._next_index}: {exc}") from None
        index = self._next_index
        self._next_index += 1
        return Chunk(count=1, first_index=index, host_time_s=host_time)

    def _stop(self) -> None:
        self._stopping.set()

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
