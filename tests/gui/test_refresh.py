"""The live window's refresh does only what changed: force asked for only the new samples and
not at all when none came, frames drawn once, trends at most once a second, status twice a
second. A small controller double serves the simulated lab's true force and frames."""

from __future__ import annotations

import numpy as np
import pytest

from app.session_types import DeviceStatus, ForceWindow, LiveFrame, SessionStatus
from drivers.sim import LabSetup, SimulatedLab, preset

pytestmark = pytest.mark.gui
RATE = 2000.0


class LabDouble:
    """Just what the window polls, from a simulated lab advanced by hand (``advance``)."""

    def __init__(self) -> None:
        self.lab = SimulatedLab(preset("healthy"), LabSetup(image_width=160, image_height=120),
                                seed=3, duration_s=12)  # fmt: skip
        self.samples = int(6 * RATE)
        self.asked: list[float] = []  # seconds asked of force_window
        self.status_calls = 0
        self.daq_stream = self  # the window reads latest_session_time_s from it
        self.setup = None
        self.config = None  # the procedure panel asks whether the lab is simulated

    @property
    def latest_session_time_s(self) -> float:
        return (self.samples - 1) / RATE

    def advance(self, seconds: float) -> None:
        self.samples += round(seconds * RATE)

    def add_listener(self, fn) -> None:
        pass

    def set_subject(self, subject: dict) -> None:
        self.subject = subject

    def connect(self) -> SessionStatus:
        return self.status()

    def status(self) -> SessionStatus:
        self.status_calls += 1
        devices = (
            DeviceStatus("force", "sim.daq", "", "running", RATE, self.samples, 0),
            DeviceStatus("sagittal", "sim.camera", "sagittal", "running", 250.0, 1, 0),
        )
        return SessionStatus("connected", self.latest_session_time_s, None, devices, False, (),
                             True, None, "hardware")  # fmt: skip

    def force_window(self, seconds: float) -> ForceWindow:
        self.asked.append(seconds)
        n = min(self.samples, round(seconds * RATE))
        start = self.samples - n
        wrench = self.lab.true_forces(start, n)["belt"]
        cop = self.lab.true_cop(start, n)[:, :2]
        return ForceWindow((start + np.arange(n)) / RATE, wrench[:, :3], cop, {})

    def latest_frame(self, camera: str) -> LiveFrame:
        k = int(self.latest_session_time_s * 250)
        return LiveFrame(self.lab.frame("sagittal", k), k, k / 250.0, {})

    def stances(self, start: int = 0) -> list:
        return []

    def freeze_frame(self, camera: str):
        return None

    def close(self) -> None:
        pass


def test_a_refresh_asks_only_for_new_force_and_skips_what_did_not_change(make_window):
    controller = LabDouble()
    window = make_window(controller, owns_controller=False)
    window.connect_session()
    window.timer.stop()  # ticks by hand
    window.refresh()
    assert controller.asked == [5.0]  # the first tick: the whole window
    first_t = window.force_history.t.copy()
    assert first_t[-1] == pytest.approx(controller.latest_session_time_s)
    frames = window.live["sagittal"].frames_shown
    assert frames == 1

    window.refresh()  # nothing new: no force asked, no frame drawn again
    assert controller.asked == [5.0]
    assert window.live["sagittal"].frames_shown == frames

    controller.advance(0.025)  # one 40 Hz tick of samples
    window.refresh()
    assert controller.asked[-1] == pytest.approx(0.025 + 0.25)  # the new ones and a margin
    t = window.force_history.t
    assert t[-1] == pytest.approx(controller.latest_session_time_s)
    assert len(t) == len(first_t) and np.all(np.diff(t) > 0)  # still 5 s, no sample twice
    x, y = window.grf.layer.trace.T  # session time, drawn relative to "now"
    assert x[-1] == t[-1] and x[0] == pytest.approx(t[-1] - 5.0 + 1.0 / RATE)  # 5 s of samples
    assert window.grf.layer.end_s == t[-1]
    assert y.max() == window.force_history.fz.max()  # newtons: no mass entered

    # the devices panel and clock are polled at most every STATUS_EVERY_S, not every tick
    polls = controller.status_calls
    for _ in range(5):
        controller.advance(0.025)
        window.refresh()
    assert controller.status_calls - polls <= 1

    # a mass typed in the bar: the next tick redraws the same samples in body weights
    asked = len(controller.asked)
    window.bar.mass.setValue(70.0)
    window.refresh()
    assert window.grf.unit == "BW"
    assert all(seconds < 0.3 for seconds in controller.asked[asked:])  # not the whole window
    _, y = window.grf.layer.trace.T
    assert y.max() == pytest.approx(window.force_history.fz.max() / (70.0 * 9.80665))


def test_a_refresh_paints_what_it_changed_before_returning_to_the_event_loop(qtbot, make_window):
    """No event processing between the ticks: what a tick shows is painted inside the tick
    (one call from Qt into Python per tick, see MainWindow._paint_now)."""
    controller = LabDouble()
    window = make_window(controller, owns_controller=False)
    qtbot.waitExposed(window)
    window.connect_session()
    window.timer.stop()  # ticks by hand, and no event loop runs between them
    window.refresh()
    # the first layout of the window happens in the event loop: let it settle
    qtbot.waitUntil(lambda: window.grf.layer.paints > 0 and window.cop.layer.paints > 0)
    grf, cop = window.grf.layer.paints, window.cop.layer.paints
    controller.advance(0.025)
    window.refresh()
    assert window.grf.layer.paints == grf + 1  # painted once, inside the refresh
    assert window.cop.layer.paints == cop + 1
    assert window.refresh_cpu_by_view["paint"] > 0.0
    window.refresh()  # nothing new: nothing painted again
    assert (window.grf.layer.paints, window.cop.layer.paints) == (grf + 1, cop + 1)
    # painted after the refresh instead, the same tick waits for Qt's event loop
    window.paint_in_refresh = False
    controller.advance(0.025)
    window.refresh()
    assert window.grf.layer.paints == grf + 1
    qtbot.waitUntil(lambda: window.grf.layer.paints >= grf + 2, timeout=10_000)
