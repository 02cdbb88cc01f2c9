"""Everything a session needs before the first sample: devices, plates, calibrations, clocks.

Kept apart from the controller so that the live session, ``midstance record`` and the replay of
a saved session assemble the same pieces the same way (the replay passes its own device factory
and the settings stored in the file).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.clock_sync import ClockSyncSettings
from analysis.errors import InputError
from analysis.force_settings import ForceSettings
from analysis.forceplate import PlateConfig, parse_plates
from analysis.marker_sets import MarkerSet, marker_set
from analysis.plane_calibration import PlaneCalibration
from analysis.vision_settings import VisionSettings
from app.pipeline import (
    DaqClock,
    DeviceStream,
    FrameClock,
    HardwareFrameClock,
    RecordedFrameClock,
    SoftwareFrameClock,
)
from drivers.base import Device
from drivers.config import DeviceConfig, LabConfig, check_rate_pair

FAST_LEAD_S = 0.5  # pace "fast": the DAQ runs at most this far ahead of the slowest camera
DeviceFactory = Callable[[str, str, Mapping[str, Any], MutableMapping[str, Any]], Device]


def registry_factory(
    kind: str, name: str, settings: Mapping[str, Any], shared: MutableMapping[str, Any]
) -> Device:
    from drivers.registry import create_device

    return create_device(kind, name, settings, shared)


@dataclass
class AnalysisSetup:
    """What the live analysis needs; stored in the file as the live settings."""

    plates: list[PlateConfig]
    force: ForceSettings = field(default_factory=ForceSettings)
    vision: VisionSettings = field(default_factory=VisionSettings)
    calibrations: dict[str, PlaneCalibration] = field(default_factory=dict)  # by camera name
    marker_sets: dict[str, MarkerSet] = field(default_factory=dict)  # by camera name
    trigger_delays_s: dict[str, float] = field(default_factory=dict)  # by camera name
    floor_latencies_s: dict[str, float] = field(default_factory=dict)  # software sync, by camera

    def to_dict(self) -> dict[str, Any]:
        return {
            "force": self.force.to_dict(),
            "vision": self.vision.to_dict(),
            "plates": [p.to_dict() for p in self.plates],
            "calibrations": {k: v.to_dict() for k, v in self.calibrations.items()},
            "marker_sets": {k: v.name for k, v in self.marker_sets.items()},
            "trigger_delays_s": dict(self.trigger_delays_s),
            "floor_latencies_s": dict(self.floor_latencies_s),
        }


def simulation_settings(config: LabConfig, pace: str) -> dict[str, Any]:
    """``shared["sim.settings"]`` for the simulated devices (drivers/sim/devices.py)."""
    settings = dict(config.simulation)
    settings.update(
        treadmill=config.treadmill,
        sync_mode=config.sync_mode,
        pace=pace,
        daq_rate_hz=config.daq.rate_hz,
    )
    if config.cameras:
        settings["frame_rate_hz"] = config.cameras[0].rate_hz
    return settings


def device_settings(device: DeviceConfig, config: LabConfig, pace: str) -> dict[str, Any]:
    settings = dict(device.settings)
    if config.simulated:
        settings.setdefault("pace", pace)
        if device.view:
            settings.setdefault("view", device.view)
    return settings


def open_devices(
    config: LabConfig, factory: DeviceFactory, shared: MutableMapping[str, Any], pace: str
) -> tuple[Device, list[tuple[Device, DeviceConfig]]]:
    """Create and open the DAQ and every camera; on any failure close what was opened."""
    opened: list[Device] = []
    try:
        daq = factory(
            config.daq.kind, config.daq.name, device_settings(config.daq, config, pace), shared
        )
        daq.open()
        opened.append(daq)
        cameras = []
        for cam in config.cameras:
            device = factory(cam.kind, cam.name, device_settings(cam, config, pace), shared)
            device.open()
            opened.append(device)
            cameras.append((device, cam))
    except BaseException:
        for device in reversed(opened):
            with contextlib.suppress(Exception):
                device.close()
        raise
    return daq, cameras


def plates_for(config: LabConfig, shared: Mapping[str, Any]) -> list[PlateConfig]:
    """The configured ``[[plates]]``, or the simulated lab's own plates."""
    raw = list(config.plates)
    if not raw and "sim.lab" in shared:
        raw = shared["sim.lab"].plate_configs()
    if not raw:
        raise InputError(
            "no force plates are configured",
            subject=f"{config.source}: plates",
            remedy="Add a [[plates]] table for each plate wired to the DAQ "
            "(docs/hardware-config.md).",
        )
    return parse_plates(raw, source=config.source)


def calibrations_for(
    config: LabConfig, shared: Mapping[str, Any]
) -> tuple[dict[str, PlaneCalibration], list[str]]:
    """Plane calibration per camera name, and the cameras that have none (no video metrics)."""
    found: dict[str, PlaneCalibration] = {}
    missing: list[str] = []
    simulated = {}
    if "sim.lab" in shared:
        from app.sim_calibration import simulated_plane_calibrations

        simulated = simulated_plane_calibrations(shared["sim.lab"])
    for cam in config.cameras:
        if cam.settings.get("track_markers") is False:  # e.g. a camera used only for the LED
            continue
        raw = cam.settings.get("plane_calibration")
        if isinstance(raw, Mapping):
            found[cam.name] = PlaneCalibration.from_dict(dict(raw))
        elif cam.view in simulated:
            found[cam.name] = simulated[cam.view]
        else:
            missing.append(cam.name)
    return found, missing


def trigger_delay_s(cam: DeviceConfig, shared: Mapping[str, Any]) -> float:
    """The camera's documented trigger-to-exposure delay (the simulated lab knows its own)."""
    if "trigger_delay_s" in cam.settings:
        return float(cam.settings["trigger_delay_s"])
    if "sim.lab" in shared:
        return float(shared["sim.lab"].setup.trigger_delay_s)
    return 0.0


def floor_latency_s(cam: DeviceConfig, shared: Mapping[str, Any]) -> float:
    """Software sync: the least time from a frame's timestamp to its arrival that no fit can see
    (``floor_latency_s`` in the camera's table, measured with the LED check). A frame cannot
    arrive before its exposure ends, so the simulated lab's is its exposure time."""
    if "floor_latency_s" in cam.settings:
        return float(cam.settings["floor_latency_s"])
    if "sim.lab" in shared:
        return float(shared["sim.lab"].setup.exposure_s)
    return 0.0


def frame_clock(
    config: LabConfig,
    cam: DeviceConfig,
    daq_clock: DaqClock,
    delay_s: float,
    floor_s: float = 0.0,
) -> FrameClock:
    if config.sync_mode == "hardware":
        ratio = check_rate_pair(
            config.daq.rate_hz, cam.rate_hz, subject=f"{config.source}: cameras '{cam.name}'"
        )
        return HardwareFrameClock(config.daq.rate_hz, ratio, delay_s)
    settings = ClockSyncSettings(frame_period_s=1.0 / cam.rate_hz, camera_floor_latency_s=floor_s)
    return SoftwareFrameClock(cam.rate_hz, daq_clock, settings)


def marker_set_for(cam: DeviceConfig) -> MarkerSet:
    return marker_set(str(cam.settings.get("marker_set", cam.view)))


def build_streams(
    config: LabConfig,
    *,
    daq: Device,
    cameras: list[tuple[Device, DeviceConfig]],
    setup: AnalysisSetup,
    clocks: dict[str, FrameClock] | None,
    on_fault,
    on_progress,
    fast: bool = False,
    daq_floor_s: Callable[[], float] | None = None,
) -> tuple[DeviceStream, list[DeviceStream], DaqClock]:
    """The DAQ's and the cameras' streams. Pace "fast": the DAQ is held at most
    :data:`FAST_LEAD_S` ahead of the slowest running camera, but never below ``daq_floor_s()``
    (the start of a recording: the recorder waits for the DAQ to reach it while its camera
    readers, not yet read, hold the cameras; holding the DAQ behind them then waited forever)."""
    daq_clock = DaqClock(daq.describe().rate_hz)
    daq_stream = DeviceStream(
        daq, role="daq", clock=daq_clock, on_fault=on_fault, on_progress=on_progress
    )
    camera_streams = []
    for device, cam in cameras:
        clock = (clocks or {}).get(cam.name)
        if clock is None and hasattr(device, "session_times"):  # a replay: the stored times
            clock = RecordedFrameClock(device.session_times)
        if clock is None:
            clock = frame_clock(
                config,
                cam,
                daq_clock,
                setup.trigger_delays_s.get(cam.name, 0.0),
                setup.floor_latencies_s.get(cam.name, 0.0),
            )
        camera_streams.append(
            DeviceStream(
                device,
                role="camera",
                view=cam.view,
                clock=clock,
                on_fault=on_fault,
                on_progress=on_progress,
            )
        )
    if fast and camera_streams:
        daq_stream.hold_back = lambda: max(
            fast_camera_limit_s(camera_streams), daq_floor_s() if daq_floor_s else -math.inf
        )
    return daq_stream, camera_streams, daq_clock


def fast_camera_limit_s(camera_streams: list[DeviceStream]) -> float:
    """Pace "fast": how far the DAQ may run, FAST_LEAD_S past the slowest running camera."""
    running = [s for s in camera_streams if s.fault is None and not s.exhausted]
    if not running:
        return math.inf
    return FAST_LEAD_S + min(
        s.latest_session_time_s if math.isfinite(s.latest_session_time_s) else 0.0 for s in running
    )


def camera_codec(config: LabConfig, camera: str):
    """The camera's storage codec: ``codec`` (and ``jpeg_quality``) in its [[cameras]] table."""
    from data.video_codecs import CodecChoice

    cam = next((c for c in config.cameras if c.name == camera), None)
    settings = cam.settings if cam is not None else {}
    if "codec" not in settings:
        return CodecChoice()
    if "jpeg_quality" in settings:
        return CodecChoice(str(settings["codec"]), int(settings["jpeg_quality"]))
    return CodecChoice(str(settings["codec"]))


def check_new_file(path: Path) -> None:
    """Refuse before recording starts what the writer would refuse on its thread."""
    if path.exists():
        raise InputError(
            "the file already exists",
            subject=str(path),
            remedy="Choose a new file name: recordings are not overwritten.",
        )
    if not path.parent.is_dir():
        raise InputError(
            "the folder does not exist",
            subject=str(path.parent),
            remedy="Create it or choose another folder.",
        )
