"""The live window on a small screen: at 1200×750 and 1280×720 it keeps its size (its minimum is
at most 1200×700) and no label of the headline numbers or the session bar is cut off, with the
widest numbers the cells can show and out-of-range notes on every cell."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF
from PySide6.QtWidgets import QAbstractButton, QLabel, QSizePolicy, QWidget

from app.qt.big_numbers import BigNumbers
from app.qt.devices_panel import DevicesPanel
from app.qt.main_window import LAYOUT_VERSION
from app.qt.references import LabRange
from app.qt.theme import DARK
from app.qt.video_grid import pane_rects
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


def on_screen_image_rects(window) -> dict[str, tuple[QRectF, QRectF]]:
    """Each view's (live, freeze-frame) image as drawn, in window pixels."""
    rects = {}
    for view, live in window.live.items():
        live_rect = QRectF(live._target).translated(QPointF(live.mapTo(window, QPoint(0, 0))))
        freeze = window.freeze[view]
        scene_rect = freeze.image.sceneBoundingRect()  # scene = the view's viewport pixels
        origin = QPointF(freeze.viewport().mapTo(window, QPoint(0, 0)))
        rects[view] = (live_rect, scene_rect.translated(origin))
    return rects


# the other views' (width, height) in the layout before the live views were enlarged; the
# numbers' height is what their text asks for (wider, their notes wrap less): checked apart
BEFORE = {
    (1600, 1000): {
        "grf": (390, 223),
        "cop": (214, 223),
        "numbers": (608, 0),
        "trends": (728, 286),
    },
    (1280, 800): {
        "grf": (310, 156),
        "cop": (171, 156),
        "numbers": (485, 0),
        "trends": (581, 214),
    },
}


@pytest.mark.parametrize(
    ("size", "least_width"),
    [((1600, 1000), 320), ((1280, 800), 235)],
    ids=["1600x1000", "1280x800"],
)
def test_each_live_view_is_as_large_as_its_freeze_frame_and_beside_it(
    qtbot, make_window, sim_config, size, least_width
):
    # a 5:3 camera: the panes take the frame's aspect ratio, not a fixed 4:3
    config = sim_config(duration_s=30.0, image_width=400, image_height=240)
    window = make_window(SessionController(config, pace="fast"))
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5_000)
    window.connect_session()
    qtbot.waitUntil(
        lambda: (
            all(v.shown_stance is not None for v in window.freeze.values())
            and all(v.frames_shown > 0 for v in window.live.values())
        ),
        timeout=60_000,
    )
    window.timer.stop()
    qtbot.wait(50)  # the panes' last re-layout (a posted event) is handled
    for view, (live, freeze) in on_screen_image_rects(window).items():
        # as large as the freeze-frame (before: a 200 px live view beside a 600 px one)
        assert live.width() >= least_width, (view, live)
        assert abs(live.width() - freeze.width()) <= 2 and abs(live.height() - freeze.height()) <= 2
        assert live.width() / live.height() == pytest.approx(400 / 240, abs=0.02)
        # beside it in the same row, the freeze-frame on the right, a spacing apart
        assert abs(live.top() - freeze.top()) <= 2
        assert 0 <= freeze.left() - live.right() <= 8, (view, live, freeze)
    sagittal, posterior = (rects[0] for rects in on_screen_image_rects(window).values())
    assert posterior.top() > sagittal.bottom()  # sagittal above posterior
    # the force, COP, headline numbers and trends kept at least the room they had
    for name, (width, height) in BEFORE[size].items():
        view = getattr(window, name)
        assert view.width() >= width and view.height() >= height, (name, view.size())
    assert window.numbers.height() >= window.numbers.minimumHeight()
    # the research reference's label is whole on its trend plot (it was cut mid-word)
    reference = window.trends.references[0]
    plot_width = window.trends.plots["valr_BW_s"].getViewBox().width()
    assert reference.label.boundingRect().width() < 0.9 * plot_width
    # the devices panel shows each device's dropped count whole (it was the column cut off)
    table = window.devices.table
    dropped = DevicesPanel.COLUMNS.index("Dropped")
    assert table.columnViewportPosition(dropped) >= 0
    assert table.columnViewportPosition(dropped) + table.columnWidth(dropped) <= (
        table.viewport().width()
    )
    # the simulated lab's sagittal camera films the runner's right side: the left hip-ankle
    # has no value by design, and its cell says why instead of a bare "n = 0"
    far = {r.side for r in window.stance_results if "far_leg_not_in_view" in r.flags}
    assert far == {"L"}
    left = window.numbers.cells[("L", "hip_ankle_midstance_m")]
    assert left.number.text() == "—" and "far leg: not in the sagittal view" in left.detail.text()
    right = window.numbers.cells[("R", "hip_ankle_midstance_m")]
    assert right.n > 0 and "far leg" not in right.detail.text()


def test_panel_sizes_saved_by_the_previous_layout_are_not_restored(
    qtbot, make_window, sim_config, gui_settings
):
    first = make_window(SessionController(sim_config(), pace="fast"))
    first.resize(1600, 1000)
    qtbot.waitUntil(lambda: (first.width(), first.height()) == (1600, 1000), timeout=5_000)
    default_main, default_top = first.main.sizes(), first.top.sizes()
    first.main.setSizes([330, 460])  # video squeezed: the rows about the old 150 px views
    first.close()
    assert gui_settings.value("layout/version", type=int) == LAYOUT_VERSION
    gui_settings.remove("layout/version")  # as the previous version saved it: no version
    second = make_window(SessionController(sim_config(), pace="fast"))
    second.resize(1600, 1000)  # (the offscreen screen is smaller: a restored geometry is clamped)
    qtbot.waitUntil(lambda: (second.width(), second.height()) == (1600, 1000), timeout=5_000)
    assert second.main.sizes() == default_main and second.top.sizes() == default_top
    live = second.live["sagittal"]
    assert live.width() >= 320 and live.height() >= 240
    # the video can be made smaller by hand but never collapsed away
    assert not second.top.isCollapsible(0) and not second.main.isCollapsible(0)


def test_panes_keep_each_cameras_aspect_ratio_and_pair_up_centred():
    # a 4:3 sagittal camera over a 16:9 posterior one, in a wide and in a narrow area
    for width, height in ((900, 500), (500, 500)):
        rows = pane_rects(width, height, [4 / 3, 16 / 9])
        (sag_live, _), (post_live, _) = rows
        for (live, freeze), aspect in zip(rows, (4 / 3, 16 / 9), strict=True):
            assert live.size() == freeze.size()
            assert live.width() / live.height() == pytest.approx(aspect, abs=0.01)
            assert freeze.left() - live.right() - 1 == 4  # one spacing apart, side by side
            assert abs(live.left() - (width - freeze.right() - 1)) <= 1  # the pair centred
            assert live.top() >= 0 and freeze.right() < width
        assert post_live.top() - sag_live.bottom() - 1 == 4 and post_live.bottom() < height
    # wide: both rows take half the height each; narrow: the width limits them
    wide = pane_rects(900, 500, [4 / 3, 4 / 3])
    assert [live.height() for live, _ in wide] == [248, 248]
    narrow = pane_rects(500, 500, [4 / 3, 4 / 3])
    assert [live.width() for live, _ in narrow] == [248, 248]


def test_the_procedure_panel_fits_its_column_without_scrolling_sideways(
    qtbot, make_window, sim_config
):
    """At the default size every procedure button is in view (before, the fourth button of
    each row sat past the panel's right edge, behind a horizontal scroll bar)."""
    procedures, _ = scan_library()
    window = make_window(SessionController(sim_config(), pace="fast"), procedures=procedures)
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (1600, 1000), timeout=5_000)
    panel = window.procedure_panel
    for button in panel.buttons.values():
        button.setVisible(True)  # every button a run can show, at once
    qtbot.waitUntil(lambda: panel.parentWidget().width() > 0, timeout=5_000)
    assert panel.minimumSizeHint().width() <= panel.parentWidget().width()
    # (the scroll area lays the panel out to its viewport's width once the events are handled)
    qtbot.waitUntil(lambda: panel.width() <= panel.parentWidget().width(), timeout=5_000)
