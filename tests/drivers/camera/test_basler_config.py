"""Basler settings and node handling without a camera: parsing, node-name aliases, rate checks.

The node map here is a small stand-in with pylon's parameter interface, so that camera models the
emulator does not imitate (older GigE cameras with ``ExposureTimeAbs`` only, a sensor that cannot
reach the requested rate) are covered too.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

from drivers.base import HealthStatus
from drivers.camera.basler import BaslerCamera
from drivers.camera.basler_config import (
    CameraConfigError,
    NodeWriter,
    apply_settings,
    parse_basler_settings,
)
from drivers.camera.settings import CameraSettingError


class FakeParameter:
    def __init__(self, value, *, low=0.0, high=1e9, inc=1, symbolics=(), writable=True):
        self.value, self.low, self.high, self.inc = value, low, high, inc
        self.Symbolics = symbolics
        self.writable = writable

    def IsValid(self):
        return True

    def IsReadable(self):
        return True

    def IsWritable(self):
        return self.writable

    def GetValue(self):
        return self.value

    def SetValue(self, value):
        self.value = value

    def GetMin(self):
        return self.low

    def GetMax(self):
        return self.high

    def GetInc(self):
        return self.inc


class FakeNodeMap:
    def __init__(self, **nodes: FakeParameter) -> None:
        self.nodes = nodes

    def GetNode(self, name):
        return self.nodes.get(name)


def older_gige_camera(resulting_rate_hz: float) -> FakeNodeMap:
    """An older GigE camera: the ...Abs node names, no Gain in dB, fixed output line mode."""
    return FakeNodeMap(
        PixelFormat=FakeParameter("Mono8", symbolics=("Mono8", "Mono12")),
        Width=FakeParameter(1920, low=16, high=1920, inc=16),
        Height=FakeParameter(1200, low=16, high=1200, inc=2),
        OffsetX=FakeParameter(0, high=1904, inc=16),
        OffsetY=FakeParameter(0, high=1184, inc=2),
        ExposureTimeAbs=FakeParameter(5000.0, low=20.0, high=1e6),
        AcquisitionFrameRateEnable=FakeParameter(False),
        AcquisitionFrameRateAbs=FakeParameter(30.0, low=0.1, high=1000.0),
        ResultingFrameRateAbs=FakeParameter(resulting_rate_hz),
        TriggerSelector=FakeParameter("FrameStart", symbolics=("AcquisitionStart", "FrameStart")),
        TriggerMode=FakeParameter("Off", symbolics=("Off", "On")),
        TriggerSource=FakeParameter("Line1", symbolics=("Line1", "Software")),
        TriggerActivation=FakeParameter("RisingEdge", symbolics=("RisingEdge", "FallingEdge")),
        LineSelector=FakeParameter("Line1", symbolics=("Line1", "Out1")),
        LineMode=FakeParameter("Output", writable=False),
        LineSource=FakeParameter("UserOutput", symbolics=("UserOutput", "ExposureActive")),
        GevTimestampTickFrequency=FakeParameter(125_000_000),
    )


def settings(**extra) -> dict:
    base = {"serial": "21234567", "rate_hz": 200.0, "exposure_us": 1500.0, "trigger": "free-run"}
    return {**base, "exposure_output_line": "Out1", **extra}  # Out1: the older GigE output


def test_abs_node_names_are_used_and_reported_on_cameras_that_only_have_them():
    nodemap = older_gige_camera(resulting_rate_hz=250.0)
    parsed = parse_basler_settings("sagittal", settings(height=600))
    applied = apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1920-155um")
    assert applied.nodes_used == {
        "exposure": "ExposureTimeAbs",
        "frame_rate": "AcquisitionFrameRateAbs",
        "resulting_frame_rate": "ResultingFrameRateAbs",
    }
    assert nodemap.nodes["ExposureTimeAbs"].value == 1500.0
    assert nodemap.nodes["AcquisitionFrameRateAbs"].value == 200.0
    assert nodemap.nodes["AcquisitionFrameRateEnable"].value is True
    assert (applied.width, applied.height) == (1920, 600)
    assert applied.gain_db is None  # no Gain/GainAbs: left as the camera has it
    assert nodemap.nodes["LineSource"].value == "ExposureActive"
    assert applied.timestamp_tick_hz == 125e6


def test_short_exposure_pulses_can_be_stretched_where_the_camera_can():
    nodemap = older_gige_camera(resulting_rate_hz=250.0)
    nodemap.nodes["LineMinimumOutputPulseWidth"] = FakeParameter(0.0, high=100_000.0)
    nodemap.nodes["LineInverter"] = FakeParameter(True)
    parsed = parse_basler_settings("sagittal", settings(exposure_output_min_pulse_us=1000.0))
    apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1300-200um")
    assert nodemap.nodes["LineMinimumOutputPulseWidth"].value == 1000.0
    assert nodemap.nodes["LineInverter"].value is False
    del nodemap.nodes["LineMinimumOutputPulseWidth"]
    with pytest.raises(CameraConfigError, match="LineMinimumOutputPulseWidth"):
        apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1920-155gm")


def test_a_rate_the_sensor_cannot_reach_is_misconfigured_naming_the_limit():
    nodemap = older_gige_camera(resulting_rate_hz=164.2)
    parsed = parse_basler_settings("sagittal", settings())
    with pytest.raises(CameraConfigError, match=r"at most 164\.2 fps") as raised:
        apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1920-155um")
    assert raised.value.key == "rate_hz"
    assert "Shorten exposure_us" in raised.value.remedy


def test_a_region_off_the_sensor_grid_names_the_step():
    nodemap = older_gige_camera(resulting_rate_hz=250.0)
    parsed = parse_basler_settings("sagittal", settings(width=1000, exposure_output_line=""))
    with pytest.raises(CameraConfigError, match="steps of 16"):
        apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1920-155um")


def test_gain_on_a_camera_without_gain_in_db_is_refused():
    nodemap = older_gige_camera(resulting_rate_hz=250.0)
    parsed = parse_basler_settings("sagittal", settings(gain_db=6.0))
    with pytest.raises(CameraConfigError, match="no gain in dB"):
        apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1920-155um")


def test_replaying_images_is_refused_on_a_real_camera():
    parsed = parse_basler_settings("sagittal", settings(test_image_dir="/tmp"))
    with pytest.raises(CameraConfigError, match="only pylon's camera emulator"):
        apply_settings(
            NodeWriter("sagittal", older_gige_camera(250.0)), parsed, model="acA1920-155um"
        )


def test_exposure_not_shorter_than_the_frame_period_is_misconfigured_before_any_camera():
    health = BaslerCamera.probe("sagittal", settings(rate_hz=250.0, exposure_us=4000.0))
    assert health.status is HealthStatus.MISCONFIGURED
    assert "4000 µs is not shorter than the frame period of 4000 µs at 250 fps" in health.reason
    assert "below 3600 µs" in health.remedy


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"serial": None}, "serial: is missing"),
        ({"serial": 40012345}, "serial: must be a string"),
        ({"trigger": "external"}, "trigger: 'external' is not allowed"),
        ({"buffers": 2.5}, "buffers: must be a whole number"),
        ({"chunks": "yes"}, "chunks: must be true or false"),
    ],
)
def test_bad_settings_name_the_key(bad, message):
    raw = settings(**bad)
    if raw["serial"] is None:
        del raw["serial"]
    with pytest.raises(CameraSettingError) as raised:
        parse_basler_settings("sagittal", raw)
    assert message in raised.value.health().reason
    assert raised.value.subject.startswith("cameras 'sagittal'.")


def test_without_pypylon_the_health_is_sdk_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypylon", None)  # makes `from pypylon import pylon` fail
    health = BaslerCamera.probe("sagittal", settings())
    assert health.status is HealthStatus.SDK_MISSING
    assert "pip install" in health.remedy


def chunk_camera() -> FakeNodeMap:
    nodemap = older_gige_camera(resulting_rate_hz=250.0)
    nodemap.nodes.update(
        ChunkModeActive=FakeParameter(False),
        ChunkSelector=FakeParameter(
            "Timestamp", symbolics=("Image", "Timestamp", "Framecounter", "ExposureTime")
        ),
        ChunkEnable=FakeParameter(False),
    )
    return nodemap


def test_chunk_counters_and_timestamps_are_enabled_where_the_camera_has_them():
    nodemap = chunk_camera()
    enabled = []
    nodemap.nodes["ChunkEnable"].SetValue = lambda value: enabled.append(
        (nodemap.nodes["ChunkSelector"].value, value)
    )
    parsed = parse_basler_settings("sagittal", settings())
    applied = apply_settings(NodeWriter("sagittal", nodemap), parsed, model="acA1920-155gm")
    assert nodemap.nodes["ChunkModeActive"].value is True
    assert enabled == [("Framecounter", True), ("Timestamp", True)]
    assert applied.frame_counter_source == "chunk Framecounter"
    assert applied.timestamp_source == "chunk Timestamp"


class FakeGrabResult:
    """A successful 4×6 grab carrying chunk data, as a GigE camera with chunks sends it."""

    Width, Height, BlockID, TimeStamp = 6, 4, 0, 0

    def __init__(self, counter: int, ticks: int, value: int) -> None:
        self.ChunkDataNodeMap = FakeNodeMap(
            ChunkFramecounter=FakeParameter(counter), ChunkTimestamp=FakeParameter(ticks)
        )
        self.image = np.full((4, 6), value, dtype=np.uint8)

    def GrabSucceeded(self):
        return True

    @contextlib.contextmanager
    def GetArrayZeroCopy(self):
        yield self.image


def test_chunk_frame_counters_and_timestamps_become_indices_gaps_and_seconds():
    """The grab loop's per-result step on chunk data (the emulator sends no chunks)."""
    nodemap = chunk_camera()
    camera = BaslerCamera("sagittal", settings())
    camera._applied = apply_settings(
        NodeWriter("sagittal", nodemap), parse_basler_settings("sagittal", settings()), model="x"
    )
    camera._device_class = "BaslerGigE"
    camera._counter = camera._new_counter()
    out = np.zeros((3, 4, 6), dtype=np.uint8)
    indices, times = np.zeros(3, dtype=np.int64), np.zeros(3)
    gaps = [
        camera._take(FakeGrabResult(counter, ticks, value), out, slot, indices, times)
        for slot, (counter, ticks, value) in enumerate(
            [(1000, 250_000_000, 10), (1001, 251_000_000, 20), (1004, 254_000_000, 30)]
        )
    ]
    assert gaps == [0, 0, 2]
    np.testing.assert_array_equal(indices, [0, 1, 4])  # chunk counters: first received is 0
    np.testing.assert_allclose(times, [2.0, 2.008, 2.032])  # ticks at 125 MHz
    assert out[:, 0, 0].tolist() == [10, 20, 30]
