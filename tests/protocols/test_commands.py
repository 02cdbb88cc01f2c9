"""``midstance protocols`` and ``midstance calibration`` through the real CLI entry point."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import matplotlib.image
import pytest

from app import cli
from data.calibration_log import CalibrationLog


def test_protocols_lists_the_library(capsys):
    assert cli.main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "running-assessment  1.0   clinician  Running assessment" in out
    assert "known-mass-check" in out and "sync-verification" in out


def test_protocols_json_and_a_broken_user_file(capsys, isolated_user_data):
    folder = isolated_user_data / "protocols"
    folder.mkdir(exist_ok=True)
    (folder / "ours.toml").write_text("[procedure]\nname = 1\n")
    assert cli.main(["protocols", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert len(listing["procedures"]) == 8
    assert listing["problems"][0]["path"].endswith("ours.toml")
    assert "name: must be a non-empty string" in listing["problems"][0]["problem"]
    assert cli.main(["protocols"]) == 1  # the human listing signals the unusable file
    assert "not loaded:" in capsys.readouterr().out


def test_protocols_show_prints_every_step(capsys):
    assert cli.main(["protocols", "show", "running-assessment"]) == 0
    out = capsys.readouterr().out
    assert "Running assessment (running-assessment 1.0, clinician)" in out
    assert "[acquisition] Acclimatisation (at least 6 minutes)" in out
    assert "running; 360 s; at least 360 s" in out
    assert "speed = runner.speed_m_s; incline -5 %" in out
    assert "longest of baseline, speed-step-1, speed-step-2, downhill; windows 60 s" in out
    assert cli.main(["protocols", "show", "three-part-screen"]) == 0
    out = capsys.readouterr().out
    assert "ir_left_deg [0–90 deg] (flag limited_hip_ir_left if < 35)" in out
    assert "flag hip_ir_side_difference if |ir_left_deg − ir_right_deg| > 10: A goniometer" in out
    assert "navicular_drop_left_mm [0–30 mm] optional (flag navicular_drop_left if > 10)" in out
    assert cli.main(["protocols", "show", "known-mass-check", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["steps"][3]["placements"]) == 10


def test_protocols_check_and_unknown_names_are_one_sentence(tmp_path, capsys):
    broken = tmp_path / "lab.toml"
    broken.write_text(
        '[procedure]\nname = "x"\ntitle = "X"\nversion = "1"\ndescription = "d"\n'
        'audience = "clinician"\n[[steps]]\nid = "s"\nkind = "setup"\ntitle = "t"\n'
        "speed_m_s = 99\n"
    )
    assert cli.main(["protocols", "check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"midstance: {broken}: line 8: step 1 's': speed_m_s: 99 is outside 0 to 10 m/s\n"
    )
    assert cli.main(["protocols", "show", "marathon"]) == 2
    assert "procedure 'marathon': no procedure of that name" in capsys.readouterr().err
    assert cli.main(["protocols", "show"]) == 2
    assert cli.main(["protocols", "check", str(tmp_path / "../" / "missing.toml")]) == 2


def _fill_log():
    log = CalibrationLog()
    now = datetime.now(UTC)
    for days, error, passed in [(40, 0.3, True), (20, 0.5, True), (2, 1.6, False)]:
        log.record(
            "known-mass",
            "belt",
            "T. Echnician",
            passed=passed,
            values={"max_abs_error_percent": error},
            time_utc=now - timedelta(days=days),
        )
    log.record("zero", "belt", "T. Echnician", passed=True, time_utc=now - timedelta(minutes=5))
    return log


def test_calibration_lists_the_log_and_what_is_stale(capsys):
    _fill_log()
    assert cli.main(["calibration"]) == 0
    out = capsys.readouterr().out
    assert "(4 entries)" in out
    assert "known-mass         belt       FAIL  T. Echnician" in out
    assert "the last known-mass check failed" in out
    assert "sync-verification  *          never recorded" in out
    assert cli.main(["calibration", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    stale = {(s["kind"], s["device"]) for s in listing["stale"]}
    assert ("known-mass", "belt") in stale and ("zero", "belt") not in stale


def test_calibration_trend_writes_a_png(tmp_path, capsys):
    _fill_log()
    out = tmp_path / "trend.png"
    assert cli.main(["calibration", "--trend", "known-mass", "--out", str(out)]) == 0
    assert "3 points of known-mass max_abs_error_percent" in capsys.readouterr().out
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (400, 800)
    assert cli.main(["calibration", "--trend", "cop-pointer", "--out", str(out)]) == 2
    assert "has no 'rms_error_m' values for 'cop-pointer'" in capsys.readouterr().err


def test_calibration_lens_change_needs_an_operator_and_makes_intrinsics_stale(capsys):
    log = CalibrationLog()
    log.record(
        "camera-intrinsics",
        "sagittal",
        "T",
        passed=True,
        values={"rms_reprojection_px": 0.3},
        time_utc=datetime.now(UTC) - timedelta(days=1),
    )
    assert cli.main(["calibration", "--lens-change", "sagittal"]) == 2
    assert "operator is missing" in capsys.readouterr().err
    assert cli.main(["calibration", "--lens-change", "sagittal", "--operator", "T"]) == 0
    stale = {(s.kind, s.device) for s in log.stale_items()}
    assert ("camera-intrinsics", "sagittal") in stale


@pytest.mark.parametrize("argv", [["calibration", "--trend", "zero"]])
def test_calibration_trend_needs_an_output_file(argv, capsys):
    assert cli.main(argv) == 2
    assert "calibration --trend: needs --out FILE.png" in capsys.readouterr().err
