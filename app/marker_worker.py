"""Marker detection and labelling of one camera, in this thread or in a worker process.

Why a process: at 500 fps the per-frame work of a camera (:func:`analysis.markers.detect_markers`
then :meth:`analysis.tracking.MarkerTracker.update`, ~0.25 ms of which a good part is Python)
holds the interpreter lock of the process that also acquires, records and draws the window. With
two cameras that starved the GUI and the recorder (issues #5, #7). In a worker process the same
code runs under its own interpreter lock; the camera's ``track-<camera>`` thread only copies each
batch of frames into shared memory, sends the batch size down a pipe and waits (without the lock)
for the labelled positions to come back.

Both engines run exactly the same functions on the same frames in the same order, so their
results are identical (tests compare them); which one a session uses is a deployment choice
(``SessionController(tracking_processes=...)``: processes in real time, this thread at pace
``fast`` where nothing competes with a live window and start-up time matters more).

The worker is started with the ``forkserver`` method on Linux (one clean server process forks
each worker in milliseconds; never a fork of this multi-threaded process) and ``spawn``
elsewhere. A worker that dies or reports an error fails only its camera's tracker (the consumer
error says why); acquisition and recording go on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import traceback
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Protocol

import numpy as np

from analysis.errors import MidstanceError
from analysis.marker_sets import MarkerSet
from analysis.markers import detect_markers
from analysis.plane_calibration import ImageOrientation
from analysis.tracking import MarkerTracker
from analysis.vision_settings import VisionSettings

START_TIMEOUT_S = 60.0  # a cold interpreter importing numpy and OpenCV on a loaded machine
STOP_TIMEOUT_S = 2.0
POLL_S = 0.5  # how often a wait for a batch checks that the worker is still alive


class TrackingWorkerError(MidstanceError):
    """A camera's tracking worker died, stopped answering or failed (its camera's metrics stop)."""


class MarkerEngine(Protocol):
    """Labels a batch of frames in order; keeps the tracker state between batches."""

    def label(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``(n, n_markers, 2)`` (px) and flags ``(n, n_markers)`` of ``frames``."""
        ...

    def close(self) -> None:
        """Free what the engine holds (idempotent)."""
        ...


def label_frames(
    tracker: MarkerTracker, settings: VisionSettings, frames: np.ndarray, xy_out, flags_out
) -> None:
    """The per-frame work, shared by both engines: detect, then label, into the outputs."""
    detection = settings.detection
    for i in range(len(frames)):
        blobs = detect_markers(frames[i], detection)
        xy, flags = tracker.update(blobs.xy, blobs.area_px)
        xy_out[i] = xy
        flags_out[i] = flags


class InlineMarkerEngine:
    """The work in the calling thread."""

    def __init__(
        self, marker_set: MarkerSet, orientation: ImageOrientation, settings: VisionSettings
    ) -> None:
        self.settings = settings
        self.tracker = MarkerTracker(marker_set, orientation, settings.tracking)
        self.n_markers = len(marker_set.markers)

    def label(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(frames)
        xy = np.empty((n, self.n_markers, 2))
        flags = np.empty((n, self.n_markers), dtype=np.uint8)
        label_frames(self.tracker, self.settings, frames, xy, flags)
        return xy, flags

    def close(self) -> None:
        """Nothing to free."""


def _context():
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    return context


class ProcessMarkerEngine:
    """The work in a worker process; frames go through shared memory, results through a pipe."""

    def __init__(
        self,
        camera: str,
        marker_set: MarkerSet,
        orientation: ImageOrientation,
        settings: VisionSettings,
        *,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        max_frames: int,
    ) -> None:
        self.camera = camera
        self.n_markers = len(marker_set.markers)
        self.max_frames = int(max_frames)
        self._frame_shape = tuple(frame_shape)
        self._dtype = np.dtype(dtype)
        nbytes = self.max_frames * int(np.prod(self._frame_shape)) * self._dtype.itemsize
        self._shm = SharedMemory(create=True, size=max(1, nbytes))
        self._frames = np.ndarray(
            (self.max_frames, *self._frame_shape), dtype=self._dtype, buffer=self._shm.buf
        )
        self._conn: Connection | None = None
        self._process = None
        try:
            context = _context()
            ours, theirs = context.Pipe(duplex=True)
            self._process = context.Process(
                target=serve,
                args=(theirs, self._shm.name, self._frames.shape, self._dtype.str),
                kwargs={"marker_set": marker_set, "orientation": orientation, "settings": settings},
                name=f"track-{camera}",
                daemon=True,
            )
            self._process.start()
            theirs.close()
            self._conn = ours
            self._expect(ours, b"ready", START_TIMEOUT_S, "start")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def label(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(frames)
        if n > self.max_frames:
            raise ValueError(f"{n} frames in one batch; the engine holds {self.max_frames}")
        if self._conn is None:
            raise self._error("was closed")
        np.copyto(self._frames[:n], frames)
        try:
            self._conn.send_bytes(n.to_bytes(4, "little"))
        except (BrokenPipeError, OSError) as exc:
            raise self._error(f"cannot be reached ({exc})") from exc
        reply = self._expect(self._conn, None, None, "label")
        split = n * self.n_markers * 2 * 8
        xy = np.frombuffer(reply, dtype=np.float64, count=n * self.n_markers * 2, offset=0)
        flags = np.frombuffer(reply, dtype=np.uint8, count=n * self.n_markers, offset=split)
        return xy.reshape(n, self.n_markers, 2), flags.reshape(n, self.n_markers)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        process, self._process = self._process, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send_bytes(b"")
            conn.close()
        if process is not None:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(STOP_TIMEOUT_S)
        shm, self._shm = getattr(self, "_shm", None), None
        if shm is not None:
            self._frames = None
            shm.close()
            shm.unlink()

    def _expect(self, conn: Connection, expected: bytes | None, timeout_s, what: str) -> bytes:
        """The worker's next message: ``expected`` (if given) or a result; raise on an error."""
        waited = 0.0
        while not conn.poll(POLL_S):
            waited += POLL_S
            if self._process is None or not self._process.is_alive():
                code = None if self._process is None else self._process.exitcode
                raise self._error(f"ended unexpectedly (exit code {code}) during {what}")
            if timeout_s is not None and waited >= timeout_s:
                raise self._error(f"did not answer within {timeout_s:.0f} s during {what}")
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise self._error(f"closed its pipe during {what}") from exc
        if message.startswith(b"error:"):
            raise self._error("failed: " + message[6:].decode(errors="replace"))
        if expected is not None and message != expected:
            raise self._error(f"sent {message[:40]!r} instead of {expected!r}")
        return message

    def _error(self, what: str) -> TrackingWorkerError:
        return TrackingWorkerError(
            f"the marker tracking process {what}",
            subject=f"camera '{self.camera}' marker tracking",
            remedy="The recording goes on without this camera's video metrics; reconnect to "
            "restart tracking, and re-analyse the saved session for its metrics.",
        )


def serve(
    conn: Connection,
    shm_name: str,
    shape: tuple[int, ...],
    dtype: str,
    *,
    marker_set: MarkerSet,
    orientation: ImageOrientation,
    settings: VisionSettings,
) -> None:
    """The worker process: label each batch the parent announces, until an empty message."""
    shm = SharedMemory(name=shm_name)
    try:
        frames = np.ndarray(shape, dtype=np.dtype(dtype), buffer=shm.buf)
        tracker = MarkerTracker(marker_set, orientation, settings.tracking)
        n_markers = len(marker_set.markers)
        xy = np.empty((shape[0], n_markers, 2))
        flags = np.empty((shape[0], n_markers), dtype=np.uint8)
        conn.send_bytes(b"ready")
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the parent went away
            if not message:
                return
            n = int.from_bytes(message, "little")
            try:
                label_frames(tracker, settings, frames[:n], xy, flags)
            except Exception as exc:  # the tracker's state is unknown now: report and end
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                conn.send_bytes(b"error:" + detail.encode())
                return
            conn.send_bytes(xy[:n].tobytes() + flags[:n].tobytes())
    finally:
        del frames
        shm.close()
