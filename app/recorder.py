"""The recorder: every sample and every frame into the session file, never dropped.

One thread owns the :class:`data.session_writer.SessionWriter` (HDF5 is written from one thread).
It holds a lossless reader on every device's ring, so a producer waits for it rather than
overwrite what it has not written; when that happens the ring is flagged ``recorder_behind``
and the session says so (status, and the file's ``recording_note``). Marker rows, live stances
and marks reach it through a queue from the other threads.

Starting and stopping are by session time: :meth:`Recorder.start` names the first session time
recorded (every stream has delivered up to it when the readers attach, so nothing after it is
missed) and :meth:`Recorder.stop_at` names the first session time not to be
recorded, and the recorder keeps reading every stream until it has passed that time (or the
stream ended), so all streams of the file cover the same interval whatever each device's latency.
Gaps in the DAQ stream are stored as ``/daq/gaps``; frame counters that skip are stored as
``dropped_frames`` as they are seen (a crash keeps them), completed by the witness reconciliation
at the end in hardware sync.

Memory: writing frames allocates and frees a chunk-sized buffer per frame (the Blosc output);
glibc's heap keeps such freed memory (its mmap threshold rises to the chunk size, so the buffers
come from the heap, whose free pages it returns only at the top), and resident memory crept up
by several MB a minute (issue #5). The recorder hands the heap's free pages back every
``HEAP_TRIM_INTERVAL_S`` (:func:`release_free_heap`; a few ms).
"""

from __future__ import annotations

import ctypes
import functools
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.pipeline import DeviceStream
from data.session_writer import SessionWriter

READ_ITEMS_DAQ = 4096
READ_ITEMS_FRAMES = 16
HEAP_TRIM_INTERVAL_S = 10.0  # wall clock between returns of the heap's free pages (see above)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; elsewhere there is nothing to call
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system (glibc ``malloc_trim(0)``); False where
    there is no such call. Nothing in use is touched: only resident memory goes down."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


@dataclass
class _StreamProgress:
    stream: DeviceStream
    reader: Any
    expected_index: int | None = None
    first_index: int | None = None
    last_time_s: float = -math.inf
    written: int = 0
    finished: bool = False
    dropped: list[int] = field(default_factory=list)
    cut_at: int | None = None  # ring sequence number where a lagging camera's stream is cut


class Recorder:
    """Writes the rings of one session into one file until :meth:`stop_at` is reached."""

    def __init__(
        self,
        make_writer: Callable[[int], SessionWriter],
        daq: DeviceStream,
        cameras: Sequence[DeviceStream],
        *,
        on_error: Callable[[Exception], None] | None = None,
        before_close: Callable[[float], None] | None = None,
        stop_grace_s: float = 3.0,
    ) -> None:
        # the file is created on the recorder thread when the first DAQ sample arrives, so that
        # its start_index (session time of row 0) is known from the start and survives a crash
        self.make_writer = make_writer
        self.writer: SessionWriter | None = None
        self.created = threading.Event()
        self.daq_name = daq.name
        self.streams = {
            s.name: _StreamProgress(s, s.ring.lossless_reader("recorder")) for s in (daq, *cameras)
        }
        self.on_error = on_error
        self.before_close = before_close  # waits (bounded) for late markers and stances
        self._held: list[tuple] = []  # stances that arrived before the samples they span
        # per camera, marker rows (batches, in frame order) whose frames are not written yet
        self._held_markers: dict[str, deque[tuple]] = {}
        self.error: Exception | None = None
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop_at_s = math.inf
        self._start_at_s = -math.inf
        self._stop_requested = threading.Event()
        self._stop_deadline = math.inf
        self.stop_grace_s = stop_grace_s
        self.cut_short: list[str] = []  # streams that had not reached the stop time in the grace
        self._thread = threading.Thread(target=self._guarded, name="recorder", daemon=True)
        self.start_index: int | None = None
        self.heap_trims = 0

    # -- called from other threads -------------------------------------------------------------

    def start(self, at_s: float = -math.inf) -> None:
        """Record from session time ``at_s`` on: every stream starts at the same time (a device
        behind the others delivers earlier items after the readers attached; they are left out).
        """
        self._start_at_s = float(at_s)
        self._thread.start()

    def add_markers(
        self, camera: str, index: np.ndarray, xy: np.ndarray, quality: np.ndarray
    ) -> None:
        """A batch of labelled frames: frame counters (n,), positions (n, markers, 2) and
        quality (n, markers). One queue item per batch: per frame, the queue and the checks
        cost the recorder's thread ~20 µs a frame of the interpreter lock at 1000 frames/s."""
        index = np.array(index, dtype=np.int64, ndmin=1)
        self.queue.put(("markers", camera, index, np.array(xy), np.array(quality)))

    def add_stance(self, record: dict[str, Any]) -> None:
        self.queue.put(("stance", record))

    def add_mark(self, time_s: float, label: str) -> None:
        self.queue.put(("mark", time_s, label))

    def add_step(
        self,
        time_s: float,
        step: str,
        speed_m_s: float = math.nan,
        incline_percent: float = math.nan,
    ) -> None:
        self.queue.put(("step", time_s, step, speed_m_s, incline_percent))

    def end_at(self, session_time_s: float) -> None:
        """Record nothing from this session time on (a recording of a set duration); the file
        still closes only on :meth:`stop_at`."""
        self._stop_at_s = session_time_s

    def stop_at(self, session_time_s: float) -> None:
        self._stop_at_s = session_time_s
        self._stop_deadline = time.monotonic() + self.stop_grace_s
        self._stop_requested.set()

    def join(self, timeout_s: float = 60.0) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def dropped_frames(self) -> dict[str, list[int]]:
        return {n: list(p.dropped) for n, p in self.streams.items() if n != self.daq_name}

    def first_frame_index(self, camera: str) -> int | None:
        return self.streams[camera].first_index

    def frames_written(self, camera: str) -> int:
        return self.streams[camera].written

    # -- the thread ----------------------------------------------------------------------------

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # write error: stop holding the producers back, report it
            self.error = exc
            self.created.set()
            for progress in self.streams.values():
                progress.reader.detach()
            if self.on_error is not None:
                self.on_error(exc)

    def _run(self) -> None:
        daq = self.streams[self.daq_name]
        while self.writer is None:
            batch = daq.reader.read(READ_ITEMS_DAQ, timeout_s=0.05)
            if batch is None:
                raise RuntimeError("the force DAQ stopped before the first sample was recorded")
            first = int(np.searchsorted(batch.session_time_s, self._start_at_s, side="left"))
            if batch.count and first < batch.count:
                self.writer = self.make_writer(int(batch.index[first]))
                self.created.set()
                self._write(daq, batch)
            else:
                daq.reader.release(batch)
                if self._stop_requested.is_set():
                    raise RuntimeError("the recording was stopped before the first sample arrived")
        next_trim = time.monotonic() + HEAP_TRIM_INTERVAL_S
        while True:
            moved = 0
            for progress in self.streams.values():
                if not progress.finished:
                    moved += self._pump(progress)
            self._drain_queue()
            if time.monotonic() >= next_trim:
                release_free_heap()
                self.heap_trims += 1
                next_trim = time.monotonic() + HEAP_TRIM_INTERVAL_S
            if all(p.finished for p in self.streams.values()):
                break
            if not moved:
                if not daq.finished:
                    # wait for the DAQ (the most regular stream) instead of spinning
                    batch = daq.reader.read(1, timeout_s=0.02)
                    if batch is None:
                        self._finish(daq)
                    elif batch.count:
                        self._write(daq, batch)
                    else:
                        daq.reader.release(batch)
                else:
                    self._stop_requested.wait(0.005)
        if self.before_close is not None:
            last = max((p.last_time_s for p in self.streams.values()), default=-math.inf)
            self.before_close(last)
        self._drain_queue()

    def _finish(self, progress: _StreamProgress) -> None:
        """This stream is complete in the file: stop holding its producer back (``leave``: a
        ring is flagged ``recorder_detached`` only when the recorder failed)."""
        progress.finished = True
        progress.reader.leave()

    def _pump(self, progress: _StreamProgress) -> int:
        is_daq = progress.stream.name == self.daq_name
        reader = progress.reader
        if not is_daq and self._stop_requested.is_set() and time.monotonic() > self._stop_deadline:
            # Still short of the stop time after the grace period (a camera lagging behind real
            # time). What the camera delivered is in the ring and is written whatever it takes
            # (a slow disk must never cost acquired frames); only what the camera has not yet
            # delivered by now is cut, so the stop is not held by a device.
            if progress.cut_at is None:
                progress.cut_at = reader.ring.written
            if reader.position >= progress.cut_at:
                self._finish(progress)
                self.cut_short.append(progress.stream.name)
                return 0
        limit = READ_ITEMS_DAQ if is_daq else READ_ITEMS_FRAMES
        if progress.cut_at is not None:
            limit = min(limit, progress.cut_at - reader.position)
        batch = reader.read(limit, timeout_s=0)
        if batch is None:
            self._finish(progress)
            return 0
        if batch.count == 0:
            progress.reader.release(batch)
            if self._stop_requested.is_set() and progress.stream.fault is not None:
                self._finish(progress)  # a failed device will send nothing more
            return 0
        self._write(progress, batch)
        return batch.count

    def _write(self, progress: _StreamProgress, batch) -> None:
        stop = self._stop_at_s
        times = batch.session_time_s
        n = batch.count
        done = bool(times[n - 1] >= stop)
        if done:
            n = int(np.searchsorted(times, stop, side="left"))
        # items delivered after the reader attached but from before the start (a device that
        # lags the others) are not part of the recorded interval; searched only when there are
        lo = 0
        if times[0] < self._start_at_s:
            lo = min(n, int(np.searchsorted(times, self._start_at_s, side="left")))
        index = batch.index
        if n > lo:
            if progress.stream.name == self.daq_name:
                self._write_daq(progress, index[lo:n], batch.data[lo:n])
            else:
                self._write_frames(progress, batch, n, lo)
            progress.last_time_s = float(times[n - 1])
            progress.written += n - lo
        progress.reader.release(batch)
        if done:
            self._finish(progress)

    def _write_daq(self, progress: _StreamProgress, index: np.ndarray, data: np.ndarray) -> None:
        if progress.first_index is None:
            progress.first_index = int(index[0])
            self.start_index = progress.first_index
        elif int(index[0]) != progress.expected_index:
            self.writer.add_gap(progress.expected_index, int(index[0]))
        breaks = np.flatnonzero(np.diff(index) != 1)
        for b in breaks.tolist():  # a gap inside the batch
            self.writer.add_gap(int(index[b]) + 1, int(index[b + 1]))
        self.writer.append_analog(data)
        progress.expected_index = int(index[-1]) + 1

    def _write_frames(self, progress: _StreamProgress, batch, n: int, lo: int = 0) -> None:
        name = progress.stream.name
        index = batch.index[lo:n]
        if progress.first_index is None:
            progress.first_index = int(index[0])
            expected = int(index[0])
        else:
            expected = progress.expected_index
        steps = np.diff(np.r_[expected - 1, index])
        if np.any(steps > 1):
            missing = [
                k
                for j in np.flatnonzero(steps > 1).tolist()
                for k in range(int(index[j]) - int(steps[j]) + 1, int(index[j]))
            ]
            progress.dropped.extend(missing)
            self.writer.add_dropped_frames(name, missing)
        for i in range(lo, n):
            self.writer.append_frame(
                name,
                batch.data[i],
                frame_index=int(batch.index[i]),
                session_time_s=float(batch.session_time_s[i]),
                camera_time_s=float(batch.device_time_s[i]),
                host_time_s=float(batch.host_time_s[i]),
            )
        progress.expected_index = int(index[-1]) + 1

    def _drain_queue(self) -> None:
        writer = self.writer
        held, self._held = self._held, []
        for item in held:
            self._stance(item)
        for camera, waiting in self._held_markers.items():
            while waiting and self._marker_rows_due(camera, waiting[0]):
                rest = self._markers(waiting.popleft())
                if rest is not None:
                    waiting.appendleft(rest)
                    break
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            kind = item[0]
            if kind == "markers":
                waiting = self._held_markers.setdefault(item[1], deque())
                if waiting:
                    waiting.append(item)  # after the rows already waiting: rows stay in order
                else:
                    rest = self._markers(item)
                    if rest is not None:
                        waiting.append(rest)
            elif kind == "stance":
                self._stance(item)
            elif kind == "mark":
                writer.add_mark(item[1], item[2])
            elif kind == "step":
                writer.add_protocol_step(item[1], item[2], item[3], item[4])

    def _stance(self, item: tuple) -> None:
        """Stances that began inside the recording (one in progress at the start is not)."""
        record = item[1]
        daq = self.streams[self.daq_name]
        if daq.first_index is None:
            if not daq.finished:
                self._held.append(item)
            return
        start_s = daq.first_index / daq.stream.rate_hz
        if record["contact_s"] >= start_s and record["toe_off_s"] <= daq.last_time_s:
            self.writer.append_stance(record)
        elif record["contact_s"] >= start_s and not daq.finished:
            self._held.append(item)

    def _marker_rows_due(self, camera: str, item: tuple) -> bool:
        """Can waiting marker rows be settled: their first frame is written, or the camera's
        stream has ended (rows of frames never written are then dropped)?"""
        progress = self.streams[camera]
        if progress.finished:
            return True
        return progress.first_index is not None and item[2][0] < (progress.expected_index or 0)

    def _markers(self, item: tuple) -> tuple | None:
        """Write the marker rows of recorded frames (a frame before the start or after the stop
        is not in the file, so neither are its markers); return the rows of frames not written
        yet, to wait for them (checked by their first frame only, so that the rows a tracker
        ahead of the recorder sends cost nothing until their frames are written)."""
        _, camera, index, xy, quality = item
        progress = self.streams[camera]
        written_to = progress.expected_index or 0
        if progress.first_index is None or index[0] >= written_to:
            return None if progress.finished else item
        if index[0] >= progress.first_index and index[-1] < written_to:  # the usual case
            self.writer.append_marker_rows(camera, index, xy, quality)
            return None
        recorded = (index >= progress.first_index) & (index < written_to)
        if recorded.any():
            self.writer.append_marker_rows(camera, index[recorded], xy[recorded], quality[recorded])
        later = index >= written_to
        if later.any() and not progress.finished:
            return ("markers", camera, index[later], xy[later], quality[later])
        return None
