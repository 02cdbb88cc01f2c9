"""Live analysis: stances from the force stream joined with the video metrics of the same stance.

Threads (each a consumer with its own reader on a device's ring):

- one **marker tracker per camera**: detect blobs and label them on every frame
  (:func:`analysis.markers.detect_markers`, :class:`analysis.tracking.MarkerTracker`), keeping
  the recent tracks with their session times;
- one **force analyser**: raw volts into :class:`analysis.streaming_force.StreamingForceAnalyser`
  (in a worker process in real time, :mod:`app.force_worker`, as the trackers' per-frame work is);
  each completed stance waits until every camera has tracked past its toe-off, then the video
  metrics of that stance are computed (:mod:`app.stance_video`, in the force
  worker in real time) and
  joined into a :class:`~app.session_types.StanceResult` (a camera whose frames do not cover the
  stance, e.g. it failed during it, gives that stance no metrics: ``video_incomplete_<view>``,
  never a number read across the hole). In hardware sync it also decodes the
  exposure witness of each camera for the pulse/edge/frame reconciliation.

Recording start: :meth:`ForceAnalysis.restart_at` restarts the streaming force analyser at the
file's first DAQ sample, so each stance journalled to the file is computed from samples the file
holds (its belt-vibration history included) and a replay of the file gives the same stances
(docs/acquisition.md). If the analyser has already passed that sample, it re-analyses from it
the last ``REWIND_SECONDS`` of volts it keeps.

Back-pressure: at pace ``fast`` (tests, headless, replay) the readers are lossless, so results do
not depend on thread timing; at pace ``realtime`` they are sequential readers that fall behind
rather than hold up acquisition, and every item they missed is counted and flagged. An exception
in a consumer is caught, kept as its error (``status().consumer_errors``) and ends only that
consumer; acquisition and recording carry on.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from analysis.exposure_witness import EdgeDecoder, WitnessSettings
from analysis.force_metrics import StanceRecord
from analysis.force_settings import ForceSettings
from analysis.forceplate import PlateConfig
from analysis.marker_sets import MarkerSet
from analysis.plane_calibration import PlaneCalibration
from analysis.tracking import MEASURED, PREDICTED
from analysis.vision_settings import VisionSettings
from app.force_worker import ForceEngine, InlineForceEngine, ProcessForceEngine
from app.marker_worker import (
    DEPTH,
    InlineMarkerEngine,
    MarkerEngine,
    ProcessMarkerEngine,
)
from app.pipeline import AppendLog, DeviceStream, HardwareFrameClock
from app.session_types import StanceResult
from app.stance_video import VIDEO_WINDOW_PAD_S, CameraWindow, StanceVideoRequest

TIME_POINT_FIELDS = (
    "contact_s",
    "toe_off_s",
    "midstance_peak_vgrf_s",
    "midstance_ap_s",
    "midstance_half_s",
    "midstance_s",
    "impact_peak_s",
)
TRACK_SECONDS = 6.0  # marker history kept per camera (a stance waits at most a few seconds)
JOIN_MARGIN_FRAMES = 2  # frames past toe-off a camera must have tracked before the join
# After toe-off the video window ends JOIN_MARGIN_FRAMES frames later (no metric reads a frame
# after toe-off but the one bracketing it), so the join waits for no more than that.
BATCH_FRAMES = 16  # frames a tracker reads (and sends to its worker) at once
# In real time a tracker that has caught up waits until this many frames are there (at most
# GATHER_MAX_S) before it reads: each batch costs the thread ~0.1 ms of the interpreter lock
# whatever its size, and batches of one frame (500 a second per camera) cost more of the lock
# than the frames. The stance result waits for the force analysis ~40 ms after toe-off
# anyway; the wait adds at most GATHER_MAX_S to the video part, which ends long before.
GATHER_FRAMES = 4
GATHER_MAX_S = 0.008
LOSSLESS_BLOCK_S = 0.25
REWIND_SECONDS = 10.0  # volts kept to restart the force analysis at a sample already analysed
RESTART_WAIT_S = 1.0  # a tracker waits this long at most for a prepared restart's time


class TrackStore:
    """The recent labelled markers of one camera, by frame, on the session clock."""

    def __init__(self, names: Sequence[str], capacity: int) -> None:
        n = len(names)
        self.names = tuple(names)
        self.capacity = capacity
        self.index = np.full(capacity, -1, dtype=np.int64)
        self.time_s = np.full(capacity, np.nan)
        self.xy = np.full((capacity, n, 2), np.nan)
        self.flags = np.zeros((capacity, n), dtype=np.uint8)
        self.count = 0
        self.lock = threading.Lock()

    def add(self, index: int, time_s: float, xy: np.ndarray, flags: np.ndarray) -> None:
        self.add_batch([index], [time_s], xy[None], flags[None])

    def add_batch(
        self,
        index: Sequence[int],
        time_s: Sequence[float],
        xy: np.ndarray,
        flags: np.ndarray,
        times_of: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Frames in order (at most ``capacity``): one lock and one array write per field.
        ``times_of`` (frame counters → session times) replaces ``time_s``, under the lock that
        :meth:`retime` takes, so a batch timed as :meth:`retime` runs is never left behind."""
        n = len(index)
        with self.lock:
            slots = (self.count + np.arange(n)) % self.capacity
            self.index[slots] = index
            self.time_s[slots] = time_s if times_of is None else times_of(np.asarray(index))
            self.xy[slots] = xy
            self.flags[slots] = flags
            self.count += n

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, xy, flags) of the frames with ``t0 <= t <= t1``, in time order."""
        with self.lock:
            n = min(self.count, self.capacity)
            order = (np.arange(self.count - n, self.count)) % self.capacity
            times = self.time_s[order]
            keep = order[(times >= t0) & (times <= t1)]
            return self.time_s[keep].copy(), self.xy[keep].copy(), self.flags[keep].copy()

    def retime(self, from_index: int, times_of: Callable[[np.ndarray], np.ndarray]) -> None:
        """New session times for the kept frames from counter ``from_index`` on (their pulse
        was found after they were timed: a missed trigger)."""
        with self.lock:
            slots = np.flatnonzero(self.index >= from_index)
            if slots.size:
                self.time_s[slots] = times_of(self.index[slots])

    def newest_index(self) -> int | None:
        """The newest frame the tracker has finished (None before the first)."""
        with self.lock:
            return int(self.index[(self.count - 1) % self.capacity]) if self.count else None

    def markers_of(self, index: int) -> dict[str, tuple[float, float]]:
        """Labelled marker pixels of one frame (empty when it was not tracked or is too old)."""
        with self.lock:
            n = min(self.count, self.capacity)
            if n == 0:
                return {}
            newest = (self.count - 1) % self.capacity
            back = int(self.index[newest] - index)
            slot = (self.count - 1 - back) % self.capacity
            if not 0 <= back < n or self.index[slot] != index:
                hits = np.flatnonzero(self.index == index)
                if not hits.size:
                    return {}
                slot = int(hits[0])
            xy = self.xy[slot]
            return {
                name: (float(xy[i, 0]), float(xy[i, 1]))
                for i, name in enumerate(self.names)
                if np.isfinite(xy[i]).all()
            }


class WitnessLog:
    """Exposure-witness edges of every camera since connect (hardware sync), decoded block by
    block on the force thread; outlives a restart of the force analysis (e.g. after zeroing)."""

    def __init__(self, channels: dict[str, int], rate_hz: float) -> None:
        self.channels = dict(channels)
        self.rate_hz = rate_hz
        self.edges = {c: AppendLog() for c in self.channels}  # 8 bytes an edge (issue #5)
        self.samples_decoded = 0
        self._decoders: dict[str, EdgeDecoder] = {}
        self._expected: int | None = None

    def feed(self, index: np.ndarray, volts: np.ndarray) -> None:
        first = int(index[0])
        if self._expected is None or first != self._expected:
            self._decoders = {
                c: EdgeDecoder(WitnessSettings(), first_sample=first) for c in self.channels
            }
        for camera, column in self.channels.items():
            self.edges[camera].extend(self._decoders[camera].feed(volts[:, column]))
        self._expected = int(index[-1]) + 1
        self.samples_decoded = self._expected

    def edge_times(self, camera: str) -> np.ndarray:
        """Witness edge times (session seconds) decoded so far for one camera."""
        edges = self.edges.get(camera)
        return edges.view() / self.rate_hz if edges is not None else np.empty(0)


class _Consumer:
    """A consumer thread whose failure is kept, never raised into acquisition."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.error: str | None = None
        self.done = False
        self.ready = threading.Event()  # set once its engine is up (or it failed to start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 10.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:  # the consumer dies alone; acquisition is not its to stop
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.release(failed=self.error is not None)  # a reader left behind stops the producer
            self.done = True
            self.ready.set()

    def run(self) -> None:  # pragma: no cover - overridden
        raise RuntimeError("subclasses implement run()")

    def release(self, failed: bool) -> None:
        """Release what the consumer held (a lossless reader: flagged if it ``failed``)."""


def _reader(stream: DeviceStream, name: str, lossless: bool, max_items: int):
    if lossless:
        return stream.ring.lossless_reader(name)
    return stream.ring.sequential_reader(name, max_items)


class CameraTracker(_Consumer):
    """Marker detection and labelling on every frame of one camera."""

    def __init__(
        self,
        stream: DeviceStream,
        marker_set: MarkerSet,
        calibration: PlaneCalibration,
        settings: VisionSettings,
        *,
        lossless: bool,
        in_process: bool = False,
        marker_sink: Callable[[str, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    ) -> None:
        super().__init__(f"track-{stream.name}")
        self.stream = stream
        self.marker_set = marker_set
        self.calibration = calibration
        self.settings = settings
        self.in_process = in_process  # the per-frame work in a worker process (app.marker_worker)
        self.engine: MarkerEngine | None = None  # made on the thread: a worker starts off connect()
        capacity = max(64, round(stream.rate_hz * TRACK_SECONDS))
        self.store = TrackStore(marker_set.markers, capacity)
        self.lossless = lossless
        self.marker_sink = marker_sink
        self.processed_until_s = -math.inf
        self.frames = 0
        self.missed = 0
        self._reader = _reader(stream, self.name, lossless, BATCH_FRAMES)
        # restart_at(): the labelling starts afresh at a recording's first frame
        self.restarted_at_s = -math.inf  # the latest restart_at() time reached ...
        self.track_from_s = -math.inf  # ... and the time of the frame labelled afresh there
        self.restarts = 0
        self._restart_lock = threading.Lock()
        self._restart_given = threading.Event()
        self._restart_s: float | None = None  # asked, not reached yet (NaN: time to come)

    def release(self, failed: bool) -> None:
        if self.lossless and failed:
            self._reader.detach()
        elif self.lossless:
            self._reader.leave()

    def prepare_restart(self) -> None:
        """A restart_at() follows: until it comes, label nothing (at most RESTART_WAIT_S).

        A recording starts after every frame delivered so far; asked before the controller
        reads what was delivered, the tracker cannot have labelled any frame of the recording
        with its old state by the time it learns the first frame's time."""
        with self._restart_lock:
            self._restart_given.clear()
            self._restart_s = math.nan

    def restart_at(self, session_s: float) -> None:
        """Label afresh from the first frame at or after ``session_s`` (a recording's first
        frame), as a re-analysis of the file does; thread-safe."""
        with self._restart_lock:
            self._restart_s = float(session_s)
            self._restart_given.set()

    def _restart_index(self, times_s: np.ndarray) -> int:
        """Where in a batch (frame times) the tracker must start afresh; -1: nowhere."""
        with self._restart_lock:
            wanted = self._restart_s
        if wanted is None:
            return -1
        if math.isnan(wanted):  # prepared: its time is being decided
            self._restart_given.wait(RESTART_WAIT_S)
            with self._restart_lock:
                wanted = self._restart_s
                if wanted is None or math.isnan(wanted):  # never came: label on
                    self._restart_s = None
                    return -1
        k = int(np.searchsorted(times_s, wanted, side="left"))
        if k >= len(times_s):
            return -1  # not reached yet
        with self._restart_lock:
            if self._restart_s == wanted:
                self._restart_s = None
        self.restarted_at_s = wanted
        self.track_from_s = float(times_s[k])
        self.restarts += 1
        return k

    def run(self) -> None:
        self.engine = self._new_engine()
        self.ready.set()
        try:
            self._track(self.engine)
        finally:
            self.engine.close()

    def _new_engine(self) -> MarkerEngine:
        orientation = self.calibration.orientation
        if not self.in_process:
            return InlineMarkerEngine(self.marker_set, orientation, self.settings)
        ring = self.stream.ring
        return ProcessMarkerEngine(
            self.stream.name,
            self.marker_set,
            orientation,
            self.settings,
            frame_shape=ring.data.shape[1:],
            dtype=ring.data.dtype,
            max_frames=BATCH_FRAMES,
        )

    def _track(self, engine: MarkerEngine) -> None:
        """Read, submit, collect — with up to ``DEPTH`` batches in flight, so that a worker
        labels one batch while this thread reads and copies the next."""
        reader = self._reader
        pending: deque[tuple[list[int], list[float]]] = deque()  # submitted, not collected
        ring = self.stream.ring
        gather_s = min(GATHER_MAX_S, GATHER_FRAMES / self.stream.rate_hz) if self.in_process else 0
        while True:
            if gather_s and not pending and ring.written - reader.position < GATHER_FRAMES:
                self._stop.wait(gather_s)
            if len(pending) < DEPTH:
                wait_s = 0.0 if pending else 0.1  # with work in flight, only take what is there
                batch = (
                    reader.read(BATCH_FRAMES, timeout_s=wait_s)
                    if self.lossless
                    else reader.read(wait_s)
                )
                if batch is not None and batch.count:
                    self.missed += batch.missed
                    n = batch.count
                    restart = self._restart_index(batch.session_time_s[:n])
                    engine.submit(batch.data[:n], batch.index[:n], restart)
                    pending.append((batch.index[:n].tolist(), batch.session_time_s[:n].tolist()))
                    if self.lossless:
                        reader.release(batch)  # the engine has its own copy of what it needs
                    continue
                if not pending and (batch is None or self._stop.is_set()):
                    return
                if not pending:
                    continue
            positions, all_flags = engine.collect()
            self._publish(*pending.popleft(), positions, all_flags)

    def _publish(
        self, indices: list[int], times: list[float], positions: np.ndarray, all_flags: np.ndarray
    ) -> None:
        """Labelled frames into the track store and (when recording) the recorder. After a
        missed trigger (hardware sync) the frames are re-timed by the clock's latest counter →
        pulse offset: the ring's times were set when they arrived, maybe before it was known."""
        clock = getattr(self.stream, "clock", None)
        retimed = isinstance(clock, HardwareFrameClock) and clock.pulse_offset != 0
        self.store.add_batch(
            indices, times, positions, all_flags, clock.times_of if retimed else None
        )
        sink = self.marker_sink
        if sink is not None:
            quality = np.where(
                all_flags & MEASURED, 1.0, np.where(all_flags & PREDICTED, 0.0, np.nan)
            )
            sink(self.stream.name, np.asarray(indices, dtype=np.int64), positions, quality)
        finite = [t for t in times if math.isfinite(t)]
        if finite:
            self.processed_until_s = finite[-1]
        self.frames += len(indices)

    def window(self, contact_s: float, t1: float) -> CameraWindow:
        """The labelled markers of a stance's video window: from VIDEO_WINDOW_PAD_S before
        ``contact_s`` to ``t1``. For a stance from the latest restart on (a recording's), not
        before the frame labelled afresh there: the frames before it were labelled by the
        earlier start and are not in the file, so its replay could not read them."""
        t0 = contact_s - VIDEO_WINDOW_PAD_S
        if contact_s >= self.restarted_at_s:
            t0 = max(t0, self.track_from_s)
        times, xy, flags = self.store.window(t0, t1)
        period = 1.0 / self.stream.rate_hz
        return CameraWindow(self.calibration, self.store.names, times, xy, flags, period)


class Completion(NamedTuple):
    """When a force record was complete: host monotonic time and the session time of the newest
    sample the analyser had then (the data it waited for)."""

    monotonic_s: float
    session_s: float


class ForceAnalysis(_Consumer):
    """Stances from the DAQ stream, joined with the camera trackers' video metrics."""

    def __init__(
        self,
        stream: DeviceStream,
        plates: Sequence[PlateConfig],
        settings: ForceSettings,
        vision: VisionSettings,
        trackers: dict[str, CameraTracker],
        *,
        lossless: bool,
        body_weight_N: float | None,
        leg_length_m: float | None,
        witness: WitnessLog | None = None,
        on_stance: Callable[[StanceResult], None] | None = None,
        in_process: bool = False,
    ) -> None:
        super().__init__(f"analyse-{stream.name}")
        self.stream = stream
        self.plates = list(plates)
        self.settings = settings
        self.vision = vision
        self.trackers = trackers
        self.lossless = lossless
        self.body_weight_N = body_weight_N
        self.leg_length_m = leg_length_m
        self.on_stance = on_stance
        self.rate_hz = stream.rate_hz
        self.channel_names = stream.description.channel_names
        self.results: list[StanceResult] = []
        self.results_lock = threading.Lock()
        self.samples = 0
        self.missed = 0
        self.restarts = 0
        self.witness = witness
        self.in_process = in_process  # the analysis in a worker process (app.force_worker)
        self.engine: ForceEngine | None = None  # made on the thread: a worker starts off connect()
        self._started = False  # the engine has an analyser (restarted at least once)
        self._origin = 0  # DAQ sample index of the analyser's first sample
        self._expected: int | None = None
        self._pending: list[tuple[StanceRecord, Completion]] = []
        self._reader = _reader(stream, self.name, lossless, max(256, stream.chunk_items * 4))
        # at pace fast, up to LOSSLESS_BLOCK_S of samples per read: the records do not depend on
        # the block size, and with a worker each read is a round trip (kept few, so the force
        # analysis keeps up with the cameras and the midstance frames are still in their rings)
        self._lossless_block = max(stream.chunk_items * 4, round(LOSSLESS_BLOCK_S * stream.rate_hz))
        self._request_lock = threading.Lock()
        self._requested: int | None = None  # restart_at() from another thread, not yet taken
        self._restart_from: int | None = None  # a restart waiting for its sample to arrive
        self._recent: deque[tuple[int, np.ndarray]] = deque()  # (first index, volts) blocks
        self._recent_samples = 0
        self.superseded = 0  # stances emitted before a restart that went back past them

    def restart_at(self, first_sample: int) -> None:
        """Analyse from DAQ sample ``first_sample`` on as if the stream began there (the first
        sample of a recording). Thread-safe; the analysis thread applies it before its next
        block. Stances starting before it keep their results; stances from it on are computed
        from its samples only."""
        with self._request_lock:
            self._requested = int(first_sample)

    def release(self, failed: bool) -> None:
        if self.lossless and failed:
            self._reader.detach()
        elif self.lossless:
            self._reader.leave()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        self.engine = self._new_engine()
        self.ready.set()
        try:
            self._analyse()
        finally:
            self.engine.close()

    def _new_engine(self) -> ForceEngine:
        args = (self.plates, self.rate_hz, self.settings, self.channel_names)
        if self.in_process:
            return ProcessForceEngine(self.stream.name, *args)
        return InlineForceEngine(*args)

    def _analyse(self) -> None:
        reader = self._reader
        while True:
            batch = (
                reader.read(self._lossless_block, timeout_s=0.1)
                if self.lossless
                else reader.read(0.1)
            )
            if batch is None:
                break
            self._take_restart_request()
            if batch.count:
                self.missed += batch.missed
                self._feed(batch.index, batch.data)
                if self.lossless:
                    reader.release(batch)
            elif self._stop.is_set():
                break
            self._join_ready(final=False)
        if self._started:
            self._collect(self.engine.finish())
        self._wait_for_trackers()
        self._join_ready(final=True)

    def _feed(self, index: np.ndarray, volts: np.ndarray) -> None:
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        if breaks.size:  # a gap inside the batch: each contiguous stretch on its own
            for part, block in zip(np.split(index, breaks), np.split(volts, breaks), strict=True):
                self._feed(part, block)
            return
        first, last = int(index[0]), int(index[-1])
        block = volts
        if self._expected is None or first != self._expected:
            # the first block, or samples were lost (device gap or analysis fell behind):
            # restart the analyser there rather than join two stretches of force
            self._restart(first)
            self._recent.clear()
            self._recent_samples = 0
        self._expected = last + 1
        self.samples += len(index)
        self._keep(first, volts)
        start = self._restart_from
        if start is not None and start <= last:  # a recording starts inside this block
            self._restart_from = None
            k = max(0, start - first)
            if k:
                self._push(volts[:k])
            self._restart(max(start, first))
            volts = volts[k:]
        if len(volts):
            self._push(volts)
        if self.witness is not None:
            self.witness.feed(index, block)

    def _push(self, volts: np.ndarray) -> None:
        # the body weight goes with every block: set_subject() may change it at any time
        self._collect(self.engine.push(volts, self.body_weight_N))

    def _keep(self, first: int, volts: np.ndarray) -> None:
        """The last REWIND_SECONDS of volts, for a restart at a sample already analysed."""
        self._recent.append((first, np.array(volts, copy=True)))
        self._recent_samples += len(volts)
        limit = REWIND_SECONDS * self.rate_hz
        while self._recent_samples - len(self._recent[0][1]) >= limit:
            self._recent_samples -= len(self._recent.popleft()[1])

    def _take_restart_request(self) -> None:
        with self._request_lock:
            start, self._requested = self._requested, None
        if start is None or (self._started and start == self._origin):
            return  # nothing asked, or the analyser already began at that sample
        if self._expected is None or start >= self._expected:
            self._restart_from = start  # not there yet: restart when its block arrives
            return
        # already analysed past it: start again there from the volts kept
        self._restart_from = None
        oldest = self._recent[0][0] if self._recent else self._expected
        start = max(start, oldest)  # older than what is kept: from the oldest kept sample
        self._restart(start)
        for first, block in self._recent:
            if first + len(block) > start:
                self._push(block[max(0, start - first) :])

    def _restart(self, first_sample: int) -> None:
        if self._started:
            self._collect(self.engine.finish())
            self.restarts += 1
            self._drop_from(first_sample / self.rate_hz)
        self._origin = first_sample
        self.engine.restart(self.body_weight_N)
        self._started = True

    def _drop_from(self, session_s: float) -> None:
        """Forget the stances contacting at or after ``session_s`` that the analyser being
        replaced computed: the new one computes them from its own samples."""
        self._pending = [p for p in self._pending if p[0].contact_s < session_s]
        with self.results_lock:
            self.superseded += sum(r.contact_s >= session_s for r in self.results)

    def _collect(self, records: list[StanceRecord]) -> None:
        shift = self._origin / self.rate_hz
        done = Completion(time.monotonic(), (self._expected or 0) / self.rate_hz)
        for record in records:
            shifted = record
            if shift:
                shifted = record.with_changes(
                    **{
                        name: getattr(record, name) + shift
                        for name in TIME_POINT_FIELDS
                        if getattr(record, name) is not None
                    }
                )
            self._pending.append((shifted, done))

    def _wait_for_trackers(self) -> None:
        """At the end, let the trackers finish the frames they already have."""
        for tracker in self.trackers.values():
            tracker.join(10.0)

    def _join_ready(self, final: bool) -> None:
        if not self._pending:
            return
        still: list[tuple[StanceRecord, Completion]] = []
        for rec, completed in self._pending:
            need = self._video_end_s(rec)
            ready = all(t.done or t.processed_until_s >= need for t in self.trackers.values())
            if ready or final:
                self._emit(self._join(rec, completed.monotonic_s, completed.session_s))
            else:
                still.append((rec, completed))
        self._pending = still

    # -- one stance --------------------------------------------------------------------------

    def _video_end_s(self, rec: StanceRecord) -> float:
        """The end of a stance's video window: the frames the join waits for, and no more."""
        period = max((1.0 / t.stream.rate_hz for t in self.trackers.values()), default=0.0)
        return rec.toe_off_s + JOIN_MARGIN_FRAMES * period

    def _join(
        self, rec: StanceRecord, completed: float, available_s: float = math.nan
    ) -> StanceResult:
        """The stance with its video metrics; ``completed`` is the host monotonic time the force
        record was complete, ``available_s`` the session time of the data it waited for."""
        flags = list(rec.flags)
        video: dict[str, Any] = {}
        if self.trackers and rec.side in ("L", "R"):
            end_s = self._video_end_s(rec)
            windows = [
                t.window(rec.contact_s, end_s) for t in self.trackers.values() if t.error is None
            ]
            request = StanceVideoRequest(
                rec.side,
                rec.contact_s,
                rec.toe_off_s,
                tuple(flags),
                windows,
                self.vision,
                self.leg_length_m,
            )
            video, flags = self.engine.video(request)
        elif self.trackers:
            flags.append("no_side_for_video")
        with self.results_lock:
            index = len(self.results)
        return StanceResult(
            index=index,
            side=rec.side,
            contact_s=rec.contact_s,
            toe_off_s=rec.toe_off_s,
            force=rec.to_dict(),
            video=video,
            flags=tuple(flags),
            available_at_s=available_s,
            video_delay_s=time.monotonic() - completed,
        )

    def _emit(self, result: StanceResult) -> None:
        with self.results_lock:
            self.results.append(result)
        if self.on_stance is not None:
            self.on_stance(result)

    def stances(self, start: int = 0) -> list[StanceResult]:
        with self.results_lock:
            return self.results[start:]
