"""A whole simulated session driven from the window (pace "fast": the lab streams as fast as the
consumers take it, so ~10 s of session time costs a few seconds here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from analysis.force_metrics import EXCLUDING_FLAGS
from app.qt.metric_specs import HEADLINE, format_mean_sd
from app.session_controller import SessionController
from data import open_session
from data.paths import logs_dir
from drivers.base import DeviceLost
from protocols.loader import scan_library

pytestmark = pytest.mark.gui
RECORD_S = 10.0


def wait_state(qtbot, window, state: str, timeout_ms: int = 60_000) -> None:
    qtbot.waitUntil(
        lambda: window.status is not None and window.status.state == state and not window.busy,
        timeout=timeout_ms,
    )


def press(qtbot, window, key) -> None:
    """A keyboard shortcut as the clinician presses it."""
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window.focusWidget() or window, key)


def record_for(qtbot, window, controller, seconds: float) -> float:
    """Record ``seconds`` of session time from the recording's first sample (at pace fast the
    session runs on between the key press and the start); the start's session time."""
    press(qtbot, window, Qt.Key.Key_F5)
    wait_state(qtbot, window, "recording")
    start = controller.recording_started_s
    qtbot.waitUntil(lambda: controller.status().elapsed_s >= start + seconds, timeout=90_000)
    return start


def expected_numbers(
    rows: list[dict], side: str, key: str, last_n: int = 20
) -> tuple[float, float]:
    usable = [r for r in rows if r["side"] == side and not EXCLUDING_FLAGS.intersection(r["flags"])]
    values = [r.get(key) for r in usable[-last_n:]]
    x = np.array([v for v in values if v is not None and math.isfinite(v)], float)
    mean = float(x.mean()) if x.size else math.nan
    return mean, float(x.std(ddof=1)) if x.size > 1 else math.nan


def test_a_full_session_from_the_window(qtbot, make_window, sim_config):
    controller = SessionController(sim_config(duration_s=60.0), pace="fast")
    procedures, _ = scan_library()
    window = make_window(controller, procedures=procedures)
    bar = window.bar
    window.connect_session()
    assert not bar.simulated_badge.isHidden() and "SIMULATED" in bar.simulated_badge.text()

    qtbot.keyClicks(bar.subject_id, "P-042")
    bar.mass.setValue(64.0)
    bar.leg.setValue(88.0)
    bar.pain.setCurrentIndex(bar.pain.findData("right"))
    bar.speed.setValue(3.2)
    assert bar.select_protocol("running-assessment") and bar.select_step("baseline")
    assert bar.current_step().duration_s == 180

    # zeroing with the runner on the belt is refused, in one sentence that says what to do
    qtbot.mouseClick(bar.zero, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.action_error is not None, timeout=30_000)
    assert "is loaded" in window.action_error.text and "step off" in window.action_error.text
    assert any("loaded" in t for t in window.banners.texts())

    start = record_for(qtbot, window, controller, RECORD_S)
    assert window.action_error is None  # a successful action clears the old error
    assert bar.file.text().startswith("Writing ") and "P-042" in bar.file.toolTip()
    press(qtbot, window, Qt.Key.Key_F7)  # mark
    press(qtbot, window, Qt.Key.Key_F6)  # stop
    wait_state(qtbot, window, "connected")
    qtbot.waitUntil(lambda: window.saved_summary is not None, timeout=30_000)
    path = window.statusBar().currentMessage().removeprefix("Saved ")
    assert bar.current_step().id == "speed-step-1-setup"  # moved on to the next step

    with open_session(path) as session:
        assert session.recording_state == "complete"
        assert session.subject["subject_id"] == "P-042"
        assert session.subject["body_mass_kg"] == pytest.approx(64.0)
        assert session.subject["pain_side"] == "right"
        seconds = session.analog.n_samples / 2000.0
        assert RECORD_S - 0.1 <= seconds <= RECORD_S + 3.0
        for camera in ("sagittal", "posterior"):
            frames = session.camera(camera).n_frames
            assert frames >= 0.8 * RECORD_S * 250  # see the report: camera ends vary at stop
        labels = [m["label"] for m in session.marks()]
        assert labels[0] == "treadmill 3.20 m/s, incline +0.0 %"
        assert any(label.startswith("mark at ") for label in labels)
        steps = [s.get("step") for s in session.protocol_steps()]
        assert "baseline" in steps
        rows = session.live_stances()
    assert len(rows) >= 2 * 12  # ~170 steps/min for 10 s
    assert all(r["contact_s"] >= start - 0.05 for r in rows)

    # the big numbers are the saved stance table's, to the digit shown
    for spec in HEADLINE:
        for side in ("L", "R"):
            mean, sd = expected_numbers(rows, side, spec.key)
            cell = window.numbers.cells[(side, spec.key)]
            shown = format_mean_sd(spec.display(mean), spec.display(sd), spec.decimals)
            # the mean large, "± SD unit · n" under it
            number, _, spread = shown.partition(" ± ")
            assert cell.number.text() == number, (spec.key, side)
            if spread:
                detail = cell.detail.text().replace("\u00a0", " ")
                assert detail.startswith(f"± {spread} {spec.unit} · n = ")
    # hip-ankle is measured on the camera-side (right) leg: the left cell says so with n = 0
    assert window.numbers.cells[("L", "hip_ankle_midstance_m")].n == 0
    assert window.numbers.cells[("R", "hip_ankle_midstance_m")].n >= 10
    # valgus-left runner: the left FPPA is larger
    fppa = {s: window.numbers.cells[(s, "fppa_midstance_deg")].mean for s in ("L", "R")}
    assert fppa["L"] > fppa["R"] + 3.0

    # the live views were fed: frames with markers, a freeze-frame per camera, trends per stance
    assert all(v.frames_shown > 0 for v in window.live.values())
    assert all(v.shown_stance is not None for v in window.freeze.values())
    n_points = sum(len(window.trends.series.index[s]) for s in ("L", "R"))
    assert n_points == len([s for s in window.stances if s["side"] in ("L", "R")])
    # every trend plot is drawn by the window's spread-out redraws (one plot per tick)
    qtbot.waitUntil(
        lambda: all(len(p.points()) > 0 for p in window.trends.points.values()), timeout=10_000
    )
    assert window.refresh_count > 0 and window.view_errors == {}


def test_camera_unplugged_mid_recording_banners_and_the_file_stays_valid(
    qtbot, make_window, sim_config
):
    controller = SessionController(sim_config(duration_s=60.0), pace="fast")
    window = make_window(controller)
    window.connect_session()
    window.bar.mass.setValue(60.0)
    record_for(qtbot, window, controller, 2.0)

    camera = controller.camera_streams["sagittal"].device

    def unplugged(out, timeout_s):
        raise DeviceLost("sagittal", "the camera stopped answering (cable unplugged?)",
                         "Check the camera's cable and power, then connect again.")  # fmt: skip

    camera._read = unplugged  # the simulated camera goes away mid-recording
    qtbot.waitUntil(lambda: any("sagittal" in t for t in window.banners.texts()), timeout=30_000)
    banner = next(t for t in window.banners.texts() if "sagittal" in t)
    assert banner.startswith("✖") and "cable" in banner
    qtbot.waitUntil(lambda: "camera stopped" in window.live["sagittal"].message,
                    timeout=30_000)  # fmt: skip
    rows = {r.item(i, 0).text(): r.item(i, 1).text() for r in [window.devices.table]
            for i in range(r.rowCount())}  # fmt: skip
    assert rows["sagittal"] == "error"

    t_fault = controller.status().elapsed_s
    qtbot.waitUntil(lambda: controller.status().elapsed_s >= t_fault + 2.0, timeout=60_000)
    press(qtbot, window, Qt.Key.Key_F6)
    wait_state(qtbot, window, "connected")
    path = window.statusBar().currentMessage().removeprefix("Saved ")
    with open_session(path) as session:
        assert session.recording_state == "complete"
        seconds = session.analog.n_samples / 2000.0
        # the force kept recording past the fault (the file's own start: at pace fast the
        # recording may begin well after `start` was read)
        assert session.analog.start_index / 2000.0 + seconds > t_fault
        assert session.camera("posterior").n_frames > 0


def test_closing_during_a_recording_asks_then_saves_the_file(qtbot, make_window, sim_config):
    controller = SessionController(sim_config(duration_s=60.0), pace="fast")
    answers = [False, True]
    questions = []

    def ask(title, text):
        questions.append(title)
        return answers.pop(0)

    window = make_window(controller, ask=ask)
    window.connect_session()
    record_for(qtbot, window, controller, 1.0)
    path = controller.status().recording_path
    window.close()
    assert window.isVisible() and controller.status().state == "recording"  # "no" keeps going
    window.close()
    assert window.closed and questions == ["Stop the recording?", "Stop the recording?"]
    with open_session(path) as session:
        assert session.recording_state == "complete"


def test_a_failing_view_is_shown_once_and_acquisition_goes_on(qtbot, make_window, sim_config):
    controller = SessionController(sim_config(duration_s=60.0), pace="fast")
    window = make_window(controller)
    calls = []

    def broken(*args, **kw):
        calls.append(1)
        raise ValueError("plot exploded")

    window.grf.show_force = broken
    window.connect_session()
    qtbot.waitUntil(lambda: len(calls) >= 3, timeout=30_000)
    texts = [t for t in window.banners.texts() if "force display" in t]
    assert len(texts) == 1 and "plot exploded" in texts[0] and "continue" in texts[0]
    n = len(window.stances)
    qtbot.waitUntil(lambda: len(window.stances) >= n + 4, timeout=60_000)  # analysis goes on
    log = (logs_dir() / "midstance.log").read_text(encoding="utf-8")
    assert "the force view failed to refresh" in log and "plot exploded" in log


def test_theme_and_layout_are_remembered(qtbot, make_window, sim_config, gui_settings):
    first = make_window(SessionController(sim_config(), pace="fast"))
    first.apply_theme("light")
    first.resize(1300, 720)
    first.main.setSizes([500, 400])
    state = first.main.saveState()
    first.close()
    second = make_window(SessionController(sim_config(), pace="fast"))
    assert second.theme.name == "light" and second.theme_actions["light"].isChecked()
    assert second.main.saveState() == state
    assert second.height() == 720
