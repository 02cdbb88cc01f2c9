"""``midstance report``: the session's numbers against the simulated truth, and a PDF with every
section (text extracted with poppler's pdftotext where installed, else pages counted)."""

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

from app.cli import main
from app.reports import SESSION_SECTIONS

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
def before(tmp_path_factory) -> Path:
    return helper().cached_session(tmp_path_factory.getbasetemp() / "review-cache", "before")


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type /Page\b", path.read_bytes()))


def pdf_text(path: Path) -> str | None:
    if shutil.which("pdftotext") is None:
        return None
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def test_report_json_matches_the_truth_and_pdf_has_every_section(before, tmp_path, capsys):
    out = tmp_path / "report.pdf"
    assert main(["report", str(before), "--pdf", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["session"]["subject"]["subject_id"] == "P-007"
    assert doc["session"]["treadmill_speed_m_s"] == pytest.approx(3.3)
    assert doc["statistics"]["method"] == "moving_block"
    lab = helper().lab_for(helper().BEFORE)
    rows = {(r["metric"], r["side"]): r for r in doc["summary"]}
    truth_r = [t.hip_ankle_midstance_m for t in lab.truth.stances if t.side == "R"]
    hip = rows[("hip_ankle_midstance_m", "R")]
    assert hip["mean"] == pytest.approx(100 * np.mean(truth_r), abs=0.6)  # cm
    assert hip["low"] < hip["mean"] < hip["high"] and hip["n"] >= 9
    truth_valr = [t.valr_N_s / lab.truth.body_weight_N for t in lab.truth.stances if t.side == "L"]
    assert rows[("valr_BW_s", "L")]["mean"] == pytest.approx(np.mean(truth_valr), rel=0.03)
    curves = doc["stance_curves"]
    assert curves["unit"] == "BW" and len(curves["percent"]) == 101
    assert 2.0 < max(curves["L"]["vertical_mean"]) < 3.0

    assert out.stat().st_size > 50_000 and pdf_pages(out) == len(SESSION_SECTIONS)
    text = pdf_text(out)
    if text is not None:
        for section in SESSION_SECTIONS:
            assert section in text
        for words in ("P-007", "standard-run", "force plate 'belt'", "plane calibration",
                      "Munro", "within measurement error", "moving-block bootstrap"):  # fmt: skip
            assert words in text, words


def test_report_table_and_bad_paths(before, tmp_path, capsys):
    assert main(["report", str(before)]) == 0
    table = capsys.readouterr().out
    assert "Hip–ankle distance at midstance (cm)" in table and "moving-block" in table
    assert main(["report", str(before), "--pdf", str(tmp_path / "no" / "r.pdf")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.midstance.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
