"""Re-analysis of a saved session into new revisions: numbers against the simulated lab's truth,
corrections applied and stored, raw data never touched, progress reported."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.compare import is_excluded
from analysis.errors import InputError
from analysis.force_settings import ForceSettings
from app.session_analysis import Correction, analyse_session
from data import open_session

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow  # simulated sessions rendered, tracked and written (~10 s each)


def _helper():
    import importlib.util
    import sys

    if "review_sessions" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "review_sessions", HERE / "review_sessions.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["review_sessions"] = module
        spec.loader.exec_module(module)
    return sys.modules["review_sessions"]


@pytest.fixture(scope="module")
def before(tmp_path_factory) -> Path:
    return _helper().cached_session(tmp_path_factory.getbasetemp() / "review-cache", "before")


@pytest.fixture(scope="module")
def lab():
    helper = _helper()
    return helper.lab_for(helper.BEFORE)


def raw_digest(path: Path) -> str:
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        h.update(f["daq/analog"][:].tobytes())
        for cam in f["cameras"]:
            h.update(f[f"cameras/{cam}/frames_jpeg"][:].tobytes())
            h.update(f[f"cameras/{cam}/markers/xy"][:].tobytes())
    return h.hexdigest()


def test_first_analysis_matches_the_simulated_truth(before, lab):
    with open_session(before) as s:
        rev = s.analysis()
        rows = rev.stances()
        assert rev.name == "rev_0001" and rev.settings["source"].startswith("offline")
        assert rev.settings["markers_source"]["sagittal"].startswith("recorded live")
    truth = {round(t.contact_s, 2): t for t in lab.truth.stances}
    matched = 0
    for row in rows:
        t = min(lab.truth.stances, key=lambda t: abs(t.contact_s - row["contact_s"]))
        assert abs(t.contact_s - row["contact_s"]) < 0.002
        assert row["side"] == t.side
        assert row["valr_N_s"] == pytest.approx(t.valr_N_s, rel=0.05)
        assert row["fppa_midstance_deg"] == pytest.approx(t.fppa_midstance_deg, abs=1.0)
        if row["side"] == "R":  # the sagittal camera sees the right leg
            assert row["hip_ankle_midstance_m"] == pytest.approx(t.hip_ankle_midstance_m, abs=0.01)
            matched += 1
    assert matched >= 9 and len(rows) >= len(truth) - 2


def test_corrections_make_a_new_revision_and_leave_raw_data_alone(before):
    digest = raw_digest(before)
    with open_session(before) as s:
        first = s.analysis().stances()
    moved, dropped, excluded = first[4], first[6], first[8]
    steps = []
    name = analyse_session(
        before,
        corrections=[
            Correction(
                "move_event",
                moved["contact_s"],
                event="contact_s",
                time_s=moved["contact_s"] - 0.010,
            ),
            Correction("delete", dropped["contact_s"]),
            Correction("exclude", excluded["contact_s"]),
            Correction("relabel", first[2]["contact_s"], side="L"),
        ],
        note="analyst corrections",
        progress=lambda fraction, message: steps.append((fraction, message)),
    )
    assert name == "rev_0002"
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert raw_digest(before) == digest
    with open_session(before) as s:
        assert s.revisions == ("rev_0001", "rev_0002")
        rev = s.analysis()
        assert rev.parent == "rev_0001" and rev.note == "analyst corrections"
        assert len(rev.settings["corrections"]) == 4
        rows = rev.stances()
        assert len(rows) == len(first) - 1
        assert all(abs(r["contact_s"] - dropped["contact_s"]) > 0.05 for r in rows)
        new = next(r for r in rows if abs(r["contact_s"] - moved["contact_s"]) < 0.05)
        assert new["contact_s"] == pytest.approx(moved["contact_s"] - 0.010)
        assert new["contact_time_s"] == pytest.approx(moved["contact_time_s"] + 0.010)
        assert "contact_moved_by_analyst" in new["flags"]
        ex = next(r for r in rows if abs(r["contact_s"] - excluded["contact_s"]) < 0.05)
        assert "excluded_by_analyst" in ex["flags"]
        relabelled = next(r for r in rows if abs(r["contact_s"] - first[2]["contact_s"]) < 0.05)
        assert relabelled["side"] == "L" and "side_set_by_analyst" in relabelled["flags"]
        summary = {r["side"]: r for r in rev.summaries()}
        n_left = sum(r["side"] == "L" and not is_excluded(r) for r in rows)
        assert summary["L"]["n_stances"] == n_left
        # the first analysis is still there, untouched
        assert len(s.analysis("rev_0001").stances()) == len(first)
    # a re-run from rev_0002 keeps its corrections (reproducible from the file alone)
    again = analyse_session(before, force=ForceSettings(cutoff_hz=40.0), note="40 Hz")
    with open_session(before) as s:
        rev = s.analysis(again)
        assert rev.settings["force"]["cutoff_hz"] == 40.0
        assert len(rev.settings["corrections"]) == 4 and rev.parent == "rev_0002"


def test_moved_events_are_analysed_in_not_patched(tmp_path_factory):
    """Every number of a stance whose event an analyst moved follows the new events: its
    contact time, impulses, COP and midstance, and the step and flight times of the next
    stance — the force analysis runs from the analyst's events, it does not overwrite fields."""
    path = _helper().cached_session(tmp_path_factory.getbasetemp() / "review-cache", "before")
    with open_session(path) as s:
        first = s.analysis().stances()
    k = 5
    this, after = first[k], first[k + 1]
    assert after["step_time_s"] == pytest.approx(after["contact_s"] - this["contact_s"])
    name = analyse_session(
        path,
        corrections=[
            Correction("move_event", this["contact_s"], event="contact_s",
                       time_s=this["contact_s"] + 0.008),
            # a second move of the same stance names it by its moved contact, as the review does
            Correction("move_event", this["contact_s"] + 0.008, event="toe_off_s",
                       time_s=this["toe_off_s"] - 0.010),
            Correction("move_event", 999.0, event="toe_off_s", time_s=999.1),  # names no stance
        ],
    )  # fmt: skip
    with open_session(path) as s:
        rev = s.analysis(name)
        rows, notes = rev.stances(), rev.settings["analysis_notes"]
    assert len(rows) == len(first)
    moved, next_ = rows[k], rows[k + 1]
    assert moved["contact_s"] == pytest.approx(this["contact_s"] + 0.008, abs=1e-9)
    assert moved["toe_off_s"] == pytest.approx(this["toe_off_s"] - 0.010, abs=1e-9)
    assert moved["contact_time_s"] == pytest.approx(this["contact_time_s"] - 0.018, abs=1e-9)
    assert moved["midstance_half_s"] == pytest.approx(this["midstance_half_s"] - 0.001, abs=1e-9)
    assert {"contact_moved_by_analyst", "toe_off_moved_by_analyst"} <= set(moved["flags"])
    # the sequencer ran on the moved events: this step is 8 ms longer, the next 8 ms shorter,
    # and the next stance's flight (from this toe-off) 10 ms longer
    assert moved["step_time_s"] == pytest.approx(this["step_time_s"] + 0.008, abs=1e-9)
    assert next_["step_time_s"] == pytest.approx(after["step_time_s"] - 0.008, abs=1e-9)
    assert next_["flight_time_s"] == pytest.approx(after["flight_time_s"] + 0.010, abs=1e-9)
    # the impulses are integrated over the new stance only: the first 8 ms (braking, Fx < 0)
    # and the last 10 ms (propulsion, Fx > 0) are left out
    assert 0 < moved["braking_impulse_Ns"] < this["braking_impulse_Ns"]
    assert 0 < moved["propulsive_impulse_Ns"] < this["propulsive_impulse_Ns"]
    # the stances not moved are untouched
    for a, b in ((first[k - 1], rows[k - 1]), (first[k + 2], rows[k + 2])):
        assert b["valr_N_s"] == pytest.approx(a["valr_N_s"], rel=1e-9)
        assert b["contact_s"] == a["contact_s"]
    assert any("999.000 s not applied" in n for n in notes), notes


def test_retracking_from_the_frames_gives_the_same_numbers(tmp_path):
    helper = _helper()
    path = tmp_path / "short.midstance.h5"
    helper.write_simulated_session(path, helper.BEFORE, seconds=2.5)
    name = analyse_session(path, retrack=True, corrections=[], note="re-detected markers")
    with open_session(path) as s:
        stored = s.analysis("rev_0001").stances()
        rev = s.analysis(name)
        assert rev.settings["markers_source"]["posterior"] == "re-detected from the frames"
        again = rev.stances()
    a = np.array([r["fppa_midstance_deg"] for r in stored])
    b = np.array([r["fppa_midstance_deg"] for r in again])
    assert len(a) >= 5 and np.isfinite(b).all()
    np.testing.assert_allclose(a, b, atol=0.3)  # JPEG frames re-detected vs tracked on raw


def test_a_bad_correction_or_unfinished_file_is_refused(before, tmp_path):
    with pytest.raises(InputError, match="cannot move event"):
        Correction("move_event", 1.0, event="heel_s", time_s=1.0)
    with pytest.raises(InputError, match="does not name a stance"):
        Correction("exclude")
    with pytest.raises(InputError, match="no marker set named 'hexapod'"):
        analyse_session(before, marker_sets={"posterior": "hexapod"})
    with h5py.File(before, "r+") as f:
        f.attrs["recording_state"] = "recording"
    with pytest.raises(InputError, match="still being recorded"):
        analyse_session(before)


def test_a_recorded_session_is_re_analysed_exactly_like_the_live_run(tmp_path, capsys):
    """`midstance record --simulate` writes rev_0001 from the live pipeline; the offline
    re-analysis from the same raw volts and recorded markers gives the same stances, and the
    report reads a revision without derived forces (curves from the raw volts)."""
    from app.cli import main

    path = tmp_path / "recorded.midstance.h5"
    args = ["record", "--simulate", "--preset", "overstrider", "--size", "320x240",
            "--duration", "4", "--pace", "fast",  # equality, not real-time speed, is tested
            "--out", str(path), "--subject", "P-009", "--json"]  # fmt: skip
    code = main(args)
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    name = analyse_session(path, note="offline")
    with open_session(path) as s:
        live, offline = s.analysis("rev_0001").stances(), s.analysis(name).stances()
        filmed = min(s.camera(c).session_time[-1] for c in s.camera_names)
    assert len(live) == len(offline) >= 8
    # only stances whose frames are in the file (the recording may end a camera early)
    both = [(a, b) for a, b in zip(live, offline, strict=True) if a["toe_off_s"] < filmed - 0.1]
    assert len(both) >= 2
    for a, b in both:
        assert b["contact_s"] == pytest.approx(a["contact_s"], abs=1e-9)
        assert b["side"] == a["side"]
        assert b["valr_BW_s"] == pytest.approx(a["valr_BW_s"], rel=1e-9)
        for field in ("fppa_midstance_deg", "pelvic_drop_deg", "hip_ankle_midstance_m"):
            # markers are stored as float32: angles agree to 0.01° (measured 3e-5°)
            assert b[field] == pytest.approx(a[field], abs=0.01, nan_ok=True), field
    assert main(["report", str(path), "--revision", "rev_0001", "--json"]) == 0
    doc = __import__("json").loads(capsys.readouterr().out)
    assert (
        doc["stance_curves"]["L"]["n"] >= 3 and doc["session"]["subject"]["subject_id"] == "P-009"
    )


def test_stances_touching_a_daq_gap_are_flagged_and_left_out(tmp_path_factory):
    """Samples that never arrived are NaN rows listed in /daq/gaps; the stance over them is
    flagged and kept out of the summaries, the others are analysed as before."""
    before = _helper().cached_session(tmp_path_factory.getbasetemp() / "review-cache", "before")
    with open_session(before) as s:
        first = s.analysis("rev_0001").stances()
        rate = s.analog.rate_hz
    hit = first[7]
    a = round((hit["contact_s"] + 0.05) * rate)
    with h5py.File(before, "r+") as f:
        f["daq/analog"][a : a + 40] = np.nan
        gaps = f["daq/gaps"]
        gaps.resize((gaps.shape[0] + 1, 2))
        gaps[-1] = (a, a + 40)
    name = analyse_session(before, corrections=[], note="after a DAQ gap")
    with open_session(before) as s:
        rows = s.analysis(name).stances()
        summary = {r["side"]: r for r in s.analysis(name).summaries()}
    flagged = [r for r in rows if "daq_gap" in r["flags"]]
    # the part of the stance after the gap is what remains of it (the part before is too short)
    assert len(flagged) == 1
    assert hit["contact_s"] <= flagged[0]["contact_s"] < hit["toe_off_s"]
    assert is_excluded(flagged[0])
    side = hit["side"]
    assert summary[side]["n_stances"] == sum(r["side"] == side and not is_excluded(r) for r in rows)
    others = [r for r in rows if "daq_gap" not in r["flags"]]
    assert len(others) >= len(first) - 2
