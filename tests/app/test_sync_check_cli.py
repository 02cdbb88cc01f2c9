"""``midstance sync-check --simulate``: the LED check through the live pipeline recovers an
injected trigger delay and logs it."""

from __future__ import annotations

import json

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
