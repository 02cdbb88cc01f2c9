"""Devices and data-threat banners: what each device is doing, and anything that endangers the
data (device failed, recorder behind, sync lost, plate not zeroed today) in plain words."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.qt.theme import SMALL_POINT_SIZE, Theme

LEVEL_SYMBOLS = {"error": "✖", "warning": "⚠", "info": "ℹ"}
HEALTH_WORDS = {
    "running": "connected",
    "ok": "connected",
    "simulated": "simulated",
    "faulted": "error",
    "sdk-missing": "software missing",
    "driver-missing": "driver missing",
    "absent": "not found",
    "misconfigured": "misconfigured",
    "error": "error",
}


@dataclass(frozen=True)
class ShownBanner:
    """What the banner strip shows (the controller's Banner, or one the window adds itself)."""

    key: str
    level: str
    text: str
    remedy: str = ""

    def sentence(self) -> str:
        text = self.text[:1].upper() + self.text[1:]
        if self.remedy:
            return f"{text.rstrip('.')}. {self.remedy}"
        return text


class BannerStrip(QWidget):
    """One line per condition that threatens the data; hidden when there is none."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(2)
        self.labels: dict[str, QLabel] = {}
        self.shown: dict[str, ShownBanner] = {}
        self.setVisible(False)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for key, label in self.labels.items():
            self._style(label, self.shown[key].level)

    def _style(self, label: QLabel, level: str) -> None:
        colour = {"error": self.theme.error, "warning": self.theme.warning}.get(
            level, self.theme.info
        )
        weight = "bold" if level == "error" else "normal"
        label.setStyleSheet(  # the sheet's size: setFont loses to the app's style sheet
            f"background: {colour}; color: {self.theme.text}; padding: 2px 8px;"
            f" font-size: {SMALL_POINT_SIZE + 1}pt; font-weight: {weight};"
        )

    def show_banners(self, banners: Iterable[ShownBanner]) -> None:
        wanted = {b.key: b for b in banners}
        for key in list(self.labels):
            if key not in wanted:
                label = self.labels.pop(key)
                self.shown.pop(key, None)
                self.layout_.removeWidget(label)
                label.deleteLater()
        order = {"error": 0, "warning": 1, "info": 2}
        for banner in sorted(wanted.values(), key=lambda b: order.get(b.level, 3)):
            label = self.labels.get(banner.key)
            if label is None:
                label = QLabel()
                label.setWordWrap(True)
                label.setObjectName(f"banner_{banner.key}")
                self.layout_.addWidget(label)
                self.labels[banner.key] = label
            if self.shown.get(banner.key) != banner:
                label.setText(f"{LEVEL_SYMBOLS.get(banner.level, '•')}  {banner.sentence()}")
                self._style(label, banner.level)
                self.shown[banner.key] = banner
        self.setVisible(bool(self.labels))

    def texts(self) -> list[str]:
        return [label.text() for label in self.labels.values()]


def format_age(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "not zeroed this session"
    if seconds < 90:
        return f"zeroed {seconds:.0f} s ago"
    if seconds < 5400:
        return f"zeroed {seconds / 60:.0f} min ago"
    return f"zeroed {seconds / 3600:.1f} h ago"


class DevicesPanel(QWidget):
    """A table of devices (state, dropped, rate, items, the real reason) and the sync line.
    Dropped comes right after the state: in a narrow panel it must not be the column cut off."""

    COLUMNS = ("Device", "State", "Dropped", "Rate", "Items", "Reason")

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        for col in range(len(self.COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(self.COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        self.sync_line = QLabel("")
        self.sync_line.setWordWrap(True)
        self.sync_line.setProperty("role", "small")
        layout.addWidget(self.sync_line)
        self.theme = theme

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme

    def show_devices(
        self,
        devices: Sequence[Any],
        *,
        simulated: bool,
        sync_mode: str,
        plate_zero_age_s: float | None,
        last_sync_verification: str,
    ) -> None:
        if self.table.rowCount() != len(devices):
            self.table.setRowCount(len(devices))
        for row, d in enumerate(devices):
            name = f"{d.name} ({d.view})" if d.view and d.view != d.name else d.name
            state = HEALTH_WORDS.get(d.health, d.health)
            if simulated and d.health in ("running", "ok"):
                state = "simulated"
            unit = "Hz" if not d.view else "fps"
            cells = (
                name,
                state,
                f"{d.dropped:,}",
                f"{d.rate_hz:g} {unit}",
                f"{d.items:,}",
                d.message,
            )
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
                    item.setToolTip(text)
        sync = (
            f"Sync: {sync_mode or 'unknown'} · last verified: {last_sync_verification} · "
            f"Plates: {format_age(plate_zero_age_s)}"
        )
        if self.sync_line.text() != sync:  # a re-set text re-lays the panel out
            self.sync_line.setText(sync)


def calibration_banners(
    snapshot: Mapping[str, Any], plate_zero_age_s: float | None
) -> tuple[list[ShownBanner], str]:
    """Banners from the calibration log snapshot (``CalibrationLog.current_calibration()``) and
    the date of the last passing sync verification (or "never").

    A plate zeroed in this session is current whatever the log says.
    """
    banners = []
    stale_kinds = {item["kind"]: item for item in snapshot.get("stale", [])}
    if "zero" in stale_kinds and plate_zero_age_s is None:
        banners.append(
            ShownBanner(
                "calibration-zero",
                "warning",
                "the force plate has not been zeroed today",
                "Ask the runner to step off, stop the belt and press Zero plates before recording.",
            )
        )
    if "sync-verification" in stale_kinds:
        banners.append(
            ShownBanner(
                "calibration-sync",
                "warning",
                "camera–force synchronisation has not been verified this week",
                "A technician should run the sync-verification procedure (midstance protocols).",
            )
        )
    for problem in snapshot.get("problems", []):
        banners.append(ShownBanner("calibration-log", "warning", problem, ""))
    verified = [
        v.get("latest_passed", {}).get("time_utc", "")
        for k, v in snapshot.get("entries", {}).items()
        if k.startswith("sync-verification/")
    ]
    verified = [v for v in verified if v]
    last = max(verified)[:16].replace("T", " ") + " UTC" if verified else "never"
    return banners, last
