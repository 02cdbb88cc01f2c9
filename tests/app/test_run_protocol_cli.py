"""``midstance protocols run NAME --simulate --pace fast``: every shipped procedure end to end on
the simulated lab through the session controller, non-interactively from an answers file, with
every acquisition capped at ``--max-duration`` seconds (short runs; the cap is stored with each
result). Checked: the step sequence, the session files (one per acquisition, the step row, the run
record and calibration snapshot in ``/session``) and the calibration log."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from app.cli import main
from data.calibration_log import CalibrationLog
from protocols.loader import find_procedure

CAP_S = 1.0
ANSWERS = {
    "plate-zero": "[entries.test-speed]\nspeed_m_s = 3.3\n",
    "running-assessment": (
        '[entries.runner]\nspeed_m_s = 3.2\nshoes = "trainers"\n'
        '[overrides]\ncalibration = "simulated lab, nothing calibrated yet"\n'
    ),
    "three-part-screen": (
        "[entries.hip-rotation]\nir_left_deg = 35\ner_left_deg = 40\nir_right_deg = 20\n"
        "er_right_deg = 42\n"
        '[entries.squat-observation]\nknee_past_second_toe_left = "no"\n'
        'knee_past_second_toe_right = "yes"\n'
        '[entries.arch]\narch_left = "maintained"\narch_right = "mild-collapse"\n'
    ),
}


def run_procedure(tmp_path, capsys, name, *extra):
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS.get(name, ""), encoding="utf-8")
    folder = tmp_path / "sessions"
    code = main(
        ["protocols", "run", name, "--simulate", "--pace", "fast", "--max-duration", str(CAP_S),
         "--answers", str(answers), "--folder", str(folder), "--json", *extra]
    )  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    return code, record, sorted(folder.glob("*.midstance.h5"))


def stored_run(path):
    with h5py.File(path, "r") as f:
        session = f["session"].attrs
        steps = f["session/protocol_steps"][:]
        return (
            json.loads(session["protocol_run_json"]),
            json.loads(session["calibration_json"]),
            steps,
            f["daq/analog"].shape[0] / f["daq/analog"].attrs["rate_hz"],
        )


def test_plate_zero_finds_the_simulated_plates_offsets(tmp_path, capsys):
    code, record, files = run_procedure(tmp_path, capsys, "plate-zero")
    procedure = find_procedure("plate-zero")
    assert record["state"] == "completed"
    assert list(record["results"]) == [s.id for s in procedure.steps]
    assert [p.name for p in files] == [
        "plate-zero_noise-floor.midstance.h5",
        "plate-zero_warm-up.midstance.h5",
        "plate-zero_zero.midstance.h5",
    ]
    zero = record["results"]["zero"]
    assert zero["passed"] is True
    acquired = {a["step_id"]: a for a in record["acquisitions"]}
    assert acquired["zero"]["duration_cap_s"] == CAP_S
    assert acquired["zero"]["off_belt_s"][0] < acquired["zero"]["start_s"]
    from drivers.sim import LabSetup, SimulatedLab

    true_offsets = SimulatedLab(setup=LabSetup(), duration_s=1.0).plate_configs()[0]["offsets_V"]
    # 1.5 N noise over ~1000 N/V, 2000 samples: the mean is good to ~0.1 mV
    np.testing.assert_allclose(zero["values"]["offsets_V"], true_offsets, atol=5e-4)
    noise = record["results"]["noise-floor"]
    # Fz: 1.5 N white noise + 3 N sine vibration, runner off the belt: SD = 2.60 N
    assert noise["passed"] is True
    assert noise["values"]["sd_N"] == pytest.approx(np.sqrt(1.5**2 + 3.0**2 / 2), rel=0.1)
    # the warm-up is 300 s by procedure; a 1 s record is flagged, never passed silently
    assert "shorter_than_minimum" in record["results"]["warm-up"]["flags"]
    # every file carries the whole run and the calibration snapshot; the step row is its own
    run, calibration, steps, seconds = stored_run(
        tmp_path / "sessions" / "plate-zero_zero.midstance.h5"
    )
    assert run["results"]["zero"]["values"]["offsets_V"] == zero["values"]["offsets_V"]
    assert run["procedure"]["name"] == "plate-zero" and run["operator"] == "simulation"
    assert steps["step"].tolist() == [b"zero"] and steps["speed_m_s"].tolist() == [0.0]
    assert seconds == pytest.approx(CAP_S, abs=0.1)
    assert {"zero/belt", "warm-up/belt"} <= set(calibration["entries"])
    logged = {e.kind: e for e in CalibrationLog().entries()}
    assert logged["zero"].passed is True and logged["noise-floor"].passed is True
    assert logged["zero"].values["offsets_V"] == zero["values"]["offsets_V"]
    # the exit code says whether every check passed; the 1 s warm-up's drift check depends on
    # which samples it catches, so it may pass or fail — this test is about the zero's offsets
    assert code in (0, 1)


def test_running_assessment_records_each_segment_with_its_step_and_marks(tmp_path, capsys):
    code, record, files = run_procedure(tmp_path, capsys, "running-assessment")
    procedure = find_procedure("running-assessment")
    assert record["state"] == "completed"
    assert list(record["results"]) == [s.id for s in procedure.steps]
    results = record["results"]
    # nothing calibrated in a fresh data folder: the check blocked and was overridden with the
    # answers' reason
    assert results["calibration"]["status"] == "overridden"
    assert results["calibration"]["note"] == "simulated lab, nothing calibrated yet"
    assert results["runner"]["values"] == {"speed_m_s": 3.2, "shoes": "trainers"}
    assert results["belt-on"]["values"]["speed_m_s"] == 3.2
    skipped = [k for k, r in results.items() if r["status"] == "skipped"]
    assert skipped == ["speed-step-1-setup", "speed-step-1", "speed-step-2-setup",
                       "speed-step-2", "downhill-setup", "downhill"]  # fmt: skip
    assert "shorter_than_minimum" in results["baseline"]["flags"]
    assert results["fatigue"]["values"]["segment"] == "baseline"
    assert [p.name for p in files] == [
        "running-assessment_acclimatisation.midstance.h5",
        "running-assessment_baseline.midstance.h5",
    ]
    run, calibration, steps, seconds = stored_run(files[1])
    assert steps["step"].tolist() == [b"baseline"] and steps["speed_m_s"].tolist() == [3.2]
    assert seconds == pytest.approx(CAP_S, abs=1e-9)
    assert run["results"]["fatigue"]["values"]["segment"] == "baseline"
    assert calibration["stale"]  # the snapshot says what was not current
    with h5py.File(files[1], "r") as f:
        marks = f["session/marks"][:]
        # the mark step just before the baseline is at the baseline file's first sample
        assert marks["label"].tolist() == [b"baseline-start"]
        assert marks["time_s"][0] == pytest.approx(steps["time_s"][0], abs=1e-9)
        frames = {c: f[f"cameras/{c}/frame_index"].shape[0] for c in f["cameras"]}
    assert frames == {"sagittal": 250, "posterior": 250}  # 1 s at 250 fps, both cameras
    baseline = next(a for a in record["acquisitions"] if a["step_id"] == "baseline")
    assert baseline["stances_L"] + baseline["stances_R"] >= 2
    assert code == 1  # the fatigue window needs 2 min of a segment: not met in 1 s


def test_sync_verification_catches_an_injected_trigger_delay(tmp_path, capsys):
    """The LED check of midstance sync-check on the procedure's recording: a 3 ms camera
    trigger delay the configuration does not know is more than half a frame at 250 fps."""
    code, record, files = run_procedure(
        tmp_path, capsys, "sync-verification", "--trigger-delay-ms", "3", "--max-duration", "10"
    )
    result = record["results"]["sagittal"]
    assert record["results"]["posterior"]["status"] == "skipped"
    assert result["values"]["n"] >= 10
    # offsets are video − DAQ: a late trigger makes the LED seen early in frame time
    assert result["values"]["mean_s"] == pytest.approx(-3e-3, abs=0.5e-3)
    acquired = record["acquisitions"][0]
    assert acquired["trigger_delay_estimate_s"] == pytest.approx(3e-3, abs=0.5e-3)
    assert result["values"]["limit_s"] == pytest.approx(2e-3)
    assert result["passed"] is False and code == 1
    logged = CalibrationLog().entries("sync-verification")
    assert [(e.device, e.passed) for e in logged] == [("sagittal", False)]
    assert logged[0].values["mean_s"] == result["values"]["mean_s"]
    assert len(files) == 1


def test_three_part_screen_keeps_the_entries_and_says_the_simulated_runner_does_not_squat(
    tmp_path, capsys
):
    code, record, files = run_procedure(tmp_path, capsys, "three-part-screen")
    results = record["results"]
    assert record["state"] == "completed" and files == []
    # typed values, validated and flagged by the procedure's rules: 35 vs 20 deg internal rotation
    assert results["hip-rotation"]["values"]["ir_right_deg"] == 20.0
    assert results["hip-rotation"]["flags"] == ["limited_hip_ir_right", "hip_ir_side_difference"]
    assert "poor_hip_control_right" in results["squat-observation"]["flags"]
    for side in ("left", "right"):
        squat = results[f"squat-{side}"]
        assert squat["passed"] is None and "missing_fppa_deg" in squat["flags"]
    limits = [a["simulator_limit"] for a in record["acquisitions"]]
    assert limits == ["the simulated runner does not squat"] * 2
    assert code == 0  # nothing failed: the squats are flagged, not passed or failed


@pytest.mark.parametrize(("name", "step"), [("camera-intrinsics", "sagittal")])
def test_checks_the_simulator_cannot_stage_fail_with_the_reason(tmp_path, capsys, name, step):
    """The simulated lab has no checkerboard: the step is not recorded and fails, never passes on
    numbers measured from something else."""
    CalibrationLog().record("zero", "belt", "tech", True, values={"offsets_V": [0.0] * 6})
    code, record, files = run_procedure(tmp_path, capsys, name)
    assert record["state"] == "completed" and files == [] and code == 1
    result = record["results"][step]
    assert result["passed"] is False and "evaluation_failed" in result["flags"]
    limit = next(a for a in record["acquisitions"] if a["step_id"] == step)["simulator_limit"]
    assert limit.startswith("the simulated lab")
    logged = CalibrationLog().entries(find_procedure(name).step(step).purpose)
    assert [e.passed for e in logged] == [False]


def static_check(tmp_path, capsys, name, step, *faults):
    """Run a known-mass or pointer procedure on a zeroed simulated lab: its result, acquisitions
    and files."""
    CalibrationLog().record("zero", "belt", "tech", True, values={"offsets_V": [0.0] * 6})
    code, record, files = run_procedure(tmp_path, capsys, name, *faults)
    assert record["state"] == "completed" and record["lab_errors"] == []
    acquired = [a for a in record["acquisitions"] if a["step_id"] == step]
    placements = find_procedure(name).step(step).placements
    assert len(files) == len(acquired) == len(placements) >= 8
    # each record had its own load, the placement's, on the plate and nothing else
    loads = [a["static_load"] for a in acquired]
    assert [(d["x_m"], d["y_m"]) for d in loads] == [tuple(p.position_m) for p in placements]
    return code, record["results"][step], loads


def test_known_mass_check_passes_on_a_correct_simulated_lab(tmp_path, capsys):
    code, result, loads = static_check(tmp_path, capsys, "known-mass-check", "known-mass")
    values = result["values"]
    assert [d["force_N"] for d in loads[:5]] == pytest.approx([25.0 * 9.80665] * 5)
    assert min(values["expected_N"]) >= 200.0
    assert result["passed"] is True and code == 0
    assert values["max_abs_error_percent"] < 0.3  # noise and vibration only; pass band 1 %
    assert values["gain"] == pytest.approx(1.0, abs=2e-3)
    logged = CalibrationLog().entries("known-mass")
    assert [e.passed for e in logged] == [True]


def test_known_mass_check_catches_an_injected_3_percent_gain_error(tmp_path, capsys):
    code, result, _ = static_check(
        tmp_path, capsys, "known-mass-check", "known-mass", "--inject-gain-error", "0.03"
    )
    values = result["values"]
    assert result["passed"] is False and code == 1
    assert values["gain"] == pytest.approx(1.03, abs=2e-3)
    assert values["error_percent"] == pytest.approx([3.0] * 10, abs=0.3)
    assert len(values["failing"]) == 10 and "failed_centre 25 kg" in result["flags"]
    assert [e.passed for e in CalibrationLog().entries("known-mass")] == [False]


def test_cop_pointer_check_passes_on_a_correct_simulated_lab(tmp_path, capsys):
    code, result, loads = static_check(tmp_path, capsys, "cop-pointer-check", "pointer")
    values = result["values"]
    assert {d["force_N"] for d in loads} == {300.0}
    assert result["passed"] is True and code == 0
    assert values["rms_error_m"] < 1e-3 and values["max_error_m"] < values["tolerance_m"]


def test_cop_pointer_check_catches_an_injected_6_mm_origin_bias(tmp_path, capsys):
    code, result, _ = static_check(
        tmp_path, capsys, "cop-pointer-check", "pointer", "--inject-origin-bias-mm", "6"
    )
    values = result["values"]
    assert result["passed"] is False and code == 1
    assert values["rms_error_m"] == pytest.approx(0.006, abs=1e-3)
    assert values["mean_bias_m"] == pytest.approx([0.006, 0.0], abs=1e-3)
    assert len(values["failing"]) == 9
    assert [e.passed for e in CalibrationLog().entries("cop-pointer")] == [False]


@pytest.mark.parametrize(
    ("extra", "named"),
    [(["--inject-gain-error", "0.9"], "--inject-gain-error: 0.9 is outside"),
     (["--inject-origin-bias-mm", "nan"], "--inject-origin-bias-mm: nan mm"),
     (["--inject-gain-error", "0.03", "--config", "lab.toml"], "simulated lab's configuration")],
)  # fmt: skip
def test_injected_faults_out_of_range_or_on_a_real_lab_are_refused(capsys, extra, named):
    args = ["protocols", "run", "known-mass-check", *extra]
    if "--config" not in extra:
        args.append("--simulate")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


def test_a_check_that_is_not_current_stops_a_procedure_that_may_not_override_it(tmp_path, capsys):
    code, record, files = run_procedure(tmp_path, capsys, "scale-plane")
    assert record["state"] == "aborted" and code == 1 and files == []
    assert "camera-intrinsics on sagittal: never recorded" in record["abort_reason"]


STEPS_PROCEDURE = """
[procedure]
name = "ten-steps"
title = "Ten steps per side"
version = "0.1"
audience = "clinician"
description = "A lab's own procedure: record until five steps of each side are in."

[[steps]]
id = "run"
kind = "acquisition"
title = "Five steps per side"
purpose = "running"
steps_per_side = 5
"""


def test_a_lab_procedure_that_records_a_number_of_steps_per_side(tmp_path, capsys):
    from data.paths import user_data_dir

    (user_data_dir() / "protocols").mkdir(parents=True, exist_ok=True)
    (user_data_dir() / "protocols" / "ten-steps.toml").write_text(STEPS_PROCEDURE, "utf-8")
    code, record, files = run_procedure(tmp_path, capsys, "ten-steps")
    assert record["state"] == "completed" and code == 0 and len(files) == 1
    acquired = record["acquisitions"][0]
    assert min(acquired["stances_L"], acquired["stances_R"]) >= 5
    with h5py.File(files[0], "r") as f:
        stances = [json.loads(line) for line in bytes(f["live/stance_journal"][:]).splitlines()]
    # the recording ended once both sides had five stances that began inside it
    sides = [s["side"] for s in stances]
    assert sides.count("L") >= 5 and sides.count("R") >= 5


def test_on_a_terminal_the_operator_is_asked_at_every_step(tmp_path, capsys, monkeypatch):
    """Interactive: prompts for confirmations, optional steps and typed values (with units)."""
    import builtins

    from app.commands import run_protocol

    # belt stopped, unload, warm-up, zero, the test speed, belt running, noise floor, belt off
    replies = iter(["", "", "", "", "3.3", "", "", ""])
    prompts: list[str] = []

    def answer(prompt=""):
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(builtins, "input", answer)
    monkeypatch.setattr(run_protocol.sys.stdin, "isatty", lambda: True, raising=False)
    code = main(
        ["protocols", "run", "plate-zero", "--simulate", "--pace", "fast", "--max-duration",
         "1", "--folder", str(tmp_path / "s"), "--json"]
    )  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    assert record["state"] == "completed"
    assert record["results"]["test-speed"]["values"]["speed_m_s"] == 3.3
    assert any("[m/s] (0.5–7)" in p for p in prompts)
    # the exit code says whether a step failed (the 1 s warm-up's drift verdict depends on
    # timing: the warm-up's subject is tested elsewhere)
    failed = [k for k, r in record["results"].items() if r.get("passed") is False]
    assert code == (1 if failed else 0), failed
