"""Per-step trends: one point per stance, left and right in their own colours, with the
research references of SCIENCE.md drawn as labelled lines (references, not diagnoses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg

from app.qt.metric_specs import TRENDS, VALR, VILR, MetricSpec
from app.qt.references import RESEARCH_REFERENCES
from app.qt.theme import (
    SMALL_POINT_SIZE,
    Theme,
    let_title_shrink,
    side_brush,
    side_pen,
    style_plot,
)

# short titles: a plot is never wider than its title, and six plots share a third of 1200 px
TITLES = {
    "hip_ankle_midstance_m": "Hip–ankle",
    "fppa_midstance_deg": "FPPA",
    "pelvic_drop_deg": "Pelvic drop",
    "valr_BW_s": "VALR ● · VILR ○",
    "contact_time_s": "Contact time",
    "cadence_spm": "Cadence",
}
STEPS_SHOWN = 80  # per-step points kept on screen
PAGE_STEPS = 20  # the x axis moves on by this many steps at a time, not on every step


class StanceSeries:
    """The per-stance values of every trend metric, grown as stances arrive."""

    def __init__(self) -> None:
        self.index: dict[str, list[float]] = {"L": [], "R": []}
        self.values: dict[str, dict[str, list[float]]] = {"L": {}, "R": {}}
        self.count = 0

    def add(self, stances: Sequence[Mapping[str, Any]]) -> None:
        specs = (*TRENDS, VILR)
        for s in stances:
            self.count += 1
            side = s.get("side")
            if side not in self.index:
                continue
            self.index[side].append(float(s["index"]))
            for spec in specs:
                self.values[side].setdefault(spec.key, []).append(spec.of_stance(s))

    def arrays(self, side: str, key: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(self.index[side][-STEPS_SHOWN:])
        y = np.asarray(self.values[side].get(key, [])[-STEPS_SHOWN:])
        return x, y


class TrendView(pg.GraphicsLayoutWidget):
    """Six small plots: hip–ankle, FPPA, pelvic drop, VALR (VILR hollow), contact time, cadence.

    Per plot one line per side and ONE scatter item for all its points (left, right, and VILR
    hollow, styled per point): 18 items to set and paint instead of 28 ``PlotDataItem`` parts.
    A redraw can be spread over ticks (:meth:`begin_redraw`, then :meth:`draw_next` per tick):
    one plot per tick, so the once-a-second redraw never holds one refresh up for all six."""

    def __init__(self, theme: Theme, parent=None, columns: int = 3) -> None:
        super().__init__(parent)
        self.series = StanceSeries()
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str], pg.PlotCurveItem] = {}  # the line of each side
        self.points: dict[str, pg.ScatterPlotItem] = {}  # every point of a plot
        self.references: list[pg.InfiniteLine] = []
        hollow_brush = pg.mkBrush(None)
        self._styles = {  # (side, hollow) → the point's pen and brush
            (side, hollow): (side_pen(side, 1.5 if hollow else 1),
                             hollow_brush if hollow else side_brush(side))
            for side in ("L", "R")
            for hollow in (False, True)
        }  # fmt: skip
        for i, spec in enumerate(TRENDS):
            if i and i % columns == 0:
                self.nextRow()
            plot = self.addPlot()
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.disableAutoRange()  # ranges move in pages and grow to fit (see add_stances)
            # no grid: a gridded axis is repainted with every new point (the reference lines
            # and the axis ticks give the scale)
            plot.getAxis("left").setWidth(44)
            if i < len(TRENDS) - columns:  # all share the step axis: it is shown on the last row
                plot.hideAxis("bottom")
            let_title_shrink(plot)
            self.plots[spec.key] = plot
            for side in ("L", "R"):
                curve = pg.PlotCurveItem(pen=side_pen(side, 1))
                plot.addItem(curve)
                self.curves[(spec.key, side)] = curve
            points = pg.ScatterPlotItem(symbol="o", size=7)
            plot.addItem(points)
            self.points[spec.key] = points
            for ref in RESEARCH_REFERENCES:
                if ref.metric == spec.key:
                    line = pg.InfiniteLine(
                        pos=ref.value, angle=0, movable=False,
                        pen=pg.mkPen(theme.muted, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine),
                        label=ref.label,
                        labelOpts={"position": 0.02, "anchors": [(0, 1), (0, 1)],
                                   "color": theme.muted},
                    )  # fmt: skip
                    line.setToolTip(ref.description)
                    line.label.setToolTip(ref.description)
                    plot.addItem(line)
                    self.references.append(line)
        self.x_range: tuple[float, float] | None = None
        self.y_ranges: dict[str, tuple[float, float]] = {}
        self.stale: set[str] = set()  # plots with points not drawn yet
        self.undrawn: list[str] = []  # the plots the redraw under way has still to draw
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        for spec in TRENDS:
            title = f"{TITLES.get(spec.key, spec.label)} ({spec.unit})"
            style_plot(self.plots[spec.key], theme, title=title)
            self.plots[spec.key].titleLabel.setText(
                title, size=f"{SMALL_POINT_SIZE}pt", color=theme.text
            )
        for line in self.references:
            line.setPen(pg.mkPen(theme.muted, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine))
            line.label.setColor(theme.muted)

    def add_stances(self, stances: Sequence[Mapping[str, Any]], draw: bool = True) -> None:
        """Keep the stances' values; ``draw=False`` defers the drawing to a later :meth:`draw`
        or :meth:`draw_next` (the live window draws at most once a second)."""
        self.series.add(stances)
        self.stale = {spec.key for spec in TRENDS}
        if draw:
            self.draw()

    def draw(self) -> None:
        """Every plot now."""
        self.begin_redraw()
        while self.draw_next():
            pass

    def begin_redraw(self) -> None:
        """Start drawing the stale plots, one per :meth:`draw_next`; stances that come in the
        meantime wait for the next redraw."""
        self.undrawn = [spec.key for spec in TRENDS if spec.key in self.stale]
        self.stale = set()

    def draw_next(self) -> bool:
        """Draw the redraw's next plot; True while plots of this redraw are left."""
        if not self.undrawn:
            return False
        key = self.undrawn.pop(0)
        spec = self.spec_of(key)
        xs, ys, pens, brushes = [], [], [], []
        keys = ((key, False), (VILR.key, True)) if spec is VALR else ((key, False),)
        for side in ("L", "R"):
            for series_key, hollow in keys:
                x, y = self.series.arrays(side, series_key)
                finite = np.isfinite(y)
                x, y = x[finite], y[finite]
                if not hollow:
                    self.curves[(key, side)].setData(x, y)
                pen, brush = self._styles[(side, hollow)]
                xs.append(x)
                ys.append(y)
                pens += [pen] * len(x)
                brushes += [brush] * len(x)
        self.points[key].setData(np.concatenate(xs), np.concatenate(ys), pen=pens, brush=brushes)
        self._fit_ranges(spec)
        return bool(self.undrawn)

    def _fit_ranges(self, spec: MetricSpec) -> None:
        """Move an axis only when a point would fall outside it: x by pages of ``PAGE_STEPS``
        steps (all plots together), y grown by a margin to fit the shown points (and the
        reference lines)."""
        top = max((v[-1] for v in self.series.index.values() if v), default=0.0)
        if self.x_range is None or top > self.x_range[1]:
            right = PAGE_STEPS * (int(top) // PAGE_STEPS + 1)
            self.x_range = (max(0.0, right - STEPS_SHOWN), float(right))
            for plot in self.plots.values():
                plot.setXRange(*self.x_range, padding=0.02)
        keys = (spec.key, VILR.key) if spec is VALR else (spec.key,)
        values = [self.series.arrays(side, k)[1] for side in ("L", "R") for k in keys]
        values += [np.array([r.value for r in RESEARCH_REFERENCES if r.metric == spec.key])]
        y = np.concatenate(values)
        y = y[np.isfinite(y)]
        if not len(y):
            return
        low, high = float(y.min()), float(y.max())
        shown = self.y_ranges.get(spec.key)
        if shown is not None and shown[0] <= low and high <= shown[1]:
            return
        margin = 0.15 * max(high - low, abs(high) * 0.1, 1e-6)
        self.y_ranges[spec.key] = (low - margin, high + margin)
        self.plots[spec.key].setYRange(low - margin, high + margin, padding=0)

    def clear(self) -> None:
        self.series = StanceSeries()
        self.x_range = None
        self.y_ranges = {}
        self.undrawn = []
        self.stale = set()
        for curve in self.curves.values():
            curve.setData([], [])
        for points in self.points.values():
            points.setData([], [])

    def spec_of(self, key: str) -> MetricSpec:
        return next(s for s in (*TRENDS, VILR) if s.key == key)
