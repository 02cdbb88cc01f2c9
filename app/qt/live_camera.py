"""A camera live: the newest frame with its markers and segment lines, painted by one QPainter.

Why not a pyqtgraph scene like the freeze-frames: a live view is repainted with every refresh
(~30 times a second per camera), and a scene of an image, a curve, a scatter and two text items
cost ~120 Python→Qt calls and ~300 Python calls per frame (bounding rects, view transforms,
symbol atlases). Each Python→Qt call can give the interpreter lock to the acquisition threads
and wait to get it back. Here a frame is ~15 Qt calls: the image (Grayscale8, no colour table,
decimated in numpy when drawn at half size or less), the segment lines and the marker dots
(each one call on arrays shared with numpy) and the caption.

Coordinates stay in frame pixels (``markers_xy``, ``segments``): the paint maps them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from pyqtgraph.Qt.internals import PrimitiveArray
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from app.qt.theme import LABEL_POINT_SIZE, MARKER_COLOUR, Theme
from app.qt.video_views import SEGMENTS, chain_coordinates

NO_IMAGE_SIZE = (640, 480)  # the area a message is laid out in before the first frame
MARKER_DIAMETER = 11.0  # px on screen, as the freeze-frames' markers
LINE_WIDTH = 3.0
CAPTION_MARGIN = 4.0  # px from the image's top left corner


def fitted_rect(width: float, height: float, image_w: int, image_h: int) -> QRectF:
    """The largest rectangle of the image's aspect ratio centred in a ``width``×``height`` area."""
    scale = min(width / image_w, height / image_h) if image_w and image_h else 1.0
    w, h = image_w * scale, image_h * scale
    return QRectF((width - w) / 2.0, (height - h) / 2.0, w, h)


def decimation(scale: float) -> int:
    """Every k-th pixel of each row and column is enough when the image is drawn at ``scale``:
    Qt would skip the others anyway (nearest-neighbour scaling), and it converts the whole
    source image to 32 bits at every paint."""
    return max(1, int(1.0 / scale)) if scale > 0 else 1


class LiveCameraView(QWidget):
    """One camera's newest frame with the detected markers and the segment lines drawn on it."""

    def __init__(self, view: str, title: str, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.view = view
        self.title = title
        self.setMinimumSize(200, 150)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # the paint fills every pixel
        self.frames_shown = 0
        self.image: np.ndarray | None = None  # the frame shown (as given, full size)
        self.markers_xy = np.empty((0, 2))  # marker dots, frame pixels
        self.segments = np.empty((0, 4))  # x1, y1, x2, y2 of each line drawn, frame pixels
        self.caption_text = ""
        self.message = ""  # shown instead of an image
        self._qimage: QImage | None = None
        self._pixels: np.ndarray | None = None  # the (decimated) array the QImage reads
        self._step = 1
        self._target = QRectF()
        self._lines = PrimitiveArray(QLineF, 4)
        self._font = QFont("", LABEL_POINT_SIZE)
        self._caption_rect = QRectF()
        self._caption_for = ""  # the caption text the rect was measured for
        self._line_pen = QPen(QColor(MARKER_COLOUR), LINE_WIDTH)
        self._line_pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self._dots = PrimitiveArray(QPainter.PixmapFragment, 10)
        self._dot: QPixmap | None = None  # the marker drawn once (per device pixel ratio)
        self._caption_fill = QColor(0, 0, 0, 150)
        self._caption_pen = QColor("#ffffff")
        self.apply_theme(theme)
        self.show_nothing("waiting for the camera")

    def apply_theme(self, theme: Theme) -> None:
        self._background = QColor(theme.surface)
        self._message_pen = QColor(theme.muted)
        self.update()

    def show_nothing(self, reason: str) -> None:
        """No image yet (or the camera stopped): say so instead of a stale picture."""
        self.image = self._qimage = self._pixels = None
        self.markers_xy = np.empty((0, 2))
        self.segments = np.empty((0, 4))
        self.caption_text = ""
        self.message = f"{self.title}: {reason}"
        self.update()

    def show_frame(
        self,
        image: np.ndarray,
        markers: Mapping[str, Sequence[float]],
        caption: str = "",
    ) -> None:
        """``image`` (h, w) uint8 (other depths are scaled to 8 bits); ``markers`` in its pixels."""
        shape_changed = self.image is None or image.shape != self.image.shape
        self.image = image
        self.message = ""
        if shape_changed:
            self._place()
        self._set_pixels()
        self._set_overlay(markers)
        self.caption_text = caption or self.title
        self.frames_shown += 1
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.image is not None:
            self._place()
            self._set_pixels()

    # -- what a paint draws, prepared outside it ---------------------------------------------------
    def _place(self) -> None:
        """Where the image goes and how much of it Qt needs (on a new size or shape only)."""
        h, w = self.image.shape[:2]
        self._target = fitted_rect(self.width(), self.height(), w, h)
        self._step = decimation(self._target.width() / w)

    def _set_pixels(self) -> None:
        image = self.image
        if image.dtype != np.uint8:
            top = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
            image = np.clip(image * (255.0 / top), 0, 255).astype(np.uint8)
        if image.ndim == 3:
            image = image[..., 0]
        step = self._step
        pixels = np.ascontiguousarray(image[::step, ::step] if step > 1 else image)
        h, w = pixels.shape
        self._pixels = pixels  # the QImage reads this buffer: keep it alive as long as it
        self._qimage = QImage(pixels.data, w, h, pixels.strides[0], QImage.Format.Format_Grayscale8)

    def _set_overlay(self, markers: Mapping[str, Sequence[float]]) -> None:
        x, y, connect = chain_coordinates(markers, SEGMENTS.get(self.view, ()))
        starts = np.flatnonzero(connect)
        self.segments = np.column_stack([x[starts], y[starts], x[starts + 1], y[starts + 1]])
        xy = np.array([tuple(p) for p in markers.values()], dtype=float).reshape(-1, 2)
        self.markers_xy = xy[np.isfinite(xy).all(axis=1)]

    def _to_screen(self, xy: np.ndarray) -> np.ndarray:
        """Frame pixels → widget pixels (an array of any number of (x, y) pairs per row)."""
        scale = self._target.width() / self.image.shape[1]
        offset = np.tile([self._target.left(), self._target.top()], xy.shape[1] // 2)
        return xy * scale + offset

    # -- painting ----------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)
        if self._qimage is None:
            painter.setPen(self._message_pen)
            painter.setFont(self._font)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(QRectF(self.rect()).adjusted(8, 8, -8, -8), flags, self.message)
            painter.end()
            return
        painter.drawImage(self._target, self._qimage)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if len(self.segments):
            self._lines.resize(len(self.segments))
            self._lines.ndarray()[:] = self._to_screen(self.segments)
            painter.setPen(self._line_pen)
            painter.drawLines(*self._lines.drawargs())
        if len(self.markers_xy):
            # one pre-drawn dot copied to every marker (Qt strokes a wide round point with
            # antialiasing anew for each: ~20 µs a marker)
            dot = self._marker_dot()
            ratio = dot.devicePixelRatio()
            size = dot.width()
            self._dots.resize(len(self.markers_xy))
            fragments = self._dots.ndarray()
            fragments[:, 0:2] = self._to_screen(self.markers_xy)
            fragments[:, 2:6] = (0.0, 0.0, size, size)
            fragments[:, 6:10] = (1.0 / ratio, 1.0 / ratio, 0.0, 1.0)
            painter.drawPixmapFragments(*self._dots.drawargs(), dot)
        if self.caption_text:
            self._draw_caption(painter)
        painter.end()

    def _marker_dot(self) -> QPixmap:
        """A marker dot: ``MARKER_DIAMETER`` px of the marker colour in a 1 px black ring."""
        ratio = self.devicePixelRatioF()
        if self._dot is None or self._dot.devicePixelRatio() != ratio:
            side = math.ceil((MARKER_DIAMETER + 4.0) * ratio)
            dot = QPixmap(side, side)
            dot.fill(Qt.GlobalColor.transparent)
            painter = QPainter(dot)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(ratio, ratio)
            centre = QPointF(side / ratio / 2.0, side / ratio / 2.0)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#000000"))
            painter.drawEllipse(centre, MARKER_DIAMETER / 2.0 + 1.0, MARKER_DIAMETER / 2.0 + 1.0)
            painter.setBrush(QColor(MARKER_COLOUR))
            painter.drawEllipse(centre, MARKER_DIAMETER / 2.0, MARKER_DIAMETER / 2.0)
            painter.end()
            dot.setDevicePixelRatio(ratio)
            self._dot = dot
        return self._dot

    def _draw_caption(self, painter: QPainter) -> None:
        painter.setFont(self._font)
        if self._caption_for != self.caption_text:
            size = QFontMetricsF(self._font).size(0, self.caption_text)
            self._caption_rect = QRectF(0, 0, size.width() + 8.0, size.height() + 4.0)
            self._caption_for = self.caption_text
        rect = self._caption_rect.translated(
            self._target.left() + CAPTION_MARGIN, self._target.top() + CAPTION_MARGIN
        )
        painter.fillRect(rect, self._caption_fill)
        painter.setPen(self._caption_pen)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.caption_text)
