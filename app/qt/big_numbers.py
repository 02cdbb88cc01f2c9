"""The headline numbers, per side: the mean over the last steps large, ± SD and n under it,
and a marker in words and symbol (never colour alone) when the mean is outside the lab's
configured range."""

from __future__ import annotations

import math
from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from app.qt.metric_specs import HEADLINE, MetricSpec, format_mean_sd
from app.qt.references import LabRange
from app.qt.theme import (
    SIDE_COLOURS,
    SIDE_NAMES,
    Theme,
)

NBSP = "\u00a0"


class NumberCell(QFrame):
    """One metric of one side: the number, its unit and n, and the out-of-range note."""

    def __init__(self, spec: MetricSpec, side: str) -> None:
        super().__init__()
        self.spec = spec
        self.side = side
        self.setObjectName(f"cell_{side}_{spec.key}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 6, 0)
        layout.setSpacing(0)
        self.number = QLabel("—")
        self.number.setProperty("role", "number")  # the size comes from the theme's sheet
        self.number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.detail = QLabel(f"{spec.unit} · n = 0")
        self.detail.setProperty("role", "small")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.detail.setWordWrap(True)  # a narrow window wraps the note, never cuts it
        self.flag = QLabel("")  # the whole note with the range: the detail's tooltip
        self.flag.setVisible(False)
        layout.addWidget(self.number)
        layout.addWidget(self.detail)
        self.flag_style = ""
        self.mean = math.nan
        self.sd = math.nan
        self.n = 0
        self.outside = ""

    def show_value(
        self, stats: Mapping[str, float] | None, lab_range: LabRange | None, hint: str = ""
    ) -> None:
        """Labels are set only when their text changes (a re-set text re-lays the window out)."""
        stats = stats or {}
        self.mean = self.spec.display(stats.get("mean"))
        self.sd = self.spec.display(stats.get("sd"))
        self.n = int(stats.get("n") or 0)
        # the mean is the headline, the SD goes on the unit line: two sides of large numbers
        # then fit a 1200 px window
        set_text(self.number, format_mean_sd(self.mean, math.nan, self.spec.decimals))
        # no-break spaces inside each part: a narrow cell wraps between parts, not inside one
        n = f"n{NBSP}={NBSP}{self.n}"
        if self.n == 0 and hint:
            detail = f"{self.spec.unit} · {hint}"
        elif math.isfinite(self.mean) and math.isfinite(self.sd):
            detail = f"±{NBSP}{self.sd:.{self.spec.decimals}f}{NBSP}{self.spec.unit} · {n}"
        else:
            detail = f"{self.spec.unit} · {n}"
        self.outside = lab_range.outside(self.mean) if lab_range else ""
        tip = ""
        if self.outside:
            arrow = "▲" if self.outside == "above" else "▼"
            self.flag.setText(f"{arrow} {self.outside} lab range ({lab_range.describe()})")
            # on the unit line (the range itself on hover), so a cell stays compact
            detail = f"{detail} · {arrow}{NBSP}{self.outside}{NBSP}lab{NBSP}range"
            tip = f"{self.flag.text()}; {lab_range.source}"
        else:
            self.flag.setText("")
        set_text(self.detail, detail)
        if self.detail.toolTip() != tip:
            self.detail.setToolTip(tip)
        style = self.flag_style if self.outside else ""
        if self.detail.styleSheet() != style:
            self.detail.setStyleSheet(style)


def set_text(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)


class BigNumbers(QWidget):
    """Left and right columns of the three headline metrics (hip–ankle, FPPA, VALR)."""

    def __init__(self, theme: Theme, last_n: int = 20, parent=None) -> None:
        super().__init__(parent)
        self.last_n = last_n
        self.ranges: dict[str, LabRange] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        self.caption = QLabel(f"Mean ± SD, last {last_n} steps per side")
        self.caption.setProperty("role", "muted")
        self.caption.setWordWrap(True)
        grid.addWidget(self.caption, 0, 0)
        self.headers: dict[str, QLabel] = {}
        for col, side in enumerate(("L", "R"), start=1):
            header = QLabel(SIDE_NAMES[side])
            header.setProperty("role", "side")
            header.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(header, 0, col)
            self.headers[side] = header
        self.cells: dict[tuple[str, str], NumberCell] = {}
        for row, spec in enumerate(HEADLINE, start=1):
            label = QLabel(spec.label)
            label.setWordWrap(True)
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance("Knee valgus") + 4)
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
        set_text(self.caption, text)

    def resizeEvent(self, event) -> None:
        """Wrapped notes need more height in a narrow column: ask for it, so a splitter or a
        small window never squeezes a cell below its text (layouts do not do this by
        themselves for word-wrapped labels)."""
        super().resizeEvent(event)
        self.fit_height()

    def fit_height(self) -> None:
        needed = self.layout().heightForWidth(self.width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    def set_ranges(self, ranges: Mapping[str, LabRange]) -> None:
        self.ranges = dict(ranges)

    def show_summary(
        self,
        summary: Mapping[str, Mapping[str, Mapping[str, float]]],
        hints: Mapping[str | tuple[str, str], str] | None = None,
    ) -> None:
        """``summary`` is the controller's ``{"L": {metric: {"mean","sd","n"}}, "R": ...}``;
        ``hints`` say why a metric has no value, for both sides (key: the metric, e.g. VALR in
        BW/s needs the body mass) or one (key: ``(side, metric)``)."""
        hints = hints or {}
        for (side, key), cell in self.cells.items():
            stats = summary.get(side, {}).get(key)
            hint = hints.get((side, key)) or hints.get(key, "")
            cell.show_value(stats, self.ranges.get(cell.spec.range_key), hint)
        self.fit_height()
