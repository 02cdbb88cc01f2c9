"""``midstance record``: a whole simulated session headless, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from drivers.sim import LabSetup, SimulatedLab, preset


def test_record_simulate_writes_the_session_and_prints_the_per_side_summary(tmp_path, capsys):
    out = tmp_path / "run.midstance.h5"
    argv = [
        "record",
        "--simulate",
        "--preset",
        "valgus-left",
        "--duration",
        "3",
        "--pace",
        "fast",
        "--size",
        "320x240",
        "--subject",
        "P-9",
        "--out",
        str(out),
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["file"] == str(out) and out.is_file()
    assert doc["stances_in_file"] >= 6
    for camera in ("sagittal", "posterior"):
        sync = doc["sync"][camera]
        assert sync["pulses_sent"] == sync["edges_recorded"] == sync["frames_received"]
        assert sync["missing_in_recording"] == []
    # the simulated runner (valgus-left: FPPA 14° left, 4° right; contralateral drop 8°/3°)
    lab = SimulatedLab(preset("valgus-left"), LabSetup(), seed=1, duration_s=13)
    true = {
        side: np.mean([s.fppa_midstance_deg for s in lab.truth.stances if s.side == side])
        for side in "LR"
    }
    summary = doc["summary"]
    assert summary["L"]["fppa_midstance_deg"]["mean"] == pytest.approx(true["L"], abs=1.5)
    assert summary["R"]["fppa_midstance_deg"]["mean"] == pytest.approx(true["R"], abs=1.5)
    assert summary["L"]["valr_BW_s"]["n"] >= 3
    # the printed summary is of the stances saved in the file, not of everything seen live
    from analysis.force_metrics import EXCLUDING_FLAGS
    from data.session_reader import open_session

    with open_session(out) as session:
        saved = session.analysis().stances()
        # exactly the requested duration, every stream over the same interval
        assert session.analog.n_samples == 3 * 2000
        assert [session.camera(c).n_frames for c in ("sagittal", "posterior")] == [750, 750]
    for side in "LR":
        usable = [
            s
            for s in saved
            if s["side"] == side
            and not EXCLUDING_FLAGS.intersection(s["flags"])
            and s.get("valr_BW_s") is not None
            and np.isfinite(s["valr_BW_s"])
        ]
        assert summary[side]["valr_BW_s"]["n"] == len(usable)
    assert doc["settings"]["force"]["threshold_on_N"] == 50.0


def test_record_prints_a_readable_table(tmp_path, capsys):
    out = tmp_path / "table.midstance.h5"
    argv = [
        "record",
        "--simulate",
        "--duration",
        "2",
        "--pace",
        "fast",
        "--size",
        "320x240",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "FPPA at midstance" in text and "cadence (steps/min)" in text
    assert "pulses" in text and "± " in text


def test_record_refuses_bad_input_with_a_sentence(tmp_path, capsys):
    existing = tmp_path / "old.midstance.h5"
    existing.write_bytes(b"keep me")
    base = ["record", "--simulate", "--pace", "fast", "--duration", "2"]
    assert main([*base, "--out", str(existing)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert main([*base, "--size", "big"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    assert main([*base, "--preset", "sprinter"]) != 0
    assert "sprinter" in capsys.readouterr().err


def test_record_on_hardware_without_the_ni_runtime_says_what_is_missing(tmp_path, capsys):
    config = tmp_path / "lab.toml"
    config.write_text(
        '[sync]\nmode = "hardware"\n[daq]\nkind = "nidaqmx"\nrate_hz = 2000\ndevice = "Dev1"\n'
        '[[daq.channels]]\nname = "belt.Fz"\nphysical = "ai0"\n',
        encoding="utf-8",
    )
    code = main(["record", "--config", str(config), "--duration", "2"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "device 'daq'" in err or "device 'force'" in err
    assert "Traceback" not in err


def test_record_refuses_a_force_rate_that_is_not_a_multiple_of_the_frame_rate(tmp_path, capsys):
    config = tmp_path / "lab.toml"
    config.write_text(
        '[sync]\nmode = "hardware"\n[daq]\nkind = "nidaqmx"\nrate_hz = 2000\n'
        '[[cameras]]\nname = "sagittal"\nkind = "basler"\nview = "sagittal"\nrate_hz = 240\n',
        encoding="utf-8",
    )
    assert main(["record", "--config", str(config), "--duration", "2"]) == 2
    err = capsys.readouterr().err
    assert "not an integer multiple" in err
    assert "1920 Hz with 240 fps" in err and "2000 Hz with 250 fps" in err
