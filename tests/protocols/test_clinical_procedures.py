"""The shipped clinical procedures, end to end through the runner with a recording lab."""

from __future__ import annotations

import re

import pytest

from protocols.loader import find_procedure
from protocols.model import ProtocolError
from protocols.runner import Runner, State


def _running_response(lab):
    def respond(request):
        return lab.finished(request.duration_s, values={"stances": round(request.duration_s * 3)})

    return respond


def test_running_assessment_with_every_option(lab, drive_run):
    runner = Runner(find_procedure("running-assessment"), lab, operator="A. Clinician")
    drive_run(runner, lab, _running_response(lab), entries={"runner": {"speed_m_s": 3.2}})
    assert runner.state is State.COMPLETED
    treadmill = [c for c in lab.calls if c[0] == "set_treadmill"]
    assert treadmill == [
        ("set_treadmill", 3.2, 0.0),
        ("set_treadmill", pytest.approx(3.7), None),
        ("set_treadmill", pytest.approx(4.2), None),
        ("set_treadmill", 3.2, -5.0),
        ("set_treadmill", 0.0, 0.0),
    ]
    acquisitions = [c[1] for c in lab.calls if c[0] == "start_acquisition"]
    assert acquisitions == [
        "acclimatisation",
        "baseline",
        "speed-step-1",
        "speed-step-2",
        "downhill",
    ]
    assert ("select_cameras", ("sagittal", "posterior")) in lab.calls
    assert ("store_mark", "baseline-start", "baseline-start") in lab.calls
    assert lab.calls[0] == (
        "check_state",
        "calibration-current",
        ("zero", "noise-floor", "sync-verification"),
    )
    # Acclimatisation lasted its 6 minutes; the baseline (180 s) is the longest eligible segment.
    assert runner.results["acclimatisation"].values["duration_s"] == 360
    assert "shorter_than_minimum" not in runner.results["acclimatisation"].flags
    fatigue = runner.results["fatigue"]
    assert fatigue.passed is True
    assert fatigue.values["segment"] == "baseline"
    assert fatigue.values["first_window_s"] == [360.0, 420.0]
    assert fatigue.values["last_window_s"] == [480.0, 540.0]
    assert fatigue.values["candidates"] == {
        "baseline": 180.0,
        "speed-step-1": 60.0,
        "speed-step-2": 60.0,
        "downhill": 120.0,
    }
    assert [r.step_id for r in lab.results] == [s.id for s in runner.procedure.steps]
    assert runner.results["baseline"].values["stances"] == 540
    assert runner.results["baseline"].settings["duration_s"] == 180


def test_running_assessment_options_skipped_and_a_short_acclimatisation(lab, drive_run):
    runner = Runner(find_procedure("running-assessment"), lab)

    def respond(request):
        if request.step_id == "acclimatisation":  # the runner asked to stop after 4 minutes
            return lab.finished(240.0, stopped_early=True)
        return lab.finished(request.duration_s)

    drive_run(
        runner,
        lab,
        respond,
        entries={"runner": {"speed_m_s": 2.8, "shoes": "racing flats"}},
        skip={"speed-step-1", "speed-step-2"},
    )
    statuses = {r.step_id: r.status for r in runner.attempts}
    assert statuses["speed-step-1-setup"] == statuses["speed-step-1"] == "skipped"
    assert statuses["speed-step-2"] == "skipped"
    assert statuses["downhill"] == "done"
    assert set(runner.results["acclimatisation"].flags) == {"stopped_early", "shorter_than_minimum"}
    assert lab.entries["runner"] == {"speed_m_s": 2.8, "shoes": "racing flats"}
    assert runner.results["fatigue"].values["segment"] == "baseline"


def test_fatigue_window_uses_the_longest_segment_actually_recorded(lab, drive_run):
    runner = Runner(find_procedure("running-assessment"), lab)

    def respond(request):
        if request.step_id == "baseline":
            return lab.finished(100.0, stopped_early=True)  # shorter than two 60 s windows
        return lab.finished(request.duration_s)

    drive_run(
        runner,
        lab,
        respond,
        entries={"runner": {"speed_m_s": 3.0}},
        skip={"speed-step-1", "speed-step-2", "downhill"},
    )
    fatigue = runner.results["fatigue"]
    assert fatigue.values["segment"] == "baseline"
    assert fatigue.passed is False
    assert fatigue.flags == ("segment_shorter_than_two_windows",)


def test_three_part_screen_records_structured_results_and_flags(lab, drive_run):
    runner = Runner(find_procedure("three-part-screen"), lab)

    def respond(request):
        fppa = {"L": 14.5, "R": 6.0}[request.side]
        return lab.finished(
            request.duration_s,
            values={
                "fppa_deg": fppa,
                "knee_medial_displacement_m": 0.021,
                "knee_flexion_deg": 58.0,
                "repetitions": 5,
            },
        )

    entries = {
        "hip-rotation": {
            "ir_left_deg": 28,
            "er_left_deg": 42,
            "ir_right_deg": 41,
            "er_right_deg": 44,
        },
        "squat-observation": {
            "knee_past_second_toe_left": "yes",
            "knee_past_second_toe_right": "no",
        },
        "arch": {
            "arch_left": "mild-collapse",
            "arch_right": "marked-collapse",
            "navicular_drop_right_mm": 12.0,
        },
    }
    drive_run(runner, lab, respond, entries=entries)
    hip = runner.results["hip-rotation"]
    # 28° < 35° flags the left; 41 − 28 = 13° > 10° flags the asymmetry; ER differs by only 2°.
    assert hip.flags == ("limited_hip_ir_left", "hip_ir_side_difference")
    assert hip.values["ir_left_deg"] == 28.0
    squat_left = runner.results["squat-left"]
    assert squat_left.values == {
        "duration_s": 20.0,
        "side": "L",
        "fppa_deg": 14.5,
        "knee_medial_displacement_m": 0.021,
        "knee_flexion_deg": 58.0,
        "repetitions": 5,
    }
    assert squat_left.flags == ()
    assert ("select_cameras", ("posterior",)) in lab.calls
    assert [c[1] for c in lab.calls if c[0] == "start_acquisition"] == ["squat-left", "squat-right"]
    assert runner.results["squat-observation"].flags == ("poor_hip_control_left",)
    arch = runner.results["arch"]
    assert arch.flags == ("arch_collapse_right", "navicular_drop_right")
    assert arch.values["navicular_drop_left_mm"] is None  # optional, left empty


def test_squat_that_is_too_shallow_or_incomplete_is_flagged(lab, drive_run):
    runner = Runner(find_procedure("three-part-screen"), lab)

    def respond(request):
        if request.side == "L":
            return lab.finished(
                20.0,
                values={
                    "fppa_deg": 9.0,
                    "knee_medial_displacement_m": 0.01,
                    "knee_flexion_deg": 38.0,
                },
            )
        return lab.finished(20.0, values={"knee_flexion_deg": 61.0})

    entries = {
        "hip-rotation": {
            "ir_left_deg": 40,
            "er_left_deg": 40,
            "ir_right_deg": 40,
            "er_right_deg": 40,
        },
        "squat-observation": {
            "knee_past_second_toe_left": "no",
            "knee_past_second_toe_right": "no",
        },
        "arch": {"arch_left": "maintained", "arch_right": "maintained"},
    }
    drive_run(runner, lab, respond, entries=entries)
    assert runner.results["hip-rotation"].flags == ()
    assert runner.results["squat-left"].flags == ("depth_not_at_target",)
    assert runner.results["squat-right"].flags == (
        "missing_fppa_deg",
        "missing_knee_medial_displacement_m",
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"speed_m_s": 12.0}, "12 m/s is outside 1.5–7 m/s"),
        ({"speed_m_s": "fast"}, "'fast' is not a number"),
        ({}, "Comfortable running speed (speed_m_s): is required"),
        ({"speed_m_s": 3.0, "weight": 70}, "'weight' is not a field of this entry"),
        ({"speed_m_s": float("nan")}, "is not a number"),
        ({"speed_m_s": True}, "is not a number"),
    ],
)
def test_a_bad_entry_is_refused_and_the_step_stays_open(lab, values, message):
    runner = Runner(find_procedure("running-assessment"), lab)
    runner.begin()
    runner.next()  # markers instruction
    assert runner.current_step.id == "runner"
    with pytest.raises(ProtocolError, match=re.escape(message)):
        runner.submit(values)
    assert runner.current_step.id == "runner"
    assert runner.state is State.WAITING
    runner.submit({"speed_m_s": 3.0})
    assert runner.current_step.id == "belt-on"
