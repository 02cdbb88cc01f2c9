"""The settings of the force analysis, stored with every result (SCIENCE.md §2–4).

Every threshold the literature disagrees on is a field here, so that a session analysed with one
choice is never silently compared with a session analysed with another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from analysis.errors import InputError

MIDSTANCE_DEFINITIONS = ("M3", "M4", "M5")
LOADING_RATE_METHODS = ("impact_peak_or_13pct", "stance_13pct")


@dataclass(frozen=True)
class ForceSettings:
    """What turns a force signal into stances and numbers.

    The filters are Butterworths of ``filter_order`` run forwards and backwards (zero lag, so the
    effective order is twice ``filter_order``); cut-offs are the design cut-off of each pass.
    Stances are *detected* on Fz filtered at ``cutoff_hz`` (SCIENCE §2); contact and toe-off are
    then placed at the off-threshold crossings of the unfiltered (drift-corrected) force within
    ``event_search_s``, and the numbers (peaks, loading rates, midstance, COP) come from the force
    filtered at ``metrics_cutoff_hz``, because a 50 Hz filter blunts a rearfoot impact transient
    (about −7 % VALR on a 22 ms impact rise) while 150 Hz keeps VALR within ~1 % (measured on
    the simulated lab, docs/force-analysis.md).

    Each stance is analysed in a window of raw force from ``padding_s`` before its first loaded
    sample to ``padding_after_s`` after its last. The live result waits for the samples after
    toe-off, so ``padding_after_s`` is its delay: 30 ms = the ``min_flight_s`` (20 ms) that
    confirms the toe-off plus 10 ms of flight for the drift and vibration fit and the filter's
    edge (shorter lost the first stances' vibration estimate and biased their toe-off by up to
    2 samples, docs/force-analysis.md). The samples before contact cost no delay.

    Belt vibration: with ``belt_vibration_hz`` set, that frequency is removed in every stance
    window; otherwise, with ``belt_vibration_auto``, each stance's frequency is measured in the
    flight phases of the ``vibration_history_s`` of raw force ending where its window ends
    (:mod:`analysis.belt_vibration`) and removed only when a line clearly stands out.

    VILR of a stance without an impact peak (a smooth rise) comes from Fz filtered at
    ``vilr_no_impact_cutoff_hz`` after an odd extension at contact (None: the metrics filter);
    with an impact peak always from the metrics filter (docs/force-analysis.md).

    Clipping (:mod:`analysis.saturation`): a channel with ``saturation_min_run`` consecutive
    loaded samples at its extreme, or (when the DAQ input range ``saturation_range_V`` is known,
    ``5`` meaning ±5 V or ``[lo, hi]``) within ``saturation_margin_V`` of a limit, flags the stance.
    """

    cutoff_hz: float = 50.0
    metrics_cutoff_hz: float = 150.0
    event_search_s: float = 0.010
    event_fit_half_width_s: float = 0.001
    peak_fit_half_width_s: float = 0.012
    filter_order: int = 2
    threshold_on_N: float = 50.0
    threshold_off_N: float = 20.0
    min_stance_s: float = 0.100
    min_flight_s: float = 0.020
    max_stance_s: float = 0.45
    max_step_gap_s: float = 0.60
    padding_s: float = 0.060
    padding_after_s: float = 0.030
    cop_threshold_N: float = 50.0
    flight_drift_correction: bool = True
    belt_vibration_hz: float | None = None
    belt_vibration_auto: bool = True
    vibration_history_s: float = 2.0
    impact_window_fraction: float = 0.30
    impact_min_prominence_BW: float = 0.10
    impact_min_prominence_N: float = 60.0
    loading_rate_method: str = "impact_peak_or_13pct"
    loading_rate_low_fraction: float = 0.20
    loading_rate_high_fraction: float = 0.80
    stance_fraction_13pct: float = 0.13
    min_samples_for_vilr: int = 10
    vilr_no_impact_cutoff_hz: float | None = 80.0
    midstance: str = "M3"
    side_ambiguity_m: float = 0.02
    belt_midline_y_m: float | None = None
    summary_window_s: float = 60.0
    min_noise_ratio: float = 5.0
    saturation_min_run: int = 4
    saturation_range_V: tuple[float, float] | None = None
    saturation_margin_V: float = 0.01

    def __post_init__(self) -> None:
        positive = (
            "cutoff_hz",
            "metrics_cutoff_hz",
            "event_search_s",
            "threshold_on_N",
            "threshold_off_N",
            "min_stance_s",
            "max_stance_s",
            "max_step_gap_s",
            "padding_s",
            "padding_after_s",
            "impact_window_fraction",
            "stance_fraction_13pct",
            "summary_window_s",
            "vibration_history_s",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                _fail(name, f"must be a number, not {value!r}")
            if not math.isfinite(value) or value <= 0:
                _fail(name, f"must be a positive number, not {value!r}")
        if self.min_flight_s < 0 or self.cop_threshold_N < 0 or self.side_ambiguity_m < 0:
            _fail("min_flight_s/cop_threshold_N/side_ambiguity_m", "must not be negative")
        if self.threshold_off_N > self.threshold_on_N:
            _fail(
                "threshold_off_N",
                f"({self.threshold_off_N:g} N) is above threshold_on_N "
                f"({self.threshold_on_N:g} N); hysteresis needs off <= on",
            )
        if self.filter_order not in (1, 2, 3, 4):
            _fail("filter_order", f"must be 1–4 (each pass), not {self.filter_order!r}")
        if self.padding_after_s < self.min_flight_s:
            _fail("padding_after_s", "must be at least min_flight_s, so a stance is complete first")
        if self.midstance not in MIDSTANCE_DEFINITIONS:
            _fail("midstance", f"'{self.midstance}' is not one of {MIDSTANCE_DEFINITIONS}")
        if self.loading_rate_method not in LOADING_RATE_METHODS:
            _fail(
                "loading_rate_method",
                f"'{self.loading_rate_method}' is not one of {LOADING_RATE_METHODS}",
            )
        low, high = self.loading_rate_low_fraction, self.loading_rate_high_fraction
        if not 0 < low < high < 1:
            _fail("loading_rate_low_fraction", "need 0 < low < high < 1 (default 0.2 and 0.8)")
        smooth = self.vilr_no_impact_cutoff_hz
        if smooth is not None and (
            isinstance(smooth, bool) or not isinstance(smooth, int | float) or not smooth > 0
        ):
            _fail("vilr_no_impact_cutoff_hz", f"must be a positive number or None, not {smooth!r}")
        if self.min_samples_for_vilr < 2:
            _fail("min_samples_for_vilr", "must be at least 2")
        run = self.saturation_min_run
        if isinstance(run, bool) or not isinstance(run, int) or run < 2:
            _fail("saturation_min_run", f"must be a whole number of samples >= 2, not {run!r}")
        margin = self.saturation_margin_V
        if isinstance(margin, bool) or not isinstance(margin, int | float) or not margin >= 0:
            _fail("saturation_margin_V", f"must be a number >= 0, not {margin!r}")
        object.__setattr__(self, "saturation_range_V", _input_range(self.saturation_range_V))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ForceSettings:
        """Settings from stored data; unknown keys are an error (a typo must not go unseen)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(
                f"unknown setting(s) {', '.join(unknown)}",
                subject="force settings",
                remedy=f"Known settings: {', '.join(sorted(known))}.",
            )
        values = dict(raw)
        if "padding_s" in values and "padding_after_s" not in values:
            # stored before the two sides had their own setting: the window was symmetric
            values["padding_after_s"] = values["padding_s"]
        return cls(**values)

    def adapted_to(self, rate_hz: float) -> tuple[ForceSettings, list[str]]:
        """These settings for a low-rate recording: a metrics cut-off at or above 45 % of the
        sample rate is lowered to a third of it, and a note says so (the detection cut-off is
        never changed silently: a too-high one is an error from :meth:`check_rate`)."""
        lowered = float(round(rate_hz / 3.0))
        changes, notes = {}, []
        for name, what in (
            ("metrics_cutoff_hz", "metrics filter"),
            ("vilr_no_impact_cutoff_hz", "VILR filter for stances without an impact peak"),
        ):
            value = getattr(self, name)
            if value is not None and value >= 0.45 * rate_hz:
                changes[name] = lowered
                notes.append(
                    f"{what} lowered from {value:g} Hz to {lowered:g} Hz for a "
                    f"{rate_hz:g} Hz recording (Nyquist {rate_hz / 2:g} Hz)"
                )
        if not changes:
            return self, []
        return ForceSettings(**{**self.to_dict(), **changes}), notes

    def check_rate(self, rate_hz: float) -> None:
        """Refuse a recording whose Nyquist frequency is below a filter cut-off."""
        from analysis.filters import butterworth_sos

        butterworth_sos(self.filter_order, self.cutoff_hz, float(rate_hz))
        butterworth_sos(self.filter_order, self.metrics_cutoff_hz, float(rate_hz))
        if self.vilr_no_impact_cutoff_hz is not None:
            butterworth_sos(self.filter_order, self.vilr_no_impact_cutoff_hz, float(rate_hz))

    def samples(self, seconds: float, rate_hz: float) -> int:
        """A duration in whole samples at ``rate_hz`` (at least one)."""
        return max(1, round(seconds * rate_hz))


def _input_range(value: Any) -> tuple[float, float] | None:
    """``5`` → (−5.0, 5.0); ``[0, 10]`` → (0.0, 10.0); None stays None (range unknown)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        lo, hi = -float(value), float(value)
    elif (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = float(value[0]), float(value[1])
    else:
        _fail("saturation_range_V", f"must be a number (±V) or [lo, hi] in volts, not {value!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        _fail("saturation_range_V", f"{value!r} is not a range: need lo < hi, finite")
    return lo, hi


def _fail(name: str, problem: str) -> None:
    raise InputError(problem, subject=f"force settings: {name}")
