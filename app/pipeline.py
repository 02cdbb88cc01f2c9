"""The live data path: one producer thread per device writing into its own preallocated ring.

Every item gets its session time here, on the producer thread, before any consumer sees it:

- DAQ samples: ``t = sample_index / rate`` (the session clock itself);
- hardware sync: frame ``k`` was triggered by DAQ pulse ``k`` at sample ``k · samples_per_frame``,
  so ``t = hardware_frame_time(k · samples_per_frame, rate, trigger_delay_s)``, exact;
- software sync: the camera clock is mapped through the online fit of
  :class:`analysis.clock_sync.SoftwareClockSync` (DAQ blocks and frames stamped with the host's
  monotonic clock on arrival); the standard error is kept per frame;
- replay: the session time stored in the file.

A device that fails (``DeviceError``, or anything unexpected from a driver) stops only its own
producer: the ring is closed so consumers drain what arrived, the fault is kept for the status and
reported once to ``on_fault``. Consumers (recorder, live analysis, display) live elsewhere and
attach their own readers to :attr:`DeviceStream.ring`.
"""

from __future__ import annotations

import abc
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.clock_sync import ClockSyncSettings, SoftwareClockSync, hardware_frame_time
from analysis.errors import AnalysisError, MidstanceError
from app.ring_buffer import RingBuffer
from drivers.base import Chunk, Device, DeviceError, DeviceLost, StreamDescription, StreamKind

DAQ_RING_SECONDS = 20.0  # analog history kept: the display window and the zeroing record fit
FRAME_RING_SECONDS = 2.0  # frames kept: what the recorder may lag before the producer waits
FRAME_RING_BYTES = 256e6  # ... but at most this much memory per camera (1280x1024: ~195 frames)
DAQ_CHUNK_SECONDS = 0.01  # one read of the DAQ: 10 ms of samples (100 reads/s; the live delay)
FRAME_CHUNK = 8  # frames per read


class AppendLog:
    """A 1-D record that only grows, in one contiguous buffer doubled when full.

    Session-long histories (software-sync timestamps, witness edges) were lists of one small
    array per read: ~100 bytes of array object per read of a few items, hundreds of reads a
    second, megabytes a minute (issue #5). Here an item costs its own bytes (8 for float64)
    and nothing else. One thread appends; any thread may take :meth:`view`, a snapshot that
    stays valid (items in it never change; the buffer is replaced, not resized, when it grows).
    """

    def __init__(self, dtype: np.dtype | type = np.float64, capacity: int = 1024) -> None:
        self._data = np.empty(max(1, capacity), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, values: np.ndarray | float) -> None:
        values = np.ravel(values)
        n, k = self._n, values.size
        if n + k > len(self._data):
            grown = np.empty(max(2 * len(self._data), n + k), dtype=self._data.dtype)
            grown[:n] = self._data[:n]
            self._data = grown
        self._data[n : n + k] = values
        self._n = n + k

    def view(self) -> np.ndarray:
        """Everything appended so far (read the length first: the buffer then holds it)."""
        n = self._n
        return self._data[:n]

    @property
    def nbytes(self) -> int:
        """Memory held (the buffer, filled or not)."""
        return self._data.nbytes


class CounterRuns:
    """Frame counters of every frame a camera delivered, kept as runs of consecutive counters:
    memory grows with the gaps in the counters (dropped frames), not with the frames."""

    def __init__(self) -> None:
        self._starts = AppendLog(np.int64, 16)
        self._stops = AppendLog(np.int64, 16)  # exclusive
        self._lock = threading.Lock()
        self.count = 0

    def __len__(self) -> int:
        return self.count

    @property
    def runs(self) -> int:
        return len(self._starts)

    @property
    def nbytes(self) -> int:
        return self._starts.nbytes + self._stops.nbytes

    def extend(self, counters: np.ndarray) -> None:
        c = np.asarray(counters, dtype=np.int64).ravel()
        if not c.size:
            return
        if c.size == c[-1] - c[0] + 1 and (c.size < 3 or bool(np.all(np.diff(c) == 1))):
            starts, stops = c[:1], c[-1:] + 1  # the usual read: one run
        else:
            breaks = np.flatnonzero(np.diff(c) != 1) + 1
            starts = c[np.r_[0, breaks]]
            stops = c[np.r_[breaks - 1, c.size - 1]] + 1
        with self._lock:
            n = len(self._stops)
            if n and self._stops.view()[n - 1] == starts[0]:
                self._stops.view()[n - 1] = stops[0]  # continues the last run
                starts, stops = starts[1:], stops[1:]
            self._starts.extend(starts)
            self._stops.extend(stops)
            self.count += c.size

    def array(self, at_least: int | None = None) -> np.ndarray:
        """Every counter (``>= at_least`` if given), in the order delivered (int64)."""
        with self._lock:
            starts, stops = self._starts.view().copy(), self._stops.view().copy()
        if at_least is not None:
            keep = stops > at_least
            starts, stops = np.maximum(starts[keep], at_least), stops[keep]
        lengths = stops - starts
        first_position = np.cumsum(lengths) - lengths
        return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(
            starts - first_position, lengths
        )

    def last(self) -> int | None:
        with self._lock:
            n = len(self._stops)
            return int(self._stops.view()[n - 1]) - 1 if n else None


class FrameClock(abc.ABC):
    """Gives each delivered item its session time (see the module docstring)."""

    name = "daq"

    @abc.abstractmethod
    def times(self, chunk: Chunk) -> np.ndarray: ...

    def to_dict(self) -> dict:
        return {"kind": self.name}


class DaqClock(FrameClock):
    """The session clock itself: sample ``n`` is at ``n / rate``."""

    name = "daq-sample-clock"

    def __init__(self, rate_hz: float, software: list[SoftwareClockSync] | None = None) -> None:
        self.rate_hz = rate_hz
        self.software = software if software is not None else []
        self.lock = threading.Lock()
        self.block_end_s = AppendLog()  # software sync: every block, for the offline refit
        self.block_host_s = AppendLog()

    def times(self, chunk: Chunk) -> np.ndarray:
        t = chunk.item_indices() / self.rate_hz
        if self.software and chunk.count:
            end = (chunk.item_indices()[-1] + 1) / self.rate_hz
            with self.lock:
                self.block_end_s.extend(float(end))
                self.block_host_s.extend(chunk.host_time_s)
                for sync in self.software:
                    sync.add_daq_blocks(np.array([end]), np.array([chunk.host_time_s]))
        return t

    def to_dict(self) -> dict:
        return {"kind": self.name, "rate_hz": self.rate_hz}


class HardwareFrameClock(FrameClock):
    """Frame ``k`` ↔ DAQ pulse ``k``: exact, no estimate.

    ``k`` is the camera's frame counter, which counts exposures: after a missed trigger it runs
    behind the pulse index. The live witness reconciliation then sets the counter → pulse
    offset from the first counter it applies to (:meth:`set_pulse_offset`); frames timed
    before it found the miss keep their time until the recording closes and the file is
    corrected (``app.session_finish``)."""

    name = "hardware-trigger"

    def __init__(
        self,
        daq_rate_hz: float,
        samples_per_frame: int,
        trigger_delay_s: float = 0.0,
        first_sample: int = 0,
    ) -> None:
        self.daq_rate_hz = daq_rate_hz
        self.samples_per_frame = samples_per_frame
        self.trigger_delay_s = trigger_delay_s
        self.first_sample = first_sample
        # counter → pulse: from counter starts[i] on, pulse = counter + offsets[i]; one tuple,
        # replaced whole (never mutated), so a reader on another thread sees old or new
        self._table = (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))

    @property
    def pulse_offset(self) -> int:
        """Pulses the camera has missed so far, as far as the live reconciliation knows."""
        return int(self._table[1][-1])

    def set_pulse_offset(self, from_counter: int, offset: int) -> None:
        """From frame counter ``from_counter`` on, the frame's pulse is counter + ``offset``."""
        starts, offsets = self._table
        if offset == offsets[-1] or from_counter <= starts[-1]:
            return
        self._table = (np.append(starts, from_counter), np.append(offsets, offset))

    def pulse_of(self, frame_counter: np.ndarray) -> np.ndarray:
        counters = np.asarray(frame_counter, dtype=np.int64)
        starts, offsets = self._table
        if offsets.size == 1:
            return counters + offsets[0]
        return counters + offsets[np.searchsorted(starts, counters, side="right") - 1]

    def times(self, chunk: Chunk) -> np.ndarray:
        return self.times_of(chunk.item_indices())

    def times_of(self, frame_index: np.ndarray) -> np.ndarray:
        """Session times of frames by their counter (their pulse's exposure start)."""
        samples = self.first_sample + self.pulse_of(frame_index) * self.samples_per_frame
        return hardware_frame_time(samples, self.daq_rate_hz, self.trigger_delay_s)

    def to_dict(self) -> dict:
        return {
            "kind": self.name,
            "daq_rate_hz": self.daq_rate_hz,
            "samples_per_frame": self.samples_per_frame,
            "trigger_delay_s": self.trigger_delay_s,
            "first_sample": self.first_sample,
        }


class SoftwareFrameClock(FrameClock):
    """Camera clock → session clock through the online lower-envelope fit (with its error)."""

    name = "software-timestamps"

    def __init__(self, frame_rate_hz: float, daq_clock: DaqClock, settings=None) -> None:
        self.frame_rate_hz = frame_rate_hz
        self.settings = settings or ClockSyncSettings(frame_period_s=1.0 / frame_rate_hz)
        self.sync = SoftwareClockSync(self.settings)
        self.daq_clock = daq_clock
        with daq_clock.lock:
            daq_clock.software.append(self.sync)
        self.latest_standard_error_s = math.nan
        self.uncertain_frames = 0
        self.unmapped_frames = 0
        self.camera_time_log = AppendLog()  # every frame, for the offline refit
        self.host_time_log = AppendLog()

    def camera_times(self, chunk: Chunk) -> np.ndarray:
        """The camera's own time of each frame (timestamps, or counter / nominal rate)."""
        if chunk.device_time_s is not None:
            return np.asarray(chunk.device_time_s[: chunk.count], dtype=float)
        return chunk.item_indices() / self.frame_rate_hz

    def times(self, chunk: Chunk) -> np.ndarray:
        camera = self.camera_times(chunk)
        host = np.full(chunk.count, chunk.host_time_s)
        with self.daq_clock.lock:
            self.camera_time_log.extend(camera)
            self.host_time_log.extend(host)
            self.sync.add_frames(camera, host)
            try:
                mapped = self.sync.map_frames(camera)
            except AnalysisError:  # no DAQ block yet: the frame cannot be placed on the clock
                self.unmapped_frames += chunk.count
                return np.full(chunk.count, np.nan)
        self.latest_standard_error_s = float(mapped.standard_error_s[-1])
        self.uncertain_frames += int(np.count_nonzero(mapped.uncertain))
        return mapped.session_time_s

    def to_dict(self) -> dict:
        out = {"kind": self.name, "frame_rate_hz": self.frame_rate_hz}
        out["settings"] = self.settings.to_dict()
        try:
            with self.daq_clock.lock:
                out["online_mapping"] = self.sync.mapping().to_dict()
        except AnalysisError:
            out["online_mapping"] = None
        out["latest_standard_error_s"] = self.latest_standard_error_s
        out["uncertain_frames"] = self.uncertain_frames
        out["unmapped_frames"] = self.unmapped_frames
        return out


class RecordedFrameClock(FrameClock):
    """Replay: the session time the file stored for each frame index."""

    name = "recorded"

    def __init__(self, lookup: Callable[[np.ndarray], np.ndarray]) -> None:
        self.lookup = lookup

    def times(self, chunk: Chunk) -> np.ndarray:
        return self.lookup(chunk.item_indices())


@dataclass
class DeviceFault:
    device: str
    message: str
    remedy: str
    session_time_s: float
    lost: bool  # the device went away (unplugged) rather than reporting an error


class DeviceStream:
    """One device, its ring and its producer thread."""

    def __init__(
        self,
        device: Device,
        *,
        role: str,
        view: str = "",
        clock: FrameClock,
        ring_seconds: float | None = None,
        on_fault: Callable[[DeviceStream, DeviceFault], None] | None = None,
        on_progress: Callable[[DeviceStream], None] | None = None,
        hold_back: Callable[[], float] | None = None,
    ) -> None:
        self.device = device
        self.name = device.name
        self.role = role  # "daq" or "camera"
        self.view = view
        self.clock = clock
        self.description: StreamDescription = device.describe()
        rate = self.description.rate_hz
        analog = self.description.kind is StreamKind.ANALOG
        seconds = ring_seconds or (DAQ_RING_SECONDS if analog else FRAME_RING_SECONDS)
        self.chunk_items = max(1, round(rate * DAQ_CHUNK_SECONDS)) if analog else FRAME_CHUNK
        capacity = max(4 * self.chunk_items, round(rate * seconds))
        if not analog:
            item_bytes = (
                int(np.prod(self.description.shape)) * np.dtype(self.description.dtype).itemsize
            )
            capacity = max(4 * self.chunk_items, min(capacity, int(FRAME_RING_BYTES // item_bytes)))
        self.ring = RingBuffer(self.name, self.description.shape, self.description.dtype, capacity)
        self.on_fault = on_fault
        self.on_progress = on_progress
        # pace "fast": the latest session time this producer may reach now (keeps the DAQ
        # from racing ahead of the cameras when every device delivers as fast as it is read)
        self.hold_back = hold_back
        self.items = 0
        self.dropped = 0
        self.received = CounterRuns()  # frame counters of every item (cameras only)
        self.latest_session_time_s = math.nan
        self.fault: DeviceFault | None = None
        self.exhausted = False
        self._stop = threading.Event()
        self._asked_since = math.inf  # monotonic time the device was first asked in vain
        self._thread = threading.Thread(target=self._run, name=f"produce-{self.name}", daemon=True)

    @property
    def rate_hz(self) -> float:
        return self.description.rate_hz

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 5.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def silent_for_s(self) -> float:
        """How long (wall clock) the device has been asked for data and delivered none; 0 while
        it delivers, and while it is not asked (held back, or its readers are a ring behind)."""
        since = self._asked_since
        return max(0.0, time.monotonic() - since) if math.isfinite(since) else 0.0

    def give_up(self, message: str, remedy: str, join_s: float = 1.0) -> None:
        """A device that went silent without an error: kept as its fault, its producer stopped
        and its ring closed (even if a read never returns), so the recorder and the live
        analysis end its stream instead of waiting for it."""
        if self.fault is None:
            self._record_fault(message, remedy, False)
        self._stop.set()
        self.join(join_s)
        self.ring.close()

    def _run(self) -> None:
        device, ring = self.device, self.ring
        try:
            while not self._stop.is_set():
                if self.hold_back is not None and self.latest_session_time_s > self.hold_back():
                    self._asked_since = math.inf
                    self._stop.wait(0.002)
                    continue
                view = ring.reserve(self.chunk_items, timeout_s=0.1)
                if len(view) == 0:
                    self._asked_since = math.inf
                    continue  # a lossless reader is a whole ring behind; the ring counts it
                if not math.isfinite(self._asked_since):
                    self._asked_since = time.monotonic()
                chunk = device.read(view, timeout_s=0.2)
                if chunk.count:
                    self._asked_since = math.inf
                else:
                    ring.commit(0)
                    if getattr(device, "exhausted", False):
                        self.exhausted = True
                        break
                    continue
                times = self.clock.times(chunk)
                if self.role == "camera":
                    self.received.extend(chunk.item_indices())
                ring.commit_chunk(chunk, session_time_s=times)
                self.items += chunk.count
                self.dropped += chunk.dropped
                last = times[-1] if np.ndim(times) else times
                if np.isfinite(last):
                    self.latest_session_time_s = float(last)
                if self.on_progress is not None:
                    self.on_progress(self)
        except DeviceError as exc:
            self._record_fault(exc.problem, exc.remedy, isinstance(exc, DeviceLost))
        except MidstanceError as exc:
            self._record_fault(exc.sentence(), exc.remedy, False)
        except Exception as exc:  # a driver bug must not take the session down with it
            self._record_fault(f"{type(exc).__name__}: {exc}", "Reconnect the device.", False)
        finally:
            ring.close()

    def _record_fault(self, message: str, remedy: str, lost: bool) -> None:
        self.fault = DeviceFault(self.name, message, remedy, self.latest_session_time_s, lost)
        if self.on_fault is not None:
            self.on_fault(self, self.fault)


def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout_s``; for the controller's blocking helpers."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True
