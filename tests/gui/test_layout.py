"""The live window on a small screen: at 1200×750 and 1280×720 it keeps its size (its minimum is
at most 1200×700) and no label of the headline numbers or the session bar is cut off, with the
widest numbers the cells can show and out-of-range notes on every cell."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QAbstractButton, QLabel, QSizePolicy, QWidget

from app.qt.big_numbers import BigNumbers
from app.qt.references import LabRange
from app.qt.theme import DARK
from app.session_controller import SessionController
from protocols.loader import scan_library

pytestmark = pytest.mark.gui

# the widest values of each headline metric a session can plausibly show, all out of range
WORST = {
    "hip_ankle_midstance_m": {"mean": -0.1234, "sd": 0.0456, "n": 20},
    "fppa_midstance_deg": {"mean": -18.25, "sd": 10.5, "n": 20},
    "valr_BW_s": {"mean": 148.0, "sd": 23.0, "n": 20},
}
NARROW = {
    "hip_ankle_midstance_cm": LabRange("hip_ankle_midstance_cm", -5.0, 5.0, "test"),
    "fppa_midstance_deg": LabRange("fppa_midstance_deg", -5.0, 10.0, "test"),
    "valr_BW_s": LabRange("valr_BW_s", None, 66.0, "test"),
}


def cut_off(root: QWidget) -> list[str]:
    """Visible labels and buttons whose text does not fit the space they were given. A label
    that is allowed to be cut (ignored width: the file name, whose full path is its tooltip)
    is left out."""
    problems = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or not isinstance(widget, QLabel | QAbstractButton):
            continue
        if not widget.text():
            continue
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.heightForWidth(widget.width()) > widget.height():
                problems.append(f"{widget.text()!r}: wrapped text taller than its label")
            continue
        policy = widget.sizePolicy().horizontalPolicy()
        hint = widget.sizeHint()
        if policy != QSizePolicy.Policy.Ignored and hint.width() > widget.width():
            problems.append(f"{widget.text()!r}: {hint.width()} px wide in {widget.width()}")
        if hint.height() > widget.height():
            problems.append(f"{widget.text()!r}: {hint.height()} px high in {widget.height()}")
    return problems


@pytest.mark.parametrize("size", [(1200, 750), (1280, 720)])
def test_the_window_fits_a_small_screen_with_nothing_cut_off(qtbot, make_window, sim_config, size):
    controller = SessionController(sim_config(duration_s=20.0), pace="fast")
    procedures, _ = scan_library()
    window = make_window(controller, procedures=procedures)
    window.connect_session()
    window.timer.stop()  # the layout, not the data, is under test
    window.bar.subject_id.setText("RUNNER-0042")
    window.bar.mass.setValue(72.5)
    window.bar.select_protocol("running-assessment")
    window.numbers.set_ranges(NARROW)
    window.numbers.show_summary({"L": WORST, "R": WORST})
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5_000)
    qtbot.waitExposed(window)
    minimum = window.minimumSizeHint()
    assert minimum.width() <= 1200 and minimum.height() <= 700, minimum
    assert all(cell.outside for cell in window.numbers.cells.values())
    assert cut_off(window.numbers) == []
    assert cut_off(window.bar) == []
    numbers = window.numbers
    assert numbers.height() >= numbers.minimumHeight() > 0  # the splitter gave what it needs
    for cell in numbers.cells.values():
        assert numbers.rect().contains(cell.geometry())
    for view in (*window.live.values(), window.grf, window.cop, window.trends):
        assert view.width() >= 150 and view.height() >= 100


def test_big_numbers_ask_for_the_height_their_wrapped_notes_need(qtbot):
    numbers = BigNumbers(DARK)
    qtbot.addWidget(numbers)
    numbers.set_ranges(NARROW)
    numbers.show_summary({"L": WORST, "R": WORST})
    numbers.resize(700, 100)
    numbers.show()
    qtbot.waitExposed(numbers)
    wide = numbers.minimumHeight()
    numbers.resize(330, 100)  # a narrow column: the notes wrap
    qtbot.waitUntil(lambda: numbers.minimumHeight() > wide, timeout=5_000)
    assert numbers.layout().heightForWidth(numbers.width()) == numbers.minimumHeight()
