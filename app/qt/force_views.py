"""Force on screen: the scrolling vertical GRF with stances shaded by side, and the COP
"butterfly" on the plate outline seen from above.

Pure views fed with arrays (a ``ForceWindow``'s ``t``, ``F``, ``cop``) and the recent stances as
plain dicts (``StanceResult.to_dict()`` names). Items are built once; a refresh only moves them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.GraphicsItem import GraphicsItem
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem

from app.qt.theme import (
    SIDE_COLOURS,
    Theme,
    let_title_shrink,
    side_brush,
    side_pen,
    style_plot,
)

GRAVITY = 9.80665
WINDOW_S = 5.0
DEFAULT_COP_X_CM = (-35.0, 35.0)  # screen x = −y_lab: across the belt
DEFAULT_COP_Y_CM = (-90.0, 90.0)  # screen y = x_lab: along the belt
COP_POINTS = 1000  # 200 Hz over 5 s: the butterfly looks the same as at 2 kHz
BW_RANGE = (-0.1, 3.2)  # Fz in body weights: running peaks are 2–3 BW
TRACE_WIDTH = 1  # Qt draws 1 px lines on a fast path; 2 px cost 0.8 ms more per paint
N_RANGE = (-100.0, 2000.0)  # Fz in newtons before the mass is known (grows to fit, see below)


def stance_mask(t: np.ndarray, stances: Sequence[Mapping[str, Any]], side: str) -> np.ndarray:
    """True where ``t`` (ascending) lies inside a stance of ``side``: one ``searchsorted`` for
    all the stances' edges instead of a comparison of the whole window per stance."""
    spans = [(s["contact_s"], s["toe_off_s"]) for s in stances if s.get("side") == side]
    if not spans:
        return np.zeros(len(t), dtype=bool)
    edges = np.asarray(spans, dtype=float)
    starts = np.searchsorted(t, edges[:, 0], side="left")
    stops = np.searchsorted(t, edges[:, 1], side="right")
    change = np.zeros(len(t) + 1, dtype=np.int32)
    np.add.at(change, starts, 1)
    np.add.at(change, stops, -1)
    return np.cumsum(change[:-1]) > 0


class ForceHistory:
    """The last ``WINDOW_S`` of force the window shows, extended with only the new samples each
    tick: computing the plates' wrench and COP for 10 000 samples on every refresh cost more
    than drawing them."""

    def __init__(self, seconds: float = WINDOW_S) -> None:
        self.seconds = seconds
        self.clear()

    def clear(self) -> None:
        self.t = np.empty(0)
        self.fz = np.empty(0)
        self.cop = np.empty((0, 2))

    def span_needed(self, newest_s: float | None) -> float:
        """Seconds to ask for so nothing between the last sample held and ``newest_s`` is
        missed (a margin of a quarter second; the whole window when there is nothing yet)."""
        if newest_s is None or not len(self.t) or newest_s < self.t[-1]:
            return self.seconds
        return min(self.seconds, newest_s - float(self.t[-1]) + 0.25)

    def add(self, t: np.ndarray, fz: np.ndarray, cop: np.ndarray) -> bool:
        """Append the samples after the last one held; False (nothing changed) if the window
        does not reach back to it, so the caller asks again for the whole window."""
        if len(self.t) and len(t) and t[-1] < self.t[-1]:
            self.clear()  # session time went back: a new session
        if len(self.t) and len(t) > 1:
            step = float(t[1] - t[0])
            if t[0] > self.t[-1] + 1.5 * step:
                return False  # a gap: more arrived than was asked for
        new = t > self.t[-1] if len(self.t) else np.ones(len(t), dtype=bool)
        step = float(self.t[1] - self.t[0]) if len(self.t) > 1 else 0.0
        # exactly ``seconds`` of samples: half a sample of slack against rounding of the times
        keep = self.t > (t[-1] if len(t) else 0.0) - self.seconds + 0.5 * step
        self.t = np.concatenate([self.t[keep], t[new]])
        self.fz = np.concatenate([self.fz[keep], fz[new]])
        self.cop = np.concatenate([self.cop[keep], cop[new]])
        return True


def min_max_envelope(
    t: np.ndarray, y: np.ndarray, samples_per_bin: int
) -> tuple[np.ndarray, np.ndarray]:
    """``y`` drawn with two points per bin of ``samples_per_bin`` samples: the bin's minimum and
    maximum in the order they occur, so every peak and trough is kept while ~10 000 samples
    become ~2 points per pixel.

    Bins are aligned to the sample clock (multiples of ``samples_per_bin`` since t = 0), not to
    the window's first sample, so a scrolling trace keeps its shape from tick to tick."""
    k = max(1, int(samples_per_bin))
    if k == 1 or len(t) < 2:
        return t, y
    step = float(t[1] - t[0])
    skip = (-round(float(t[0]) / step)) % k  # samples before the first whole bin
    head_t, head_y = t[:skip], y[:skip]
    t, y = t[skip:], y[skip:]
    whole = len(t) // k
    blocks = y[: whole * k].reshape(whole, k)
    low, high = blocks.min(axis=1), blocks.max(axis=1)
    rising = blocks.argmin(axis=1) <= blocks.argmax(axis=1)
    ys = np.column_stack([np.where(rising, low, high), np.where(rising, high, low)]).ravel()
    # at each bin's first and last sample time: the trace ends on the newest sample
    xs = np.column_stack([t[: whole * k : k], t[k - 1 : whole * k : k]]).ravel()
    tail_t, tail_y = t[whole * k :], y[whole * k :]  # the newest, not yet a whole bin: as is
    return np.concatenate([head_t, xs, tail_t]), np.concatenate([head_y, ys, tail_y])


class SecondsBeforeNowAxis(pg.AxisItem):
    """Ticks of a time axis relative to now (−5…0 s) labelled as positive seconds ago."""

    def tickStrings(self, values, scale, spacing):
        return [f"{abs(v * scale):g}" for v in values]


class GrfView(pg.PlotWidget):
    """Vertical GRF over the last seconds: BW when the body weight is known, else N.

    The x axis is fixed (seconds before now, −5…0) and the y range is fixed per unit, so a
    refresh moves the data, never the axes: re-rendering axes on every tick cost more than all
    the data drawing together. The trace, the stance shading and the event marks are drawn in
    session time inside one group that a tick slides left (``setPos(-now)``): the stance items
    are re-made only when the stances change, the trace is a numpy min/max envelope of about
    two points per pixel (one ``setData`` per tick).
    """

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent, axisItems={"bottom": SecondsBeforeNowAxis("bottom")})
        self.plot = self.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()
        let_title_shrink(self.plot)
        # whole-BW (or kN) lines drawn as data, not an axis grid: a gridded axis is repainted
        # with every new sample
        self.levels = pg.PlotCurveItem(pen=pg.mkPen(theme.grid, width=1), connect="pairs")
        self.levels.setZValue(-20)
        self.plot.addItem(self.levels)
        self.plot.setLabel("bottom", "seconds before now")
        self.plot.setXRange(-WINDOW_S, 0.0, padding=0)
        self.sliding = pg.ItemGroup()  # children in session time; x position = −now
        self.plot.addItem(self.sliding)
        self.curve = pg.PlotCurveItem(pen=pg.mkPen(theme.trace, width=TRACE_WIDTH))
        # stances shaded by side: one path of rectangles per side
        self.shading: dict[str, QGraphicsPathItem] = {}
        for side in SIDE_COLOURS:
            item = QGraphicsPathItem()
            item.setPen(pg.mkPen(None))
            item.setBrush(side_brush(side, alpha=60))
            item.setZValue(-10)
            self.sliding.addItem(item)
            self.shading[side] = item
        self.sliding.addItem(self.curve)
        self.shaded: list[Mapping[str, Any]] = []  # the stances drawn
        self.events = pg.PlotCurveItem(pen=pg.mkPen(theme.muted, width=2), connect="pairs")
        self.sliding.addItem(self.events)
        self.midstance = {
            side: pg.ScatterPlotItem(
                symbol="t", size=13, pen=pg.mkPen("#000000"), brush=side_brush(side)
            )
            for side in SIDE_COLOURS
        }
        for item in self.midstance.values():
            self.sliding.addItem(item)
        self._stances_key: tuple | None = None  # what the stance items were drawn from
        self.unit = ""
        self.y_range = (0.0, 1.0)
        self.body_weight_N: float | None = None
        self.end_s: float | None = None  # session time of the newest sample ("now")
        self.pixels = 600  # the plot's width in pixels (set on resize): the envelope's bins
        self.apply_theme(theme)
        self._set_unit(None)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if hasattr(self, "curve"):  # (Qt resizes the view once before __init__ ends)
            self.pixels = max(50, int(self.plot.vb.width()))

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        style_plot(self.plot, theme, title="Vertical GRF · last 5 s")
        self.curve.setPen(pg.mkPen(theme.trace, width=TRACE_WIDTH))
        self.events.setPen(pg.mkPen(theme.muted, width=2))
        self.levels.setPen(pg.mkPen(theme.grid, width=1))

    def _set_unit(self, body_weight_N: float | None) -> None:
        unit = "BW" if body_weight_N else "N"
        self.body_weight_N = body_weight_N
        if unit != self.unit:
            self.unit = unit
            self.plot.setLabel("left", f"Fz ({unit})")
            self._set_y_range(BW_RANGE if unit == "BW" else N_RANGE)

    def _set_y_range(self, y_range: tuple[float, float]) -> None:
        self.y_range = y_range
        self.plot.setYRange(*y_range, padding=0)
        step = 1.0 if self.unit == "BW" else (500.0 if y_range[1] <= 3000 else 1000.0)
        heights = np.arange(0.0, y_range[1], step)[1:]
        self.levels.setData(
            np.tile([-WINDOW_S, 0.0], len(heights)), np.repeat(heights, 2), connect="pairs"
        )

    def _fit_newtons(self, y: np.ndarray) -> None:
        """In N (no body mass), the range only ever grows, in whole kN, to fit the largest force:
        stable axes, and no peak cut off."""
        top = float(np.nanmax(y)) if len(y) and np.isfinite(y).any() else 0.0
        if top > self.y_range[1]:
            high = 1000.0 * math.ceil(top * 1.05 / 1000.0)
            self._set_y_range((-0.05 * high, high))

    def show_force(
        self,
        t: np.ndarray,
        fz_N: np.ndarray,
        stances: Sequence[Mapping[str, Any]],
        body_weight_N: float | None = None,
    ) -> None:
        """``t`` in session time; drawn relative to its last sample (0 = now)."""
        self._set_unit(body_weight_N if body_weight_N and body_weight_N > 0 else None)
        if len(t) == 0:
            return
        scale = 1.0 / self.body_weight_N if self.body_weight_N else 1.0
        y = fz_N * scale
        if self.unit == "N":
            self._fit_newtons(y)
        end = float(t[-1])
        self.end_s = end
        per_bin = len(t) * WINDOW_S / max(float(t[-1] - t[0]), 1e-9) / self.pixels
        self.curve.setData(*min_max_envelope(t, y, int(per_bin)))
        self.sliding.setPos(-end, 0.0)
        for item in self.midstance.values():  # pyqtgraph caches the view in item coordinates
            # (and culls the triangles by it): moved, so forget it. The base class's method only
            # drops that cache (pure Python); the scatter's own also calls Qt twice
            GraphicsItem.viewTransformChanged(item)
        key = (
            tuple((s.get("side"), s["contact_s"], s["toe_off_s"]) for s in stances),
            self.body_weight_N,
            self.y_range,
        )
        if key != self._stances_key and self._draw_stances(t, y, stances):
            self._stances_key = key

    def _draw_stances(
        self, t: np.ndarray, y: np.ndarray, stances: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Shading, contact/toe-off ticks and midstance triangles, in session time; False if a
        midstance was not yet inside the force drawn (draw again next tick)."""
        self.shaded = list(stances)
        low, high = self.y_range
        for side, item in self.shading.items():
            path = QPainterPath()
            for s in stances:
                if s.get("side") == side:
                    width = s["toe_off_s"] - s["contact_s"]
                    path.addRect(QRectF(s["contact_s"], low, width, high - low))
            item.setPath(path)
        edges = np.array([x for s in stances for x in (s["contact_s"], s["toe_off_s"])])
        tick = 0.04 * (high - low)
        self.events.setData(np.repeat(edges, 2), np.tile([-tick, tick], len(edges)))
        complete = True
        for side, item in self.midstance.items():
            times = []
            for s in stances:
                m = s.get("midstance_s") or s.get("midstance_peak_vgrf_s")
                if s.get("side") != side or m is None or not math.isfinite(m):
                    continue
                if m > t[-1]:
                    complete = False
                elif m >= t[0]:
                    times.append(m)
            item.setData(np.array(times), np.interp(times, t, y))
        return complete


class CopView(pg.PlotWidget):
    """The COP of the last seconds on the plate outline, from above: running direction up,
    the runner's left on the left (screen x = −y_lab, screen y = x_lab)."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.plot = self.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()  # fixed by set_outline: the plate does not move
        # until then (or with no plate corners configured) a treadmill-sized area, in cm
        self.plot.setRange(xRange=DEFAULT_COP_X_CM, yRange=DEFAULT_COP_Y_CM, padding=0)
        # not aspect-locked: the long narrow belt would shrink to a sliver in a wide panel
        self.plot.setLabel("bottom", "← L · R → (cm)")  # short: the panel is narrow
        self.plot.setLabel("left", "forward ↑ (cm)")
        let_title_shrink(self.plot)
        self.outline = self.plot.plot([], [], pen=pg.mkPen(theme.muted, width=2))
        self.midline = self.plot.plot([], [], pen=pg.mkPen(theme.grid, width=1))
        # plain curve items (no PlotDataItem bookkeeping): they are re-set on every refresh
        # 1 px, as the GRF trace: Qt's fast path (2 px cost 0.5 ms more per paint, measured with
        # bench_gui's views-only section: 2.0 -> 1.5 ms)
        self.sides = {
            side: pg.PlotCurveItem(pen=side_pen(side, TRACE_WIDTH)) for side in SIDE_COLOURS
        }
        self.other = pg.PlotCurveItem(pen=pg.mkPen(theme.muted, width=1))
        for item in (*self.sides.values(), self.other):
            self.plot.addItem(item)
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        style_plot(self.plot, theme, title="COP")  # short: the panel is narrow

    def set_outline(self, plates_corners_m: Sequence[Sequence[Sequence[float]]]) -> None:
        """The plates' working surfaces (each 4 corners, lab frame, metres)."""
        xs, ys, connect = [], [], []
        for corners in plates_corners_m:
            c = np.asarray(corners, dtype=float)[:, :2]
            c = np.vstack([c, c[:1]])
            xs.extend(-c[:, 1] * 100)
            ys.extend(c[:, 0] * 100)
            connect.extend([True] * (len(c) - 1) + [False])
        if not xs:
            return
        sx, sy = np.array(xs), np.array(ys)
        self.outline.setData(sx, sy, connect=np.array(connect, dtype=bool))
        self.midline.setData([0, 0], [sy.min(), sy.max()])
        pad = 5.0
        self.plot.setRange(
            xRange=(sx.min() - pad, sx.max() + pad),
            yRange=(sy.min() - pad, sy.max() + pad),
            padding=0,
        )

    def show_cop(
        self, t: np.ndarray, cop_m: np.ndarray, stances: Sequence[Mapping[str, Any]]
    ) -> None:
        if len(t) == 0:
            return
        # ~1000 points draw the same butterfly; every step-th sample of the sample clock (not
        # of the window), so the points drawn stay the same from tick to tick
        step = max(1, len(t) // COP_POINTS)
        if step > 1 and len(t) > 1:
            first = (-round(float(t[0]) / float(t[1] - t[0]))) % step
            t, cop_m = t[first::step], cop_m[first::step]
        screen_x = -cop_m[:, 1] * 100
        screen_y = cop_m[:, 0] * 100
        assigned = np.zeros(len(t), dtype=bool)
        for side, curve in self.sides.items():
            mask = stance_mask(t, stances, side)
            assigned |= mask
            x, y, connect = _runs(screen_x, screen_y, mask)
            curve.setData(x, y, connect=connect)
        x, y, connect = _runs(screen_x, screen_y, ~assigned)
        self.other.setData(x, y, connect=connect)


def _runs(
    x: np.ndarray, y: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The finite points under ``mask`` only, and the ``connect`` array that joins consecutive
    ones: each curve's path holds its own points, not the whole window's with NaN gaps."""
    mask = mask & np.isfinite(x) & np.isfinite(y)
    index = np.flatnonzero(mask)
    connect = np.zeros(len(index), dtype=bool)
    connect[:-1] = np.diff(index) == 1
    return x[index], y[index], connect


def body_weight_from_mass(mass_kg: float | None) -> float | None:
    if mass_kg is None or not math.isfinite(mass_kg) or mass_kg <= 0:
        return None
    return mass_kg * GRAVITY
