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
(``SessionController(analysis_processes=...)``: processes in real time, this thread at pace
``fast`` where nothing competes with a live window and start-up time matters more).

How workers are started, and what that asks of a script: :mod:`app.worker_processes`. A worker
that dies or reports an error fails only its camera's tracker (the consumer error says why);
acquisition and recording go on.
"""

from __future__ import annotations

import contextlib
import os
import struct
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
from app.worker_processes import WorkerLink

DEPTH = 2  # batches in flight: the thread reads and copies the next while the worker labels one
# The workers yield the CPU to the process that acquires, records and draws the window when the
# machine is short of cores: a tracker that falls behind skips frames (the file keeps them all),
# a recorder or a force analysis that waits for a core holds acquisition or the result up.
WORKER_NICENESS = 5
_HEADER = struct.Struct("<Bi")  # a batch's shared-memory slot and its restart frame (-1: none)


class TrackingWorkerError(MidstanceError):
    """A camera's tracking worker died, stopped answering or failed (its camera's metrics stop)."""


class MarkerEngine(Protocol):
    """Labels batches of frames in order; keeps the tracker state between batches.

    Up to ``DEPTH`` batches may be submitted before their results are collected (in order)."""

    def submit(self, frames: np.ndarray, index: np.ndarray, restart_at: int = -1) -> None:
        """Queue ``frames`` (with their frame counters ``index``) for labelling; with
        ``restart_at`` = k ≥ 0 the tracker starts afresh at the batch's frame k (a recording's
        first frame: labelled as a re-analysis of the file labels it)."""
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
        self._tracker_args = (marker_set, orientation, settings.tracking)
        self.tracker = MarkerTracker(*self._tracker_args)
        self.n_markers = len(marker_set.markers)
        self.restarts = 0  # fresh starts asked for (restart_at), not the tracker's own

    def label_into(
        self, frames: np.ndarray, index: np.ndarray, xy_out, flags_out, restart_at: int = -1
    ) -> None:
        update, detection = self.tracker.update, self.detection
        for i in range(len(frames)):
            if i == restart_at:
                self.tracker = MarkerTracker(*self._tracker_args)
                self.restarts += 1
                update = self.tracker.update
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

    def submit(self, frames: np.ndarray, index: np.ndarray, restart_at: int = -1) -> None:
        n, m = len(frames), self.labeller.n_markers
        xy, flags = np.empty((n, m, 2)), np.empty((n, m), dtype=np.uint8)
        self.labeller.label_into(frames, index, xy, flags, restart_at)
        self._done.append((xy, flags))

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        return self._done.popleft()

    def close(self) -> None:
        self._done.clear()


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
        self._link: WorkerLink | None = None
        try:
            self._link = WorkerLink(
                serve,
                (self._shm.name, self._frames.shape, self._dtype.str),
                {"marker_set": marker_set, "orientation": orientation, "settings": settings},
                name=f"track-{camera}",
                error=self._error,
            )
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int | None:
        return self._link.pid if self._link is not None else None

    def submit(self, frames: np.ndarray, index: np.ndarray, restart_at: int = -1) -> None:
        n = len(frames)
        if n > self.max_frames:
            raise ValueError(f"{n} frames in one batch; the engine holds {self.max_frames}")
        if len(self._in_flight) >= DEPTH:
            raise ValueError(f"{DEPTH} batches are in flight already; collect one first")
        if self._link is None:
            raise self._error("was closed")
        slot = self._next_slot
        self._next_slot = (slot + 1) % DEPTH
        np.copyto(self._frames[slot, :n], frames)
        header = _HEADER.pack(slot, restart_at)
        self._link.send(header + np.asarray(index[:n], dtype="<i8").tobytes(), "labelling")
        self._in_flight.append((slot, n))

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        _, n = self._in_flight.popleft()
        if self._link is None:
            raise self._error("was closed")
        reply = self._link.expect(None, None, "labelling")
        m = self.n_markers
        xy = np.frombuffer(reply, dtype=np.float64, count=n * m * 2)
        flags = np.frombuffer(reply, dtype=np.uint8, count=n * m, offset=n * m * 2 * 8)
        return xy.reshape(n, m, 2), flags.reshape(n, m)

    def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()
        shm, self._shm = getattr(self, "_shm", None), None
        if shm is not None:
            self._frames = None
            shm.close()
            shm.unlink()

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
            slot, restart_at = _HEADER.unpack_from(message)
            index = np.frombuffer(message, dtype="<i8", offset=_HEADER.size)
            n = len(index)
            try:
                labeller.label_into(frames[slot, :n], index, xy, flags, restart_at)
            except Exception as exc:  # the tracker's state is unknown now: report and end
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                conn.send_bytes(b"error:" + detail.encode())
                return
            conn.send_bytes(xy[:n].tobytes() + flags[:n].tobytes())
    finally:
        del frames
        shm.close()
