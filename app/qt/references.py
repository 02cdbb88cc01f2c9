"""Reference ranges shown on the screen: research references from SCIENCE.md and the lab's own.

A research reference is drawn as a labelled line on a trend ("research reference, not a
diagnosis"). The lab's configured ranges (``reference-ranges.toml`` in the user's data folder)
mark a big number that lies outside them. Both are plain data: nothing here imports Qt.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import InputError


@dataclass(frozen=True)
class ResearchReference:
    metric: str
    value: float
    label: str  # on the line: short enough for a trend plot on a 1280×800 screen
    description: str  # the whole statement: the line's tooltip


# SCIENCE.md §4: VALR > 66 BW/s was associated with injury in one prospective study (Davis 2016)
RESEARCH_REFERENCES: tuple[ResearchReference, ...] = (
    ResearchReference(
        "valr_BW_s",
        66.0,
        "research ref. 66 BW/s",
        "66 BW/s: Davis 2016, one prospective study (research reference, not a diagnosis)",
    ),
)


@dataclass(frozen=True)
class LabRange:
    """The lab's range for one metric in display units; None = no bound on that side."""

    metric: str
    low: float | None
    high: float | None
    source: str

    def outside(self, value: float) -> str:
        """ "above"/"below" when ``value`` is outside the range, else ""."""
        if not math.isfinite(value):
            return ""
        if self.high is not None and value > self.high:
            return "above"
        if self.low is not None and value < self.low:
            return "below"
        return ""

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        if self.high is not None:
            return f"≤ {self.high:g}"
        if self.low is not None:
            return f"≥ {self.low:g}"
        return "any"


# Defaults when the lab has not configured its own: only what SCIENCE.md gives a number for.
DEFAULT_RANGES: dict[str, LabRange] = {
    "valr_BW_s": LabRange("valr_BW_s", None, 66.0, "default: Davis 2016 research reference"),
}
FILE_NAME = "reference-ranges.toml"
KNOWN_METRICS = ("hip_ankle_midstance_cm", "fppa_midstance_deg", "valr_BW_s", "pelvic_drop_deg")


def load_lab_ranges(path: Path | None = None) -> dict[str, LabRange]:
    """The lab's ranges (display units), e.g. ``[valr_BW_s] high = 70`` in reference-ranges.toml.

    A missing file gives the defaults; a file that cannot be used is an :class:`InputError`
    naming it, so a wrong range is never applied silently.
    """
    if path is None:
        from data.paths import user_data_dir

        path = user_data_dir() / FILE_NAME
    if not path.exists():
        return dict(DEFAULT_RANGES)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(
            f"cannot read the reference ranges ({exc})",
            subject=str(path),
            remedy="Fix the file ([metric] low = …, high = …), or delete it for the defaults.",
        ) from exc
    ranges = dict(DEFAULT_RANGES)
    for metric, table in raw.items():
        if metric not in KNOWN_METRICS or not isinstance(table, dict):
            raise InputError(
                f"'{metric}' is not a metric with a reference range",
                subject=str(path),
                remedy=f"Use tables named {', '.join(KNOWN_METRICS)}.",
            )
        bounds = {}
        for key in ("low", "high"):
            value = table.get(key)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise InputError(
                    f"[{metric}] {key} = {value!r} is not a number",
                    subject=str(path),
                    remedy="Give the bound as a number in display units, or leave it out.",
                )
            bounds[key] = float(value) if value is not None else None
        ranges[metric] = LabRange(metric, bounds["low"], bounds["high"], f"lab: {path.name}")
    return ranges
