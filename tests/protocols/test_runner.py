"""The runner's state machine: allowed events, back/skip/abort, blocked checks, the run record."""

from __future__ import annotations

import json

import pytest

from protocols.loader import find_procedure, parse_procedure_text
from protocols.model import ProtocolError
from protocols.runner import TRANSITIONS, Event, Runner, State

SMALL = """
[procedure]
name = "small"
title = "Small"
version = "1"
description = "A check, an instruction, an entry, an optional group, an acquisition."
audience = "clinician"

[[steps]]
id = "zeroed"
kind = "check"
title = "Zeroed"
condition = "calibration-current"
kinds = ["zero"]
may_override = true

[[steps]]
id = "read"
kind = "instruction"
title = "Read"
text = "Read this."

[[steps]]
id = "who"
kind = "entry"
title = "Who"
[[steps.fields]]
name = "speed_m_s"
label = "Speed"
unit = "m/s"
min = 1
max = 6

[[steps]]
id = "extra-setup"
kind = "setup"
title = "Extra"
optional = true
group = "extra"
speed_from = "who.speed_m_s"

[[steps]]
id = "extra"
kind = "acquisition"
title = "Extra run"
optional = true
group = "extra"
purpose = "running"
duration_s = 30
segment = "extra"

[[steps]]
id = "main"
kind = "acquisition"
title = "Main run"
purpose = "running"
steps_per_side = 20
segment = "main"
"""


def _small():
    return parse_procedure_text(SMALL, source="small.toml")


def test_every_state_has_a_row_and_terminal_states_accept_nothing():
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.COMPLETED] == {} == TRANSITIONS[State.ABORTED]
    for state, row in TRANSITIONS.items():
        if state not in (State.COMPLETED, State.ABORTED):
            assert Event.ABORT in row, state


def test_events_outside_the_table_are_refused_with_the_state_named(lab):
    runner = Runner(_small(), lab)
    with pytest.raises(ProtocolError, match=r"'next' is not possible now: the run is not-started"):
        runner.next()
    runner.begin()
    assert runner.current_step.id == "read"  # the passing check ran by itself
    assert runner.results["zeroed"].passed is True
    with pytest.raises(ProtocolError, match="'finished' is not possible now"):
        runner.acquisition_finished(lab.finished(1.0))
    with pytest.raises(
        ProtocolError, match="'skip' is not possible now: step 'read' is not optional"
    ):
        runner.skip()
    with pytest.raises(ProtocolError, match="an entry step is completed with submit"):
        runner.next()
        runner.next()
    assert runner.allowed_events() == (Event.SUBMIT, Event.BACK, Event.ABORT)


def test_a_failing_check_blocks_until_retry_succeeds(lab):
    lab.check_ok = False
    runner = Runner(_small(), lab)
    runner.begin()
    assert runner.state is State.BLOCKED
    assert runner.check_detail == "zero not done today"
    assert runner.allowed_events() == (Event.RETRY, Event.OVERRIDE, Event.ABORT)
    runner.retry()
    assert runner.state is State.BLOCKED
    lab.check_ok = True
    runner.retry()
    assert runner.state is State.WAITING
    assert runner.current_step.id == "read"
    assert [c for c in lab.calls if c[0] == "check_state"] == [
        ("check_state", "calibration-current", ("zero",))
    ] * 3


def test_override_needs_a_reason_and_is_recorded(lab):
    lab.check_ok = False
    runner = Runner(_small(), lab, operator="Dr Who")
    runner.begin()
    with pytest.raises(ProtocolError, match="give the reason"):
        runner.override("  ")
    runner.override("plate zeroed at 07:50 by hand, log entry pending")
    result = runner.results["zeroed"]
    assert (result.status, result.passed, result.flags) == ("overridden", False, ("overridden",))
    assert result.note == "plate zeroed at 07:50 by hand, log entry pending"
    assert result.operator == "Dr Who"


def test_checks_that_may_not_be_overridden_refuse(lab):
    lab.check_ok = False
    runner = Runner(find_procedure("known-mass-check"), lab)
    runner.begin()
    assert Event.OVERRIDE not in runner.allowed_events()
    with pytest.raises(ProtocolError, match="may not be overridden"):
        runner.override("in a hurry")


def test_skip_takes_the_whole_optional_group_and_steps_per_side_reach_the_lab(lab):
    runner = Runner(_small(), lab)
    runner.begin()
    runner.next()
    runner.submit({"speed_m_s": 3})
    assert runner.current_step.id == "extra-setup"
    runner.skip()
    assert runner.current_step.id == "main"
    runner.next()
    assert runner.state is State.ACQUIRING
    assert lab.pending.steps_per_side == 20 and lab.pending.duration_s is None
    runner.acquisition_finished(lab.finished(14.2, values={"steps_left": 20, "steps_right": 20}))
    assert runner.state is State.COMPLETED
    assert [r.status for r in runner.attempts] == [
        "done",
        "done",
        "done",
        "skipped",
        "skipped",
        "done",
    ]
    assert not any(c[0] == "set_treadmill" for c in lab.calls)


def test_back_redoes_a_step_and_keeps_the_first_attempt(lab):
    runner = Runner(_small(), lab)
    runner.begin()
    runner.next()
    runner.submit({"speed_m_s": 3})
    runner.back()
    assert runner.current_step.id == "who"
    runner.submit({"speed_m_s": 3.4})
    runner.next()  # extra-setup: applies the corrected speed
    assert lab.calls[-1] == ("set_treadmill", 3.4, None)
    attempts = [(r.step_id, r.attempt, r.values.get("speed_m_s")) for r in runner.attempts]
    assert ("who", 1, 3.0) in attempts and ("who", 2, 3.4) in attempts
    assert runner.results["who"].values == {"speed_m_s": 3.4}


def test_stop_and_abort_during_an_acquisition_stop_the_recording(lab):
    runner = Runner(_small(), lab)
    runner.begin()
    runner.next()
    runner.submit({"speed_m_s": 3})
    runner.next()
    runner.next()
    assert runner.state is State.ACQUIRING
    runner.stop()
    assert runner.state is State.ACQUIRING  # the recording's end still has to arrive
    runner.acquisition_finished(lab.finished(12.0, stopped_early=True))
    assert runner.results["extra"].flags == ("stopped_early",)
    runner.next()
    runner.abort("runner felt dizzy")
    assert runner.state is State.ABORTED
    assert [c[0] for c in lab.calls].count("stop_acquisition") == 2
    assert runner.record()["abort_reason"] == "runner felt dizzy"
    with pytest.raises(ProtocolError, match="the run is aborted"):
        runner.next()


def test_the_run_record_is_plain_json_with_procedure_identity(lab, drive_run):
    runner = Runner(_small(), lab, operator="T", clock=lab.clock)
    drive_run(
        runner, lab, lambda r: lab.finished(r.duration_s or 10.0), entries={"who": {"speed_m_s": 3}}
    )
    record = json.loads(json.dumps(runner.record()))
    assert record["procedure"]["name"] == "small"
    assert len(record["procedure"]["sha256"]) == 64
    assert record["state"] == "completed"
    assert record["results"]["extra-setup"]["values"]["speed_m_s"] == 3.0
    assert [e["event"] for e in record["events"]][:3] == ["begin", "next", "submit"]
    assert record["events"][0]["time_utc"].startswith("2026-11-18T09:00:01")


def test_going_back_in_the_middle_of_placements_keeps_an_abandoned_attempt(lab):
    runner = Runner(find_procedure("cop-pointer-check"), lab)
    runner.begin()
    runner.next()  # belt stopped
    for _ in range(3):
        runner.next()
        runner.acquisition_finished(lab.finished(4.0))
    assert runner.current_placement == 3
    runner.back()
    assert runner.current_step.id == "belt-stopped"
    abandoned = runner.attempts[-1]
    assert (abandoned.step_id, abandoned.status, abandoned.flags) == (
        "pointer",
        "abandoned",
        ("abandoned",),
    )
    assert abandoned.values == {"placements_recorded": 3, "duration_s": 12.0}
    assert "pointer" in runner.results and runner.results["pointer"].calibration_kind == ""
    runner.next()
    assert runner.current_step.id == "pointer" and runner.current_placement == 0


def test_snapshot_tells_the_display_where_the_run_is(lab):
    runner = Runner(find_procedure("known-mass-check"), lab)
    runner.begin()
    runner.next()
    runner.next()
    runner.next()
    runner.acquisition_finished(lab.finished(5.0))
    view = runner.snapshot()
    assert view["state"] == "waiting"
    assert (view["step_id"], view["step_kind"]) == ("known-mass", "acquisition")
    assert (view["placement"], view["placement_label"]) == (1, "front-left 25 kg")
    assert view["allowed"] == ["next", "back", "abort"]
