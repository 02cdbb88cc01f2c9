"""Colours and type for the lab screen: calm, legible from a step away, colour-blind safe.

Left and right are Okabe–Ito blue and orange everywhere (traces, points, numbers); warnings and
errors also carry words and symbols, so nothing depends on colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from pyqtgraph import QtCore
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QGraphicsItem

LEFT_COLOUR = "#0072B2"  # Okabe–Ito blue
RIGHT_COLOUR = "#E69F00"  # Okabe–Ito orange
SIDE_COLOURS = {"L": LEFT_COLOUR, "R": RIGHT_COLOUR}
SIDE_NAMES = {"L": "Left", "R": "Right"}
MARKER_COLOUR = "#009E73"  # Okabe–Ito bluish green: markers and segment lines on video
MEASURE_COLOUR = "#F0E442"  # Okabe–Ito yellow: the measured bracket / angle on freeze frames


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    surface: str
    text: str
    muted: str
    grid: str
    info: str
    warning: str
    error: str
    trace: str  # the force trace


DARK = Theme(
    name="dark",
    window="#16181c",
    surface="#20242a",
    text="#e8e8e8",
    muted="#9aa0a6",
    grid="#3a3f46",
    info="#2b4c6f",
    warning="#8a6d00",
    error="#a3341f",
    trace="#e8e8e8",
)
LIGHT = Theme(
    name="light",
    window="#f4f4f2",
    surface="#ffffff",
    text="#1b1b1b",
    muted="#5f6368",
    grid="#d0d0d0",
    info="#d6e6f5",
    warning="#f7e39c",
    error="#f3c1b5",
    trace="#1b1b1b",
)
THEMES = {"dark": DARK, "light": LIGHT}

NUMBER_POINT_SIZE = 20  # the headline numbers (20 pt: two sides fit a 1200 px wide window)
LABEL_POINT_SIZE = 13
SMALL_POINT_SIZE = 11


def theme_named(name: str) -> Theme:
    return THEMES.get(name, DARK)


def font(point_size: int, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSize(point_size)
    f.setBold(bold)
    return f


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Palette and a short style sheet for the widgets; plots are styled by :func:`style_plot`.

    The sheet sets every widget's font size, which overrides ``QWidget.setFont``: labels that
    need another size take a ``role`` property ("number", "small", "side") instead."""
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(theme.window))
    palette.setColor(QPalette.ColorRole.Base, QColor(theme.surface))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor(theme.window))
    palette.setColor(QPalette.ColorRole.Button, QColor(theme.surface))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.Text, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(theme.muted))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(LEFT_COLOUR))
    app.setPalette(palette)
    app.setStyleSheet(
        f"""
        QWidget {{ font-size: {LABEL_POINT_SIZE}pt; }}
        QGroupBox {{ border: 1px solid {theme.grid}; border-radius: 4px; margin-top: 1.1em;
                     padding-top: 4px; }}
        QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {theme.muted}; }}
        QLabel[role="muted"] {{ color: {theme.muted}; font-size: {SMALL_POINT_SIZE}pt; }}
        QLabel[role="number"] {{ font-size: {NUMBER_POINT_SIZE}pt; font-weight: bold; }}
        QLabel[role="small"] {{ font-size: {SMALL_POINT_SIZE}pt; }}
        QLabel[role="side"] {{ font-size: {LABEL_POINT_SIZE + 1}pt; font-weight: bold; }}
        QLabel[role="badge"] {{ background: {theme.info}; color: {theme.text};
                                padding: 2px 8px; border-radius: 3px; font-weight: bold; }}
        QPushButton {{ padding: 4px 12px; }}
        QPushButton#record {{ font-weight: bold; }}
        QTableWidget {{ gridline-color: {theme.grid}; }}
        """
    )


def style_plot(plot: pg.PlotItem, theme: Theme, *, title: str = "") -> None:
    """Axis and title colours of one plot for the theme (background is set on the widget)."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(theme.grid))
        axis.setTextPen(pg.mkPen(theme.muted))
    if title:
        plot.setTitle(title, color=theme.text, size=f"{LABEL_POINT_SIZE}pt")


def let_title_shrink(plot: pg.PlotItem) -> None:
    """A plot's title no longer sets the plot's minimum width (pyqtgraph makes it the text's
    width): in a narrow window the plots shrink to fit instead of the view being cut off."""
    label = plot.titleLabel
    measured = label.updateMin

    def update_min() -> None:
        measured()
        label.setMinimumWidth(0)
        _, height = label._sizeHint[QtCore.Qt.SizeHint.MinimumSize]
        label._sizeHint[QtCore.Qt.SizeHint.MinimumSize] = (0, height)
        label.updateGeometry()

    label.updateMin = update_min
    update_min()


def cache_axes_and_title(plot: pg.PlotItem) -> None:
    """Axes and title painted from a pixmap Qt keeps: the data area's repaint on every tick
    touches their edges (Qt widens an update by 2 px for antialiasing), and without a cache
    each of them re-plays its whole drawing (~0.25 ms a tick for the GRF). Qt drops the cache
    whenever an item updates itself (new range, unit or theme)."""
    for name in ("left", "bottom"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.titleLabel.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def side_pen(side: str, width: float = 2.0) -> pg.QtGui.QPen:
    return pg.mkPen(SIDE_COLOURS.get(side, "#888888"), width=width)


def side_brush(side: str, alpha: int = 255) -> pg.QtGui.QBrush:
    colour = QColor(SIDE_COLOURS.get(side, "#888888"))
    colour.setAlpha(alpha)
    return pg.mkBrush(colour)
