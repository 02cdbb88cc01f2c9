"""How each per-stance metric is shown: its label, the clinician's unit and the scale from SI.

The keys are the stance record names (``StanceResult.to_dict()``, StanceTruth names); cadence is
derived per step from ``step_time_s`` exactly as the controller's summary does (``cadence_spm``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricSpec:
    key: str  # stance record / summary name
    label: str
    unit: str
    scale: float = 1.0  # SI value × scale = display value
    decimals: int = 1
    range_key: str = ""  # name in the lab's reference ranges (display units)

    def display(self, si_value: float | None) -> float:
        if si_value is None or not math.isfinite(si_value):
            return math.nan
        return si_value * self.scale

    def of_stance(self, stance: Mapping[str, Any]) -> float:
        if self.key == "cadence_spm":
            step = stance.get("step_time_s")
            return 60.0 / step if step else math.nan
        return self.display(stance.get(self.key))


HIP_ANKLE = MetricSpec("hip_ankle_midstance_m", "Hip–ankle at midstance", "cm", 100.0, 1,
                       "hip_ankle_midstance_cm")  # fmt: skip
FPPA = MetricSpec("fppa_midstance_deg", "Knee valgus (FPPA)", "°", 1.0, 1, "fppa_midstance_deg")
PELVIC_DROP = MetricSpec("pelvic_drop_deg", "Pelvic drop", "°", 1.0, 1, "pelvic_drop_deg")
VALR = MetricSpec("valr_BW_s", "Loading rate (VALR)", "BW/s", 1.0, 0, "valr_BW_s")
VILR = MetricSpec("vilr_BW_s", "VILR", "BW/s", 1.0, 0)
CONTACT = MetricSpec("contact_time_s", "Contact time", "ms", 1000.0, 0)
CADENCE = MetricSpec("cadence_spm", "Cadence", "steps/min", 1.0, 0)

HEADLINE = (HIP_ANKLE, FPPA, VALR)  # the big numbers
TRENDS = (HIP_ANKLE, FPPA, PELVIC_DROP, VALR, CONTACT, CADENCE)  # VILR drawn with VALR


def format_mean_sd(mean: float, sd: float, decimals: int) -> str:
    """'12.3 ± 1.4'; '12.3' with one value; '—' with none."""
    if not math.isfinite(mean):
        return "—"
    if not math.isfinite(sd):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"
