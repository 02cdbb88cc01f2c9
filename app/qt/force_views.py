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

from app.qt.theme import SIDE_COLOURS, Theme, side_brush, side_pen, style_plot

GRAVITY = 9.80665
WINDOW_S = 5.0
COP_POINTS = 2500
MAX_SHADED = 16  # stances shaded at once (≈ 5 s of running at 180 steps/min, with margin)


def stance_mask(t: np.ndarray, stances: Sequence[Mapping[str, Any]], side: str) -> np.ndarray:
    """True where ``t`` lies inside a stance of ``side``."""
    mask = np.zeros(len(t), dtype=bool)
    for s in stances:
        if s.get("side") == side:
            mask |= (t >= s["contact_s"]) & (t <= s["toe_off_s"])
    return mask


class GrfView(pg.PlotWidget):
    """Vertical GRF over the last seconds: BW when the body weight is known, else N."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.plot = self.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=False, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "session time", units="s")
        self.curve = self.plot.plot([], [], pen=pg.mkPen(theme.trace, width=2))
        self.curve.setClipToView(True)
        self.curve.setDownsampling(auto=True, method="peak")
        self.regions: list[pg.LinearRegionItem] = []
        for _ in range(MAX_SHADED):
            region = pg.LinearRegionItem(movable=False, pen=pg.mkPen(None))
            region.setZValue(-10)
            region.hide()
            self.plot.addItem(region)
            self.regions.append(region)
        self.events = pg.ScatterPlotItem(symbol="|", size=14, pen=pg.mkPen(theme.muted, width=2))
        self.plot.addItem(self.events)
        self.midstance = pg.ScatterPlotItem(symbol="t", size=13, pen=pg.mkPen("#000000"))
        self.plot.addItem(self.midstance)
        self.unit = ""
        self.body_weight_N: float | None = None
        self.apply_theme(theme)
        self._set_unit(None)

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        style_plot(self.plot, theme, title="Vertical ground reaction force")
        self.curve.setPen(pg.mkPen(theme.trace, width=2))

    def _set_unit(self, body_weight_N: float | None) -> None:
        unit = "BW" if body_weight_N else "N"
        self.body_weight_N = body_weight_N
        if unit != self.unit:
            self.unit = unit
            self.plot.setLabel("left", f"Fz ({unit})")
            self.plot.setYRange(-0.1, 3.2) if unit == "BW" else self.plot.enableAutoRange(y=True)

    def show_force(
        self,
        t: np.ndarray,
        fz_N: np.ndarray,
        stances: Sequence[Mapping[str, Any]],
        body_weight_N: float | None = None,
    ) -> None:
        self._set_unit(body_weight_N if body_weight_N and body_weight_N > 0 else None)
        scale = 1.0 / self.body_weight_N if self.body_weight_N else 1.0
        y = fz_N * scale
        self.curve.setData(t, y)
        if len(t) == 0:
            return
        end = float(t[-1])
        start = end - WINDOW_S
        self.plot.setXRange(start, end, padding=0)
        visible = [s for s in stances if s["toe_off_s"] >= start][-MAX_SHADED:]
        for region, s in zip(self.regions, visible, strict=False):
            region.setRegion((s["contact_s"], s["toe_off_s"]))
            region.setBrush(side_brush(s.get("side") or "", alpha=60))
            region.show()
        for region in self.regions[len(visible) :]:
            region.hide()
        self._draw_events(t, y, visible)

    def _draw_events(
        self, t: np.ndarray, y: np.ndarray, stances: Sequence[Mapping[str, Any]]
    ) -> None:
        edges = [x for s in stances for x in (s["contact_s"], s["toe_off_s"])]
        self.events.setData(edges, np.zeros(len(edges)))
        times, values, brushes = [], [], []
        for s in stances:
            m = s.get("midstance_s") or s.get("midstance_peak_vgrf_s")
            if m is None or not math.isfinite(m) or not (t[0] <= m <= t[-1]):
                continue
            times.append(m)
            values.append(float(np.interp(m, t, y)))
            brushes.append(side_brush(s.get("side") or ""))
        self.midstance.setData(times, values, brush=brushes)


class CopView(pg.PlotWidget):
    """The COP of the last seconds on the plate outline, from above: running direction up,
    the runner's left on the left (screen x = −y_lab, screen y = x_lab)."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.plot = self.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        # not aspect-locked: the long narrow belt would shrink to a sliver in a wide panel
        self.plot.setLabel("bottom", "← left · right →  (cm)")
        self.plot.setLabel("left", "running direction ↑ (cm)")
        self.outline = self.plot.plot([], [], pen=pg.mkPen(theme.muted, width=2))
        self.midline = self.plot.plot([], [], pen=pg.mkPen(theme.grid, width=1))
        self.sides = {
            side: self.plot.plot([], [], pen=side_pen(side, 2), connect="finite")
            for side in SIDE_COLOURS
        }
        self.other = self.plot.plot([], [], pen=pg.mkPen(theme.muted, width=1), connect="finite")
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        style_plot(self.plot, theme, title="Centre of pressure")

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
        step = max(1, len(t) // COP_POINTS)  # a few thousand points draw the same butterfly
        t, cop_m = t[::step], cop_m[::step]
        screen_x = -cop_m[:, 1] * 100
        screen_y = cop_m[:, 0] * 100
        assigned = np.zeros(len(t), dtype=bool)
        for side, curve in self.sides.items():
            mask = stance_mask(t, stances, side)
            assigned |= mask
            curve.setData(np.where(mask, screen_x, np.nan), np.where(mask, screen_y, np.nan))
        self.other.setData(
            np.where(assigned, np.nan, screen_x), np.where(assigned, np.nan, screen_y)
        )


def body_weight_from_mass(mass_kg: float | None) -> float | None:
    if mass_kg is None or not math.isfinite(mass_kg) or mass_kg <= 0:
        return None
    return mass_kg * GRAVITY
