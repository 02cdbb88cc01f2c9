"""The lab's hardware configuration: a human-editable TOML file, validated with clear errors.

A configuration names one force DAQ, zero or more cameras and the plates wired to the DAQ, plus
how they are synchronised. Driver-specific keys stay in each device's ``settings`` and are checked
by that driver's ``probe``. With no file, :func:`simulated_config` gives the simulated lab.

Example (``docs/hardware-config.md`` documents every key)::

    [lab]
    name = "Running lab"
    treadmill = "single-belt"        # or "split-belt"

    [sync]
    mode = "hardware"                # DAQ counter output triggers the cameras; or "software"

    [daq]
    kind = "nidaqmx"
    rate_hz = 2000
    device = "Dev1"

    [[cameras]]
    name = "sagittal"
    kind = "basler"
    view = "sagittal"                # or "posterior"
    rate_hz = 250
    serial = "40012345"
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.errors import InputError
from analysis.forceplate import parse_plates

TREADMILLS = ("single-belt", "split-belt")
SYNC_MODES = ("hardware", "software")
CAMERA_VIEWS = ("sagittal", "posterior")
DAQ_RATE_RANGE_HZ = (1000.0, 10000.0)
CAMERA_RATE_RANGE_HZ = (1.0, 1000.0)


class ConfigError(InputError):
    """A configuration file or value that cannot be used; names the file and the key."""


@dataclass(frozen=True)
class DeviceConfig:
    name: str
    kind: str
    rate_hz: float
    settings: dict[str, Any]  # the whole section, including name/kind/rate_hz
    view: str = ""  # cameras: "sagittal" or "posterior"


@dataclass(frozen=True)
class LabConfig:
    lab_name: str
    treadmill: str
    sync_mode: str
    daq: DeviceConfig
    cameras: tuple[DeviceConfig, ...] = ()
    plates: tuple[dict[str, Any], ...] = ()
    simulation: dict[str, Any] = field(default_factory=dict)
    source: str = "<built-in>"

    @property
    def simulated(self) -> bool:
        return self.daq.kind.startswith("sim.")

    def camera(self, view: str) -> DeviceConfig | None:
        return next((c for c in self.cameras if c.view == view), None)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (stored in every session file)."""
        return {
            "lab": {"name": self.lab_name, "treadmill": self.treadmill},
            "sync": {"mode": self.sync_mode},
            "daq": dict(self.daq.settings),
            "cameras": [dict(c.settings) for c in self.cameras],
            "plates": [dict(p) for p in self.plates],
            "simulation": dict(self.simulation),
            "source": self.source,
        }


def load_config(path: str | Path) -> LabConfig:
    """Read and validate a hardware configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found", subject=str(path), remedy="Check the path, or omit --config."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot be read ({exc})", subject=str(path)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"is not valid TOML: {exc}", subject=str(path), remedy="Fix the line named."
        ) from None
    return parse_config(raw, source=str(path))


def parse_config(raw: Mapping[str, Any], source: str = "<config>") -> LabConfig:
    """Validate an already-parsed configuration mapping."""
    check = _Checker(source)
    check.known_keys(raw, "", ("lab", "sync", "daq", "cameras", "plates", "simulation"))
    lab = check.table(raw, "lab", required=False)
    sync = check.table(raw, "sync", required=False)
    treadmill = check.choice(lab, "lab.treadmill", TREADMILLS, default="single-belt")
    sync_mode = check.choice(sync, "sync.mode", SYNC_MODES, default="hardware")
    daq = _device(check, check.table(raw, "daq"), "daq", DAQ_RATE_RANGE_HZ)
    cameras_raw = raw.get("cameras", [])
    if not isinstance(cameras_raw, list):
        check.fail("cameras", "must be a list of [[cameras]] tables")
    cameras = []
    for i, cam in enumerate(cameras_raw):
        key = f"cameras[{i}]"
        if not isinstance(cam, dict):
            check.fail(key, "must be a table")
        device = _device(check, cam, key, CAMERA_RATE_RANGE_HZ)
        view = check.choice(cam, f"{key}.view", CAMERA_VIEWS)
        cameras.append(DeviceConfig(device.name, device.kind, device.rate_hz, dict(cam), view))
    names = [daq.name, *(c.name for c in cameras)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        check.fail("cameras", f"device names must be unique; repeated: {', '.join(duplicates)}")
    views = [c.view for c in cameras]
    if len(set(views)) != len(views):
        check.fail("cameras", "at most one camera per view (sagittal, posterior)")
    if sync_mode == "hardware":
        for cam in cameras:
            check_rate_pair(daq.rate_hz, cam.rate_hz, subject=f"{source}: cameras '{cam.name}'")
        _check_trigger_rate(check, daq, cameras)
    plates = raw.get("plates", [])
    if not isinstance(plates, list) or not all(isinstance(p, dict) for p in plates):
        check.fail("plates", "must be a list of [[plates]] tables")
    try:  # calibration, geometry and channel names of every plate (analysis.forceplate)
        parse_plates(plates, source=source)
    except InputError as exc:
        raise ConfigError(exc.problem, subject=exc.subject, remedy=exc.remedy) from None
    simulation = check.table(raw, "simulation", required=False)
    return LabConfig(
        lab_name=str(lab.get("name", "Midstance lab")),
        treadmill=treadmill,
        sync_mode=sync_mode,
        daq=daq,
        cameras=tuple(cameras),
        plates=tuple(dict(p) for p in plates),
        simulation=dict(simulation),
        source=source,
    )


def simulated_config(
    preset: str = "healthy",
    *,
    treadmill: str = "single-belt",
    daq_rate_hz: float = 2000.0,
    frame_rate_hz: float = 250.0,
    sync_mode: str = "hardware",
    seed: int = 1,
) -> LabConfig:
    """The simulated lab: one DAQ and a sagittal and a posterior camera, all simulated."""
    raw = {
        "lab": {"name": "Simulated lab", "treadmill": treadmill},
        "sync": {"mode": sync_mode},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": daq_rate_hz},
        "cameras": [
            {
                "name": "sagittal",
                "kind": "sim.camera",
                "view": "sagittal",
                "rate_hz": frame_rate_hz,
            },
            {
                "name": "posterior",
                "kind": "sim.camera",
                "view": "posterior",
                "rate_hz": frame_rate_hz,
            },
        ],
        "simulation": {"preset": preset, "seed": seed},
    }
    return parse_config(raw, source="<simulated lab>")


def valid_rate_pairs(daq_rate_hz: float, frame_rate_hz: float, n: int = 3) -> list[tuple[int, int]]:
    """Nearby (DAQ rate, frame rate) pairs whose ratio is an integer: keep the frame rate and
    move the DAQ rate, or keep the DAQ rate and move the frame rate."""
    lo, hi = DAQ_RATE_RANGE_HZ
    pairs: list[tuple[int, int]] = []
    fps = max(1, round(frame_rate_hz))
    multiple = max(1, round(daq_rate_hz / fps))
    for m in (multiple, multiple + 1, multiple - 1):
        if m >= 1 and lo <= m * fps <= hi:
            pairs.append((m * fps, fps))
    daq = round(daq_rate_hz)
    divisors = [d for d in range(1, daq + 1) if daq % d == 0 and d <= CAMERA_RATE_RANGE_HZ[1]]
    divisors.sort(key=lambda d: abs(d - frame_rate_hz))
    pairs.extend((daq, d) for d in divisors[:n])
    unique = list(dict.fromkeys(pairs))
    return unique[: 2 * n]


def check_rate_pair(daq_rate_hz: float, frame_rate_hz: float, subject: str = "sync") -> int:
    """Return the samples per frame, or refuse a pair whose ratio is not an integer."""
    ratio = daq_rate_hz / frame_rate_hz
    if not math.isclose(ratio, round(ratio), rel_tol=0, abs_tol=1e-9) or round(ratio) < 1:
        proposals = ", ".join(
            f"{d} Hz with {f} fps" for d, f in valid_rate_pairs(daq_rate_hz, frame_rate_hz)
        )
        raise ConfigError(
            f"the force rate {daq_rate_hz:g} Hz is not an integer multiple of the frame rate "
            f"{frame_rate_hz:g} fps, so frames cannot be tied to samples exactly",
            subject=subject,
            remedy=f"Choose a valid pair, e.g. {proposals}.",
        )
    return round(ratio)


def _check_trigger_rate(check: _Checker, daq: DeviceConfig, cameras: list[DeviceConfig]) -> None:
    """In hardware sync the DAQ's pulse train sets every camera's frame rate: they must agree,
    or frame k would not be pulse k."""
    trigger = daq.settings.get("camera_trigger")
    if not isinstance(trigger, Mapping) or "frame_rate_hz" not in trigger:
        return
    pulses = trigger["frame_rate_hz"]
    if isinstance(pulses, bool) or not isinstance(pulses, int | float):
        return  # the DAQ driver reports a malformed trigger table itself
    for i, cam in enumerate(cameras):
        if not math.isclose(float(pulses), cam.rate_hz, rel_tol=0, abs_tol=1e-9):
            check.fail(
                f"cameras[{i}].rate_hz",
                f"camera '{cam.name}' runs at {cam.rate_hz:g} fps but the trigger pulses "
                f"([daq.camera_trigger] frame_rate_hz) come at {float(pulses):g} Hz",
                "In hardware sync the DAQ's pulse train sets the frame rate: give both the same "
                "value.",
            )


def _device(
    check: _Checker, section: Mapping[str, Any], key: str, rate_range: tuple[float, float]
) -> DeviceConfig:
    name = check.string(section, f"{key}.name", default=key.split("[", maxsplit=1)[0])
    kind = check.string(section, f"{key}.kind")
    rate = check.number(section, f"{key}.rate_hz", rate_range)
    return DeviceConfig(name=name, kind=kind, rate_hz=rate, settings=dict(section))


class _Checker:
    """Small helpers that raise :class:`ConfigError` naming the file and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str, remedy: str = "") -> None:
        raise ConfigError(problem, subject=f"{self.source}: {key}", remedy=remedy)

    def _get(self, section: Mapping[str, Any], key: str) -> Any:
        return section.get(key.rsplit(".", 1)[-1])

    def known_keys(self, raw: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for k in raw:
            if k not in allowed:
                self.fail(prefix + k, "unknown section", f"Known sections: {', '.join(allowed)}.")

    def table(self, raw: Mapping[str, Any], key: str, required: bool = True) -> dict[str, Any]:
        value = raw.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing", f"Add a [{key}] section.")
            return {}
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def string(self, section: Mapping[str, Any], key: str, default: str | None = None) -> str:
        value = self._get(section, key)
        if value is None:
            if default is None:
                self.fail(key, "is missing")
            return str(default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, not {value!r}")
        return value

    def number(self, section: Mapping[str, Any], key: str, bounds: tuple[float, float]) -> float:
        value = self._get(section, key)
        if value is None:
            self.fail(key, "is missing", f"Give a rate between {bounds[0]:g} and {bounds[1]:g}.")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a number, not {value!r}")
        if not bounds[0] <= value <= bounds[1]:
            self.fail(key, f"{value:g} is outside {bounds[0]:g}–{bounds[1]:g}")
        return float(value)

    def choice(
        self,
        section: Mapping[str, Any],
        key: str,
        options: tuple[str, ...],
        default: str | None = None,
    ) -> str:
        value = self._get(section, key)
        if value is None:
            if default is None:
                self.fail(key, "is missing", f"Use one of: {', '.join(options)}.")
            return str(default)
        if value not in options:
            self.fail(key, f"'{value}' is not allowed", f"Use one of: {', '.join(options)}.")
        return str(value)
