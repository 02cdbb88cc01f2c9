"""What moves inside the GRF and COP plots, each painted by ONE graphics item.

Why not a pyqtgraph item per curve: the GRF's data area was seven items (levels, two shadings,
trace, event ticks, two midstance scatters) and the COP's five. Each Python item costs Python
calls from Qt on every refresh (``boundingRect`` when its data changes, ``paint``, and for
pyqtgraph's items view-transform bookkeeping), and a call from Qt's event loop into Python must
first win the interpreter lock back from the acquisition threads. One item per plot with a fixed
bounding rectangle (the plot's fixed range) is one ``paint`` per refresh and never re-indexed.

The items keep their data in plot coordinates (numpy) and map it to device pixels in ``paint``
with the painter's transform (no rotation: a scale and an offset per axis), then draw each kind
with one Qt call on arrays shared with numpy (``drawLines``, ``drawPolyline``, ``drawRects``).
"""

from __future__ import annotations

import numpy as np
from pyqtgraph.functions import create_qpolygonf, ndarray_from_qpolygonf
from pyqtgraph.Qt.internals import PrimitiveArray
from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem

SHADING_ALPHA = 60 / 255  # how strongly a stance tints the plot (as the former alpha fill)
TRIANGLE_SIZE = 13.0  # px, the midstance marker (pyqtgraph's "t" symbol at size 13)


def blended(colour: str, background: str, alpha: float) -> QColor:
    """``colour`` laid over ``background`` at ``alpha``, as one opaque colour: Qt fills opaque
    rectangles without reading the pixels under them."""
    top, under = QColor(colour), QColor(background)
    mix = [
        round(alpha * a + (1.0 - alpha) * b)
        for a, b in zip(top.getRgb()[:3], under.getRgb()[:3], strict=True)
    ]
    return QColor(*mix)


def cosmetic_pen(colour: str | QColor, width: float) -> QPen:
    pen = QPen(QColor(colour), width)
    pen.setCosmetic(True)
    return pen


def scale_and_offset(transform: QTransform) -> np.ndarray:
    """``[sx, sy, dx, dy]`` of a painter transform without rotation or shear."""
    return np.array([transform.m11(), transform.m22(), transform.dx(), transform.dy()])


class PlotLayer(QGraphicsItem):
    """A graphics item covering a fixed plot rectangle (in plot coordinates) that paints in
    device pixels; subclasses implement :meth:`paint_pixels`."""

    def __init__(self, rect: QRectF) -> None:
        super().__init__()
        self._rect = QRectF(rect)
        self.paints = 0  # how many times Qt painted it (tests, benchmark)

    def set_rect(self, rect: QRectF) -> None:
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        scale = scale_and_offset(painter.transform())
        painter.save()
        painter.resetTransform()
        try:
            self.paint_pixels(painter, scale)
        finally:
            painter.restore()
        self.paints += 1

    def paint_pixels(self, painter: QPainter, scale: np.ndarray) -> None:
        raise AssertionError("subclasses draw")  # pragma: no cover


def _to_pixels(xy: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Rows of (x, y) pairs (any even number of columns) in plot coordinates → device pixels."""
    pairs = xy.shape[1] // 2
    return xy * np.tile(scale[:2], pairs) + np.tile(scale[2:], pairs)


class GrfLayer(PlotLayer):
    """The GRF's data area: stance shading by side (opaque, pre-blended), the whole-unit level
    lines, contact/toe-off ticks, the force trace and the midstance triangles.

    Everything is held in session time and drawn relative to ``end_s`` (now = 0): scrolling is
    one number, the stance shapes are re-made only when the stances change."""

    def __init__(self, x_range: tuple[float, float]) -> None:
        super().__init__(QRectF(x_range[0], 0.0, x_range[1] - x_range[0], 1.0))
        self.end_s = 0.0
        self.trace = np.empty((0, 2))  # (session time, y)
        self.spans: dict[str, np.ndarray] = {}  # side → (contact_s, toe_off_s) rows
        self.edges = np.empty(0)  # contact and toe-off times, session time
        self.tick = 0.0  # half height of an event tick, plot units
        self.levels = np.empty(0)  # y of the level lines
        self.midstance: dict[str, np.ndarray] = {}  # side → (session time, y) rows
        self._trace = create_qpolygonf(0)  # (QPainter's polyline takes no pointer in PySide)
        self._trace_points = ndarray_from_qpolygonf(self._trace)
        self._lines = PrimitiveArray(QLineF, 4)
        self._rects = PrimitiveArray(QRectF, 4)
        self._triangles: dict[str, tuple[tuple, QPainterPath]] = {}  # side → (key, path)
        self.shading_brush: dict[str, QBrush] = {}
        self.triangle_brush: dict[str, QBrush] = {}
        self._triangle_pen = QPen(QColor("#000000"), 1.0)
        self.trace_pen = self.level_pen = self.event_pen = QPen()

    def set_colours(
        self, trace: str, grid: str, muted: str, background: str, sides: dict[str, str]
    ) -> None:
        self.trace_pen = cosmetic_pen(trace, 1.0)  # 1 px: Qt's fast path for lines
        self.level_pen = cosmetic_pen(grid, 1.0)
        self.event_pen = cosmetic_pen(muted, 2.0)
        self.shading_brush = {
            s: QBrush(blended(c, background, SHADING_ALPHA)) for s, c in sides.items()
        }
        self.triangle_brush = {s: QBrush(QColor(c)) for s, c in sides.items()}
        self.update()

    def paint_pixels(self, painter: QPainter, scale: np.ndarray) -> None:
        sx, sy, dx, dy = scale
        rect = self._rect
        top, bottom = sorted((rect.top() * sy + dy, rect.bottom() * sy + dy))
        x0 = dx - self.end_s * sx  # pixel x of session time 0
        painter.setPen(Qt.PenStyle.NoPen)
        for side, spans in self.spans.items():
            if not len(spans):
                continue
            rects = self._rects
            rects.resize(len(spans))
            cells = rects.ndarray()
            cells[:, 0] = spans[:, 0] * sx + x0
            cells[:, 1] = top
            cells[:, 2] = (spans[:, 1] - spans[:, 0]) * sx
            cells[:, 3] = bottom - top
            painter.setBrush(self.shading_brush[side])
            painter.drawRects(*rects.drawargs())
        painter.setBrush(Qt.BrushStyle.NoBrush)
        left, right = rect.left() * sx + dx, rect.right() * sx + dx
        if len(self.levels):
            y = self.levels * sy + dy
            self._draw_lines(painter, self.level_pen, np.column_stack([
                np.full_like(y, left), y, np.full_like(y, right), y]))  # fmt: skip
        if len(self.edges):
            x = self.edges * sx + x0
            y_low, y_high = -self.tick * sy + dy, self.tick * sy + dy
            self._draw_lines(painter, self.event_pen, np.column_stack([
                x, np.full_like(x, y_low), x, np.full_like(x, y_high)]))  # fmt: skip
        if len(self.trace) > 1:
            if len(self._trace_points) != len(self.trace):
                self._trace = create_qpolygonf(len(self.trace))
                self._trace_points = ndarray_from_qpolygonf(self._trace)
            points = self._trace_points
            points[:, 0] = self.trace[:, 0] * sx + x0
            points[:, 1] = self.trace[:, 1] * sy + dy
            painter.setPen(self.trace_pen)
            painter.drawPolyline(self._trace)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._triangle_pen)
        for side, path in self._triangle_paths(scale).items():
            painter.setBrush(self.triangle_brush[side])
            painter.translate(x0, 0.0)
            painter.drawPath(path)
            painter.translate(-x0, 0.0)

    def _draw_lines(self, painter: QPainter, pen: QPen, lines: np.ndarray) -> None:
        self._lines.resize(len(lines))
        self._lines.ndarray()[:] = lines
        painter.setPen(pen)
        painter.drawLines(*self._lines.drawargs())

    def _triangle_paths(self, scale: np.ndarray) -> dict[str, QPainterPath]:
        """Per side, the midstance triangles (pointing down at the trace) in pixels with x
        counted from session time 0: made again only when the triangles or the scale change."""
        sx, sy, _, dy = scale
        paths = {}
        half = TRIANGLE_SIZE / 2.0
        for side, points in self.midstance.items():
            if not len(points):
                continue
            key = (points.tobytes(), sx, sy, dy)
            cached = self._triangles.get(side)
            if cached is None or cached[0] != key:
                path = QPainterPath()
                for x, y in zip(points[:, 0] * sx, points[:, 1] * sy + dy, strict=True):
                    path.moveTo(x - half, y - half)
                    path.lineTo(x, y + half)
                    path.lineTo(x + half, y - half)
                    path.closeSubpath()
                cached = self._triangles[side] = (key, path)
            paths[side] = cached[1]
        return paths


class CopLayer(PlotLayer):
    """The COP plot's contents: the plates' outline, the midline, and the COP of the last
    seconds as line segments by side (left, right, and outside any stance)."""

    def __init__(self, rect: QRectF) -> None:
        super().__init__(rect)
        self.outline = np.empty((0, 4))  # segments x1, y1, x2, y2 in plot coordinates
        self.midline = np.empty((0, 4))
        self.segments: dict[str, np.ndarray] = {}  # "L", "R", "other" → segments
        self.pens: dict[str, QPen] = {}
        self._lines = PrimitiveArray(QLineF, 4)

    def set_colours(self, muted: str, grid: str, sides: dict[str, str]) -> None:
        self.pens = {
            "outline": cosmetic_pen(muted, 2.0),
            "midline": cosmetic_pen(grid, 1.0),
            "other": cosmetic_pen(muted, 1.0),
            **{s: cosmetic_pen(c, 1.0) for s, c in sides.items()},  # 1 px: the fast path
        }
        self.update()

    def paint_pixels(self, painter: QPainter, scale: np.ndarray) -> None:
        drawn = {"midline": self.midline, "outline": self.outline, **self.segments}
        for name, segments in drawn.items():
            if not len(segments):
                continue
            self._lines.resize(len(segments))
            self._lines.ndarray()[:] = _to_pixels(segments, scale)
            painter.setPen(self.pens[name])
            painter.drawLines(*self._lines.drawargs())


def segments_of_runs(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Line segments joining consecutive finite points under ``mask``: one polyline per run
    of samples, as ``(x1, y1, x2, y2)`` rows."""
    keep = mask & np.isfinite(x) & np.isfinite(y)
    joined = np.flatnonzero(keep[:-1] & keep[1:])
    return np.column_stack([x[joined], y[joined], x[joined + 1], y[joined + 1]])
