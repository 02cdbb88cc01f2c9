"""Hardware configuration files: valid ones load, every bad one names the file and the key."""

from __future__ import annotations

import pytest

from drivers.config import (
    ConfigError,
    check_rate_pair,
    load_config,
    simulated_config,
    valid_rate_pairs,
)

GOOD = """
[lab]
name = "Running lab"
treadmill = "split-belt"

[sync]
mode = "hardware"

[daq]
kind = "nidaqmx"
rate_hz = 2000
device = "Dev1"

[[cameras]]
name = "sagittal"
kind = "basler"
view = "sagittal"
rate_hz = 250
serial = "40012345"

[[cameras]]
name = "posterior"
kind = "basler"
view = "posterior"
rate_hz = 250
"""


def write(tmp_path, text):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def test_good_file_loads(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.treadmill == "split-belt"
    assert cfg.daq.kind == "nidaqmx" and cfg.daq.rate_hz == 2000.0
    assert cfg.daq.settings["device"] == "Dev1"
    assert [c.view for c in cfg.cameras] == ["sagittal", "posterior"]
    assert cfg.camera("posterior").name == "posterior"
    assert not cfg.simulated
    assert cfg.to_dict()["cameras"][0]["serial"] == "40012345"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("rate_hz = 2000", 'rate_hz = "fast"'), r"lab.toml: daq.rate_hz: must be a number"),
        (("rate_hz = 2000", "rate_hz = 50"), r"daq.rate_hz: 50 is outside 1000–10000"),
        (('view = "sagittal"', 'view = "front"'), r"cameras\[0\].view: 'front' is not allowed"),
        (('treadmill = "split-belt"', 'treadmill = "belt"'), r"lab.treadmill: 'belt'"),
        (("rate_hz = 250\nserial", "rate_hz = 240\nserial"), r"not an integer multiple"),
        (('name = "posterior"', 'name = "sagittal"'), r"names must be unique; repeated: sagittal"),
        (("[sync]", "[synk]"), r"synk: unknown section"),
        (('kind = "nidaqmx"\n', ""), r"daq.kind: is missing"),
        (("[lab]", "[lab"), r"is not valid TOML.*line 2"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_config(write(tmp_path, GOOD.replace(*edit, 1)))
    assert "lab.toml" in str(err.value)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load_config(tmp_path / "nope.toml")


def test_rate_pairs_are_refused_with_valid_proposals():
    assert check_rate_pair(2000, 250) == 8
    assert check_rate_pair(1200, 240) == 5
    with pytest.raises(ConfigError) as err:
        check_rate_pair(1000, 240)
    text = str(err.value)
    assert "1000 Hz is not an integer multiple of the frame rate 240 fps" in text
    for daq, fps in valid_rate_pairs(1000, 240):
        assert daq % fps == 0
        assert f"{daq} Hz with {fps} fps" in text
    assert (1200, 240) in valid_rate_pairs(1000, 240)
    assert (1000, 250) in valid_rate_pairs(1000, 240)


def test_simulated_config_is_a_valid_lab():
    cfg = simulated_config("overstrider", treadmill="split-belt")
    assert cfg.simulated and cfg.treadmill == "split-belt"
    assert cfg.simulation == {"preset": "overstrider", "seed": 1}
    assert {c.view for c in cfg.cameras} == {"sagittal", "posterior"}
    with pytest.raises(ConfigError, match="not an integer multiple"):
        simulated_config(daq_rate_hz=1000, frame_rate_hz=240)


TRIGGERED = GOOD.replace(
    'device = "Dev1"',
    'device = "Dev1"\n[daq.camera_trigger]\nterminal = "PFI12"\nframe_rate_hz = 250',
)


def test_trigger_rate_must_equal_every_camera_rate_in_hardware_sync(tmp_path):
    assert load_config(write(tmp_path, TRIGGERED)).cameras[1].rate_hz == 250.0
    slower = TRIGGERED.replace("frame_rate_hz = 250", "frame_rate_hz = 125")
    with pytest.raises(ConfigError, match=r"cameras\[0\].rate_hz: camera 'sagittal' runs at 250"):
        load_config(write(tmp_path, slower))
    software = slower.replace('mode = "hardware"', 'mode = "software"')
    assert load_config(write(tmp_path, software)).sync_mode == "software"
