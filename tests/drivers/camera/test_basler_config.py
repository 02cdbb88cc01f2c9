"""Basler settings and node handling without a camera: parsing, node-name aliases, rate checks.

The node map here is a small stand-in with pylon's parameter interface, so that camera models the
emulator does not imitate (older GigE cameras with ``ExposureTimeAbs`` only, a sensor that cannot
reach the requested rate) are covered too.
"""

from __future__ import annotations

import sys

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
    base = {"serial": "21234567", "rate_hz": 200.0, "exposure_us": 1500.0}
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
