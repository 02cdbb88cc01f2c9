"""Replay a saved session through the live pipeline: devices fed from the file.

``ReplayDaq`` delivers the recorded volts with their original sample indices; ``ReplayCamera``
delivers the recorded frames with their original frame counters and camera timestamps, and the
pipeline gives each frame the session time stored in the file (:class:`RecordedFrameClock`). The
live analysis is rebuilt from the settings the file stored (plates with their zeroing, force and
vision settings, plane calibrations, body weight), so replaying gives the per-stance results of
the live run. These devices live in ``app`` because ``drivers`` may not import ``data``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from analysis.errors import InputError
from analysis.force_settings import ForceSettings
from analysis.forceplate import parse_plates
from analysis.marker_sets import marker_set
from analysis.plane_calibration import PlaneCalibration
from analysis.vision_settings import VisionSettings
from app.session_setup import AnalysisSetup
from app.session_types import StanceResult
from drivers.base import Chunk, Device, Health, HealthStatus, StreamDescription, StreamKind
from drivers.config import parse_config

REPLAY_KINDS = ("replay.daq", "replay.camera")


class _ReplayDevice(Device):
    """Shared by both replay devices: the file, pacing and end of stream."""

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self.exhausted = False
        self.pace = str(self.settings.get("pace", "fast"))
        self._session = None
        self._origin = 0.0

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        path = Path(str(settings.get("path", "")))
        if not path.is_file():
            return Health(
                HealthStatus.ABSENT,
                f"session file {path} not found",
                "Check the path of the session to replay.",
            )
        return Health(HealthStatus.OK, f"replay of {path.name}")

    def _open_session(self):
        from data.session_reader import open_session

        self._session = open_session(self.settings["path"])
        return self._session

    def _start(self) -> None:
        self._origin = time.monotonic()
        self._position = 0
        self.exhausted = False

    def _stop(self) -> None:
        pass

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _pace_until(self, session_time_s: float, first_time_s: float, timeout_s: float) -> bool:
        """Real-time pace: wait until this item's time has come (False if not within timeout)."""
        if self.pace != "realtime":
            return True
        due = self._origin + (session_time_s - first_time_s)
        wait = due - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            return False
        if wait > 0:
            time.sleep(wait)
        return True


class ReplayDaq(_ReplayDevice):
    kind: ClassVar[str] = "replay.daq"

    def _open(self) -> StreamDescription:
        session = self._open_session()
        self._analog = session.analog
        ds = session.h5["daq/analog"]
        self._start_index = int(ds.attrs.get("start_index", 0))
        self._rate = float(ds.attrs["rate_hz"])
        names = tuple(self._analog.channel_names)
        return StreamDescription(
            device=self.name,
            kind=StreamKind.ANALOG,
            source=f"replay {Path(self.settings['path']).name}",
            dtype="float64",
            shape=(len(names),),
            rate_hz=self._rate,
            channel_names=names,
            units=("V",) * len(names),
            settings={"path": str(self.settings["path"]), "pace": self.pace},
        )

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        n_total = self._analog.n_samples
        first = self._start_index + self._position
        if self._position >= n_total:
            self.exhausted = True
            return Chunk(count=0, first_index=first, host_time_s=time.monotonic())
        t = first / self._rate
        if not self._pace_until(t, self._start_index / self._rate, timeout_s):
            return Chunk(count=0, first_index=first, host_time_s=time.monotonic())
        count = min(len(out), n_total - self._position)
        out[:count] = self._analog.read(self._position, self._position + count)
        self._position += count
        return Chunk(count=count, first_index=first, host_time_s=time.monotonic())


class ReplayCamera(_ReplayDevice):
    kind: ClassVar[str] = "replay.camera"

    def _open(self) -> StreamDescription:
        session = self._open_session()
        camera = str(self.settings.get("camera", self.name))
        self._camera = session.camera(camera)
        self._index = self._camera.frame_index.astype(np.int64)
        self._times = self._camera.session_time.astype(float)
        self._camera_time = self._camera.camera_time.astype(float)
        return StreamDescription(
            device=self.name,
            kind=StreamKind.FRAMES,
            source=f"replay {Path(self.settings['path']).name} camera {camera}",
            dtype="uint8",
            shape=(self._camera.height, self._camera.width),
            rate_hz=self._camera.rate_hz,
            units=("DN",),
            settings={"path": str(self.settings["path"]), "camera": camera, "pace": self.pace},
        )

    def session_times(self, frame_index: np.ndarray) -> np.ndarray:
        """The stored session time of each frame counter; the pipeline uses it as this camera's
        frame clock (``app.pipeline.RecordedFrameClock``)."""
        rows = np.searchsorted(self._index, frame_index)
        return self._times[np.clip(rows, 0, len(self._times) - 1)]

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        n = len(self._index)
        k = self._position
        if k >= n:
            self.exhausted = True
            return Chunk(count=0, first_index=0, host_time_s=time.monotonic())
        if not self._pace_until(self._times[k], self._times[0], timeout_s):
            return Chunk(count=0, first_index=int(self._index[k]), host_time_s=time.monotonic())
        count = min(len(out), n - k)
        out[:count] = self._camera.frames(k, k + count)
        index = self._index[k : k + count]
        self._position += count
        consecutive = index[-1] - index[0] == count - 1
        return Chunk(
            count=count,
            first_index=int(index[0]),
            host_time_s=time.monotonic(),
            indices=None if consecutive else index.copy(),
            device_time_s=self._camera_time[k : k + count].copy(),
        )


def _factory(kind: str, name: str, settings: Mapping[str, Any], shared: MutableMapping[str, Any]):
    device = {"replay.daq": ReplayDaq, "replay.camera": ReplayCamera}[kind](name, settings)
    shared.setdefault("replay.devices", {})[name] = device
    return device


def _stored_json(attrs, key: str, path: Path) -> dict[str, Any]:
    raw = attrs.get(key, "{}")
    try:
        return json.loads(raw if isinstance(raw, str) else raw.decode())
    except (ValueError, AttributeError) as exc:
        raise InputError(
            f"the stored {key} cannot be read ({exc})",
            subject=str(path),
            remedy="This file cannot be replayed; analyse its raw data instead.",
        ) from None


def replay_controller(path: str | Path, *, pace: str = "fast"):
    """A :class:`SessionController` whose devices replay ``path`` with its stored settings."""
    from app.session_controller import SessionController
    from data.session_reader import open_session

    path = Path(path)

    with open_session(path) as session:
        f = session.h5
        config = _stored_json(f["devices"].attrs, "config_json", path)
        live = _stored_json(f["live"].attrs, "settings_json", path)
        subject = dict(session.subject)
        cameras = list(session.camera_names)
        views = {name: session.camera(name).view for name in cameras}
        rates = {name: session.camera(name).rate_hz for name in cameras}
        daq_rate = float(f["daq/analog"].attrs["rate_hz"])
    if not live.get("plates"):
        raise InputError(
            "the file has no live-analysis settings (plates), so it cannot be replayed",
            subject=str(path),
            remedy="Analyse it offline instead.",
        )
    raw = {
        "lab": {"name": f"replay of {path.name}", "treadmill": config["lab"]["treadmill"]},
        "sync": {"mode": config["sync"]["mode"]},
        "daq": {
            "name": config["daq"].get("name", "force"),
            "kind": "replay.daq",
            "rate_hz": daq_rate,
            "path": str(path),
            "pace": pace,
        },
        "cameras": [
            {
                "name": name,
                "kind": "replay.camera",
                "view": views[name],
                "rate_hz": rates[name],
                "path": str(path),
                "camera": name,
                "pace": pace,
            }
            for name in cameras
        ],
    }
    lab_config = parse_config(raw, source=str(path))
    setup = AnalysisSetup(
        plates=parse_plates(live["plates"], source=str(path)),
        force=ForceSettings.from_dict(live["force"]),
        vision=VisionSettings.from_dict(live["vision"]),
        calibrations={
            name: PlaneCalibration.from_dict(cal) for name, cal in live["calibrations"].items()
        },
        marker_sets={name: marker_set(set_name) for name, set_name in live["marker_sets"].items()},
        trigger_delays_s=dict(live.get("trigger_delays_s", {})),
    )
    controller = SessionController(
        lab_config, pace=pace, device_factory=_factory, analysis_setup=setup
    )
    mass = subject.get("body_mass_kg")
    leg = subject.get("leg_length_m")
    controller.set_subject(
        {
            k: v
            for k, v in (("body_mass_kg", mass), ("leg_length_m", leg))
            if isinstance(v, float) and np.isfinite(v)
        }
    )
    return controller


def replay_session(path: str | Path, *, timeout_s: float = 600.0) -> list[StanceResult]:
    """Run a saved session through the pipeline at pace "fast"; the stances it finds."""
    controller = replay_controller(path, pace="fast")
    controller.connect()
    try:
        controller.wait_until_finished(timeout_s)
        return controller.stances()
    finally:
        controller.close()
