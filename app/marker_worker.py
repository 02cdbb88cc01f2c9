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
elsewhere. As with any use of Python's multiprocessing, the worker imports the main module: a
script that opens a real-time session must do so under ``if __name__ == "__main__":`` (the
``midstance`` command, the frozen program and pytest do), or pass
``SessionController(tracking_processes=False)``. A worker that dies or reports an error fails
only its camera's tracker (the consumer error says why); acquisition and recording go on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import traceback
from collections import deque
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
DEPTH = 2  # batches in flight: the thread reads and copies the next while the worker labels one
# The workers yield the CPU to the process that acquires, records and draws the window when the
# machine is short of cores: a tracker that falls behind skips frames (the file keeps them all),
# a recorder or a force analysis that waits for a core holds acquisition or the result up.
WORKER_NICENESS = 5


class TrackingWorkerError(MidstanceError):
    """A camera's tracking worker died, stopped answering or failed (its camera's metrics stop)."""


class MarkerEngine(Protocol):
    """Labels batches of frames in order; keeps the tracker state between batches.

    Up to ``DEPTH`` batches may be submitted before their results are collected (in order)."""

    def submit(self, frames: np.ndarray, index: np.ndarray) -> None:
        """Queue ``frames`` (with their frame counters ``index``) for labelling."""
        ...

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``(n, n_markers, 2)`` (px) and flags ``(n, n_markers)`` of the oldest batch."""
        ...

    def close(self) -> None:
        """Free what the engine holds (idempotent)."""
        ...


def label(engine: MarkerEngine, frames: np.ndarray, index: np.ndarray):
    """One batch, submitted and collected."""
    engine.submit(frames, index)
    return engine.collect()


class FrameLabeller:
    """The per-frame work, shared by both engines: detect, then label (the tracker restarts
    after frames not seen: ``TrackingSettings.restart_after_unseen``)."""

    def __init__(
        self, marker_set: MarkerSet, orientation: ImageOrientation, settings: VisionSettings
    ) -> None:
        self.detection = settings.detection
        self.tracker = MarkerTracker(marker_set, orientation, settings.tracking)
        self.n_markers = len(marker_set.markers)

    def label_into(self, frames: np.ndarray, index: np.ndarray, xy_out, flags_out) -> None:
        update, detection = self.tracker.update, self.detection
        for i in range(len(frames)):
            blobs = detect_markers(frames[i], detection)
            xy_out[i], flags_out[i] = update(
                blobs.xy, blobs.area_px, blobs.circularity, frame_index=int(index[i])
            )


class InlineMarkerEngine:
    """The work in the calling thread (at submit)."""

    def __init__(
        self, marker_set: MarkerSet, orientation: ImageOrientation, settings: VisionSettings
    ) -> None:
        self.labeller = FrameLabeller(marker_set, orientation, settings)
        self._done: deque[tuple[np.ndarray, np.ndarray]] = deque()

    def submit(self, frames: np.ndarray, index: np.ndarray) -> None:
        n, m = len(frames), self.labeller.n_markers
        xy, flags = np.empty((n, m, 2)), np.empty((n, m), dtype=np.uint8)
        self.labeller.label_into(frames, index, xy, flags)
        self._done.append((xy, flags))

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        return self._done.popleft()

    def close(self) -> None:
        self._done.clear()


def _context():
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    return context


class ProcessMarkerEngine:
    """The work in a worker process; frames go through shared memory (one slot per batch in
    flight), frame counters and results through a pipe."""

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
        shape = (DEPTH, self.max_frames, *self._frame_shape)
        nbytes = int(np.prod(shape)) * self._dtype.itemsize
        self._shm = SharedMemory(create=True, size=max(1, nbytes))
        self._frames = np.ndarray(shape, dtype=self._dtype, buffer=self._shm.buf)
        self._in_flight: deque[tuple[int, int]] = deque()  # (slot, frames) per batch submitted
        self._next_slot = 0
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

    def submit(self, frames: np.ndarray, index: np.ndarray) -> None:
        n = len(frames)
        if n > self.max_frames:
            raise ValueError(f"{n} frames in one batch; the engine holds {self.max_frames}")
        if len(self._in_flight) >= DEPTH:
            raise ValueError(f"{DEPTH} batches are in flight already; collect one first")
        if self._conn is None:
            raise self._error("was closed")
        slot = self._next_slot
        self._next_slot = (slot + 1) % DEPTH
        np.copyto(self._frames[slot, :n], frames)
        message = bytes((slot,)) + np.asarray(index[:n], dtype="<i8").tobytes()
        try:
            self._conn.send_bytes(message)
        except OSError as exc:
            raise self._ended("labelling", exc) from exc
        self._in_flight.append((slot, n))

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        _, n = self._in_flight.popleft()
        reply = self._expect(self._conn, None, None, "labelling")
        m = self.n_markers
        xy = np.frombuffer(reply, dtype=np.float64, count=n * m * 2)
        flags = np.frombuffer(reply, dtype=np.uint8, count=n * m, offset=n * m * 2 * 8)
        return xy.reshape(n, m, 2), flags.reshape(n, m)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        process, self._process = self._process, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send_bytes(b"")
            conn.close()
        if process is not None and process.pid is not None:  # started
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
                raise self._ended(what)
            if timeout_s is not None and waited >= timeout_s:
                raise self._error(f"did not answer within {timeout_s:.0f} s during {what}")
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise self._ended(what, exc) from exc
        if message.startswith(b"error:"):
            raise self._error("failed: " + message[6:].decode(errors="replace"))
        if expected is not None and message != expected:
            raise self._error(f"sent {message[:40]!r} instead of {expected!r}")
        return message

    def _ended(self, what: str, exc: Exception | None = None) -> TrackingWorkerError:
        """The worker is gone (or its pipe is): say how, and what to do."""
        process = self._process
        if process is not None and process.pid is not None:
            process.join(STOP_TIMEOUT_S)  # a pipe closes as the process dies: let it finish
        code = None if process is None else process.exitcode
        how = f"exit code {code}" if code is not None else f"pipe error: {exc}"
        hint = ""
        if what == "start":  # a script re-imported by the worker cannot start one itself
            hint = (
                " (in a script, put the code that opens the session under "
                '`if __name__ == "__main__":`, as Python\'s multiprocessing requires)'
            )
        return self._error(f"ended unexpectedly ({how}) during {what}{hint}")

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
    with contextlib.suppress(AttributeError, OSError):  # os.nice: Unix only
        os.nice(WORKER_NICENESS)
    shm = SharedMemory(name=shm_name)
    frames = None
    try:
        frames = np.ndarray(shape, dtype=np.dtype(dtype), buffer=shm.buf)
        labeller = FrameLabeller(marker_set, orientation, settings)
        xy = np.empty((shape[1], labeller.n_markers, 2))
        flags = np.empty((shape[1], labeller.n_markers), dtype=np.uint8)
        conn.send_bytes(b"ready")
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the parent went away
            if not message:
                return
            slot, index = message[0], np.frombuffer(message, dtype="<i8", offset=1)
            n = len(index)
            try:
                labeller.label_into(frames[slot, :n], index, xy, flags)
            except Exception as exc:  # the tracker's state is unknown now: report and end
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                conn.send_bytes(b"error:" + detail.encode())
                return
            conn.send_bytes(xy[:n].tobytes() + flags[:n].tobytes())
    finally:
        del frames
        shm.close()
