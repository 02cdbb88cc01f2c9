"""The two camera views live, and the latest midstance freeze-frame beside each.

Pure views: they are handed an image (h, w) uint8 and a ``{marker: (u, v)}`` dict in pixels and
draw them; they never ask a device for anything. Items are built once and updated in place
(``ImageItem.setImage(autoLevels=False)`` with fixed levels, ``setData`` for markers and lines).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

from app.qt.theme import (
    LABEL_POINT_SIZE,
    MARKER_COLOUR,
    MEASURE_COLOUR,
    SIDE_COLOURS,
    SIDE_NAMES,
    Theme,
)

pg.setConfigOptions(imageAxisOrder="row-major")

# the chains drawn between markers (docs/architecture.md "Marker sets")
SEGMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sagittal": (("shoulder", "hip"), ("hip", "knee", "ankle"), ("heel", "toe")),
    "posterior": (
        ("L_psis", "R_psis"),
        ("L_thigh", "L_knee", "L_ankle"),
        ("R_thigh", "R_knee", "R_ankle"),
    ),
}
LEVELS = (0, 255)


def chain_coordinates(
    markers: Mapping[str, Sequence[float]], chains: Sequence[Sequence[str]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and the ``connect`` array drawing each chain of visible markers as one polyline."""
    xs: list[float] = []
    ys: list[float] = []
    connect: list[bool] = []
    for chain in chains:
        points = [markers[n] for n in chain if n in markers and np.all(np.isfinite(markers[n]))]
        for i, (u, v) in enumerate(points):
            xs.append(float(u))
            ys.append(float(v))
            connect.append(i < len(points) - 1)
    return np.array(xs), np.array(ys), np.array(connect, dtype=bool)


class CameraView(pg.GraphicsLayoutWidget):
    """One camera image with its markers and the hip–knee–ankle lines drawn over it."""

    def __init__(self, view: str, title: str, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.view = view
        self.title = title
        self.setMinimumSize(200, 150)
        self.ci.setContentsMargins(0, 0, 0, 0)  # the image fills the pane, as the live view's does
        self.box = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        # no levels for uint8: pyqtgraph then hands the array to Qt as a Grayscale8 image; with
        # levels (0, 255) it builds an Indexed8 one with a 256-entry colour table on every frame
        # (256 Python→Qt calls) that Qt converts again at every paint (~1 ms per camera)
        self.image.setLevels(None)
        # no numpy downsampling: pyqtgraph's (block means in float) cost ~26 ms per 640×480
        # frame once the view is under half the image's size; Qt scales it when drawing (~1 ms)
        self.image.setAutoDownsample(False)
        self.box.addItem(self.image)
        self.lines = pg.PlotCurveItem(pen=pg.mkPen(MARKER_COLOUR, width=3))
        self.box.addItem(self.lines)
        self.points = pg.ScatterPlotItem(
            size=11, pen=pg.mkPen("#000000", width=1), brush=pg.mkBrush(MARKER_COLOUR)
        )
        self.box.addItem(self.points)
        self.caption = pg.TextItem(anchor=(0, 0), color="#ffffff", fill=pg.mkBrush(0, 0, 0, 150))
        self.caption.setFont(pg.QtGui.QFont("", LABEL_POINT_SIZE))
        self.box.addItem(self.caption)
        self.no_image_text = pg.TextItem(anchor=(0.5, 0.5), color="#9aa0a6")
        self.box.addItem(self.no_image_text)
        self._shape: tuple[int, ...] | None = None
        self.frames_shown = 0
        self.apply_theme(theme)
        self.show_nothing("waiting for the camera")

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.surface)

    def show_nothing(self, reason: str) -> None:
        """No image yet (or the camera stopped): say so instead of a stale picture."""
        self.image.clear()
        self.points.setData([], [])
        self.lines.setData([], [])
        self.no_image_text.setText(f"{self.title}: {reason}")
        self.no_image_text.setPos(320, 240)
        self.caption.setText("")
        self.caption_text = ""
        self.caption.hide()
        self.box.setRange(xRange=(0, 640), yRange=(0, 480), padding=0)
        self._shape = None

    def show_frame(
        self,
        image: np.ndarray,
        markers: Mapping[str, Sequence[float]],
        caption: str = "",
    ) -> None:
        levels = None if image.dtype == np.uint8 else LEVELS  # any other depth: scaled to 8 bits
        self.image.setImage(image, autoLevels=False, levels=levels)
        if image.shape != self._shape:
            self._shape = image.shape
            h, w = image.shape[:2]
            self.box.setRange(xRange=(0, w), yRange=(0, h), padding=0)
            self.no_image_text.setText("")
            self.caption.setPos(4, 4)
        self.draw_markers(markers)
        caption = caption or self.title
        if caption != self.caption_text:  # a text item re-lays itself out on every setText
            if not self.caption_text:
                self.caption.show()
            self.caption_text = caption
            self.caption.setText(caption)
        self.frames_shown += 1

    def draw_markers(self, markers: Mapping[str, Sequence[float]]) -> None:
        x, y, connect = chain_coordinates(markers, SEGMENTS.get(self.view, ()))
        if len(x) > 1:
            self.lines.setData(x, y, connect=connect)
        else:
            self.lines.setData([], [])
        finite = [
            (float(u), float(v))
            for u, v in markers.values()
            if math.isfinite(u) and math.isfinite(v)
        ]
        if finite:
            pts = np.array(finite)
            self.points.setData(pts[:, 0], pts[:, 1])
        else:
            self.points.setData([], [])


def signed_hip_ankle_words(d_m: float) -> str:
    """What the hip–ankle distance's sign means (d = x_ankle − x_hip; positive: ankle ahead).
    The size is the number it follows, not repeated: the label then fits one line of a
    freeze-frame as large as the live view beside it (~330 px at 1600×1000)."""
    return "ankle ahead of hip" if d_m >= 0 else "ankle behind hip"


class FreezeFrameView(CameraView):
    """The frame nearest midstance of the latest stance, with the measured quantity drawn on it:
    the hip–ankle distance as a horizontal bracket (sagittal), the FPPA as an angle at the knee
    (posterior), and the number itself beside it."""

    def __init__(self, view: str, title: str, theme: Theme, parent=None) -> None:
        super().__init__(view, title, theme, parent)
        pen = pg.mkPen(MEASURE_COLOUR, width=3)
        self.measure = pg.PlotCurveItem(pen=pen, antialias=True)
        dashed = pg.mkPen(MEASURE_COLOUR, width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
        self.guides = pg.PlotCurveItem(pen=dashed, antialias=True)
        self.box.addItem(self.guides)
        self.box.addItem(self.measure)
        self.value = pg.TextItem(
            anchor=(0.5, 1.0), color="#000000", fill=pg.mkBrush(MEASURE_COLOUR)
        )
        self.value.setFont(pg.QtGui.QFont("", LABEL_POINT_SIZE, pg.QtGui.QFont.Weight.Bold))
        self.box.addItem(self.value)
        self.shown_stance: int | None = None
        self.show_nothing("no midstance yet")

    def show_nothing(self, reason: str) -> None:
        super().show_nothing(reason)
        if hasattr(self, "measure"):
            self.measure.setData([], [])
            self.guides.setData([], [])
            self.value.setText("")
            self.shown_stance = None

    def show_freeze(
        self,
        image: np.ndarray,
        markers: Mapping[str, Sequence[float]],
        stance: Mapping[str, Any],
    ) -> None:
        side = stance.get("side") or ""
        time_s = stance.get("midstance_used_s") or stance.get("midstance_s")
        caption = f"Midstance · {SIDE_NAMES.get(side, 'unknown side')} stance {stance.get('index')}"
        if isinstance(time_s, (int, float)) and math.isfinite(time_s):
            timed = f"{caption} · {time_s:.2f} s"
            if self._fits_one_line(timed):  # else the time goes, rather than being cut off
                caption = timed
        self.show_frame(image, markers, caption)
        self.caption.setColor(SIDE_COLOURS.get(side, "#ffffff"))
        if self.view == "sagittal":
            self._draw_bracket(markers, stance)
        else:
            self._draw_fppa(markers, stance, side)
        self.shown_stance = stance.get("index")

    def _draw_bracket(
        self, markers: Mapping[str, Sequence[float]], stance: Mapping[str, Any]
    ) -> None:
        d = stance.get("hip_ankle_midstance_m")
        if d is None or not math.isfinite(d):
            self._no_measure("no hip–ankle value (far leg, or markers unseen)")
            return
        if "hip" not in markers or "ankle" not in markers:
            self._no_measure("hip–ankle: markers not seen at midstance")
            return
        (uh, vh), (ua, va) = markers["hip"], markers["ankle"]
        y = float(va) + 28.0  # just below the ankle
        tick = 10.0
        self.measure.setData(
            [uh, uh, ua, ua], [y - tick, y, y, y - tick], connect=np.array([1, 1, 1, 0], dtype=bool)
        )
        self.guides.setData([uh, uh], [vh, y])
        self._place_value(((uh + ua) / 2.0, y + 6.0), (0.5, 0.0))
        self.value.setText(f" {d * 100:+.1f} cm · {signed_hip_ankle_words(d)} ")
        self._fit_value()

    def _draw_fppa(
        self, markers: Mapping[str, Sequence[float]], stance: Mapping[str, Any], side: str
    ) -> None:
        angle = stance.get("fppa_midstance_deg")
        names = (f"{side}_thigh", f"{side}_knee", f"{side}_ankle")
        if angle is None or not math.isfinite(angle) or not all(n in markers for n in names):
            self._no_measure("FPPA: knee markers not seen at midstance")
            return
        thigh, knee, ankle = (np.asarray(markers[n], dtype=float) for n in names)
        shank_len = float(np.linalg.norm(ankle - knee))
        along = knee - thigh
        along /= max(float(np.linalg.norm(along)), 1e-9)
        extension = knee + along * shank_len  # where a straight leg's ankle would be
        self.guides.setData([knee[0], extension[0]], [knee[1], extension[1]])
        arc = _arc_points(knee, extension, ankle, radius=0.45 * shank_len)
        xs = np.concatenate([[thigh[0], knee[0], ankle[0]], arc[:, 0]])
        ys = np.concatenate([[thigh[1], knee[1], ankle[1]], arc[:, 1]])
        connect = np.ones(len(xs), dtype=bool)
        connect[2] = False
        connect[-1] = False
        self.measure.setData(xs, ys, connect=connect)
        words = "valgus" if angle >= 0 else "varus"
        width = self._shape[1] if self._shape else 640
        right_of_knee = knee[0] < width / 2  # the label goes where there is room
        offset = 0.35 * shank_len if right_of_knee else -0.35 * shank_len
        self._place_value((knee[0] + offset, knee[1]), (0.0 if right_of_knee else 1.0, 0.5))
        self.value.setText(f" {SIDE_NAMES.get(side, '')} FPPA {abs(angle):.1f}° {words} ")
        self._fit_value()

    def _fits_one_line(self, caption: str) -> bool:
        """Whether ``caption`` fits across the view (a freeze-frame is ~250 px wide at 1280×800)."""
        text = self.caption.textItem
        h, w = self._shape[:2] if self._shape else (480, 640)
        left = 4.0 * min(self.width() / w, self.height() / h)  # its position, 4 image px in
        width = QFontMetricsF(text.font()).horizontalAdvance(caption)
        return left + width + 2.0 * text.document().documentMargin() <= self.width()

    def _fit_value(self) -> None:
        """Wrap the number's text when one line would run off the view (the text starts at
        the image's left edge, which is inset when the view is wider than the image). The
        inset is computed as the aspect-locked view box centres the image: the box's own
        transform is only updated later, when a new frame size has just been set."""
        self.value.setTextWidth(-1)
        h, w = self._shape[:2] if self._shape else (480, 640)
        left = (self.width() - w * min(self.width() / w, self.height() / h)) / 2.0
        room = max(120.0, self.width() - max(left, 0.0) - 12.0)
        if self.value.textItem.boundingRect().width() > room:
            self.value.setTextWidth(room)

    def _no_measure(self, reason: str) -> None:
        self.measure.setData([], [])
        self.guides.setData([], [])
        h, w = self._shape[:2] if self._shape else (480, 640)
        self._place_value((w / 2.0, h - 6.0), (0.5, 1.0))
        self.value.setText(f" {reason} ")
        self.value.textItem.setTextWidth(max(120.0, 0.6 * self.width()))  # wrap, never cut off

    def _place_value(self, pos: tuple[float, float], anchor: tuple[float, float]) -> None:
        """The number always sits at the image's top left, under the caption and above the
        runner's head, so it never hides the drawing nor is cut off however small the view is
        (``pos``/``anchor`` are where a larger view could put it)."""
        h = self._shape[0] if self._shape else 480
        self.value.setAnchor((0.0, 0.0))
        self.value.setPos(4.0, 0.14 * h)


def _arc_points(centre: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Points on the short arc around ``centre`` from the direction of ``a`` to that of ``b``."""
    start = math.atan2(a[1] - centre[1], a[0] - centre[0])
    end = math.atan2(b[1] - centre[1], b[0] - centre[0])
    sweep = (end - start + math.pi) % (2 * math.pi) - math.pi
    angles = start + np.linspace(0.0, sweep, 24)
    return np.column_stack(
        [centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)]
    )
