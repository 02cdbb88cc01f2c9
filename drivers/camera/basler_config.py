"""Basler camera settings and how they are written to the camera's GenICam node map.

Kept apart from the grab loop so that what a technician writes in the TOML file, the node names
each camera model uses (``ExposureTime`` on USB3/SFNC cameras, ``ExposureTimeAbs`` on older GigE
ones) and the checks that make a configuration impossible (exposure longer than the frame
period, a frame rate the sensor cannot reach) can be read and tested on their own. Works on any
object with pylon's parameter interface (``GetNode`` returning parameters with ``IsValid``,
``IsWritable``, ``GetValue``, ``SetValue``), so no pypylon import is needed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from drivers.camera.settings import CameraSettingError, SettingsReader

TRIGGER_MODES = ("free-run", "hardware", "software")
TRIGGER_ACTIVATIONS = ("RisingEdge", "FallingEdge")
EMULATOR_MODEL = "Emulation"  # DeviceInfo model name of pylon's camera emulator (PYLON_CAMEMU)

# The same feature under the names different camera generations give it, preferred first.
EXPOSURE_NODES = ("ExposureTime", "ExposureTimeAbs")
GAIN_NODES = ("Gain", "GainAbs")
FRAME_RATE_NODES = ("AcquisitionFrameRate", "AcquisitionFrameRateAbs")
RESULTING_RATE_NODES = ("ResultingFrameRate", "ResultingFrameRateAbs")
CHUNK_TIMESTAMP_ENTRIES = ("Timestamp",)
CHUNK_COUNTER_ENTRIES = ("FrameID", "Framecounter")
RATE_TOLERANCE = 1e-3  # relative shortfall of ResultingFrameRate accepted as rounding


@dataclass(frozen=True)
class BaslerSettings:
    """The keys of a ``kind = "basler"`` camera table (``docs/cameras.md`` documents them)."""

    serial: str
    rate_hz: float
    exposure_us: float = 1000.0
    gain_db: float = 0.0
    width: int | None = None  # None: the sensor's full width
    height: int | None = None
    offset_x: int = 0
    offset_y: int = 0
    trigger: str = "hardware"  # the lab's default sync; free run must be chosen explicitly
    trigger_source: str = "Line1"
    trigger_activation: str = "RisingEdge"
    exposure_output_line: str = "Line2"  # "" leaves the camera's output lines alone
    exposure_output_min_pulse_us: float = 0.0  # stretch short pulses so the DAQ sees them
    buffers: int = 64
    chunks: bool = True  # use chunk timestamps/frame counters where the camera has them
    test_image_dir: str = ""  # pylon camera emulator only: replay the images in this folder

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_basler_settings(name: str, settings: Mapping[str, Any]) -> BaslerSettings:
    """Validate the table; raises :class:`CameraSettingError` naming the key."""
    read = SettingsReader(name, settings)
    serial = read.string("serial").strip()
    if not serial:
        raise read.fail("serial", "is empty", "Give the serial printed on the camera's label.")
    rate_hz = read.number("rate_hz", low=0.01, high=10000.0)
    parsed = BaslerSettings(
        serial=serial,
        rate_hz=rate_hz,
        exposure_us=read.number("exposure_us", 1000.0, low=1.0, high=10_000_000.0),
        gain_db=read.number("gain_db", 0.0, low=0.0, high=48.0),
        width=read.optional_int("width", low=1),
        height=read.optional_int("height", low=1),
        offset_x=int(read.number("offset_x", 0, low=0, high=1 << 20, integer=True)),
        offset_y=int(read.number("offset_y", 0, low=0, high=1 << 20, integer=True)),
        trigger=read.choice("trigger", TRIGGER_MODES, "hardware"),
        trigger_source=read.string("trigger_source", "Line1"),
        trigger_activation=read.choice("trigger_activation", TRIGGER_ACTIVATIONS, "RisingEdge"),
        exposure_output_line=read.string("exposure_output_line", "Line2"),
        exposure_output_min_pulse_us=read.number(
            "exposure_output_min_pulse_us", 0.0, low=0.0, high=100_000.0
        ),
        buffers=int(read.number("buffers", 64, low=2, high=4096, integer=True)),
        chunks=read.flag("chunks", True),
        test_image_dir=read.string("test_image_dir", ""),
    )
    period_us = 1e6 / rate_hz
    if parsed.exposure_us >= period_us:
        raise read.fail(
            "exposure_us",
            f"the exposure of {parsed.exposure_us:g} µs is not shorter than the frame period of "
            f"{period_us:g} µs at {rate_hz:g} fps",
            f"Use an exposure below {0.9 * period_us:.0f} µs (add light or gain), or a lower "
            "rate_hz.",
        )
    return parsed


class CameraConfigError(CameraSettingError):
    """The camera is there but refuses (or cannot honour) a setting."""


@dataclass
class AppliedConfig:
    """What was actually written and read back: stored with the session's settings."""

    width: int
    height: int
    nodes_used: dict[str, str]  # feature -> node name on this camera, e.g. exposure: ExposureTime
    exposure_us: float
    gain_db: float | None  # None: the camera has no gain in dB (only raw gain); left unchanged
    resulting_frame_rate_hz: float | None
    frame_counter_source: str  # "chunk FrameID", "chunk Framecounter" or "BlockID"
    timestamp_source: str  # "chunk Timestamp", "grab result TimeStamp"
    timestamp_tick_hz: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NodeWriter:
    """Writes settings to a node map, turning refusals into errors that name the setting."""

    def __init__(self, camera_name: str, nodemap: Any) -> None:
        self.camera_name = camera_name
        self.nodemap = nodemap

    def fail(self, key: str, problem: str, remedy: str = "") -> CameraConfigError:
        return CameraConfigError(problem, camera=self.camera_name, key=key, remedy=remedy)

    def node(self, name: str) -> Any | None:
        node = self.nodemap.GetNode(name)
        return node if node is not None and node.IsValid() else None

    def first(self, names: tuple[str, ...], *, writable: bool) -> tuple[str, Any] | None:
        """The first of ``names`` this camera has (and can write, if asked)."""
        for name in names:
            node = self.node(name)
            if node is not None and (node.IsWritable() if writable else node.IsReadable()):
                return name, node
        return None

    def set_if_present(self, name: str, value: Any) -> bool:
        node = self.node(name)
        if node is None or not node.IsWritable():
            return False
        node.SetValue(value)
        return True

    def set_enum(self, key: str, node_name: str, value: str) -> None:
        node = self.node(node_name)
        if node is None:
            raise self.fail(key, f"this camera has no {node_name} feature")
        options = tuple(node.Symbolics)
        if value not in options:
            raise self.fail(
                key,
                f"{node_name} '{value}' is not offered",
                f"This camera offers: {', '.join(options)}.",
            )
        if node.GetValue() == value:
            return
        if not node.IsWritable():
            raise self.fail(key, f"{node_name} cannot be changed now (is the camera grabbing?)")
        node.SetValue(value)

    def set_number(self, key: str, names: tuple[str, ...], value: float, unit: str) -> str:
        found = self.first(names, writable=True)
        if found is None:
            raise self.fail(key, f"this camera has none of the features {', '.join(names)}")
        node_name, node = found
        low, high = node.GetMin(), node.GetMax()
        if not low <= value <= high:
            raise self.fail(
                key,
                f"{value:g} {unit} is outside this camera's {node_name} range "
                f"{low:g}–{high:g} {unit}",
            )
        node.SetValue(value)
        return node_name

    def set_int(self, key: str, node_name: str, value: int) -> None:
        node = self.node(node_name)
        if node is None or not node.IsWritable():
            raise self.fail(key, f"{node_name} cannot be written on this camera")
        low, high, inc = node.GetMin(), node.GetMax(), node.GetInc()
        if not low <= value <= high or (value - low) % inc:
            raise self.fail(
                key,
                f"{value} is not a valid {node_name} (range {low}–{high} in steps of {inc})",
                "Choose a value in that range and step (the region must fit on the sensor).",
            )
        node.SetValue(value)


def apply_settings(writer: NodeWriter, settings: BaslerSettings, *, model: str) -> AppliedConfig:
    """Configure the camera; raises :class:`CameraConfigError` for anything it cannot honour."""
    nodes: dict[str, str] = {}
    writer.set_if_present("AcquisitionMode", "Continuous")
    writer.set_enum("pixel_format", "PixelFormat", "Mono8")
    _apply_region(writer, settings)
    if settings.test_image_dir:
        if model != EMULATOR_MODEL:
            raise writer.fail(
                "test_image_dir",
                f"only pylon's camera emulator can replay images; this camera is a {model}",
                "Remove test_image_dir from a real camera's table.",
            )
        writer.set_enum("test_image_dir", "TestImageSelector", "Off")
        writer.set_enum("test_image_dir", "ImageFileMode", "On")
        writer.node("ImageFilename").SetValue(settings.test_image_dir)
    writer.set_if_present("ExposureAuto", "Off")
    writer.set_if_present("ExposureMode", "Timed")
    nodes["exposure"] = writer.set_number("exposure_us", EXPOSURE_NODES, settings.exposure_us, "µs")
    exposure_us = float(writer.node(nodes["exposure"]).GetValue())
    gain_db = _apply_gain(writer, settings, nodes)
    _apply_trigger(writer, settings, nodes)
    if settings.exposure_output_line:
        _apply_exposure_output(writer, settings)
    counter_source, timestamp_source = _apply_chunks(writer, settings.chunks)
    resulting = writer.first(RESULTING_RATE_NODES, writable=False)
    resulting_hz = None
    if resulting is not None:
        nodes["resulting_frame_rate"] = resulting[0]
        resulting_hz = float(resulting[1].GetValue())
        if resulting_hz < settings.rate_hz * (1 - RATE_TOLERANCE):
            raise writer.fail(
                "rate_hz",
                f"the camera can reach at most {resulting_hz:.4g} fps with this exposure and "
                f"region ({resulting[0]}), not {settings.rate_hz:g} fps",
                "Shorten exposure_us, reduce the region height, or lower rate_hz.",
            )
    tick = writer.first(("GevTimestampTickFrequency",), writable=False)
    tick_hz = float(tick[1].GetValue()) if tick is not None else 1e9  # SFNC/USB3: nanoseconds
    width = int(writer.node("Width").GetValue())
    height = int(writer.node("Height").GetValue())
    return AppliedConfig(
        width=width,
        height=height,
        nodes_used=nodes,
        exposure_us=exposure_us,
        gain_db=gain_db,
        resulting_frame_rate_hz=resulting_hz,
        frame_counter_source=counter_source,
        timestamp_source=timestamp_source,
        timestamp_tick_hz=tick_hz,
    )


def _apply_region(writer: NodeWriter, settings: BaslerSettings) -> None:
    # Offsets first to 0 so that a larger width/height fits, then size, then the offsets.
    writer.set_if_present("OffsetX", 0)
    writer.set_if_present("OffsetY", 0)
    width = settings.width if settings.width is not None else int(writer.node("Width").GetMax())
    height = settings.height if settings.height is not None else int(writer.node("Height").GetMax())
    writer.set_int("width", "Width", width)
    writer.set_int("height", "Height", height)
    if settings.offset_x:
        writer.set_int("offset_x", "OffsetX", settings.offset_x)
    if settings.offset_y:
        writer.set_int("offset_y", "OffsetY", settings.offset_y)


def _apply_gain(
    writer: NodeWriter, settings: BaslerSettings, nodes: dict[str, str]
) -> float | None:
    writer.set_if_present("GainAuto", "Off")
    if writer.first(GAIN_NODES, writable=True) is None:
        if settings.gain_db:
            raise writer.fail(
                "gain_db",
                "this camera has no gain in dB (only raw gain)",
                "Remove gain_db and set the gain in pylon Viewer (it is saved in the camera).",
            )
        return None
    nodes["gain"] = writer.set_number("gain_db", GAIN_NODES, settings.gain_db, "dB")
    return float(writer.node(nodes["gain"]).GetValue())


def _apply_trigger(writer: NodeWriter, settings: BaslerSettings, nodes: dict[str, str]) -> None:
    writer.set_enum("trigger", "TriggerSelector", "FrameStart")
    if settings.trigger == "free-run":
        writer.set_enum("trigger", "TriggerMode", "Off")
        writer.set_if_present("AcquisitionFrameRateEnable", True)
        nodes["frame_rate"] = writer.set_number(
            "rate_hz", FRAME_RATE_NODES, settings.rate_hz, "fps"
        )
        return
    # Triggered: the pulses set the rate; the camera's own rate limit must be off.
    writer.set_if_present("AcquisitionFrameRateEnable", False)
    writer.set_enum("trigger", "TriggerMode", "On")
    if settings.trigger == "software":
        writer.set_enum("trigger", "TriggerSource", "Software")
        return
    writer.set_enum("trigger_source", "TriggerSource", settings.trigger_source)
    writer.set_enum("trigger_activation", "TriggerActivation", settings.trigger_activation)


def _apply_exposure_output(writer: NodeWriter, settings: BaslerSettings) -> None:
    key, line = "exposure_output_line", settings.exposure_output_line
    writer.set_enum(key, "LineSelector", line)
    mode = writer.node("LineMode")
    if mode is not None and mode.GetValue() != "Output":
        if not mode.IsWritable() or "Output" not in tuple(mode.Symbolics):
            raise writer.fail(
                key,
                f"{line} is an input on this camera",
                "Name an output or GPIO line (see the camera's manual).",
            )
        mode.SetValue("Output")
    writer.set_enum(key, "LineSource", "ExposureActive")
    writer.set_if_present("LineInverter", False)  # high while the sensor exposes
    if settings.exposure_output_min_pulse_us:
        writer.set_number(
            "exposure_output_min_pulse_us",
            ("LineMinimumOutputPulseWidth",),
            settings.exposure_output_min_pulse_us,
            "µs",
        )


def _apply_chunks(writer: NodeWriter, wanted: bool) -> tuple[str, str]:
    """Enable timestamp and frame-counter chunks where the camera has them."""
    grab_result = ("BlockID", "grab result TimeStamp")
    active = writer.node("ChunkModeActive")
    if not wanted or active is None or not active.IsWritable():
        return grab_result
    active.SetValue(True)
    selector = writer.node("ChunkSelector")
    enable = writer.node("ChunkEnable")
    if selector is None or enable is None or not selector.IsWritable():
        active.SetValue(False)  # e.g. the emulator: chunk mode without any chunk to select
        return grab_result
    options = tuple(selector.Symbolics)
    counter = next((c for c in CHUNK_COUNTER_ENTRIES if c in options), None)
    stamp = next((c for c in CHUNK_TIMESTAMP_ENTRIES if c in options), None)
    if counter is None and stamp is None:
        active.SetValue(False)
        return grab_result
    for entry in (counter, stamp):
        if entry is not None:
            selector.SetValue(entry)
            enable.SetValue(True)
    return (
        f"chunk {counter}" if counter else grab_result[0],
        f"chunk {stamp}" if stamp else grab_result[1],
    )
