"""``midstance sync-check --simulate``: the LED check through the live pipeline recovers an
injected trigger delay and logs it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from data.calibration_log import CalibrationLog


def test_led_check_recovers_an_injected_trigger_delay_and_logs_it(capsys):
    argv = [
        "sync-check",
        "--simulate",
        "--trigger-delay-ms",
        "1.3",
        "--repetitions",
        "10",
        "--json",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] >= 10 and result["passed"]
    assert result["trigger_delay_estimate_s"] == pytest.approx(1.3e-3, abs=0.5e-3)
    assert result["check"]["flags"] == []
    entry = CalibrationLog().latest("sync-verification", "sagittal")
    assert entry is not None and entry.passed and entry.operator == "simulation"
    assert entry.values["trigger_delay_estimate_s"] == pytest.approx(
        result["trigger_delay_estimate_s"]
    )
    assert len(entry.values["offsets_s"]) == result["n"]


def test_sync_check_refuses_what_it_cannot_do(tmp_path, capsys):
    assert main(["sync-check", "--simulate", "--repetitions", "1"]) == 2
    assert "repetitions" in capsys.readouterr().err
    config = tmp_path / "lab.toml"
    config.write_text(
        '[daq]\nkind = "nidaqmx"\nrate_hz = 2000\n[[cameras]]\nname = "sagittal"\n'
        'kind = "basler"\nview = "sagittal"\nrate_hz = 250\n',
        encoding="utf-8",
    )
    assert main(["sync-check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "led_roi" in err and "exposure_s" in err


def tapping_tool(t_fine, contacts, peak_N=400.0, duration_s=0.006, mass_kg=1.0):
    """Contact force (N) and height (m) of a tool tapping the belt (F = m·a): it descends at
    1 m/s, a half-sine impact reverses it, gentle pushes stop the rebound."""
    force = np.zeros(t_fine.size)
    accel = np.zeros(t_fine.size)
    rebound = 2 * peak_N * duration_s / (np.pi * mass_kg) - 1.0
    for c in contacts:
        tau = t_fine - c
        inside = (tau >= 0) & (tau <= duration_s)
        force[inside] += peak_N * np.sin(np.pi * tau[inside] / duration_s)
        for centre, area in ((-0.25, -1.0), (0.25, -rebound)):
            accel += (
                area * np.exp(-0.5 * ((tau - centre) / 0.04) ** 2) / (0.04 * np.sqrt(2 * np.pi))
            )
    accel += force / mass_kg
    step = t_fine[1] - t_fine[0]
    return force, np.cumsum(np.cumsum(accel) * step) * step


def test_belt_tap_check_on_a_recording_recovers_the_trigger_delay(tmp_path, capsys):
    """A recording of 12 taps with a marked tool, frames timed without the camera's 2 ms
    trigger delay: the check pairs Fz peaks with the marker's deceleration peaks."""
    from data.session_writer import CameraSpec, SessionWriter

    delay, rate, fps, seconds = 0.002, 2000.0, 250.0, 14.4
    rng = np.random.default_rng(4)
    contacts = 0.7 + np.arange(12) * 1.1 + rng.uniform(0, 0.1, 12)
    t_fine = np.arange(int(14.5 * 20_000)) / 20_000
    force, height = tapping_tool(t_fine, contacts)
    t_daq = np.arange(int(seconds * rate)) / rate
    volts = np.zeros((t_daq.size, 6))
    volts[:, 2] = 30 + np.interp(t_daq, t_fine, force) + rng.normal(0, 2.0, t_daq.size)
    plate = {
        "name": "belt",
        "type": "six-channel",
        "belt": "both",
        "channels": ["belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz"],
        "matrix": np.eye(6).tolist(),
        "offsets_V": [0.0] * 6,
        "z_surface_m": 0.0,
        "origin_m": [0.0, 0.0, 0.0],
        "rotation": np.eye(3).tolist(),
    }
    path = tmp_path / "taps.midstance.h5"
    camera = CameraSpec("sagittal", 16, 16, fps, "sagittal", marker_labels=("tool",))
    with SessionWriter(
        path,
        channel_names=plate["channels"],
        daq_rate_hz=rate,
        cameras=[camera],
        devices={"sync": {"mode": "hardware"}},
        live_settings={"plates": [plate]},
    ) as writer:
        writer.append_analog(volts)
        blank = np.zeros((16, 16), np.uint8)
        for k in range(int(seconds * fps)):
            nominal = k / fps  # what the sync says; the exposure really starts `delay` later
            z = np.interp(nominal + delay, t_fine, height) + rng.normal(0, 2e-5)
            writer.append_frame("sagittal", blank, frame_index=k, session_time_s=nominal)
            writer.append_markers("sagittal", k, np.array([[100.0, 200.0 - 1000.0 * z]]))
    argv = [
        "sync-check",
        "--file",
        str(path),
        "--method",
        "tap",
        "--tap-marker",
        "tool",
        "--operator",
        "technician A",
        "--json",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "belt_tap" and result["n"] == 12
    assert result["trigger_delay_estimate_s"] == pytest.approx(delay, abs=0.5e-3)
    entry = CalibrationLog().latest("sync-verification", "sagittal")
    assert entry.operator == "technician A" and entry.settings["method"] == "belt_tap"
    # the tap needs a recording, a marker and an operator
    assert main(["sync-check", "--simulate", "--method", "tap"]) == 2
    assert "no tapping tool" in capsys.readouterr().err
    assert main(["sync-check", "--file", str(path), "--method", "tap", "--operator", "A"]) == 2
    assert "--tap-marker" in capsys.readouterr().err
    assert main(["sync-check", "--file", str(path), "--method", "tap", "--tap-marker", "x"]) == 2
    assert "--operator" in capsys.readouterr().err
