"""The NI-DAQmx driver's own keys of the ``[daq]`` table, validated into plain data.

``drivers.config`` checks the keys every DAQ shares (``name``, ``kind``, ``rate_hz``); the keys
below only mean something to NI-DAQmx, so they are checked here, when the device is probed or
opened, with errors that name the key (``daq.channels[2].terminal``). Nothing here imports
nidaqmx: a configuration can be checked on a machine without the NI software.
``docs/ni-daqmx.md`` documents every key with an example.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from drivers.config import DAQ_RATE_RANGE_HZ, ConfigError, check_rate_pair

TERMINALS = ("differential", "rse", "nrse", "pseudo-differential")
# What the NI-DAQmx terminal configurations are called in the hardware file.
COMMON_KEYS = ("name", "kind", "rate_hz")
DRIVER_KEYS = (
    "device",
    "channels",
    "terminal",
    "range_V",
    "samples_per_event",
    "buffer_samples",
    "camera_trigger",
    "sync_led",
    "edge_counters",
)
CHANNEL_KEYS = ("name", "physical", "terminal", "range_V")
TRIGGER_KEYS = ("counter", "terminal", "frame_rate_hz", "duty_cycle")
SYNC_LED_KEYS = ("line",)
EDGE_COUNTER_KEYS = ("name", "counter", "terminal", "edge")
EDGES = ("rising", "falling")
EVENTS_PER_SECOND = 100  # default block: 10 ms of samples, the pipeline's read (live delay)
DEFAULT_BUFFER_S = 10.0  # default DAQmx buffer: how long the host may stall before samples are lost
MAX_RANGE_V = 10.0

_DEVICE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_AI = re.compile(r"^ai\d+$")
_COUNTER = re.compile(r"^ctr\d+$")
_TERMINAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_LINE = re.compile(r"^port\d+/line\d+$")


@dataclass(frozen=True)
class AnalogChannel:
    name: str  # the name analysis uses, e.g. "belt.Fz" (docs/architecture.md)
    physical: str  # full NI-DAQmx physical channel, e.g. "Dev1/ai2"
    terminal: str  # one of TERMINALS
    min_V: float
    max_V: float


@dataclass(frozen=True)
class CameraTrigger:
    counter: str  # e.g. "Dev1/ctr0"
    terminal: str  # pulse output terminal, e.g. "/Dev1/PFI12"
    frame_rate_hz: float
    duty_cycle: float  # fraction of each period the pulse is high
    samples_per_frame: int  # force rate / frame rate, an integer by construction


@dataclass(frozen=True)
class EdgeCounter:
    """A counter counting edges on a terminal (e.g. a camera's exposure-active output), sampled
    on the force sample clock: one cumulative count per force sample."""

    name: str  # e.g. "exposure.sagittal.edges"
    counter: str  # e.g. "Dev1/ctr1"
    terminal: str  # e.g. "/Dev1/PFI0"
    edge: str  # "rising" or "falling"


@dataclass(frozen=True)
class NidaqSettings:
    device: str
    rate_hz: float
    channels: tuple[AnalogChannel, ...]
    samples_per_event: int
    buffer_samples: int
    camera_trigger: CameraTrigger | None
    sync_led_line: str | None  # e.g. "Dev1/port0/line0"
    edge_counters: tuple[EdgeCounter, ...] = ()

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Analog channels, then edge counters: the columns ``read`` delivers."""
        return tuple(c.name for c in self.channels) + tuple(c.name for c in self.edge_counters)

    @property
    def ai_start_trigger(self) -> str:
        """The terminal the camera trigger waits on: the analog input's own start."""
        return f"/{self.device}/ai/StartTrigger"

    @property
    def ai_sample_clock(self) -> str:
        return f"/{self.device}/ai/SampleClock"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_settings(settings: Mapping[str, Any]) -> NidaqSettings:
    """Validate the ``[daq]`` table of a hardware configuration for the NI-DAQmx driver."""
    _known(settings, "daq", (*COMMON_KEYS, *DRIVER_KEYS))
    device = _string(settings, "daq.device", "device")
    if not _DEVICE_NAME.match(device):
        _fail("daq.device", f"'{device}' is not an NI-DAQmx device name", _NI_MAX_HINT)
    rate = _number(settings, "daq.rate_hz", "rate_hz", None)
    if not DAQ_RATE_RANGE_HZ[0] <= rate <= DAQ_RATE_RANGE_HZ[1]:
        _fail(
            "daq.rate_hz",
            f"{rate:g} Hz is outside {DAQ_RATE_RANGE_HZ[0]:g}–{DAQ_RATE_RANGE_HZ[1]:g} Hz",
        )
    default_terminal = _terminal(settings, "daq.terminal", "differential")
    default_range = _range(settings, "daq.range_V", (-MAX_RANGE_V, MAX_RANGE_V))
    channels = _channels(settings, device, default_terminal, default_range)

    per_event = _integer(settings, "samples_per_event", max(1, round(rate / EVENTS_PER_SECOND)))
    default_buffer = per_event * max(2, math.ceil(rate * DEFAULT_BUFFER_S / per_event))
    buffer = _integer(settings, "buffer_samples", default_buffer)
    if buffer % per_event or buffer < 2 * per_event:
        _fail(
            "daq.buffer_samples",
            f"{buffer} is not a multiple (at least twice) of samples_per_event ({per_event})",
            f"Use e.g. {default_buffer} ({DEFAULT_BUFFER_S:g} s at {rate:g} Hz).",
        )
    trigger = _camera_trigger(settings, device, rate)
    sync_led = _sync_led(settings, device)
    counters = _edge_counters(settings, device, channels, trigger)
    return NidaqSettings(
        device=device,
        rate_hz=rate,
        channels=channels,
        samples_per_event=per_event,
        buffer_samples=buffer,
        camera_trigger=trigger,
        sync_led_line=sync_led,
        edge_counters=counters,
    )


_NI_MAX_HINT = "Use the device name NI MAX shows under Devices and Interfaces, e.g. Dev1."


def _fail(key: str, problem: str, remedy: str = "") -> None:
    raise ConfigError(problem, subject=key, remedy=remedy)


def _known(section: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
    for key in section:
        if key not in allowed:
            _fail(
                f"{prefix}.{key}", "is not a setting of the NI-DAQmx driver", _known_list(allowed)
            )


def _known_list(allowed: tuple[str, ...]) -> str:
    return f"Known keys: {', '.join(allowed)}."


def _string(section: Mapping[str, Any], key: str, field: str, default: str | None = None) -> str:
    value = section.get(field, default)
    if value is None:
        _fail(key, "is missing")
    if not isinstance(value, str) or not value.strip():
        _fail(key, f"must be a non-empty string, not {value!r}")
    return value.strip()


def _number(section: Mapping[str, Any], key: str, field: str, default: float | None) -> float:
    value = section.get(field, default)
    if value is None:
        _fail(key, "is missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(key, f"must be a number, not {value!r}")
    return float(value)


def _integer(section: Mapping[str, Any], field: str, default: int) -> int:
    value = section.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(f"daq.{field}", f"must be a positive whole number of samples, not {value!r}")
    return int(value)


def _terminal(section: Mapping[str, Any], key: str, default: str) -> str:
    value = section.get(key.rsplit(".", 1)[-1], default)
    if not isinstance(value, str) or value.lower() not in TERMINALS:
        _fail(
            key,
            f"{value!r} is not a terminal configuration",
            f"Use one of: {', '.join(TERMINALS)} (as wired; see the DAQ's pinout in NI MAX).",
        )
    return value.lower()


def _range(
    section: Mapping[str, Any], key: str, default: tuple[float, float]
) -> tuple[float, float]:
    """``range_V = 5`` means ±5 V; ``range_V = [0, 10]`` gives the limits explicitly."""
    value = section.get(key.rsplit(".", 1)[-1])
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        limits = (-float(value), float(value))
    elif (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        limits = (float(value[0]), float(value[1]))
    else:
        _fail(key, f"must be a number (±V) or [min, max] in volts, not {value!r}")
    lo, hi = limits
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        _fail(key, f"{value!r} is not a range: the minimum must be below the maximum")
    if lo < -MAX_RANGE_V or hi > MAX_RANGE_V:
        _fail(key, f"{value!r} exceeds ±{MAX_RANGE_V:g} V", "Use the amplifier's output range.")
    return limits


def _physical(device: str, key: str, value: Any, pattern: re.Pattern[str], example: str) -> str:
    """Accept ``ai0`` or ``Dev1/ai0`` (the configured device only) and return the full name."""
    if not isinstance(value, str) or not value.strip():
        _fail(key, f"must be a physical channel such as '{example}', not {value!r}")
    local = value.strip().lstrip("/")
    owner, sep, rest = local.partition("/")
    if sep and not pattern.match(local):
        if owner != device:
            _fail(
                key,
                f"'{value}' is on device '{owner}', not on daq.device '{device}'",
                "All channels must be on the one configured device.",
            )
        local = rest
    if not pattern.match(local):
        _fail(key, f"'{value}' is not a physical channel such as '{example}'")
    return f"{device}/{local}"


def _channels(
    settings: Mapping[str, Any],
    device: str,
    default_terminal: str,
    default_range: tuple[float, float],
) -> tuple[AnalogChannel, ...]:
    raw = settings.get("channels")
    if not isinstance(raw, list) or not raw:
        _fail(
            "daq.channels",
            "must list the analog inputs as [[daq.channels]] tables",
            'Add e.g. [[daq.channels]] name = "belt.Fz" physical = "ai2".',
        )
    channels: list[AnalogChannel] = []
    for i, entry in enumerate(raw):
        key = f"daq.channels[{i}]"
        if not isinstance(entry, dict):
            _fail(key, "must be a table with name and physical")
        _known(entry, key, CHANNEL_KEYS)
        name = _string(entry, f"{key}.name", "name")
        physical = _physical(device, f"{key}.physical", entry.get("physical"), _AI, "ai0")
        terminal = _terminal(entry, f"{key}.terminal", default_terminal)
        lo, hi = _range(entry, f"{key}.range_V", default_range)
        channels.append(AnalogChannel(name, physical, terminal, lo, hi))
    for attr, what in (("name", "names"), ("physical", "physical channels")):
        values = [getattr(c, attr) for c in channels]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            _fail("daq.channels", f"channel {what} must be unique; repeated: {', '.join(repeated)}")
    return tuple(channels)


def _pfi(key: str, value: str, device: str) -> str:
    """A terminal such as ``PFI0`` or ``/Dev1/PFI0`` as its full name ``/Dev1/PFI0``."""
    terminal = value.lstrip("/")
    owner, _, local = terminal.rpartition("/")
    if (owner and owner != device) or not _TERMINAL.match(local):
        _fail(
            key,
            f"'{value}' is not a terminal of {device}",
            "Name the PFI terminal the cable is wired to, e.g. PFI12.",
        )
    return f"/{device}/{local}"


def _camera_trigger(
    settings: Mapping[str, Any], device: str, rate_hz: float
) -> CameraTrigger | None:
    raw = settings.get("camera_trigger")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        _fail("daq.camera_trigger", "must be a table ([daq.camera_trigger])")
    _known(raw, "daq.camera_trigger", TRIGGER_KEYS)
    counter = _physical(
        device, "daq.camera_trigger.counter", raw.get("counter", "ctr0"), _COUNTER, "ctr0"
    )
    key = "daq.camera_trigger.terminal"
    terminal = _pfi(key, _string(raw, key, "terminal"), device)
    frame_rate = _number(raw, "daq.camera_trigger.frame_rate_hz", "frame_rate_hz", None)
    if not 0 < frame_rate <= rate_hz:
        _fail(
            "daq.camera_trigger.frame_rate_hz",
            f"{frame_rate:g} fps must be positive and at most the force rate {rate_hz:g} Hz",
        )
    per_frame = check_rate_pair(rate_hz, frame_rate, subject="daq.camera_trigger.frame_rate_hz")
    duty = _number(raw, "daq.camera_trigger.duty_cycle", "duty_cycle", 0.5)
    if not 0 < duty < 1:
        _fail(
            "daq.camera_trigger.duty_cycle",
            f"{duty:g} is not a fraction between 0 and 1",
            "Use e.g. 0.5 (high for half of each frame period).",
        )
    return CameraTrigger(
        counter=counter,
        terminal=terminal,
        frame_rate_hz=frame_rate,
        duty_cycle=duty,
        samples_per_frame=per_frame,
    )


def _sync_led(settings: Mapping[str, Any], device: str) -> str | None:
    raw = settings.get("sync_led")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        _fail("daq.sync_led", "must be a table ([daq.sync_led])")
    _known(raw, "daq.sync_led", SYNC_LED_KEYS)
    return _physical(device, "daq.sync_led.line", raw.get("line"), _LINE, "port0/line0")


def _edge_counters(
    settings: Mapping[str, Any],
    device: str,
    channels: tuple[AnalogChannel, ...],
    trigger: CameraTrigger | None,
) -> tuple[EdgeCounter, ...]:
    raw = settings.get("edge_counters", [])
    if not isinstance(raw, list):
        _fail("daq.edge_counters", "must be [[daq.edge_counters]] tables")
    counters: list[EdgeCounter] = []
    for i, entry in enumerate(raw):
        key = f"daq.edge_counters[{i}]"
        if not isinstance(entry, dict):
            _fail(key, "must be a table with name, counter and terminal")
        _known(entry, key, EDGE_COUNTER_KEYS)
        name = _string(entry, f"{key}.name", "name")
        counter = _physical(device, f"{key}.counter", entry.get("counter"), _COUNTER, "ctr1")
        terminal = _pfi(f"{key}.terminal", _string(entry, f"{key}.terminal", "terminal"), device)
        edge = entry.get("edge", "rising")
        if edge not in EDGES:
            _fail(f"{key}.edge", f"{edge!r} is not an edge", f"Use one of: {', '.join(EDGES)}.")
        counters.append(EdgeCounter(name, counter, terminal, edge))
    names = [c.name for c in channels] + [c.name for c in counters]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        _fail("daq.edge_counters", f"names must differ from every channel; repeated: {repeated}")
    used = [c.counter for c in counters] + ([trigger.counter] if trigger else [])
    repeated = sorted({c for c in used if used.count(c) > 1})
    if repeated:
        _fail(
            "daq.edge_counters",
            f"each counter can do one job; {', '.join(repeated)} is used twice",
            "Give the camera trigger and every edge counter its own counter (ctr0, ctr1, …).",
        )
    return tuple(counters)
