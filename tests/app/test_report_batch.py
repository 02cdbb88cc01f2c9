"""``midstance analyze FOLDER --csv OUT``: one row per session (same numbers as the session
report), a damaged file reported in its row, a progress bar on stderr."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from app.cli import main

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


@pytest.fixture
def folder(tmp_path_factory, tmp_path) -> Path:
    cache = tmp_path_factory.getbasetemp() / "review-cache"
    root = tmp_path / "sessions"
    for which in ("before", "after"):
        (root / "P-007").mkdir(parents=True, exist_ok=True)
        shutil.move(helper().cached_session(cache, which), root / "P-007" / f"{which}.midstance.h5")
    (root / "P-008").mkdir()
    (root / "P-008" / "broken.midstance.h5").write_bytes(b"not an hdf5 file")
    return root


def test_folder_summary_matches_the_session_reports(folder, tmp_path, capsys):
    out = tmp_path / "summary.csv"
    assert main(["analyze", str(folder), "--csv", str(out)]) == 0
    captured = capsys.readouterr()
    assert "3/3 done" in captured.err and "1 could not be read" in captured.out
    rows = {Path(r["file"]).name: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {"before.midstance.h5", "after.midstance.h5", "broken.midstance.h5"}
    assert "not an HDF5 file" in rows["broken.midstance.h5"]["problem"]
    assert main(["report", str(folder / "P-007" / "before.midstance.h5"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    before = rows["before.midstance.h5"]
    assert before["subject_id"] == "P-007" and before["problem"] == ""
    assert int(before["n_stances"]) == doc["n_stances"]
    for r in doc["summary"]:
        unit = r["unit"].replace("/", "_per_")
        key = f"{r['metric']}_{r['side']}"
        assert float(before[f"{key}_mean_{unit}"]) == pytest.approx(r["mean"])
        assert int(before[f"{key}_n"]) == r["n"]
    assert before["hip_ankle_midstance_m_L_mean_cm"] == ""  # far leg: not measured, not zero
    after = rows["after.midstance.h5"]
    assert (
        float(after["hip_ankle_contact_m_R_mean_cm"])
        < float(before["hip_ankle_contact_m_R_mean_cm"]) - 8
    )


def test_reanalyse_adds_a_revision_and_bad_use_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "summary.csv"
    assert main(["analyze", str(folder / "P-007"), "--csv", str(out), "--reanalyse"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["revision"] for r in rows} == {"rev_0002"}
    assert main(["analyze", str(folder)]) == 2
    assert "--csv" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["analyze", str(empty), "--csv", str(out)]) == 2
    assert "no session files" in capsys.readouterr().err
