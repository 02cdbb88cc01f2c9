"""The camera panes: each camera live beside its latest midstance freeze-frame, at the same size.

Why not a QGridLayout: its columns shared the width by the panes' size hints (the live view
asked for its 200 px minimum, the freeze-frame's pyqtgraph widget for more), so at 1600×1000 the
live views were a third the size of the freeze-frames beside them; and each pane fits its image
inside its cell, so a cell's spare width became a gap between a live view and its freeze-frame.
Here each row's two panes have exactly the camera frame's aspect ratio and the same size, as
large as the area allows, the pair centred in the row: the runner now is as legible as the
runner at the last midstance.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QWidget

DEFAULT_ASPECT = 4.0 / 3.0  # until a camera's first frame says otherwise (640×480 and most others)
SPACING = 4  # px between panes


def pane_rects(
    width: int, height: int, aspects: Sequence[float], spacing: int = SPACING
) -> list[tuple[QRect, QRect]]:
    """Where each row's (live, freeze) panes go in a ``width``×``height`` area: the rows share
    the height equally, both panes of a row the frame's aspect ratio and as large as fits, the
    pair centred; rows that come out shorter than their share are packed together, centred."""
    rows = len(aspects)
    if rows == 0:
        return []
    share = max(1.0, (height - spacing * (rows - 1)) / rows)
    half = max(1.0, (width - spacing) / 2.0)
    sizes = []
    for aspect in aspects:
        pane_h = min(share, half / aspect)
        sizes.append((max(1, int(pane_h * aspect)), max(1, int(pane_h))))
    used = sum(h for _, h in sizes) + spacing * (rows - 1)
    y = max(0, (height - used) // 2)
    placed = []
    for pane_w, pane_h in sizes:
        x = max(0, (width - 2 * pane_w - spacing) // 2)
        placed.append((QRect(x, y, pane_w, pane_h), QRect(x + pane_w + spacing, y, pane_w, pane_h)))
        y += pane_h + spacing
    return placed


class VideoGrid(QWidget):
    """Rows of (live view, freeze-frame) panes laid out by :func:`pane_rects`, one row per view.

    ``set_frame_shape`` is called with each live frame: it re-lays the panes only when a
    camera's frame size (aspect ratio) changes, not per frame."""

    def __init__(self, rows: dict[str, tuple[QWidget, QWidget]], parent=None) -> None:
        super().__init__(parent)
        self.rows = dict(rows)
        self.aspects = dict.fromkeys(self.rows, DEFAULT_ASPECT)
        for live, freeze in self.rows.values():
            live.setParent(self)
            freeze.setParent(self)

    def set_frame_shape(self, view: str, width: int, height: int) -> None:
        aspect = width / height if width > 0 and height > 0 else DEFAULT_ASPECT
        if self.aspects.get(view) != aspect:
            self.aspects[view] = aspect
            self._place()

    def pane_rects(self) -> dict[str, tuple[QRect, QRect]]:
        """Each view's (live, freeze) rectangles at the grid's current size."""
        rects = pane_rects(self.width(), self.height(), list(self.aspects.values()))
        return dict(zip(self.aspects, rects, strict=True))

    def minimumSizeHint(self) -> QSize:
        """Two panes side by side, the rows stacked, each pane at its own minimum size."""
        panes = list(self.rows.values())
        width = max((a.minimumWidth() + b.minimumWidth() for a, b in panes), default=0)
        height = sum(max(a.minimumHeight(), b.minimumHeight()) for a, b in panes)
        return QSize(width + SPACING, height + SPACING * max(0, len(panes) - 1))

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place()

    def _place(self) -> None:
        for view, (live_rect, freeze_rect) in self.pane_rects().items():
            live, freeze = self.rows[view]
            live.setGeometry(live_rect)
            freeze.setGeometry(freeze_rect)
