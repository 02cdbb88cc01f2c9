"""A recorded video file as a camera, so a session can be analysed from a video plus a force file.

Frames are decoded with OpenCV, converted to Mono8 and numbered from 0 in file order; each frame's
time is the container's timestamp for it (``CAP_PROP_POS_MSEC``), delivered as ``device_time_s``.
Opening scans the whole file once: it counts the frames that really decode (a truncated file is
refused rather than silently cut short) and measures their spacing; a variable-frame-rate file is
refused unless ``variable_frame_rate = "timestamps"`` says to use each frame's own time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from drivers.base import (
    Chunk,
    Device,
    DeviceError,
    DeviceUnavailable,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
    monotonic,
)
from drivers.camera.opencv_frames import FrameShapeMismatch, to_mono8
from drivers.camera.settings import CameraSettingError, SettingsReader
from drivers.camera.video_timing import (
    DEFAULT_INTERVAL_TOLERANCE,
    FrameTiming,
    UnusableTimestamps,
    frame_timing,
)

PACES = ("fast", "realtime")
VFR_POLICIES = ("refuse", "timestamps")
RATE_MATCH_TOLERANCE = 1e-3  # configured rate_hz vs the file's, relative


class VideoFileError(DeviceUnavailable):
    """The file cannot be used as a camera; the message names the file."""


def _unusable(name: str, status: HealthStatus, problem: str, remedy: str) -> VideoFileError:
    return VideoFileError(name, Health(status, problem, remedy))


def scan_video(path: Path) -> tuple[np.ndarray, tuple[int, int], int]:
    """Every decodable frame's container time (s), the frame size (height, width), and the frame
    count the container claims. Decodes without colour conversion (``grab``) to stay cheap."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return np.empty(0), (0, 0), 0
        claimed = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        size = (
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        )
        times = []
        while capture.grab():
            times.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
        return np.asarray(times, dtype=np.float64), size, claimed
    finally:
        capture.release()


class VideoFileCamera(Device):
    """Settings: ``path``; ``pace`` "fast" | "realtime"; ``variable_frame_rate`` "refuse" |
    "timestamps"; ``interval_tolerance`` (relative, default 0.05); ``rate_hz`` if given must
    match a constant-rate file's frame rate (frames per second over the whole file)."""

    kind: ClassVar[str] = "video-file"

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._capture: Any = None
        self._times = np.empty(0)
        self._next = 0
        self._start_host = 0.0
        self._pace = "fast"
        self._stopping = threading.Event()
        self.timing: FrameTiming | None = None

    @property
    def end_of_file(self) -> bool:
        """True once every frame of the file has been delivered."""
        return self._capture is not None and self._next >= len(self._times)

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        try:
            path, *_ = _parse(name, settings)
        except CameraSettingError as exc:
            return exc.health()
        if not path.is_file():
            return Health(
                HealthStatus.ABSENT,
                f"video file {path} does not exist",
                "Check the path in the camera's table (relative paths start at the working "
                "folder).",
            )
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                return Health(
                    HealthStatus.ERROR,
                    f"{path} cannot be read as a video (unknown format or damaged file)",
                    "Check that it plays in a video player; re-export it as MP4 (H.264) or AVI.",
                )
        finally:
            capture.release()
        return Health(HealthStatus.OK, f"video file {path}")

    def _open(self) -> StreamDescription:
        path, pace, vfr_policy, tolerance, rate_hz = _parse(self.name, self.settings)
        times, (height, width), claimed = scan_video(path)
        if len(times) == 0:
            raise _unusable(
                self.name,
                HealthStatus.ERROR,
                f"{path} contains no frame that can be decoded",
                "The file is damaged or empty; copy it again from the recording.",
            )
        if len(times) < claimed - 1:
            raise _unusable(
                self.name,
                HealthStatus.ERROR,
                f"{path} is damaged or truncated: its header announces {claimed} frames but "
                f"decoding stops after {len(times)}",
                "Copy the file again from the recording, or re-export it.",
            )
        try:
            timing = frame_timing(times - times[0], tolerance)
        except UnusableTimestamps as exc:
            raise _unusable(
                self.name,
                HealthStatus.ERROR,
                f"{path} has unusable frame timestamps: {exc}",
                "Re-export the video at a constant frame rate.",
            ) from None
        if not timing.constant_rate and vfr_policy == "refuse":
            raise _unusable(
                self.name,
                HealthStatus.MISCONFIGURED,
                f"{path} has a variable frame rate ({timing.describe()}; an interval deviates "
                f"{100 * timing.worst_deviation:.0f}% from the median, more than "
                f"{100 * tolerance:g}%)",
                "Re-export it at a constant frame rate, or set variable_frame_rate = "
                '"timestamps" to time each frame by its own container timestamp.',
            )
        # A variable-rate file accepted with per-frame timestamps has no single rate to match.
        if (
            rate_hz is not None
            and timing.constant_rate
            and not math.isclose(rate_hz, timing.rate_hz, rel_tol=RATE_MATCH_TOLERANCE)
        ):
            raise _unusable(
                self.name,
                HealthStatus.MISCONFIGURED,
                f"rate_hz is {rate_hz:g} but {path} was recorded at {timing.rate_hz:.6g} fps",
                f"Set rate_hz = {timing.rate_hz:.6g} for this camera.",
            )
        self._capture = cv2.VideoCapture(str(path))
        self._times, self._pace, self.timing = times, pace, timing
        reconstruction = (
            "constant frame rate: container timestamps"
            if timing.constant_rate
            else "variable frame rate: each frame timed by its own container timestamp"
        )
        return StreamDescription(
            device=self.name,
            kind=StreamKind.FRAMES,
            source=f"video file {path}",
            dtype="uint8",
            shape=(height, width),
            rate_hz=timing.rate_hz,
            units=("DN",),
            settings={
                **self.settings,
                "path": str(path.resolve()),
                "pace": pace,
                "variable_frame_rate": vfr_policy,
                "interval_tolerance": tolerance,
                "timing": reconstruction,
                "frame_timing": timing.to_dict(),
                "first_frame_time_s": float(times[0]),
                "pixel_format": "Mono8 (BT.601 luma of the decoded colour frames)",
            },
        )

    def _start(self) -> None:
        self._stopping.clear()
        self._start_host = monotonic()

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        deadline = monotonic() + timeout_s
        first = self._next
        count = 0
        while count < len(out) and self._next < len(self._times):
            due = self._start_host + self._times[self._next] - self._times[0]
            if self._pace == "realtime" and monotonic() < due:
                if count:
                    break  # deliver what is due now; the next frame is for a later read
                self._wait_until(min(due, deadline))
                if self._stopping.is_set() or monotonic() < due:
                    break
                continue
            ok, frame = self._capture.read()
            if not ok:
                raise DeviceError(
                    self.name,
                    f"decoding {self.settings.get('path')} failed at frame {self._next}, which "
                    "decoded when the file was opened",
                    "Check that the file is not being modified, then open it again.",
                )
            try:
                to_mono8(frame, out[count])
            except FrameShapeMismatch as exc:
                raise DeviceError(self.name, f"frame {self._next}: {exc}") from None
            self._next += 1
            count += 1
        if count == 0 and self._next >= len(self._times):
            self._wait_until(deadline)  # end of file: nothing more will come; honour the timeout
        return Chunk(
            count=count,
            first_index=first,
            host_time_s=monotonic(),
            device_time_s=self._times[first : first + count].copy(),
        )

    def _stop(self) -> None:
        self._stopping.set()

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _wait_until(self, when: float) -> None:
        """Wait until ``when`` on the host clock, or until stop() is called."""
        remaining = when - monotonic()
        if remaining > 0:
            self._stopping.wait(remaining)


def _parse(name: str, settings: Mapping[str, Any]) -> tuple[Path, str, str, float, float | None]:
    read = SettingsReader(name, settings)
    path = Path(read.string("path")).expanduser()
    pace = read.choice("pace", PACES, "fast")
    vfr = read.choice("variable_frame_rate", VFR_POLICIES, "refuse")
    tolerance = read.number("interval_tolerance", DEFAULT_INTERVAL_TOLERANCE, low=0.001, high=1.0)
    rate = settings.get("rate_hz")
    rate_hz = None if rate is None else read.number("rate_hz", low=0.01, high=10000.0)
    return path, pace, vfr, tolerance, rate_hz
