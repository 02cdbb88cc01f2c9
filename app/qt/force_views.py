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
from PySide6.QtCore import QRectF

from app.qt.force_layers import CopLayer, GrfLayer, segments_of_runs
from app.qt.theme import SIDE_COLOURS, Theme, cache_axes_and_title, let_title_shrink, style_plot

GRAVITY = 9.80665
WINDOW_S = 5.0
DEFAULT_COP_X_CM = (-35.0, 35.0)  # screen x = −y_lab: across the belt
DEFAULT_COP_Y_CM = (-90.0, 90.0)  # screen y = x_lab: along the belt
COP_POINTS = 1000  # 200 Hz over 5 s: the butterfly looks the same as at 2 kHz
BW_RANGE = (-0.1, 3.2)  # Fz in body weights: running peaks are 2–3 BW
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
    the data drawing together. Everything inside the plot (shading, level lines, event ticks,
    trace, midstance triangles) is one :class:`GrfLayer` holding session time and drawn
    relative to now: the stance shapes are re-made only when the stances change, the trace is a
    numpy min/max envelope of about two points per pixel.
    """

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent, axisItems={"bottom": SecondsBeforeNowAxis("bottom")})
        self.plot = self.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()
        let_title_shrink(self.plot)
        self.plot.setLabel("bottom", "seconds before now")
        self.plot.setXRange(-WINDOW_S, 0.0, padding=0)
        self.layer = GrfLayer((-WINDOW_S, 0.0))
        self.plot.vb.addItem(self.layer, ignoreBounds=True)
        cache_axes_and_title(self.plot)
        self.shaded: list[Mapping[str, Any]] = []  # the stances drawn
        self._stances_key: tuple | None = None  # what the stance shapes were drawn from
        self.unit = ""
        self.y_range = (0.0, 1.0)
        self.body_weight_N: float | None = None
        self.end_s: float | None = None  # session time of the newest sample ("now")
        self.pixels = 600  # the plot's width in pixels (set on resize): the envelope's bins
        self.apply_theme(theme)
        self._set_unit(None)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if hasattr(self, "layer"):  # (Qt resizes the view once before __init__ ends)
            self.pixels = max(50, int(self.plot.vb.width()))

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        style_plot(self.plot, theme, title="Vertical GRF · last 5 s")
        self.layer.set_colours(theme.trace, theme.grid, theme.muted, theme.surface, SIDE_COLOURS)

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
        self.layer.levels = np.arange(0.0, y_range[1], step)[1:]
        self.layer.tick = 0.04 * (y_range[1] - y_range[0])
        self.layer.set_rect(QRectF(-WINDOW_S, y_range[0], WINDOW_S, y_range[1] - y_range[0]))

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
        layer = self.layer
        layer.trace = np.column_stack(min_max_envelope(t, y, int(per_bin)))
        layer.end_s = end
        key = (
            tuple((s.get("side"), s["contact_s"], s["toe_off_s"]) for s in stances),
            self.body_weight_N,
            self.y_range,
        )
        if key != self._stances_key and self._set_stances(t, y, stances):
            self._stances_key = key
        layer.update()

    def _set_stances(
        self, t: np.ndarray, y: np.ndarray, stances: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Shading, contact/toe-off ticks and midstance triangles, in session time; False if a
        midstance was not yet inside the force drawn (set again next tick)."""
        self.shaded = list(stances)
        layer = self.layer
        layer.spans = {
            side: np.array(
                [(s["contact_s"], s["toe_off_s"]) for s in stances if s.get("side") == side],
                dtype=float,
            ).reshape(-1, 2)
            for side in SIDE_COLOURS
        }
        layer.edges = np.array([x for s in stances for x in (s["contact_s"], s["toe_off_s"])])
        complete = True
        for side in SIDE_COLOURS:
            times = []
            for s in stances:
                m = s.get("midstance_s") or s.get("midstance_peak_vgrf_s")
                if s.get("side") != side or m is None or not math.isfinite(m):
                    continue
                if m > t[-1]:
                    complete = False
                elif m >= t[0]:
                    times.append(m)
            layer.midstance[side] = np.column_stack([times, np.interp(times, t, y)]).reshape(-1, 2)
        return complete


class CopView(pg.PlotWidget):
    """The COP of the last seconds on the plate outline, from above: running direction up,
    the runner's left on the left (screen x = −y_lab, screen y = x_lab).

    The outline, the midline and the COP by side are one :class:`CopLayer` (line segments, one
    Qt call per colour)."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.plot = self.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()  # fixed by set_outline: the plate does not move
        # not aspect-locked: the long narrow belt would shrink to a sliver in a wide panel
        self.plot.setLabel("bottom", "← L · R → (cm)")  # short: the panel is narrow
        self.plot.setLabel("left", "forward ↑ (cm)")
        let_title_shrink(self.plot)
        self.layer = CopLayer(QRectF())
        self.plot.vb.addItem(self.layer, ignoreBounds=True)
        cache_axes_and_title(self.plot)
        # until set_outline (or with no plate corners configured) a treadmill-sized area, in cm
        self._set_range(DEFAULT_COP_X_CM, DEFAULT_COP_Y_CM)
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)
        style_plot(self.plot, theme, title="COP")  # short: the panel is narrow
        self.layer.set_colours(theme.muted, theme.grid, SIDE_COLOURS)

    def _set_range(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.plot.setRange(xRange=x_range, yRange=y_range, padding=0)
        (x0, x1), (y0, y1) = x_range, y_range
        self.layer.set_rect(QRectF(x0, y0, x1 - x0, y1 - y0))

    def set_outline(self, plates_corners_m: Sequence[Sequence[Sequence[float]]]) -> None:
        """The plates' working surfaces (each 4 corners, lab frame, metres)."""
        segments = []
        for corners in plates_corners_m:
            c = np.asarray(corners, dtype=float)[:, :2]
            screen = np.column_stack([-c[:, 1] * 100, c[:, 0] * 100])  # cm, as drawn
            segments.append(np.hstack([screen, np.roll(screen, -1, axis=0)]))
        if not segments:
            return
        outline = np.vstack(segments)
        self.layer.outline = outline
        xs, ys = outline[:, 0::2], outline[:, 1::2]
        self.layer.midline = np.array([[0.0, ys.min(), 0.0, ys.max()]])
        pad = 5.0
        self._set_range((xs.min() - pad, xs.max() + pad), (ys.min() - pad, ys.max() + pad))

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
        segments = {}
        for side in SIDE_COLOURS:
            mask = stance_mask(t, stances, side)
            assigned |= mask
            segments[side] = segments_of_runs(screen_x, screen_y, mask)
        segments["other"] = segments_of_runs(screen_x, screen_y, ~assigned)
        self.layer.segments = segments
        self.layer.update()


def body_weight_from_mass(mass_kg: float | None) -> float | None:
    if mass_kg is None or not math.isfinite(mass_kg) or mass_kg <= 0:
        return None
    return mass_kg * GRAVITY
