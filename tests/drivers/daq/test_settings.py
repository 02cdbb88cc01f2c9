"""The [daq] keys of the NI-DAQmx driver: the documented example parses, mistakes name the key."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from drivers.config import ConfigError, parse_config
from drivers.daq.settings import parse_settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "ni-daqmx.md"


def documented_example() -> dict:
    (block,) = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return tomllib.loads(block)


def test_the_documented_example_is_a_valid_configuration():
    config = parse_config(documented_example(), source="docs/ni-daqmx.md")
    settings = parse_settings(config.daq.settings)
    assert config.daq.kind == "nidaqmx"
    assert settings.channel_names == (
        "belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz",
        "exposure.sagittal", "belt_speed", "sync.led",
    )  # fmt: skip
    assert settings.channels[2].physical == "Dev1/ai2"
    assert (settings.channels[2].min_V, settings.channels[2].max_V) == (-10.0, 10.0)
    assert settings.channels[6].terminal == "rse"
    assert (settings.channels[7].min_V, settings.channels[7].max_V) == (0.0, 10.0)
    assert settings.buffer_samples == 20000 and settings.samples_per_event == 20
    trigger = settings.camera_trigger
    assert trigger is not None
    assert (trigger.counter, trigger.terminal) == ("Dev1/ctr0", "/Dev1/PFI12")
    assert trigger.samples_per_frame == 8
    assert trigger.frame_rate_hz == config.cameras[0].rate_hz
    assert settings.sync_led_line == "Dev1/port0/line0"
    assert settings.ai_start_trigger == "/Dev1/ai/StartTrigger"


def test_defaults_follow_the_rate():
    raw = {"rate_hz": 1200, "device": "Dev2", "channels": [{"name": "a", "physical": "ai0"}]}
    settings = parse_settings(raw)
    assert settings.samples_per_event == 12  # 10 ms
    assert settings.buffer_samples == 12000  # 10 s
    assert settings.channels[0].terminal == "differential"
    assert settings.camera_trigger is None and settings.sync_led_line is None


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (lambda s: s.update(terminal="diff"), "daq.terminal", "not a terminal configuration"),
        (lambda s: s.update(speed=3), "daq.speed", "not a setting of the NI-DAQmx driver"),
        (lambda s: s.update(device="Dev 1"), "daq.device", "not an NI-DAQmx device name"),
        (lambda s: s.update(buffer_samples=2050), "daq.buffer_samples", "not a multiple"),
        (lambda s: s.update(samples_per_event=0), "daq.samples_per_event", "positive whole"),
        (lambda s: s.update(range_V=[5, -5]), "daq.range_V", "minimum must be below"),
        (lambda s: s.update(range_V=20), "daq.range_V", "exceeds ±10 V"),
        (lambda s: s.update(channels=[]), "daq.channels", "must list the analog inputs"),
        (
            lambda s: s["channels"][1].update(physical="Dev2/ai1"),
            "daq.channels[1].physical",
            "on device 'Dev2'",
        ),
        (
            lambda s: s["channels"][1].update(physical="ao1"),
            "daq.channels[1].physical",
            "not a physical channel",
        ),
        (
            lambda s: s["channels"][1].update(name="belt.Fx"),
            "daq.channels",
            "repeated: belt.Fx",
        ),
        (
            lambda s: s["channels"][0].update(terminal="single"),
            "daq.channels[0].terminal",
            "not a terminal",
        ),
        (
            lambda s: s["camera_trigger"].update(duty_cycle=1.0),
            "daq.camera_trigger.duty_cycle",
            "between 0 and 1",
        ),
        (
            lambda s: s["camera_trigger"].update(frame_rate_hz=240),
            "daq.camera_trigger.frame_rate_hz",
            "not an integer multiple",
        ),
        (
            lambda s: s["camera_trigger"].pop("terminal"),
            "daq.camera_trigger.terminal",
            "is missing",
        ),
        (
            lambda s: s.update(
                edge_counters=[{"name": "e", "counter": "ctr0", "terminal": "PFI0"}]
            ),
            "daq.edge_counters",
            "Dev1/ctr0 is used twice",
        ),
        (
            lambda s: s.update(
                edge_counters=[{"name": "belt.Fz", "counter": "ctr1", "terminal": "PFI0"}]
            ),
            "daq.edge_counters",
            "repeated: ['belt.Fz']",
        ),
        (
            lambda s: s.update(
                edge_counters=[{"name": "e", "counter": "ctr1", "terminal": "PFI0", "edge": "up"}]
            ),
            "daq.edge_counters[0].edge",
            "not an edge",
        ),
        (
            lambda s: s.update(
                edge_counters=[{"name": "e", "counter": "ctr1", "terminal": "Dev2/PFI0"}]
            ),
            "daq.edge_counters[0].terminal",
            "not a terminal of Dev1",
        ),
        (
            lambda s: s["sync_led"].update(line="port0"),
            "daq.sync_led.line",
            "not a physical channel",
        ),
    ],
)
def test_mistakes_name_the_key(change, key, message):
    settings = copy.deepcopy(documented_example()["daq"])
    change(settings)
    with pytest.raises(ConfigError) as refused:
        parse_settings(settings)
    assert refused.value.subject == key
    assert message in refused.value.problem
