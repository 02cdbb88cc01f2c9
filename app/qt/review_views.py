"""Widgets of the review window: a camera pane with its markers, and the stance table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# (title, field, scale, decimals) — the stance table's columns after #, side
COLUMNS = (
    ("contact s", "contact_s", 1.0, 3),
    ("toe-off s", "toe_off_s", 1.0, 3),
    ("contact ms", "contact_time_s", 1000.0, 0),
    ("hip–ankle IC cm", "hip_ankle_contact_m", 100.0, 1),
    ("hip–ankle MS cm", "hip_ankle_midstance_m", 100.0, 1),
    ("FPPA MS °", "fppa_midstance_deg", 1.0, 1),
    ("pelvic drop °", "pelvic_drop_deg", 1.0, 1),
    ("knee flex IC °", "knee_flexion_contact_deg", 1.0, 1),
    ("VALR BW/s", "valr_BW_s", 1.0, 1),
    ("VILR BW/s", "vilr_BW_s", 1.0, 1),
    ("peak braking BW", "peak_braking_BW", 1.0, 2),
)
# flags worth a colour in the table (the full list is in the last column)
WARNING_FLAGS = ("ambiguous_side", "low_marker_quality", "low_marker_quality_posterior",
                 "marker_irregular", "marker_irregular_posterior",
                 "loading_rate_13pct", "side_conflict", "daq_gap")  # fmt: skip
MARKER_COLOURS = ("#00e5ff", "#ffeb3b", "#ff9800", "#e91e63", "#8bc34a", "#ffffff", "#9c27b0",
                  "#03a9f4")  # fmt: skip


class VideoPane(QWidget):
    """One camera's frame at the cursor with its labelled markers (image pixels)."""

    def __init__(self, camera: str) -> None:
        super().__init__()
        self.camera = camera
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(camera)
        layout.addWidget(self.caption)
        self.view = pg.GraphicsLayoutWidget()
        self.box = self.view.addViewBox(lockAspect=True, invertY=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.dots = pg.ScatterPlotItem(size=9, pen=pg.mkPen("k"), brush=None)
        self.box.addItem(self.dots)
        self.labels: list[pg.TextItem] = []
        layout.addWidget(self.view)
        self.frame_index = -1
        self.markers: dict[str, tuple[float, float]] = {}

    def show_frame(self, image: np.ndarray, markers: dict[str, tuple[float, float]], k: int,
                   time_s: float) -> None:  # fmt: skip
        first = self.frame_index < 0
        self.image.setImage(image, autoLevels=False, levels=(0, 255))
        if first:
            self.box.autoRange()
        self.frame_index = k
        self.markers = markers
        spots = [{"pos": xy, "brush": pg.mkBrush(MARKER_COLOURS[i % len(MARKER_COLOURS)])}
                 for i, xy in enumerate(markers.values())]  # fmt: skip
        self.dots.setData(spots)
        for item in self.labels:
            self.box.removeItem(item)
        self.labels = []
        for name, (x, y) in markers.items():
            text = pg.TextItem(name, color="#ffffff", anchor=(0, 1))
            text.setPos(x + 3, y - 3)
            self.box.addItem(text)
            self.labels.append(text)
        self.caption.setText(f"{self.camera}: frame {k} at {time_s:.3f} s")


class StanceTable(QTableWidget):
    """One row per step: every metric and its flags; a click asks the window to seek there."""

    stance_clicked = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.cellClicked.connect(lambda row, _col: self.stance_clicked.emit(row))
        headers = ["#", "side", *(c[0] for c in COLUMNS), "flags"]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)

    def show_stances(self, stances: Sequence[dict[str, Any]]) -> None:
        self.setRowCount(len(stances))
        for row, st in enumerate(stances):
            flags = st.get("flags") or ()
            cells = [str(st.get("index", row)), st.get("side") or "?"]
            for _, name, scale, decimals in COLUMNS:
                value = st.get(name)
                ok = value is not None and math.isfinite(float(value))
                cells.append(f"{float(value) * scale:.{decimals}f}" if ok else "—")
            cells.append(", ".join(flags))
            warn = any(f in WARNING_FLAGS for f in flags)
            excluded = "excluded_by_analyst" in flags
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if excluded:
                    item.setForeground(QColor("#999999"))
                elif warn:
                    item.setBackground(QColor("#fff3cd"))
                self.setItem(row, col, item)
        self.resizeColumnsToContents()

    def highlight(self, row: int) -> None:
        if 0 <= row < self.rowCount() and self.currentRow() != row:
            self.blockSignals(True)
            self.selectRow(row)
            self.blockSignals(False)
