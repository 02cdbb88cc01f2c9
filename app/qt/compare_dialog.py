"""The result of a before/after comparison: the per-side table, verdicts, and saving the PDF."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from analysis.compare import WITHIN_ERROR


def _fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _mean_sd(block: dict[str, Any], digits: int) -> str:
    return f"{_fmt(block['mean'], digits)} ± {_fmt(block['sd'], digits)} ({block['n']})"


class CompareDialog(QDialog):
    def __init__(self, doc: dict[str, Any], parent=None) -> None:
        super().__init__(parent)
        from app.reports import short_verdict

        self.doc = doc
        b, a = doc["before"], doc["after"]
        self.setWindowTitle(f"Comparison {doc['subject_id']}: {b['date']} → {a['date']}")
        layout = QVBoxLayout(self)
        if doc["mismatches"]:
            warning = QLabel("Compared despite: " + "; ".join(
                f"{m['what']} — {m['detail']}" for m in doc["mismatches"]))  # fmt: skip
            warning.setStyleSheet("color: #c00000; font-weight: bold")
            warning.setWordWrap(True)
            layout.addWidget(warning)
        layout.addWidget(QLabel(f"Intervals: {doc['statistics']['description']}"))
        headers = ["metric", "side", "before", "after", "change [95 % CI]", "SDD", "verdict"]
        self.table = QTableWidget(len(doc["metrics"]), len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for row, r in enumerate(doc["metrics"]):
            k = 2 if r["unit"] == "BW" else 1
            d = r["difference"]
            cells = [
                f"{r['label']} ({r['unit']})", r["side"],
                _mean_sd(r["before"], k),
                _mean_sd(r["after"], k),
                f"{_fmt(d['difference'], k)} [{_fmt(d['low'], k)}, {_fmt(d['high'], k)}]",
                _fmt(r["sdd"], 1), short_verdict(r["verdict"]),
            ]  # fmt: skip
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if r["verdict"] == WITHIN_ERROR:
                    item.setForeground(QColor("#666666"))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)
        layout.addWidget(QLabel(doc["within_measurement_error_means"], wordWrap=True))
        save = QPushButton("Save PDF report…")
        save.clicked.connect(self._save)
        layout.addWidget(save)
        self.resize(1000, 700)

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison report", "", "PDF (*.pdf)")
        if path:
            self.save_pdf(path)

    def save_pdf(self, path: str, *, force: bool | None = None) -> None:
        from app.reports import comparison_report

        comparison_report(self.doc["before"]["file"], self.doc["after"]["file"], path,
                          force=self.doc["forced"] if force is None else force)  # fmt: skip
