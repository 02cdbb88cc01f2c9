"""The session controller's status: what the devices panel and the banners show, and the
callbacks from worker threads that raise banners. A mixin of
:class:`app.session_controller.SessionController`."""

from __future__ import annotations

import logging
import math
import time

from app.pipeline import DeviceFault, DeviceStream, SoftwareFrameClock
from app.session_types import Banner, DeviceStatus, SessionStatus

# a device asked for data that delivers none for this long (wall clock) has gone silent: shown
# on the devices panel; while a recording stops it is given up (a fault) so the file closes
SILENT_AFTER_S = {"realtime": 2.0, "fast": 10.0}

log = logging.getLogger(__name__)


class StatusReporting:
    """``status()``, the frames each camera is missing, and the banners."""

    def status(self) -> SessionStatus:
        devices = []
        streams = [s for s in (self.daq_stream, *self.camera_streams.values()) if s is not None]
        missing = self.missing_frames()
        for s in streams:
            if s.fault is not None:
                health, message = "faulted", s.fault.message
            elif s.running:
                quiet = s.silent_for_s  # asked for data, none delivered (no error either)
                silent = quiet > SILENT_AFTER_S[self.pace]
                health, message = "running", f"no data for {quiet:.0f} s" if silent else ""
            else:
                health, message = s.device.health().status.value, ""
            devices.append(
                DeviceStatus(
                    name=s.name,
                    kind=s.device.kind,
                    view=s.view,
                    health=health,
                    rate_hz=s.rate_hz,
                    items=s.items,
                    dropped=max(s.dropped, len(missing.get(s.name, ()))),
                    message=message,
                )
            )
        # at pace "fast" producers wait for every lossless reader by design; in real time only
        # the recorder reads losslessly, so a wait means the recorder held up acquisition
        behind = self._check_recorder_behind()
        self._sync_banner()
        errors = {c.name: c.error for c in self._consumers() if c.error}
        if self.recorder is not None and self.recorder.error is not None:
            errors["recorder"] = str(self.recorder.error)
        elapsed = self.daq_stream.latest_session_time_s if self.daq_stream else math.nan
        return SessionStatus(
            state=self.state,
            elapsed_s=0.0 if not math.isfinite(elapsed) else elapsed,
            recording_path=str(self.recording_path) if self.state == "recording" else None,
            devices=tuple(devices),
            recorder_behind=behind,
            banners=self._banner_list(),
            simulated=self.config.simulated,
            plate_zero_age_s=None
            if self._zeroed_at is None
            else time.monotonic() - self._zeroed_at,
            sync_mode=self.config.sync_mode,
            consumer_errors=errors,
            dropped_frames={k: tuple(v) for k, v in missing.items()},
        )

    def missing_frames(self) -> dict[str, list[int]]:
        """Frame indices each camera has not delivered so far (counter gaps, and in hardware sync
        the witness reconciliation up to the newest frame received)."""
        out: dict[str, list[int]] = {}
        for name in self.camera_streams:
            found = set()
            if self.witness is not None and name in self.witness_channels:
                with self._reconcile_lock:
                    missing = self._reconcile_live(name)
                if missing is not None:
                    found.update(missing.tolist())
            if self.recorder is not None:
                found.update(self.recorder.dropped_frames().get(name, []))
            out[name] = sorted(found)
        return out

    def _follow_the_witness(self) -> None:
        """Hardware sync, on the DAQ's producer thread: reconcile each camera with its exposure
        edges (at most once a second, :func:`app.session_finish.live_missing_frames`), so that
        frames after a missed trigger are timed by their pulse whether or not anyone polls the
        status (a headless script's live stances too). Skipped while a status call does it."""
        if self.witness is None or not self._reconcile_lock.acquire(blocking=False):
            return
        try:
            for name in self.camera_streams:
                if name in self.witness_channels:
                    self._reconcile_live(name)
        finally:
            self._reconcile_lock.release()

    def _reconcile_live(self, camera: str):
        """The live reconciliation of one camera (the caller holds ``_reconcile_lock``); a
        failure is logged once per camera and leaves its frames as they were: the file's
        reconciliation at the stop is the one of record."""
        from app.session_finish import live_missing_frames

        try:
            return live_missing_frames(self, camera)
        except Exception:
            if camera not in self._reconcile_failed:
                self._reconcile_failed.add(camera)
                log.exception("the live reconciliation of camera '%s' failed", camera)
            return None

    def _check_recorder_behind(self) -> bool:
        """True once the recorder has held acquisition up (real time); says so once."""
        if self.pace != "realtime" or self.daq_stream is None:
            return False
        streams = (self.daq_stream, *self.camera_streams.values())
        behind = any("recorder_behind" in s.ring.flags for s in streams)
        if behind and "recorder-behind" not in self._banners:
            self._banner(
                "recorder-behind",
                "warning",
                "the recorder fell behind and held up acquisition; the file is flagged",
                "Use a faster disk or a lighter video codec.",
            )
            self._notify("recorder-behind", {"path": str(self.recording_path)})
        return behind

    def _on_fault(self, stream: DeviceStream, fault: DeviceFault) -> None:
        at = f" at {fault.session_time_s:.2f} s" if math.isfinite(fault.session_time_s) else ""
        self._banner(
            f"device-{stream.name}",
            "error",
            f"device '{stream.name}' failed{at}: {fault.message}",
            fault.remedy or "Check its cable and power, then connect again.",
        )
        payload = {
            "device": stream.name,
            "message": fault.message,
            "remedy": fault.remedy,
            "session_time_s": fault.session_time_s,
        }
        self._notify("device-error", payload)
        with self._progress:
            self._progress.notify_all()

    def _on_recorder_error(self, exc: Exception) -> None:
        text = exc.sentence() if hasattr(exc, "sentence") else str(exc)
        self._banner(
            "recorder-error",
            "error",
            f"recording stopped: {text}",
            "The file keeps everything up to the last flush.",
        )
        self._notify("device-error", {"device": "recorder", "message": text, "remedy": ""})

    def _banner(self, key: str, level: str, text: str, remedy: str = "") -> None:
        with self._banner_lock:  # set from worker threads, read by status()
            new = key not in self._banners
            self._banners[key] = Banner(level, text, remedy, key)
        if new:
            self._notify("status", {"banner": text, "level": level})

    def _banner_list(self) -> tuple[Banner, ...]:
        with self._banner_lock:
            return tuple(self._banners.values())

    def _sync_banner(self) -> None:
        for name, s in self.camera_streams.items():
            clock = s.clock
            if isinstance(clock, SoftwareFrameClock):
                se = clock.latest_standard_error_s
                if math.isfinite(se) and se > 0.5 * (1.0 / clock.frame_rate_hz):
                    self._banner(
                        f"sync-{name}",
                        "warning",
                        f"camera '{name}': the clock sync uncertainty ({se * 1e3:.1f} ms) exceeds "
                        "half a frame period; video events may be misplaced",
                        "Use hardware triggering, or check the USB load and run midstance "
                        "sync-check.",
                    )
