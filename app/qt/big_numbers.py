"""The headline numbers, per side: mean ± SD over the last steps, with n, and a marker in words
and symbol (never colour alone) when the mean is outside the lab's configured range."""

from __future__ import annotations

import math
from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from app.qt.metric_specs import HEADLINE, MetricSpec, format_mean_sd
from app.qt.references import LabRange
from app.qt.theme import (
    LABEL_POINT_SIZE,
    NUMBER_POINT_SIZE,
    SIDE_COLOURS,
    SIDE_NAMES,
    SMALL_POINT_SIZE,
    Theme,
    font,
)


class NumberCell(QFrame):
    """One metric of one side: the number, its unit and n, and the out-of-range note."""

    def __init__(self, spec: MetricSpec, side: str) -> None:
        super().__init__()
        self.spec = spec
        self.side = side
        self.setObjectName(f"cell_{side}_{spec.key}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(0)
        self.number = QLabel("—")
        self.number.setFont(font(NUMBER_POINT_SIZE, bold=True))
        self.number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.detail = QLabel(f"{spec.unit} · n = 0")
        self.detail.setFont(font(SMALL_POINT_SIZE))
        self.detail.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.detail.setWordWrap(True)
        self.flag = QLabel("")
        self.flag.setFont(font(SMALL_POINT_SIZE, bold=True))
        self.flag.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.number)
        layout.addWidget(self.detail)
        self.flag.setVisible(False)  # its text is shown on the unit line (see show_value)
        self.flag_style = ""
        self.mean = math.nan
        self.sd = math.nan
        self.n = 0
        self.outside = ""

    def show_value(
        self, stats: Mapping[str, float] | None, lab_range: LabRange | None, hint: str = ""
    ) -> None:
        stats = stats or {}
        self.mean = self.spec.display(stats.get("mean"))
        self.sd = self.spec.display(stats.get("sd"))
        self.n = int(stats.get("n") or 0)
        self.number.setText(format_mean_sd(self.mean, self.sd, self.spec.decimals))
        if self.n == 0 and hint:
            self.detail.setText(f"{self.spec.unit} · {hint}")
        else:
            self.detail.setText(f"{self.spec.unit} · n = {self.n}")
        self.outside = lab_range.outside(self.mean) if lab_range else ""
        if self.outside:
            arrow = "▲" if self.outside == "above" else "▼"
            self.flag.setText(f"{arrow} {self.outside} lab range ({lab_range.describe()})")
            # on the unit line (the range itself on hover), so a cell stays compact
            self.detail.setText(f"{self.detail.text()} · {arrow} {self.outside} lab range")
            self.detail.setToolTip(f"{self.flag.text()}; {lab_range.source}")
        else:
            self.flag.setText("")
        self.detail.setStyleSheet(self.flag_style if self.outside else "")


class BigNumbers(QWidget):
    """Left and right columns of the three headline metrics (hip–ankle, FPPA, VALR)."""

    def __init__(self, theme: Theme, last_n: int = 20, parent=None) -> None:
        super().__init__(parent)
        self.last_n = last_n
        self.ranges: dict[str, LabRange] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.caption = QLabel(f"Mean ± SD, last {last_n} steps per side")
        self.caption.setProperty("role", "muted")
        grid.addWidget(self.caption, 0, 0)
        self.headers: dict[str, QLabel] = {}
        for col, side in enumerate(("L", "R"), start=1):
            header = QLabel(SIDE_NAMES[side])
            header.setFont(font(LABEL_POINT_SIZE + 2, bold=True))
            header.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(header, 0, col)
            self.headers[side] = header
        self.cells: dict[tuple[str, str], NumberCell] = {}
        for row, spec in enumerate(HEADLINE, start=1):
            label = QLabel(spec.label)
            label.setFont(font(LABEL_POINT_SIZE))
            label.setWordWrap(True)
            grid.addWidget(label, row, 0)
            for col, side in enumerate(("L", "R"), start=1):
                cell = NumberCell(spec, side)
                grid.addWidget(cell, row, col)
                self.cells[(side, spec.key)] = cell
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 3)
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        for side, header in self.headers.items():
            header.setStyleSheet(f"color: {SIDE_COLOURS[side]};")
        for (side, _), cell in self.cells.items():
            cell.setStyleSheet(
                f"QFrame#{cell.objectName()} {{ border-left: 5px solid {SIDE_COLOURS[side]};"
                f" background: {theme.surface}; }}"
            )
            cell.flag_style = f"color: {theme.text}; background: {theme.warning};"

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)

    def set_ranges(self, ranges: Mapping[str, LabRange]) -> None:
        self.ranges = dict(ranges)

    def show_summary(
        self,
        summary: Mapping[str, Mapping[str, Mapping[str, float]]],
        hints: Mapping[str, str] | None = None,
    ) -> None:
        """``summary`` is the controller's ``{"L": {metric: {"mean","sd","n"}}, "R": ...}``;
        ``hints`` say why a metric has no value (e.g. VALR in BW/s needs the body mass)."""
        hints = hints or {}
        for (side, key), cell in self.cells.items():
            stats = summary.get(side, {}).get(key)
            cell.show_value(stats, self.ranges.get(cell.spec.range_key), hints.get(key, ""))
