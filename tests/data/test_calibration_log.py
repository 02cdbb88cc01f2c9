"""The calibration log: append-only JSON lines that survive a crash mid-write, staleness rules,
the snapshot stored in sessions, and trend series."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from data.calibration_log import (
    DEFAULT_RULES,
    CalibrationLog,
    CalibrationLogError,
    load_rules,
    parse_rules,
)

# Wednesday 18 November 2026, 10:00 in a lab at UTC+1.
LAB_TZ = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=LAB_TZ)


@pytest.fixture
def log(tmp_path):
    return CalibrationLog(tmp_path / "calibration-log.jsonl")


def _at(days=0.0, hours=0.0):
    return NOW + timedelta(days=days, hours=hours)


def test_entries_round_trip_through_the_file(log):
    entry = log.record(
        "known-mass",
        "belt",
        "T. Echnician",
        passed=True,
        values={
            "max_abs_error_percent": np.float64(0.4),
            "error_percent": np.array([0.1, -0.4]),
            "missing": float("nan"),
        },
        settings={"tolerance_percent": 1.0},
        time_utc=_at(),
    )
    again = CalibrationLog(log.path).entries()
    assert len(again) == 1
    stored = again[0]
    assert stored == entry
    assert stored.time_utc == datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    assert stored.values == {
        "max_abs_error_percent": 0.4,
        "error_percent": [0.1, -0.4],
        "missing": None,
    }
    assert stored.software_version
    line = log.path.read_text().splitlines()[0]
    assert json.loads(line)["time_utc"] == "2026-11-18T09:00:00+00:00"


def test_the_default_location_is_the_user_data_folder(isolated_user_data):
    log = CalibrationLog()
    log.record("zero", "belt", "op", passed=True)
    assert log.path == isolated_user_data / "calibration-log.jsonl"
    assert len(log.entries()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operator": " "}, "operator is missing"),
        ({"device": ""}, "device is missing"),
        ({"kind": "Known Mass"}, "kind 'Known Mass' is not valid"),
        ({"time_utc": datetime(2026, 1, 1)}, "time has no time zone"),
        ({"values": {"f": object()}}, r"values.f: cannot store a object"),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_written(log, kwargs, message):
    arguments = {"kind": "zero", "device": "belt", "operator": "op", "passed": True, **kwargs}
    with pytest.raises(CalibrationLogError, match=message):
        log.record(**arguments)
    assert not log.path.exists()


def test_a_crash_mid_write_loses_only_that_line(log):
    log.record("zero", "belt", "op", passed=True, time_utc=_at(hours=-2))
    with open(log.path, "ab") as handle:  # a power cut half-way through the next line
        handle.write(b'{"time_utc": "2026-11-18T08:30:00+00:00", "operator": "op", "dev')
    log.record("noise-floor", "belt", "op", passed=True, time_utc=_at(hours=-1))
    entries = log.entries()
    assert [e.kind for e in entries] == ["zero", "noise-floor"]
    assert log.damaged_lines == [2]
    assert log.path.read_text().count("\n") == 3


def test_an_unwritable_log_says_the_entry_was_not_saved(tmp_path):
    folder = tmp_path / "log-is-a-folder.jsonl"
    folder.mkdir()
    with pytest.raises(CalibrationLogError, match="the entry was NOT saved"):
        CalibrationLog(folder).record("zero", "belt", "op", passed=True)


def _stale(log, now=NOW, **kwargs):
    return {(s.kind, s.device): s.reason for s in log.stale_items(now, DEFAULT_RULES, **kwargs)}


def test_zero_is_stale_from_the_next_local_day(log):
    log.record("zero", "belt", "op", passed=True, time_utc=_at(hours=-9.5))  # 00:30 local
    assert ("zero", "belt") not in _stale(log)
    assert _stale(log, _at(hours=13.9)).get(("zero", "belt")) is None  # 23:54 local
    assert _stale(log, _at(hours=14.1))[("zero", "belt")] == "not done today (last 2026-11-18)"


def test_sync_is_stale_from_the_next_iso_week(log):
    log.record("sync-verification", "sagittal", "op", passed=True, time_utc=_at(days=-2))  # Mon
    assert ("sync-verification", "sagittal") not in _stale(log)
    assert ("sync-verification", "sagittal") not in _stale(log, _at(days=4))  # Sunday
    reason = _stale(log, _at(days=5))[("sync-verification", "sagittal")]  # next Monday
    assert reason == "not done this week (last 2026-11-16)"


def test_known_mass_is_stale_after_thirty_days_and_a_failure_is_stale_at_once(log):
    log.record("known-mass", "belt", "op", passed=True, time_utc=_at(days=-29))
    assert ("known-mass", "belt") not in _stale(log)
    assert _stale(log, _at(days=1.5))[("known-mass", "belt")].startswith("older than 30 days")
    log.record("known-mass", "belt", "op", passed=False, time_utc=_at(hours=-1))
    assert _stale(log)[("known-mass", "belt")].startswith("the last known-mass check failed")


def test_intrinsics_are_stale_after_a_lens_change_on_that_camera_only(log):
    log.record("camera-intrinsics", "sagittal", "op", passed=True, time_utc=_at(days=-200))
    log.record("camera-intrinsics", "posterior", "op", passed=True, time_utc=_at(days=-200))
    assert ("camera-intrinsics", "sagittal") not in _stale(log)  # no age limit by default
    log.record("lens-change", "sagittal", "op", passed=True, time_utc=_at(days=-3))
    stale = _stale(log)
    assert stale[("camera-intrinsics", "sagittal")] == "older than the lens-change on 2026-11-15"
    assert ("camera-intrinsics", "posterior") not in stale
    # entries after `now` do not count (querying the past gives the past's answer)
    assert ("camera-intrinsics", "sagittal") not in _stale(log, _at(days=-4))


def test_never_recorded_kinds_and_expected_devices(log):
    stale = _stale(log)
    assert set(stale) == {(kind, "*") for kind in DEFAULT_RULES}
    assert set(stale.values()) == {"never recorded"}
    log.record("zero", "left", "op", passed=True, time_utc=_at(hours=-1))
    stale = _stale(log, expected=[("zero", "left"), ("zero", "right")])
    assert stale == {("zero", "right"): "never recorded"}


def test_rules_come_from_toml_and_bad_rules_name_the_key(tmp_path, log, isolated_user_data):
    rules_file = isolated_user_data / "calibration-rules.toml"
    rules_file.write_text('[rules.known-mass]\nmax_age_days = 7\n[rules.zero]\nwithin = "week"\n')
    rules = load_rules()
    assert rules["known-mass"].max_age_days == 7
    assert rules["zero"].within == "week"
    assert rules["cop-pointer"] == DEFAULT_RULES["cop-pointer"]
    log.record("known-mass", "belt", "op", passed=True, time_utc=_at(days=-8))
    assert ("known-mass", "belt") in {(s.kind, s.device) for s in log.stale_items(NOW)}
    for text, message in [
        ('[rules.zero]\nwithin = "month"\n', r"rules.zero: within = 'month' is not allowed"),
        (
            "[rules.zero]\nmax_age_days = -1\n",
            r"rules.zero: max_age_days = -1 must be a positive number",
        ),
        ("[rules.zero]\nevery = 1\n", r"rules.zero: unknown key 'every'"),
        ("[rules.zero]\n", r"rules.zero: has no condition"),
        ("[rules.zero\n", r"cannot be read: .*line 1"),
    ]:
        rules_file.write_text(text)
        with pytest.raises(CalibrationLogError, match=message):
            load_rules()
    with pytest.raises(CalibrationLogError, match=r"rules\.Zero: is not a valid kind"):
        parse_rules({"rules": {"Zero": {"within": "day"}}})


def test_current_calibration_is_a_plain_snapshot(log):
    log.record(
        "zero",
        "belt",
        "op",
        passed=True,
        values={"max_abs_offset_V": 0.035},
        time_utc=_at(hours=-1),
    )
    log.record("known-mass", "belt", "op", passed=True, time_utc=_at(days=-3))
    log.record("known-mass", "belt", "op", passed=False, time_utc=_at(days=-1))
    snapshot = log.current_calibration(NOW, DEFAULT_RULES)
    json.dumps(snapshot)  # plain data, storable as an HDF5 attribute
    assert snapshot["entries"]["zero/belt"]["latest"]["values"] == {"max_abs_offset_V": 0.035}
    known = snapshot["entries"]["known-mass/belt"]
    assert known["latest"]["passed"] is False
    assert known["latest_passed"]["time_utc"] == "2026-11-15T09:00:00+00:00"
    stale_kinds = {s["kind"] for s in snapshot["stale"]}
    assert "known-mass" in stale_kinds and "zero" not in stale_kinds
    assert snapshot["taken_at_utc"] == "2026-11-18T09:00:00+00:00"


def test_trend_returns_the_series_of_one_value(log):
    for day, error, passed in [(-60, 0.3, True), (-30, 0.6, True), (-1, 1.4, False)]:
        log.record(
            "known-mass",
            "belt",
            "op",
            passed=passed,
            values={"max_abs_error_percent": error, "gain": 1 + error / 100},
            time_utc=_at(days=day),
        )
    log.record(
        "known-mass",
        "left",
        "op",
        passed=True,
        values={"max_abs_error_percent": 0.1},
        time_utc=_at(days=-2),
    )
    series = log.trend("known-mass", device="belt")
    assert series.value == "max_abs_error_percent"
    assert series.values == (0.3, 0.6, 1.4)
    assert series.passed == (True, True, False)
    assert series.times_utc[0] == _at(days=-60).astimezone(UTC)
    assert log.trend("known-mass", "gain", "belt").values == pytest.approx((1.003, 1.006, 1.014))
    assert len(log.trend("known-mass").values) == 4
    with pytest.raises(CalibrationLogError, match="has no default value to trend"):
        log.trend("lens-change")


def test_the_snapshot_survives_a_broken_rules_file(log, isolated_user_data):
    log.record("zero", "belt", "op", passed=True, time_utc=_at(hours=-1))
    (isolated_user_data / "calibration-rules.toml").write_text("[rules.zero]\nwithin = 3\n")
    snapshot = log.current_calibration(NOW)
    assert "zero/belt" in snapshot["entries"]
    assert snapshot["stale"] == []
    assert len(snapshot["problems"]) == 1
    assert "rules.zero: within = 3 is not allowed" in snapshot["problems"][0]
