"""``midstance compare``: an overstrider before and the corrected runner after, recorded on the
simulated lab — the true changes inside their intervals, FPPA's 2–3° change within measurement
error, mismatched settings refused unless --force, and the PDF's sections."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.compare import WITHIN_ERROR
from analysis.force_settings import ForceSettings
from app.cli import main
from app.reports import COMPARISON_SECTIONS
from app.session_analysis import analyse_session
from data import open_session

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow  # simulated sessions rendered, tracked and written (~10 s each)


def helper():
    if "review_sessions" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "review_sessions", HERE / "review_sessions.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["review_sessions"] = module
        spec.loader.exec_module(module)
    return sys.modules["review_sessions"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    cache = tmp_path_factory.getbasetemp() / "review-cache"
    return helper().cached_session(cache, "before"), helper().cached_session(cache, "after")


def true_change(path_before, path_after, field, side, scale):
    """Truth of the analysed steps (matched by contact time), after − before."""
    means = []
    for path, spec in ((path_before, helper().BEFORE), (path_after, helper().AFTER)):
        truth = helper().lab_for(spec).truth.stances
        with open_session(path) as s:
            rows = [r for r in s.analysis().stances() if r["side"] == side]
        matched = [min(truth, key=lambda t, r=r: abs(t.contact_s - r["contact_s"])) for r in rows]
        means.append(scale * np.mean([getattr(t, field) for t in matched]))
    return means[1] - means[0]


def test_comparison_recovers_the_true_changes(pair, capsys):
    before, after = pair
    assert main(["compare", str(before), str(after), "--json", "--resamples", "2000"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mismatches"] == [] and not doc["forced"]
    assert "moving-block" in doc["statistics"]["description"]
    rows = {(r["metric"], r["side"]): r for r in doc["metrics"]}
    checks = (("hip_ankle_midstance_m", "R", 100), ("hip_ankle_contact_m", "R", 100),
              ("fppa_midstance_deg", "L", 1), ("fppa_midstance_deg", "R", 1),
              ("pelvic_drop_deg", "R", 1))  # fmt: skip
    for field, side, scale in checks:
        d = rows[(field, side)]["difference"]
        truth = true_change(before, after, field, side, scale)
        assert d["low"] <= truth <= d["high"], (field, side, truth, d)
    hip = rows[("hip_ankle_midstance_m", "R")]
    assert hip["difference"]["difference"] < -3.0 and hip["difference"]["excludes_zero"]
    for side in ("L", "R"):  # FPPA rose by 2–3°: real, but below the 8° SDD
        fppa = rows[("fppa_midstance_deg", side)]
        assert 1.0 < fppa["difference"]["difference"] < 4.0
        assert fppa["verdict"] == WITHIN_ERROR and fppa["sdd"] == 8.0


def test_mismatched_settings_are_refused_unless_forced(pair, tmp_path, capsys):
    before, after = pair
    changed = tmp_path / "after-30hz.midstance.h5"
    shutil.copyfile(after, changed)
    analyse_session(changed, force=ForceSettings(cutoff_hz=30.0), note="30 Hz detection filter")
    assert main(["compare", str(before), str(changed)]) == 2
    err = capsys.readouterr().err
    assert "force.cutoff_hz: 50.0 → 30.0" in err and "--force" in err
    out = tmp_path / "forced.pdf"
    code = main(["compare", str(before), str(changed), "--force", "--json", "--pdf", str(out),
                 "--resamples", "500"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["forced"] and [m["what"] for m in doc["mismatches"]] == ["settings"]
    assert "WARNING, compared despite: settings" in captured.err
    assert len(re.findall(rb"/Type /Page\b", out.read_bytes())) == len(COMPARISON_SECTIONS)
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip
        for section in COMPARISON_SECTIONS:
            assert section in text
        assert "COMPARED DESPITE THESE DIFFERENCES" in text and "cutoff_hz" in text
        assert "within measurement error" in text and "2026-10-03" in text and "2026-11-14" in text


def test_a_baseline_against_two_follow_ups(pair, tmp_path, capsys):
    before, after = pair
    later = tmp_path / "third.midstance.h5"
    shutil.copyfile(after, later)
    out = tmp_path / "series.pdf"
    args = ["compare", str(before), str(after), str(later), "--json", "--pdf", str(out),
            "--resamples", "500"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "midstance-comparison-series" and doc["baseline"] == str(before)
    first, second = doc["comparisons"]
    assert first["after"]["file"] == str(after) and second["after"]["file"] == str(later)
    a = {(r["metric"], r["side"]): r["difference"]["difference"] for r in first["metrics"]}
    b = {(r["metric"], r["side"]): r["difference"]["difference"] for r in second["metrics"]}
    assert a == pytest.approx(b)  # the same follow-up twice: the same changes
    pages = len(re.findall(rb"/Type /Page\b", out.read_bytes()))
    assert pages == 2 * len(COMPARISON_SECTIONS)
