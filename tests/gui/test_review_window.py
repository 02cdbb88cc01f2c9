"""The review window on recorded simulated sessions: opening (file, drag-and-drop, `midstance
open --screenshot`), seeking from the stance table and by navigation, correcting an event into a
new revision with the raw data unchanged, and running a comparison from the window."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.qt.review_window import ReviewWindow, main

pytestmark = [pytest.mark.gui, pytest.mark.slow]  # simulated sessions rendered and written
HELPER = Path(__file__).parent.parent / "app" / "review_sessions.py"


def helper():
    if "review_sessions" not in sys.modules:
        spec = importlib.util.spec_from_file_location("review_sessions", HELPER)
        module = importlib.util.module_from_spec(spec)
        sys.modules["review_sessions"] = module
        spec.loader.exec_module(module)
    return sys.modules["review_sessions"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "review-cache"


@pytest.fixture
def window(qtbot):
    w = ReviewWindow()
    qtbot.addWidget(w)
    yield w
    w.close()


def raw_digest(path: Path) -> str:
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        h.update(f["daq/analog"][:].tobytes())
        for cam in f["cameras"]:
            h.update(f[f"cameras/{cam}/frames_jpeg"][:].tobytes())
    return h.hexdigest()


def test_open_seek_and_navigate(window, cache, qtbot):
    path = helper().cached_session(cache, "before")
    with qtbot.waitSignal(window.session_opened, timeout=10_000):
        assert window.open_file(path)
    state = window.state
    assert window.table.rowCount() == len(state.stances) >= 18
    assert set(window.video) == {"sagittal", "posterior"}
    assert "P-007" in window.title.text()
    x, y = window.fz_curve.getOriginalDataset()
    assert len(x) == state.session.analog.n_samples and np.nanmax(y) > 1200  # N
    # a click on a row seeks video and plots to that stance's midstance
    row = 5
    stance = state.stances[row]
    window.table.cellClicked.emit(row, 3)
    assert state.time_s == pytest.approx(state.midstance_of(stance))
    cam = state.session.camera("sagittal")
    k = window.video["sagittal"].frame_index
    assert abs(cam.session_time[k] - state.time_s) <= 0.5 / cam.rate_hz + 1e-9
    lo, hi = window.plot.viewRange()[0]
    assert lo < stance["contact_s"] < stance["toe_off_s"] < hi < lo + 0.5
    assert window.cursor.value() == pytest.approx(state.time_s)
    # frame step and next/previous contact
    window.step(1)  # to the next frame's exposure time
    assert window.video["sagittal"].frame_index == k + 1
    assert state.time_s == pytest.approx(cam.session_time[k + 1])
    window.step(-2)
    assert window.video["posterior"].frame_index == k - 1
    window.jump_kind.setCurrentText("contact")
    window.jump(1)
    assert state.time_s == pytest.approx(state.stances[row + 1]["contact_s"])
    window.jump(-1)
    assert state.time_s == pytest.approx(stance["contact_s"])
    # markers drawn at the cursor are the recorded ones of that frame
    assert "hip" in window.video["sagittal"].markers


def test_correct_an_event_into_a_new_revision(window, cache, qtbot):
    path = helper().cached_session(cache, "before")
    digest = raw_digest(path)
    window.open_file(path)
    state = window.state
    row = 4
    stance = dict(state.stances[row])
    window.select_stance(row)
    window.seek(stance["contact_s"] - 0.008)
    window.correct("move_contact")
    window.select_stance(row + 2)
    window.correct("exclude")
    assert len(state.pending) == 2 and "2 pending" in window.pending_label.text()
    with qtbot.waitSignal(window.analysis_finished, timeout=120_000) as blocker:
        window.rerun()
    assert blocker.args == ["rev_0002"]
    assert window.progress.value() == 1000
    assert window.revisions.count() == 2 and window.state.revision == "rev_0002"
    assert raw_digest(path) == digest  # raw volts and frames untouched
    rows = window.state.stances
    moved = min(rows, key=lambda r: abs(r["contact_s"] - stance["contact_s"]))
    assert moved["contact_s"] == pytest.approx(stance["contact_s"] - 0.008)
    assert "contact_moved_by_analyst" in moved["flags"]
    flags_column = window.table.columnCount() - 1
    texts = [window.table.item(r, flags_column).text() for r in range(window.table.rowCount())]
    assert sum("excluded_by_analyst" in t for t in texts) == 1
    # the previous revision is still there and can be shown again
    window.revisions.setCurrentIndex(0)
    window.revisions.activated.emit(0)
    assert window.state.revision == "rev_0001"
    assert "contact_moved_by_analyst" not in window.state.stances[row]["flags"]


def test_compare_from_the_window(window, cache, qtbot, tmp_path):
    before = helper().cached_session(cache, "before")
    after = helper().cached_session(cache, "after")
    window.open_file(before)
    with qtbot.waitSignal(window.comparison_finished, timeout=120_000) as blocker:
        window.compare_with(after)
    doc = blocker.args[0]
    assert doc["mismatches"] == []
    dialog = window.compare_dialog
    assert dialog.table.rowCount() == len(doc["metrics"]) > 10
    hip = next(r for r in doc["metrics"] if r["metric"] == "hip_ankle_midstance_m")
    assert hip["difference"]["difference"] < -3.0
    texts = [dialog.table.item(r, 6).text() for r in range(dialog.table.rowCount())]
    assert "within measurement error" in texts
    out = tmp_path / "from-window.pdf"
    dialog.save_pdf(str(out))
    assert out.read_bytes()[:4] == b"%PDF"


def test_drop_a_file_and_refuse_a_bad_one(window, cache, tmp_path, qtbot):
    path = helper().cached_session(cache, "after")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    with qtbot.waitSignal(window.session_opened, timeout=10_000):
        window.dropEvent(event)
    assert window.state.path == path
    bad = tmp_path / "not-a-session.midstance.h5"
    bad.write_bytes(b"no hdf5 here")
    assert not window.open_file(bad)
    assert "not an HDF5 file" in window.last_error and window.state.path == path


def test_open_command_renders_the_window(cache, tmp_path, qtbot):
    path = helper().cached_session(cache, "before")
    png = tmp_path / "review.png"
    assert main([str(path), "--time", "2.0", "--screenshot", str(png)]) == 0
    assert png.stat().st_size > 20_000
    assert main([str(tmp_path / "missing.midstance.h5"), "--screenshot", str(png)]) == 2


def test_a_session_being_recorded_opens_and_grows(window, tmp_path, qtbot):
    """Another process records (tests/data/recorder_process.py); the window reads it (SWMR)."""
    import subprocess

    path = tmp_path / "live.midstance.h5"
    script = Path(__file__).parent.parent / "data" / "recorder_process.py"
    root = Path(__file__).parent.parent.parent
    proc = subprocess.Popen([sys.executable, str(script), str(path)], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        for _ in range(2):
            assert proc.stdout.readline(), proc.stderr.read()
        assert window.open_file(path)
        assert "(being recorded)" in window.title.text()
        first = window.state.duration_s
        assert first > 0 and window.table.rowCount() >= 1
        for _ in range(2):
            proc.stdout.readline()
        window._refresh_recording()  # what the 1 s timer calls
        assert window.state.duration_s > first
        window.seek(0.05)
        assert window.video["posterior"].frame_index >= 0
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_midstance_open_command_starts_the_window(cache, tmp_path):
    from app.cli import main as cli

    path = helper().cached_session(cache, "after")
    png = tmp_path / "open.png"
    assert cli(["open", str(path), "--screenshot", str(png)]) == 0
    assert png.stat().st_size > 20_000
    assert cli(["open", str(tmp_path / "nothing.midstance.h5")]) == 2


def test_library_dialog_finds_sessions_by_subject(cache, isolated_user_data, qtbot):
    import shutil

    from app.qt.review_library import LibraryDialog

    folder = isolated_user_data / "sessions" / "P-007"
    folder.mkdir(parents=True)
    target = folder / "2026-10-03_091200_standard-run.midstance.h5"
    shutil.move(helper().cached_session(cache, "before"), target)
    other = isolated_user_data / "sessions" / "Q-100"
    other.mkdir()
    (other / "2026-10-04_080000_standard-run.midstance.h5").write_bytes(b"damaged")
    dialog = LibraryDialog()
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2
    dialog.filter.setText("p-00")
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "P-007" and dialog.table.item(0, 1).text() == (
        "2026-10-03 09:12"
    )
    dialog.table.cellDoubleClicked.emit(0, 0)
    assert dialog.chosen == str(target)
