"""The Qt-free session controller: one object runs a lab session for the GUI, the CLI and tests.

API (docs/architecture.md "The session controller"): ``connect``, ``close``, ``set_subject``,
``zero_plates``, ``start_recording``, ``stop_recording``, ``mark``, ``status``, ``force_window``,
``latest_frame``, ``stances``, ``summary``, ``freeze_frame``, ``add_listener``. Listeners are
called on worker threads with small dicts, never frames or samples; a listener that raises is
ignored (it cannot stop acquisition). Every failure a person can act on is a
:class:`~analysis.errors.MidstanceError`; wrong-state calls raise :class:`ControllerError`.

The data path (producers, rings, consumers, time base) is described in docs/acquisition.md.
Two parts of the class live in their own modules: the plate actions (``zero_plates``,
``apply_plate_offsets``, ``step_off_belt``: :mod:`app.plate_actions`) and the status with its
banners (:mod:`app.session_status`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import MidstanceError
from analysis.force_settings import ForceSettings
from analysis.vision_settings import VisionSettings
from app import session_setup as setup_mod
from app.live_analysis import CameraTracker, ForceAnalysis, WitnessLog
from app.live_views import (
    force_window_from,
    frame_at_index,
    freeze_frame_from,
    summarise_stances,
)
from app.pipeline import (
    DeviceStream,
    FrameClock,
)
from app.plate_actions import PlateActions
from app.recorder import Recorder
from app.session_finish import finish_recording
from app.session_status import SILENT_AFTER_S, StatusReporting
from app.session_types import (
    Banner,
    ControllerError,
    ForceWindow,
    FreezeFrame,
    LiveFrame,
    SessionStatus,
    StanceResult,
)
from app.worker_processes import START_TIMEOUT_S
from drivers.config import LabConfig, simulated_config

log = logging.getLogger(__name__)
G = 9.80665
# after the stop, how long (wall clock) a camera may take to deliver the frames up to the stop
STOP_GRACE_S = {"realtime": 3.0, "fast": 120.0}
RECORDER_JOIN_S = 120.0  # the stop waits at most this long for the recorder to finish the file
WORKER_JOIN_S = 30.0  # close(): how long threads started for the session may take to end
# the live image may show a frame up to this old so that its markers are drawn on it
LIVE_MARKER_LAG_S = 0.25
SUBJECT_KEYS = ("id", "body_mass_kg", "leg_length_m", "height_m", "pain_side", "notes")
Listener = Callable[[str, dict], None]


class SessionController(PlateActions, StatusReporting):
    """One lab session: devices, live analysis, recording. See the module docstring."""

    def __init__(
        self,
        config: LabConfig | None = None,
        *,
        pace: str = "realtime",
        device_factory: setup_mod.DeviceFactory | None = None,
        force_settings: ForceSettings | None = None,
        vision_settings: VisionSettings | None = None,
        analysis_setup: setup_mod.AnalysisSetup | None = None,
        frame_clocks: Mapping[str, FrameClock] | None = None,
        analysis_processes: bool | None = None,
    ) -> None:
        if pace not in ("realtime", "fast"):
            raise ControllerError(
                f"pace '{pace}' is not known", subject="session", remedy="Use realtime or fast."
            )
        self.config = config if config is not None else simulated_config()
        self.pace = pace
        self._factory = device_factory or setup_mod.registry_factory
        self._force_settings = force_settings or ForceSettings()
        self._vision_settings = vision_settings or VisionSettings()
        self._given_setup = analysis_setup
        self._given_clocks = dict(frame_clocks or {})
        # marker tracking and force analysis in worker processes (app.marker_worker,
        # app.force_worker): by default in real time, where their work would otherwise compete
        # for the interpreter lock with acquisition, recording and the window
        self.analysis_processes = (
            pace == "realtime" if analysis_processes is None else bool(analysis_processes)
        )
        self.shared: dict[str, Any] = {}
        self.state = "idle"
        self.subject: dict[str, Any] = {}
        self.setup: setup_mod.AnalysisSetup | None = None
        self.daq_stream: DeviceStream | None = None
        self.camera_streams: dict[str, DeviceStream] = {}
        self.trackers: dict[str, CameraTracker] = {}
        self.force: ForceAnalysis | None = None
        self.recorder: Recorder | None = None
        self.recording_path: Path | None = None
        self._recording_started_s = math.nan
        self._recording_end_s = math.inf
        self._last_recording: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self._banners: dict[str, Banner] = {}
        self._banner_lock = threading.Lock()
        self._reconcile_lock = threading.Lock()  # the live witness reconciliation (session_status)
        self._reconcile_failed: set[str] = set()
        self._lock = threading.RLock()
        self._progress = threading.Condition()
        self._zeroed_at: float | None = None
        self._zeroing: dict[str, Any] = {}
        self._display_force = None
        self._display_frames: dict[str, Any] = {}
        self._freeze: dict[str, FreezeFrame] = {}
        self._workers: list[tuple[threading.Thread, Callable[[], None]]] = []
        self._stopping = threading.Lock()  # one stop at a time (a procedure's worker and close())
        self._stuck_recorders: list[Recorder] = []  # gave up waiting for them (see stop_recording)
        self.not_stopped: list[str] = []  # threads that outlived close() (see close)

    # -- connecting ------------------------------------------------------------------------------

    def connect(self) -> SessionStatus:
        """Open and start every device and the live analysis; the live view runs from here."""
        with self._lock:
            if self.state in ("connected", "recording"):
                raise ControllerError(
                    "the session is already connected",
                    subject="session",
                    remedy="Close it before connecting again.",
                )
            config = self.config
            if config.simulated:
                self.shared["sim.settings"] = setup_mod.simulation_settings(config, self.pace)
            daq, cameras = setup_mod.open_devices(config, self._factory, self.shared, self.pace)
            try:
                self.setup = self._given_setup or self._analysis_setup(cameras)
                self._build(daq, cameras)
            except BaseException:
                for device in (daq, *(d for d, _ in cameras)):
                    with contextlib.suppress(Exception):
                        device.close()
                raise
            self.state = "connected"
        self._notify("status", {"state": self.state})
        return self.status()

    def _analysis_setup(self, cameras) -> setup_mod.AnalysisSetup:
        config = self.config
        plates = setup_mod.plates_for(config, self.shared)
        calibrations, missing = setup_mod.calibrations_for(config, self.shared)
        for name in missing:
            self._banner(
                f"no-calibration-{name}",
                "warning",
                f"camera '{name}' has no plane calibration, so no video metrics are computed",
                "Calibrate the camera plane (midstance calibrate camera) and add it to the "
                "configuration.",
            )
        return setup_mod.AnalysisSetup(
            plates=plates,
            force=self._force_settings,
            vision=self._vision_settings,
            calibrations=calibrations,
            marker_sets={cam.name: setup_mod.marker_set_for(cam) for _, cam in cameras},
            trigger_delays_s={
                cam.name: setup_mod.trigger_delay_s(cam, self.shared) for _, cam in cameras
            },
            floor_latencies_s={
                cam.name: setup_mod.floor_latency_s(cam, self.shared) for _, cam in cameras
            },
        )

    def _build(self, daq, cameras) -> None:
        config, setup = self.config, self.setup
        self.daq_stream, streams, self.daq_clock = setup_mod.build_streams(
            config,
            daq=daq,
            cameras=cameras,
            setup=setup,
            clocks=self._given_clocks,
            on_fault=self._on_fault,
            on_progress=self._on_progress,
            fast=self.pace == "fast",
            daq_floor_s=self._recording_start_floor_s,
        )
        self.camera_streams = {s.name: s for s in streams}
        lossless = self.pace == "fast"
        self.trackers = {
            s.name: CameraTracker(
                s,
                setup.marker_sets[s.name],
                setup.calibrations[s.name],
                setup.vision,
                lossless=lossless,
                in_process=self.analysis_processes,
            )
            for s in streams
            if s.name in setup.calibrations
        }
        witness = {}
        if config.sync_mode == "hardware":
            names = self.daq_stream.description.channel_names
            for s in streams:
                for candidate in (f"exposure.{s.name}", f"exposure.{s.view}"):
                    if candidate in names:
                        witness[s.name] = names.index(candidate)
                        break
        self.witness_channels = witness
        self.witness = WitnessLog(witness, self.daq_stream.rate_hz) if witness else None
        self.force = self._new_force_analysis(lossless)
        self._display_force = self.daq_stream.ring.latest_reader(self.daq_stream.ring.capacity)
        self._display_frames = {s.name: s.ring.latest_reader(1) for s in streams}
        for consumer in (*self.trackers.values(), self.force):
            consumer.start()
        if self.pace == "fast":  # as fast as the slowest consumer: let their workers start first
            for consumer in (*self.trackers.values(), self.force):
                consumer.ready.wait(START_TIMEOUT_S)
        # cameras first: in hardware sync they must be armed before the DAQ sends pulse 0
        for s in (*streams, self.daq_stream):
            s.device.start()
        for s in (*streams, self.daq_stream):
            s.start()

    def _recording_start_floor_s(self) -> float:
        """Until the recorder has its first DAQ sample, the DAQ may always reach the start."""
        recorder = self.recorder
        if recorder is not None and not recorder.created.is_set():
            return self._recording_started_s
        return -math.inf

    def _new_force_analysis(self, lossless: bool) -> ForceAnalysis:
        mass = self.subject.get("body_mass_kg")
        leg = self.subject.get("leg_length_m")
        return ForceAnalysis(
            self.daq_stream,
            self.setup.plates,
            self.setup.force,
            self.setup.vision,
            self.trackers,
            lossless=lossless,
            body_weight_N=float(mass) * G if mass else None,
            leg_length_m=float(leg) if leg else None,
            witness=self.witness,
            on_stance=self._on_stance,
            in_process=self.analysis_processes,
        )

    def close(self) -> list[str]:
        """Stop everything, bounded whatever the devices do: workers started for the session
        (a procedure's acquisition) are asked to stop, a recording in progress is closed
        properly, then every thread is joined. Returns (and logs, and keeps in
        :attr:`not_stopped`) the threads that did not end in time."""
        for _, stop in list(self._workers):
            with contextlib.suppress(Exception):
                stop()
        deadline = time.monotonic() + WORKER_JOIN_S
        for thread, _ in list(self._workers):
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.state == "recording":
            try:
                self.stop_recording()
            except MidstanceError as exc:  # said once; the devices are shut down all the same
                log.error("closing the session: %s", exc.sentence())
        with self._lock:
            if self.state == "connected":
                self._shutdown()
            self.state = "closed"
        alive = [t.name for t, _ in self._workers if t.is_alive()]
        alive += [name for name, running in self._session_threads() if running]
        self.not_stopped = alive
        if alive:
            log.error("closing the session: still running after the wait: %s", ", ".join(alive))
        self._notify("status", {"state": self.state, "not_stopped": alive})
        return alive

    def _session_threads(self) -> list[tuple[str, bool]]:
        out = [(f"produce-{s.name}", s.running) for s in self._all_streams()]
        out += [(c.name, c.alive) for c in self._consumers()]
        for recorder in (self.recorder, *self._stuck_recorders):
            if recorder is not None:
                out.append(("recorder", recorder.alive))
        return out

    def _all_streams(self) -> list[DeviceStream]:
        return [s for s in (*self.camera_streams.values(), self.daq_stream) if s is not None]

    def register_worker(self, thread: threading.Thread, stop: Callable[[], None]) -> None:
        """A thread started for this session (e.g. a procedure's acquisition): close() calls
        ``stop`` and joins it (bounded) before shutting the devices down."""
        self._workers = [(t, f) for t, f in self._workers if t.is_alive()]
        self._workers.append((thread, stop))

    def _shutdown(self) -> None:
        streams = self._all_streams()
        for s in streams:
            s.request_stop()
        for s in streams:
            with contextlib.suppress(Exception):
                s.device.stop()
        for s in streams:
            s.join()
            if s.running:  # a read that never returns: end the stream for its consumers
                s.ring.close()
        for consumer in self._consumers():
            consumer.request_stop()
        for consumer in self._consumers():
            consumer.join()
        for s in streams:
            with contextlib.suppress(Exception):
                s.device.close()

    def __enter__(self) -> SessionController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the runner ------------------------------------------------------------------------------

    def set_subject(self, subject: Mapping[str, Any]) -> None:
        """id, body_mass_kg, leg_length_m, height_m, pain_side, notes (for the next recording)."""
        unknown = sorted(set(subject) - set(SUBJECT_KEYS))
        if unknown:
            raise ControllerError(
                f"unknown subject field(s) {', '.join(unknown)}",
                subject="subject",
                remedy=f"Use only: {', '.join(SUBJECT_KEYS)}.",
            )
        mass = subject.get("body_mass_kg")
        if mass is not None and not (isinstance(mass, int | float) and 20 <= mass <= 300):
            raise ControllerError(
                f"{mass!r} kg is not a plausible body mass",
                subject="subject body_mass_kg",
                remedy="Give the runner's mass in kilograms (20–300).",
            )
        if subject.get("id"):
            from data.library import check_subject_id

            check_subject_id(str(subject["id"]))
        self.subject = dict(subject)
        if self.force is not None:
            self.force.body_weight_N = float(mass) * G if mass else None
            leg = subject.get("leg_length_m")
            self.force.leg_length_m = float(leg) if leg else None

    # -- recording -------------------------------------------------------------------------------

    def start_recording(
        self,
        path: str | Path | None = None,
        *,
        protocol: str | None = None,
        step: str | None = None,
        speed_m_s: float | None = None,
        incline_percent: float | None = None,
        duration_s: float | None = None,
    ) -> Path:
        """Record every sample and frame from now into ``path`` (a new library file if None);
        ``step`` (with the treadmill speed and incline when known) starts the protocol steps.
        ``duration_s``: record exactly that long (stop_recording still closes the file)."""
        from data.library import new_session_path
        from data.session_writer import CameraSpec, SessionWriter

        with self._lock:
            self.require("connected", "start recording")
            if self.daq_stream.fault is not None:
                raise ControllerError(
                    "the force DAQ has failed, so nothing can be recorded",
                    subject=f"device '{self.daq_stream.name}'",
                    remedy=self.daq_stream.fault.remedy or "Reconnect it and connect again.",
                )
            if path is None:
                path = new_session_path(
                    str(self.subject.get("id") or "anonymous"), protocol or "session"
                )
            path = Path(path)
            cameras = [s for s in self.camera_streams.values() if s.fault is None]
            specs = [
                CameraSpec(
                    name=s.name,
                    height=s.description.shape[0],
                    width=s.description.shape[1],
                    rate_hz=s.rate_hz,
                    view=s.view,
                    marker_labels=self.trackers[s.name].marker_set.markers
                    if s.name in self.trackers
                    else (),
                    marker_settings=self.setup.vision.to_dict(),
                    codec=setup_mod.camera_codec(self.config, s.name),
                )
                for s in cameras
            ]
            subject = {("subject_id" if k == "id" else k): v for k, v in self.subject.items()}
            setup_mod.check_new_file(path)
            arguments = {
                "channel_names": self.daq_stream.description.channel_names,
                "daq_rate_hz": self.daq_stream.rate_hz,
                "cameras": specs,
                "subject": subject,
                "session": {"protocol_name": protocol or ""},
                "devices": self._devices_record(),
                "live_settings": self.live_settings(),
            }

            def make_writer(start_index: int) -> SessionWriter:
                return SessionWriter(path, start_index=start_index, **arguments)

            self.recorder = Recorder(
                make_writer,
                self.daq_stream,
                cameras,
                on_error=self._on_recorder_error,
                before_close=self._wait_for_late_results,
                stop_grace_s=STOP_GRACE_S[self.pace],
            )
            for name, tracker in self.trackers.items():
                if any(s.name == name for s in cameras):
                    tracker.marker_sink = self.recorder.add_markers
            for tracker in self.trackers.values():
                tracker.prepare_restart()  # its labelling waits for the first frame's time
            # every stream has delivered up to here, so all of them have everything after it
            delivered = [
                t
                for t in (s.latest_session_time_s for s in (self.daq_stream, *cameras))
                if math.isfinite(t)
            ]
            rate = self.daq_stream.rate_hz  # from the DAQ sample after all of that
            first_sample = math.floor(max(delivered) * rate + 1e-6) + 1 if delivered else 0
            start_s = first_sample / rate
            # every journalled stance is computed from samples in the file (a stance the live
            # analysis began before the start would differ from the file's replay)
            self.force.restart_at(first_sample)
            for tracker in self.trackers.values():
                tracker.restart_at(start_s)  # labelled afresh from the file's first frame
            self._recording_started_s = start_s
            self._recording_end_s = math.inf
            if duration_s is not None and math.isfinite(duration_s) and duration_s > 0:
                # as the DAQ clock computes sample times (n / rate): exactly round(d·rate) samples
                self._recording_end_s = (first_sample + round(float(duration_s) * rate)) / rate
                self.recorder.end_at(self._recording_end_s)
            self.recorder.start(at_s=start_s)
            if step:
                self.recorder.add_step(
                    max(0.0, self._recording_started_s),
                    step,
                    math.nan if speed_m_s is None else float(speed_m_s),
                    math.nan if incline_percent is None else float(incline_percent),
                )
            self.recording_path = path
            self.state = "recording"
        self._notify("recording-started", {"path": str(path)})
        return path

    def stop_recording(self) -> Path:
        """Close the file with every stream up to the same session time; ``complete`` state.

        The stop is the newest time any recorded device has delivered (what was written never
        goes past it; devices behind are waited for, within the stop grace), or the end of a
        recording of set duration once it is reached. Bounded: a device that has gone silent is
        given up (see :meth:`_join_recorder`). A second caller waits for the first stop and is
        then refused (the session is no longer recording)."""
        with self._stopping:
            return self._stop_recording()

    def _stop_recording(self) -> Path:
        with self._lock:
            self.require("recording", "stop recording")
            recorder = self.recorder
            streams = [self.daq_stream, *(self.camera_streams[n] for n in recorder.streams
                                          if n != recorder.daq_name)]  # fmt: skip
            delivered = [s.latest_session_time_s for s in streams]
            newest = max((t for t in delivered if math.isfinite(t)), default=-math.inf)
            stop_s = max(
                self.synchronised_time_s() + 1.0 / self.daq_stream.rate_hz,
                math.nextafter(newest, math.inf),
            )
            if math.isfinite(self._recording_end_s):
                stop_s = min(stop_s, self._recording_end_s)
            recorder.stop_at(stop_s)
            written = max(p.last_time_s for p in recorder.streams.values())
            if written >= stop_s:  # a batch went in while the stop was being set
                stop_s = math.nextafter(written, math.inf)
                recorder.stop_at(stop_s)
        if not self._join_recorder(recorder):
            with self._lock:  # the session goes on; the stuck recorder keeps its file
                for tracker in self.trackers.values():
                    tracker.marker_sink = None
                self._stuck_recorders.append(recorder)
                self.recorder = None
                self.state = "connected"
            raise ControllerError(
                f"the recorder did not finish writing within {RECORDER_JOIN_S:g} s",
                subject=str(self.recording_path),
                remedy="The file keeps what was flushed; run 'midstance repair' on it.",
            )
        with self._lock:
            for tracker in self.trackers.values():
                tracker.marker_sink = None
            path = self.recording_path
            try:
                summary = finish_recording(self, recorder, stop_s)
            finally:  # whatever happened to the file, the session is no longer recording
                self.recorder = None
                self.state = "connected"
            self._last_recording = summary
        self._notify("recording-stopped", {"path": str(path), **summary.get("brief", {})})
        return path

    def _join_recorder(self, recorder: Recorder) -> bool:
        """Wait for the recorder to close the file (bounded). A recorded device that is asked
        for data and delivers none (a silent DAQ, a camera that never sends) would hold the stop
        for ever: it is given up as failed, so the file closes with what it delivered."""
        deadline = time.monotonic() + RECORDER_JOIN_S
        silent_after = SILENT_AFTER_S[self.pace]
        while not recorder.join(timeout_s=0.1):
            for progress in list(recorder.streams.values()):
                stream = progress.stream
                if progress.finished or stream.fault is not None:
                    continue
                quiet = stream.silent_for_s
                if quiet > silent_after:
                    stream.give_up(
                        f"it delivered no data for {quiet:.0f} s while the recording was "
                        "stopping (no error from the device)",
                        "Check its cable, power and trigger wiring, then connect again.",
                    )
            if time.monotonic() > deadline:
                return False
        return True

    def mark(self, label: str, time_s: float | None = None) -> None:
        """A labelled instant (e.g. 'pain 3/10') at the current session time (or ``time_s``),
        in the file."""
        self.require("recording", "mark")
        when = self.daq_stream.latest_session_time_s if time_s is None else float(time_s)
        self.recorder.add_mark(when, str(label))

    def live_settings(self) -> dict[str, Any]:
        out = self.setup.to_dict() if self.setup else {}
        out["body_weight_N"] = self.force.body_weight_N if self.force else None
        out["sync_mode"] = self.config.sync_mode
        out["pace"] = self.pace
        out["zeroing"] = self._zeroing
        return out

    def _devices_record(self) -> dict[str, Any]:
        config = self.config.to_dict()
        if "sim.lab" in self.shared:
            config["simulation"] = {**config["simulation"], "lab": self.shared["sim.lab"].to_dict()}
        return {
            "config": config,
            "sync": {"mode": self.config.sync_mode},
            "plates": [p.to_dict() for p in self.setup.plates],
            "cameras": {
                name: {"plane": cal.to_dict(), "homography": cal.homography.tolist()}
                for name, cal in self.setup.calibrations.items()
            },
        }

    # -- what the GUI polls ------------------------------------------------------------------

    def force_window(self, seconds: float = 5.0) -> ForceWindow:
        """The last ``seconds`` of force, summed over the plates, for the live plot."""
        self._require_streams()
        stream = self.daq_stream
        n = max(1, min(round(seconds * stream.rate_hz), stream.ring.capacity - 1))
        batch = self._display_force.latest(n)
        if batch is None:
            empty = np.empty(0)
            return ForceWindow(empty, np.empty((0, 3)), np.empty((0, 2)), {})
        return force_window_from(
            batch,
            stream.description.channel_names,
            self.setup.plates,
            self.setup.force.cop_threshold_N,
        )

    def latest_frame(self, camera: str) -> LiveFrame | None:
        """The newest frame of a camera with its labelled markers (None before the first)."""
        self._require_streams()
        reader = self._display_frames.get(camera)
        if reader is None:
            raise ControllerError(
                f"no camera named '{camera}'",
                subject="latest_frame",
                remedy=f"Use one of: {', '.join(self.camera_streams) or '(no cameras)'}.",
            )
        batch = reader.latest(1)
        if batch is None:
            return None
        index = int(batch.index[0])
        tracker = self.trackers.get(camera)
        if tracker is None:
            return LiveFrame(batch.data[0].copy(), index, float(batch.session_time_s[0]), {})
        # the tracker lags under load: show its newest tracked frame with its own markers (the
        # overlay matches the image it is drawn on) unless it is too far behind to be live
        tracked = tracker.store.newest_index()
        stream = self.camera_streams[camera]
        if tracked is not None and 0 < index - tracked <= LIVE_MARKER_LAG_S * stream.rate_hz:
            found = frame_at_index(stream.ring, tracked)
            if found is not None:
                return LiveFrame(found[0], tracked, found[1], tracker.store.markers_of(tracked))
        markers = tracker.store.markers_of(index)
        return LiveFrame(batch.data[0].copy(), index, float(batch.session_time_s[0]), markers)

    def stances(self, start: int = 0) -> list[StanceResult]:
        return self.force.stances(start) if self.force is not None else []

    def summary(self, last_n: int = 20) -> dict:
        """Per side: mean, SD and n of the clinical metrics over the last ``last_n`` stances."""
        return summarise_stances(self.stances(), last_n)

    def freeze_frame(self, camera: str) -> FreezeFrame | None:
        return self._freeze.get(camera)

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    # -- waiting (for the CLI and tests; the GUI polls instead) --------------------------------

    def synchronised_time_s(self) -> float:
        """The session time the recording has reached. In real time that is the DAQ's (the
        session clock; cameras follow within their latency). At pace "fast" every device
        delivers as fast as it is read, so it is the time all running devices have reached."""
        daq = self.daq_stream.latest_session_time_s
        if self.pace == "realtime":
            return daq if math.isfinite(daq) else -math.inf
        times = [daq]
        times += [
            s.latest_session_time_s
            for s in self.camera_streams.values()
            if s.fault is None and s.running
        ]
        finite = [t for t in times if math.isfinite(t)]
        return min(finite) if len(finite) == len(times) else -math.inf

    def wait_for_session_time(self, session_time_s: float, timeout_s: float = 60.0) -> bool:
        """Block until every device has delivered ``session_time_s`` (False on timeout or if the
        DAQ stopped)."""
        stream = self.daq_stream
        return (
            self._wait(
                lambda: (
                    self.synchronised_time_s() >= session_time_s
                    or stream.fault is not None
                    or not stream.running
                ),
                timeout_s,
            )
            and self.synchronised_time_s() >= session_time_s
        )

    def wait_until_finished(self, timeout_s: float = 600.0) -> bool:
        """Replay or a finite source: block until every device ran out and the live analysis
        has processed everything (False on timeout)."""
        deadline = time.monotonic() + timeout_s
        for stream in (self.daq_stream, *self.camera_streams.values()):
            stream.join(max(0.0, deadline - time.monotonic()))
        for consumer in self._consumers():
            consumer.join(max(0.0, deadline - time.monotonic()))
        return all(c.done for c in self._consumers())

    def wait_for_progress(self, timeout_s: float) -> None:
        """Block until a device delivers, a stance is emitted or the status changes (or
        ``timeout_s``): what a loop that polls the session waits on between its checks."""
        with self._progress:
            self._progress.wait(timeout_s)

    @property
    def recording_started_s(self) -> float:
        """Session time of the current (or last) recording's first sample; NaN before any."""
        return self._recording_started_s

    @property
    def last_recording(self) -> dict[str, Any]:
        """The summary of the last recording closed (file, interval, reconciliation)."""
        return dict(self._last_recording)

    def wait_for_stances(self, n: int, timeout_s: float = 60.0) -> bool:
        return self._wait(lambda: len(self.stances()) >= n, timeout_s)

    def _wait(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        with self._progress:
            return self._progress.wait_for(ready, timeout_s)

    # -- callbacks from worker threads -------------------------------------------------------

    def _on_progress(self, stream: DeviceStream) -> None:
        if stream is self.daq_stream:  # ~20 times a second, on the DAQ's producer thread
            if self.recorder is not None:
                self._check_recorder_behind()
            self._follow_the_witness()
        with self._progress:
            self._progress.notify_all()

    def _on_stance(self, result: StanceResult) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.add_stance(result.to_dict())  # it keeps those inside the recording
        self._make_freeze_frames(result)
        with self._progress:
            self._progress.notify_all()
        self._notify("stance", result.to_dict())

    def _wait_for_late_results(self, last_time_s: float) -> None:
        """Before the file closes: stances ending before the stop and markers of the last frames
        are still being computed; wait for them (bounded)."""
        force = self.force
        pad = self.setup.force.padding_s + 0.1
        need = last_time_s + pad
        rate = self.daq_stream.rate_hz
        self._wait(
            lambda: (
                force.done or (force._expected or 0) / rate >= need or not self.daq_stream.running
            ),
            10.0,
        )
        deadline = time.monotonic() + 10.0

        def waiting() -> (
            bool
        ):  # stances inside the recording not joined yet (later ones don't count)
            return any(rec.toe_off_s <= last_time_s for rec, _ in list(force._pending))

        while time.monotonic() < deadline and waiting() and not force.done:
            time.sleep(0.01)
        for tracker in self.trackers.values():
            cut = last_time_s - 2.0 / tracker.stream.rate_hz
            while (
                time.monotonic() < deadline and tracker.processed_until_s < cut and not tracker.done
            ):
                time.sleep(0.01)

    def _make_freeze_frames(self, result: StanceResult) -> None:
        t = result.video.get("midstance_used_s") or result.force.get("midstance_s")
        if t is None:
            return
        for name, stream in self.camera_streams.items():
            if stream.fault is not None:
                continue  # its last frames are not this stance's: keep the freeze it had
            tracker = self.trackers.get(name)
            calibration = tracker.calibration if tracker else None
            sagittal = calibration is not None and calibration.view == "sagittal"
            if sagittal and result.side != calibration.near_leg:
                continue  # it measures the near leg only: keep that leg's latest stance
            lookup = tracker.store.markers_of if tracker else None
            frame = freeze_frame_from(
                name, stream.ring, t, lookup, result, max_gap_s=1.0 / stream.rate_hz
            )
            if frame is not None:
                self._freeze[name] = frame

    # -- helpers ---------------------------------------------------------------------------------

    def _notify(self, kind: str, payload: dict) -> None:
        for fn in list(self._listeners):
            with contextlib.suppress(Exception):  # a failing listener never stops acquisition
                fn(kind, payload)

    def _consumers(self):
        return [c for c in (*self.trackers.values(), self.force) if c is not None]

    def require(self, state: str, action: str) -> None:
        """Refuse ``action`` unless the session is in ``state`` (a sentence with what to do)."""
        if self.state != state:
            hints = {
                "connected": "Connect first (and stop any recording).",
                "recording": "Start a recording first.",
            }
            raise ControllerError(
                f"cannot {action} while the session is {self.state}",
                subject="session",
                remedy=hints.get(state, ""),
            )

    def _require_streams(self) -> None:
        if self.daq_stream is None:
            raise ControllerError(
                "the session is not connected", subject="session", remedy="Connect first."
            )


__all__ = ["ControllerError", "SessionController", "summarise_stances"]
