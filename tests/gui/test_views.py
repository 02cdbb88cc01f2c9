"""The views on their own, fed with the simulated lab's frames, forces and true stances."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from analysis.errors import InputError
from app.qt.big_numbers import BigNumbers
from app.qt.devices_panel import BannerStrip, ShownBanner, calibration_banners
from app.qt.force_layers import SHADING_ALPHA, blended
from app.qt.force_views import CopView, GrfView
from app.qt.live_camera import LiveCameraView
from app.qt.metric_specs import FPPA, HIP_ANKLE, VALR
from app.qt.references import LabRange, load_lab_ranges
from app.qt.theme import DARK, LIGHT, MARKER_COLOUR
from app.qt.trend_views import TrendView
from app.qt.video_views import FreezeFrameView
from drivers.sim import LabSetup, SimulatedLab, preset

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def lab():
    setup = LabSetup(image_width=320, image_height=240)
    return SimulatedLab(preset("valgus-left"), setup, seed=5, duration_s=12)


def stance_dicts(lab) -> list[dict]:
    """The true stances under the stance-record names the window reads."""
    bw = lab.truth.body_weight_N
    stances = lab.truth.stances
    out = []
    for i, s in enumerate(stances):
        d = dataclasses.asdict(s)
        d["midstance_s"] = s.midstance_peak_vgrf_s
        d["valr_BW_s"] = s.valr_N_s / bw
        d["vilr_BW_s"] = s.vilr_N_s / bw
        d["contact_time_s"] = s.toe_off_s - s.contact_s
        d["step_time_s"] = stances[i + 1].contact_s - s.contact_s if i + 1 < len(stances) else None
        d["flags"] = []
        out.append(d)
    return out


def markers_of(lab, camera: str, k: int) -> dict[str, tuple[float, float]]:
    truth = lab.frame_truth(camera, k)
    seen = zip(truth.names, truth.pixels, truth.visible, strict=True)
    return {n: tuple(p) for n, p, v in seen if v}


def test_live_view_draws_every_visible_marker_and_the_leg_chain(qtbot, lab):
    view = LiveCameraView("sagittal", "Sagittal · live", DARK)
    qtbot.addWidget(view)
    markers = markers_of(lab, "sagittal", 400)
    view.show_frame(lab.frame("sagittal", 400), markers)
    np.testing.assert_allclose(view.markers_xy, np.array(list(markers.values())))
    # shoulder–hip, hip–knee, knee–ankle and heel–toe: 4 segments, in frame pixels
    segments = view.segments
    assert segments.shape == (4, 4)
    np.testing.assert_allclose(segments[1, :2], markers["hip"])
    np.testing.assert_allclose(segments[2, 2:], markers["ankle"])
    assert view.caption_text == "Sagittal · live" and view.message == ""


def test_live_view_hands_qt_a_grayscale8_image_decimated_to_the_drawn_size(qtbot, lab):
    view = LiveCameraView("posterior", "Posterior · live", DARK)
    qtbot.addWidget(view)
    view.resize(200, 150)  # a 640×480 frame drawn at under a third of its size
    view.show()
    qtbot.waitExposed(view)
    frame = np.repeat(np.repeat(lab.frame("posterior", 100), 2, axis=0), 2, axis=1)
    view.show_frame(frame, {"L_knee": (320.0, 240.0)})
    assert view._qimage.format() == QImage.Format.Format_Grayscale8
    assert view._pixels.shape == (160, 214)  # every third pixel: 640 / 3 rounded up
    np.testing.assert_array_equal(view._pixels, frame[::3, ::3])
    # the marker stays in frame pixels and lands on the image's centre on screen
    centre = view._to_screen(view.markers_xy)[0]
    assert abs(centre[0] - view.width() / 2) < 1 and abs(centre[1] - view.height() / 2) < 1
    image = view.grab().toImage()  # the dot is painted there, in the marker colour
    colour = image.pixelColor(round(centre[0]), round(centre[1]))
    assert colour.name() == MARKER_COLOUR.lower()


def test_live_view_says_why_there_is_no_image(qtbot, lab):
    view = LiveCameraView("sagittal", "Sagittal · live", DARK)
    qtbot.addWidget(view)
    view.show_frame(lab.frame("sagittal", 10), {})
    view.show_nothing("camera stopped, see the red banner")
    assert view.message == "Sagittal · live: camera stopped, see the red banner"
    assert view.image is None and len(view.markers_xy) == 0


def test_sagittal_freeze_frame_brackets_hip_and_ankle_with_the_signed_distance(qtbot, lab):
    view = FreezeFrameView("sagittal", "Sagittal · midstance", DARK)
    qtbot.addWidget(view)
    view.resize(334, 250)  # its size in a 1600×1000 window
    view.show()
    qtbot.waitExposed(view)
    stance = next(s for s in stance_dicts(lab) if s["side"] == "R")
    k = round((stance["midstance_knee_flexion_s"] - lab.frame_time("sagittal", 0)) * 250)
    markers = markers_of(lab, "sagittal", k)
    view.show_freeze(lab.frame("sagittal", k), markers, stance)
    bx = view.measure.xData
    assert {round(bx.min(), 6), round(bx.max(), 6)} == {
        round(min(markers["hip"][0], markers["ankle"][0]), 6),
        round(max(markers["hip"][0], markers["ankle"][0]), 6),
    }
    d_cm = stance["hip_ankle_midstance_m"] * 100
    where = "ankle ahead of hip" if d_cm >= 0 else "ankle behind hip"
    assert view.value.textItem.toPlainText().strip() == f"{d_cm:+.1f} cm · {where}"
    assert view.value.textItem.textWidth() == -1  # one line, not wrapped over the runner
    assert view.caption_text.endswith(f"stance {stance['index']} · {stance['midstance_s']:.2f} s")
    view.resize(248, 186)  # as at 1280×800: the caption's time goes rather than being cut off
    qtbot.waitUntil(lambda: view.width() == 248)
    view.show_freeze(lab.frame("sagittal", k), markers, stance)
    assert view.caption_text == f"Midstance · Right stance {stance['index']}"
    assert view.shown_stance == stance["index"]


def test_freeze_frame_explains_a_stance_the_camera_cannot_measure(qtbot, lab):
    view = FreezeFrameView("sagittal", "Sagittal · midstance", DARK)
    qtbot.addWidget(view)
    stance = {**stance_dicts(lab)[0], "side": "L", "hip_ankle_midstance_m": None}
    view.show_freeze(lab.frame("sagittal", 50), markers_of(lab, "sagittal", 50), stance)
    assert "no hip–ankle value" in view.value.textItem.toPlainText()
    assert view.measure.xData is None or len(view.measure.xData) == 0


def test_posterior_freeze_frame_draws_the_fppa_at_the_knee(qtbot, lab):
    view = FreezeFrameView("posterior", "Posterior · midstance", LIGHT)
    qtbot.addWidget(view)
    stance = next(s for s in stance_dicts(lab) if s["side"] == "L")
    k = round((stance["midstance_knee_flexion_s"] - lab.frame_time("posterior", 0)) * 250)
    markers = markers_of(lab, "posterior", k)
    view.show_freeze(lab.frame("posterior", k), markers, stance)
    text = view.value.textItem.toPlainText()
    assert f"Left FPPA {abs(stance['fppa_midstance_deg']):.1f}°" in text
    assert "valgus" in text  # the valgus-left runner
    # the drawn legs pass through the left knee marker
    xs, ys = view.measure.xData, view.measure.yData
    assert np.min(np.hypot(xs - markers["L_knee"][0], ys - markers["L_knee"][1])) < 1e-9


def test_grf_scrolls_five_seconds_shades_each_stance_by_side_and_scales_to_body_weight(qtbot, lab):
    view = GrfView(DARK)
    qtbot.addWidget(view)
    rate = lab.setup.daq_rate_hz
    start, count = int(6 * rate), int(5 * rate)
    fz = lab.true_forces(start, count)["belt"][:, 2]
    t = (start + np.arange(count)) / rate
    stances = stance_dicts(lab)
    bw = lab.truth.body_weight_N
    inside = [s for s in stances if t[0] <= s["toe_off_s"] <= t[-1]]  # as the window passes
    view.show_force(t, fz, inside, bw)
    layer = view.layer  # everything inside the plot: one item, in session time
    # the trace: a min/max envelope in session time, drawn relative to "now" (the axes stay put)
    x, y = layer.trace.T
    assert layer.end_s == view.end_s == t[-1]
    assert len(y) < len(fz) / 4  # ~2 points per pixel, not 10 000
    bw_fz = fz * (1.0 / bw)
    assert np.isin(y, bw_fz).all()  # only samples drawn, no averaging
    per_bin = int(len(t) * 5.0 / (t[-1] - t[0]) / view.pixels)
    assert per_bin > 1
    bins = np.round(t * rate).astype(int) // per_bin
    for b in np.unique(bins)[1:-1]:  # every whole bin keeps its peak and its trough
        chunk = bw_fz[bins == b]
        assert chunk.max() in y and chunk.min() in y
    assert y.max() == bw_fz.max() and x[-1] == t[-1] and x[0] == t[0]
    assert np.all(np.diff(x) >= 0)
    assert view.plot.getAxis("left").labelText == "Fz (BW)"
    assert view.plot.getAxis("bottom").labelText == "seconds before now"
    assert view.plot.getAxis("bottom").tickStrings([-4.0, -2.0, 0.0], 1.0, 2.0) == ["4", "2", "0"]
    assert view.shaded == inside
    for side in ("L", "R"):
        mine = [s for s in inside if s["side"] == side]
        assert len(mine) > 0
        np.testing.assert_array_equal(
            layer.spans[side], [(s["contact_s"], s["toe_off_s"]) for s in mine]
        )
    # contact and toe-off ticks at the edges' times
    edges = sorted(x for s in inside for x in (s["contact_s"], s["toe_off_s"]))
    np.testing.assert_allclose(sorted(layer.edges), np.array(edges))
    # a midstance triangle on the trace at each stance's midstance
    mx, my = layer.midstance["R"].T
    right = [s["midstance_s"] for s in inside if s["side"] == "R" and s["midstance_s"] >= t[0]]
    np.testing.assert_allclose(mx, right)
    np.testing.assert_allclose(my, np.interp(right, t, bw_fz))
    (lo, hi), (ylo, yhi) = view.plot.viewRange()
    assert (lo, hi) == (pytest.approx(-5.0), pytest.approx(0.0))
    assert (ylo, yhi) == (pytest.approx(-0.1), pytest.approx(3.2))
    # the item covers exactly the plot's range: Qt never asks it for a new one while scrolling
    rect = layer.boundingRect()
    assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx(
        (-5.0, 0.0, -0.1, 3.2)
    )
    np.testing.assert_array_equal(layer.levels, [1.0, 2.0, 3.0])  # whole body weights
    # what is painted, read back from the pixels: the shading of each side, pre-blended opaque
    view.resize(620, 260)
    view.show()
    qtbot.waitExposed(view)
    image = view.grab().toImage()
    vb = view.plot.vb
    for side, colour in (("L", "#0072b2"), ("R", "#e69f00")):
        stance = next(s for s in inside if s["side"] == side and s["contact_s"] > t[0])
        inside_x = stance["contact_s"] + 0.2 * (stance["toe_off_s"] - stance["contact_s"])
        where = vb.mapViewToScene(pg.Point(inside_x - t[-1], 2.9))
        pixel = image.pixelColor(int(where.x()), int(where.y()))
        assert pixel.name() == blended(colour, DARK.surface, SHADING_ALPHA).name()
    between = vb.mapViewToScene(pg.Point(inside[0]["toe_off_s"] + 0.005 - t[-1], 2.9))
    assert image.pixelColor(int(between.x()), int(between.y())).name() == DARK.surface
    # a later window moves the data, not the axes; the same stances are not set again
    spans_before = layer.spans["L"]
    view.show_force(t + 1.0, fz, inside, bw)
    assert view.plot.viewRange()[0] == [pytest.approx(-5.0), pytest.approx(0.0)]
    assert layer.end_s == pytest.approx(t[-1] + 1.0)
    assert layer.spans["L"] is spans_before
    assert layer.boundingRect() == rect


def test_min_max_envelope_keeps_every_extreme_in_order_on_bins_fixed_to_the_sample_clock():
    from app.qt.force_views import min_max_envelope

    rate = 2000.0
    rng = np.random.default_rng(4)
    y_all = rng.normal(size=12000)
    t_all = np.arange(12000) / rate
    x, y = min_max_envelope(t_all[3:10003], y_all[3:10003], 16)
    # bins start at sample multiples of 16: samples 3..15 are drawn as they are
    np.testing.assert_array_equal(y[:13], y_all[3:16])
    for b in range(1, 600):
        chunk = y_all[16 * b : 16 * b + 16]
        pair = y[13 + 2 * (b - 1) : 13 + 2 * b]
        first = (chunk.min(), chunk.max()) if chunk.argmin() < chunk.argmax() else (
            chunk.max(), chunk.min())  # fmt: skip
        assert tuple(pair) == first
        assert x[13 + 2 * (b - 1)] == t_all[16 * b]
    # one tick later (40 new samples) the whole bins already drawn are drawn the same
    x2, y2 = min_max_envelope(t_all[43:10043], y_all[43:10043], 16)
    shared = np.intersect1d(x[13:-20], x2[5:])  # (x2 starts with 5 samples as they are)
    np.testing.assert_array_equal(y[np.isin(x, shared)], y2[np.isin(x2, shared)])


def test_grf_in_newtons_grows_its_range_to_the_largest_force_and_never_shrinks(qtbot, lab):
    view = GrfView(DARK)
    qtbot.addWidget(view)
    rate = lab.setup.daq_rate_hz
    t = (int(6 * rate) + np.arange(int(5 * rate))) / rate
    fz = lab.true_forces(int(6 * rate), len(t))["belt"][:, 2]
    view.show_force(t, fz, [], None)
    assert view.plot.getAxis("left").labelText == "Fz (N)"
    _, (ylo, yhi) = view.plot.viewRange()
    assert ylo < 0 < fz.max() <= yhi and yhi % 1000 == 0 and yhi - fz.max() < 1000 + 0.05 * fz.max()
    view.show_force(t, fz * 0.1, [], None)
    assert view.plot.viewRange()[1][1] == pytest.approx(yhi)


def test_cop_butterfly_splits_by_side_on_the_plate_outline(qtbot, lab):
    view = CopView(DARK)
    qtbot.addWidget(view)
    # fixed ranges, never auto: a treadmill-sized area before the outline is known...
    (x0, x1), (y0, y1) = view.plot.viewRange()
    assert (x0, x1, y0, y1) == pytest.approx((-35.0, 35.0, -90.0, 90.0))
    view.set_outline([lab.plate_configs()[0]["corners_m"]])
    # ... then the plate with 5 cm around it
    (x0, x1), (y0, y1) = view.plot.viewRange()
    assert (x0, x1) == pytest.approx((-30.0, 30.0)) and y1 == pytest.approx(85.0)
    outline = view.layer.outline
    assert outline[:, 0::2].min() == pytest.approx(-25.0)
    assert outline[:, 1::2].max() == pytest.approx(80.0)
    assert len(outline) == 4  # the plate's four edges
    rate = lab.setup.daq_rate_hz
    t = np.arange(int(4 * rate)) / rate + 2.0
    cop = lab.true_cop(int(2 * rate), len(t))[:, :2]
    stances = stance_dicts(lab)
    view.show_cop(t, cop, stances)
    segments = view.layer.segments
    # screen x = −y_lab: the left foot lands left of the midline, the right foot right of it
    assert np.nanmean(segments["L"][:, 0]) < 0 < np.nanmean(segments["R"][:, 0])
    # each side's segments join only its stances' points, one unbroken run per stance
    step = len(t) // 1000
    drawn_t = t[(-round(t[0] * rate)) % step :: step]
    drawn = lab.true_cop(int(2 * rate), len(t))[(-round(t[0] * rate)) % step :: step, :2]
    for side in ("L", "R"):
        mine = [s for s in stances if s["side"] == side and s["toe_off_s"] >= t[0]]
        mine = [s for s in mine if s["contact_s"] <= t[-1]]
        inside = [((drawn_t >= s["contact_s"]) & (drawn_t <= s["toe_off_s"])).sum() for s in mine]
        ours = segments[side]
        assert len(ours) == sum(n - 1 for n in inside if n) > 0  # n points: n − 1 segments
        # every segment's start is a drawn sample of this side, in screen cm
        starts = {(round(x, 9), round(y, 9)) for x, y in ours[:, :2]}
        expected = {(round(-c[1] * 100, 9), round(c[0] * 100, 9)) for c in drawn}
        assert starts <= expected
        # a segment never joins two stances: consecutive segments share their ends but for
        # one break per stance
        joined = np.all(ours[1:, :2] == ours[:-1, 2:], axis=1)
        assert (~joined).sum() == sum(1 for n in inside if n) - 1
    assert view.plot.viewRange()[0] == pytest.approx([-30.0, 30.0])  # data never moves the axes


def test_trends_put_one_point_per_stance_on_each_side(qtbot, lab):
    view = TrendView(DARK)
    qtbot.addWidget(view)
    stances = stance_dicts(lab)
    view.add_stances(stances[:10])
    view.add_stances(stances[10:])
    for side in ("L", "R"):
        mine = [s for s in stances if s["side"] == side]
        x, y = view.curves[(FPPA.key, side)].getData()
        np.testing.assert_allclose(x, [s["index"] for s in mine])
        np.testing.assert_allclose(y, [s["fppa_midstance_deg"] for s in mine])
        _, cm = view.curves[(HIP_ANKLE.key, side)].getData()
        np.testing.assert_allclose(cm, [s["hip_ankle_midstance_m"] * 100 for s in mine])
    line = view.references[0]
    label = line.label.textItem.toPlainText()
    assert "66 BW/s" in label and "research ref" in label
    assert "Davis 2016" in line.toolTip() and "not a diagnosis" in line.label.toolTip()
    # the VALR plot's one scatter: VALR filled and VILR hollow, in each side's colour
    spots = view.points[VALR.key].points()
    valr = [(s["index"], s["valr_BW_s"]) for s in stances]
    vilr = [(s["index"], s["vilr_BW_s"]) for s in stances]
    assert len(spots) == len(valr) + len(vilr)
    by_side = {s["index"]: s["side"] for s in stances}
    for spot in spots:
        i, value = spot.pos().x(), spot.pos().y()
        hollow = spot.brush().style() == Qt.BrushStyle.NoBrush
        assert (i, pytest.approx(value)) in (vilr if hollow else valr)
        colour = "#0072b2" if by_side[i] == "L" else "#e69f00"
        assert spot.pen().color().name() == colour
        assert hollow or spot.brush().color().name() == colour


def test_a_deferred_trend_redraw_is_spread_one_plot_per_call(qtbot, lab):
    from app.qt.metric_specs import TRENDS

    view = TrendView(DARK)
    qtbot.addWidget(view)
    stances = stance_dicts(lab)
    view.add_stances(stances[:12], draw=False)
    assert not view.draw_next()  # nothing before a redraw begins
    view.begin_redraw()
    drawn = []
    more = True
    while more:
        before = {k: len(view.points[k].points()) for k in view.points}
        more = view.draw_next()
        drawn += [k for k in view.points if len(view.points[k].points()) != before[k]]
        if len(drawn) == 2:  # stances coming in the middle wait for the next redraw
            view.add_stances(stances[12:14], draw=False)
    assert drawn == [spec.key for spec in TRENDS]  # each plot once, in order
    assert not view.draw_next() and view.undrawn == []
    assert view.stale == {spec.key for spec in TRENDS}
    view.begin_redraw()
    while view.draw_next():
        pass
    assert len(view.points[TRENDS[0].key].points()) == 14 and not view.stale


def test_big_numbers_show_mean_sd_n_and_flag_values_outside_the_lab_range(qtbot, lab):
    view = BigNumbers(DARK, last_n=20)
    qtbot.addWidget(view)
    view.set_ranges({"valr_BW_s": LabRange("valr_BW_s", None, 40.0, "test")})
    stances = stance_dicts(lab)
    left = [s["valr_BW_s"] for s in stances if s["side"] == "L"][-20:]
    summary = {
        "L": {
            "valr_BW_s": {
                "mean": float(np.mean(left)),
                "sd": float(np.std(left, ddof=1)),
                "n": len(left),
            }
        },
        "R": {"fppa_midstance_deg": {"mean": 3.25, "sd": math.nan, "n": 1}},
    }
    view.show_summary(summary, {"hip_ankle_midstance_m": "needs the sagittal camera"})
    cell = view.cells[("L", VALR.key)]
    assert cell.number.text() == f"{np.mean(left):.0f}"  # the mean large, the SD under it
    assert cell.outside == "above" and "above lab range (≤ 40)" in cell.flag.text()
    sd = np.std(left, ddof=1)
    detail = cell.detail.text().replace("\u00a0", " ")  # (no-break spaces keep parts whole)
    assert detail == f"± {sd:.0f} BW/s · n = {len(left)} · ▲ above lab range"
    assert "(≤ 40)" in cell.detail.toolTip()
    assert view.cells[("R", FPPA.key)].number.text() == "3.2"  # one value: no SD
    assert view.cells[("R", FPPA.key)].detail.text() == "° · n\u00a0=\u00a01"
    assert view.cells[("R", HIP_ANKLE.key)].detail.text() == "cm · needs the sagittal camera"
    assert view.cells[("R", FPPA.key)].outside == ""


def test_lab_reference_ranges_file_is_read_and_a_bad_one_is_named(tmp_path):
    assert load_lab_ranges(tmp_path / "absent.toml")["valr_BW_s"].high == 66.0
    good = tmp_path / "reference-ranges.toml"
    good.write_text("[fppa_midstance_deg]\nlow = -5\nhigh = 10\n", encoding="utf-8")
    ranges = load_lab_ranges(good)
    assert ranges["fppa_midstance_deg"].outside(12.0) == "above"
    assert ranges["fppa_midstance_deg"].outside(-6.0) == "below"
    bad = tmp_path / "bad.toml"
    bad.write_text("[knee_angle]\nhigh = 3\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_lab_ranges(bad)
    assert str(bad) in err.value.sentence() and "knee_angle" in err.value.sentence()


def test_banners_appear_in_order_of_severity_and_go_when_resolved(qtbot):
    strip = BannerStrip(DARK)
    qtbot.addWidget(strip)
    strip.show()
    strip.show_banners([
        ShownBanner("a", "warning", "sync not verified", "Verify it."),
        ShownBanner("b", "error", "camera lost", "Check the cable."),
    ])  # fmt: skip
    assert strip.isVisible()
    assert strip.texts()[0].startswith("⚠") or strip.texts()[0].startswith("✖")
    assert "Camera lost. Check the cable." in " ".join(strip.texts())
    strip.show_banners([])
    assert not strip.isVisible() and strip.texts() == []


def test_calibration_snapshot_banners_plate_zero_unless_zeroed_this_session():
    snapshot = {
        "stale": [{"kind": "zero", "device": "*"}, {"kind": "sync-verification", "device": "*"}],
        "entries": {
            "sync-verification/force": {"latest_passed": {"time_utc": "2026-11-10T09:30:00+00:00"}}
        },
        "problems": [],
    }
    banners, last = calibration_banners(snapshot, None)
    assert [b.key for b in banners] == ["calibration-zero", "calibration-sync"]
    assert last == "2026-11-10 09:30 UTC"
    banners, _ = calibration_banners(snapshot, 12.0)
    assert [b.key for b in banners] == ["calibration-sync"]


class StandingOnThePlate:
    """A controller double whose plate reads a person standing still (or moving)."""

    config = None  # no lab configuration: the window shows no simulated-lab controls

    def __init__(self, fz_N: np.ndarray) -> None:
        self.fz_N = fz_N

    def add_listener(self, fn) -> None:
        pass

    def set_subject(self, subject: dict) -> None:
        self.subject = subject

    def close(self) -> None:
        pass

    def force_window(self, seconds: float):
        from app.session_types import ForceWindow

        n = len(self.fz_N)
        F = np.column_stack([np.zeros(n), np.zeros(n), self.fz_N])
        return ForceWindow(np.arange(n) / 2000.0, F, np.full((n, 2), np.nan), {})


def test_weighing_on_the_plate_takes_the_mass_only_from_a_steady_load(qtbot, gui_settings):
    from app.qt.main_window import MainWindow

    rng = np.random.default_rng(3)
    standing = 686.0 + rng.normal(0.0, 4.0, 4000)  # 70 kg standing still, 4 N noise
    window = MainWindow(StandingOnThePlate(standing), settings=gui_settings, procedures={})
    qtbot.addWidget(window)
    window.weigh_on_plate()
    assert window.bar.mass.value() == pytest.approx(np.mean(standing) / 9.80665, abs=0.05)
    assert window.action_error is None
    window.controller = StandingOnThePlate(np.abs(np.sin(np.arange(4000) / 100.0)) * 1600)
    window.weigh_on_plate()  # running: refused, the typed mass is kept
    assert window.bar.mass.value() == pytest.approx(np.mean(standing) / 9.80665, abs=0.05)
    assert "not steady" in window.action_error.text and "stand still" in window.action_error.text


def test_force_history_holds_the_last_five_seconds_from_only_the_new_samples(lab):
    from app.qt.force_views import ForceHistory

    rate = lab.setup.daq_rate_hz
    total = int(9 * rate)
    t_all = np.arange(total) / rate
    fz_all = lab.true_forces(0, total)["belt"][:, 2]
    cop_all = lab.true_cop(0, total)[:, :2]
    history = ForceHistory(5.0)
    assert history.span_needed(None) == 5.0
    end = int(2 * rate)
    assert history.add(t_all[:end], fz_all[:end], cop_all[:end])
    while end < total:
        stop = min(end + 77, total)  # 77 new samples per tick
        span = history.span_needed(t_all[stop - 1])
        assert span == pytest.approx((stop - end) / rate + 0.25)
        count = round(span * rate)
        assert history.add(t_all[stop - count : stop], fz_all[stop - count : stop],
                           cop_all[stop - count : stop])  # fmt: skip
        end = stop
    # exactly the last 5 s, every sample once, in order, equal to a fresh 5 s window
    first = total - int(5 * rate)  # 5 s of samples
    np.testing.assert_array_equal(history.t, t_all[first:])
    np.testing.assert_array_equal(history.fz, fz_all[first:])
    np.testing.assert_array_equal(history.cop, cop_all[first:])
    # a window that does not reach back to the last sample held is refused, nothing changes
    later = t_all[-1] + (np.arange(100) + 500) / rate
    assert not history.add(later, np.zeros(100), np.zeros((100, 2)))
    assert history.t[-1] == t_all[-1]
    # session time going back (a new session) starts over
    assert history.add(t_all[:10], fz_all[:10], cop_all[:10])
    np.testing.assert_array_equal(history.t, t_all[:10])


def test_trend_axes_move_in_pages_and_only_widen_so_a_new_step_rarely_redraws_them(qtbot, lab):
    view = TrendView(DARK)
    qtbot.addWidget(view)
    stances = stance_dicts(lab)
    assert len(stances) > 25
    view.add_stances(stances[:12])
    top = max(s["index"] for s in stances[:12])
    page_end = 20 * (top // 20 + 1)
    assert view.x_range == (max(0.0, page_end - 80.0), float(page_end))
    (lo, hi), _ = view.plots[FPPA.key].viewRange()
    assert lo <= view.x_range[0] and hi >= view.x_range[1]  # (a 2 % padding each side)
    fppa = [s["fppa_midstance_deg"] for s in stances[:12]]
    y_lo, y_hi = view.y_ranges[FPPA.key]
    assert y_lo < min(fppa) and max(fppa) < y_hi
    # one more step inside the page and the ranges: nothing moves
    before = (view.x_range, dict(view.y_ranges))
    view.add_stances(stances[12:13])
    assert (view.x_range, view.y_ranges) == before
    # a value outside widens that metric's range only, and it never narrows again
    outlier = {**stances[13], "fppa_midstance_deg": max(fppa) + 30.0}
    view.add_stances([outlier])
    assert view.y_ranges[FPPA.key][1] > max(fppa) + 30.0
    assert view.y_ranges[VALR.key] == before[1][VALR.key]
    wide = view.y_ranges[FPPA.key]
    view.add_stances(stances[14:16])
    assert view.y_ranges[FPPA.key] == wide
    # deferred drawing keeps the values; draw() puts them on screen
    view.add_stances(stances[16:18], draw=False)
    assert len(view.series.index["L"]) + len(view.series.index["R"]) == 18
    x, _ = view.curves[(FPPA.key, stances[17]["side"])].getData()
    assert stances[17]["index"] not in x
    view.draw()
    x, _ = view.curves[(FPPA.key, stances[17]["side"])].getData()
    assert stances[17]["index"] in x


def test_live_numbers_summarise_only_the_stances_they_need_with_the_same_result(lab):
    from types import SimpleNamespace

    from app.live_views import summarise_stances
    from app.qt.main_window import last_usable

    records = [{**r, "index": i} for i, r in enumerate(stance_dicts(lab) * 3)]  # a long session
    for r in records[1::4]:
        r["flags"] = ["side_conflict"]  # excluded from summaries
    results = [
        SimpleNamespace(side=r["side"], flags=tuple(r["flags"]), to_dict=lambda r=r: r)
        for r in records
    ]
    picked = last_usable(results, 20)
    assert [p.side for p in picked].count("L") == 20 and [p.side for p in picked].count("R") == 20
    assert all(not p.flags for p in picked)
    assert summarise_stances(picked, 20) == summarise_stances(results, 20)


def test_grf_axes_drawn_from_a_cache_are_redrawn_when_the_unit_and_range_change(qtbot, lab):
    view = GrfView(DARK)
    qtbot.addWidget(view)
    view.resize(620, 260)
    view.show()
    qtbot.waitExposed(view)
    rate = lab.setup.daq_rate_hz
    t = (int(6 * rate) + np.arange(int(5 * rate))) / rate
    fz = lab.true_forces(int(6 * rate), len(t))["belt"][:, 2]
    view.show_force(t, fz, [], None)
    axis = view.plot.getAxis("left")
    area = axis.mapRectToScene(axis.boundingRect()).toRect()

    def left_axis_pixels() -> QImage:
        view.viewport().repaint()
        return view.grab(area).toImage()

    newtons = left_axis_pixels()
    assert left_axis_pixels() == newtons  # the same axis from the cache
    view.show_force(t, fz, [], lab.truth.body_weight_N)  # a mass typed in: BW, new ticks
    body_weights = left_axis_pixels()
    assert body_weights != newtons
    fresh = GrfView(DARK)  # drawn without any cache history, in BW from the start
    qtbot.addWidget(fresh)
    fresh.resize(620, 260)
    fresh.show()
    qtbot.waitExposed(fresh)
    fresh.show_force(t, fz, [], lab.truth.body_weight_N)
    fresh.viewport().repaint()
    assert fresh.grab(area).toImage() == body_weights
