"""One stance, from a padded window of raw plate data to a :class:`StanceRecord`.

The same function serves the offline and the streaming analysis: given the same raw window it
gives the same record, which is what makes the live numbers equal to the offline ones.
Field names follow ``StanceTruth`` (docs/architecture.md): same name, same quantity, same unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from analysis.belt_vibration import VibrationEstimate
from analysis.drift import window_flight_model, window_flight_offsets
from analysis.filters import lowpass_zero_lag
from analysis.force_settings import ForceSettings
from analysis.forceplate import PlateConfig
from analysis.gait_events import (
    Candidate,
    first_rising_crossing,
    refine_contact,
    sharpen_events,
    value_at,
)
from analysis.loading_rate import loading_rate
from analysis.midstance import (
    braking_to_propulsion_index,
    half_stance_index,
    peak_vgrf_index,
)
from analysis.saturation import SATURATED, saturated_channels

# Flags that take a stance out of per-side summaries (the record itself is always kept).
EXCLUDING_FLAGS = frozenset(
    {
        "side_conflict",
        "side_unconfirmed",
        "wrong_belt",
        "both_feet_on_plate",
        "overlapping_contact",
        "long_contact",
        SATURATED,
    }
)


@dataclass(frozen=True)
class StanceRecord:
    """Everything measured on one stance. Times are seconds from the first sample; forces are
    the ground reaction on the runner; braking quantities are positive magnitudes."""

    index: int
    plate: str
    side: str | None
    contact_s: float
    toe_off_s: float
    contact_time_s: float
    midstance_peak_vgrf_s: float
    midstance_ap_s: float | None
    midstance_half_s: float
    midstance_s: float | None
    midstance_definition: str
    impact_peak_N: float | None
    impact_peak_s: float | None
    loading_rate_reference: str
    loading_rate_reference_N: float
    valr_N_s: float | None
    vilr_N_s: float | None
    valr_BW_s: float | None
    vilr_BW_s: float | None
    peak_vertical_N: float
    peak_vertical_BW: float | None
    peak_braking_N: float
    peak_braking_BW: float | None
    braking_impulse_Ns: float
    propulsive_impulse_Ns: float
    cop_midstance_m: tuple[float, float] | None
    cop_mean_y_m: float | None
    step_time_s: float | None = None
    flight_time_s: float | None = None
    step_length_m: float | None = None
    flags: tuple[str, ...] = ()
    belt_vibration_hz: float | None = None
    belt_vibration_N: float | None = None
    saturated_channels: tuple[str, ...] = ()  # clipped channels (analysis.saturation)

    @property
    def usable(self) -> bool:
        """True when the stance belongs in per-side summaries."""
        return self.side is not None and not EXCLUDING_FLAGS.intersection(self.flags)

    def with_changes(self, **changes: Any) -> StanceRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flags"] = list(self.flags)
        out["saturated_channels"] = list(self.saturated_channels)
        if self.cop_midstance_m is not None:
            out["cop_midstance_m"] = list(self.cop_midstance_m)
        return out


@dataclass(frozen=True)
class EventMove:
    """An analyst's placement of a stance's events, in seconds from the first sample.

    The stance is named by its detected contact (``stance_contact_s``); a field left ``None``
    keeps the detected event. Every number of the stance is then computed from these events
    (contact time, impulses, loading rates, COP, midstance), never patched afterwards.
    """

    stance_contact_s: float
    contact_s: float | None = None
    toe_off_s: float | None = None
    midstance_s: float | None = None

    def moved(self) -> tuple[str, ...]:
        """Names of the events this move sets (as in the flags ``<name>_moved_by_analyst``)."""
        names = ("contact", "toe_off", "midstance")
        values = (self.contact_s, self.toe_off_s, self.midstance_s)
        return tuple(n for n, v in zip(names, values, strict=True) if v is not None)


@dataclass(frozen=True)
class Rejected:
    """A candidate that did not become a stance, and why (counted, never silently dropped)."""

    plate: str
    start_s: float
    reason: str


def analyse_window(
    plate: PlateConfig,
    raw: np.ndarray,
    window_start: int,
    candidate: Candidate,
    *,
    rate_hz: float,
    settings: ForceSettings,
    body_weight_N: float | None,
    vibration: VibrationEstimate | None = None,
    move: EventMove | None = None,
) -> StanceRecord | Rejected:
    """Analyse the contact ``candidate`` found in the raw lab wrench window ``raw`` (m, 6) that
    starts at absolute sample ``window_start``. ``vibration`` is the belt vibration measured
    before it (used when ``settings.belt_vibration_hz`` is not set). ``move``: the analyst's
    events replace the detected ones (the window must hold them)."""
    flags: list[str] = []
    loaded_from = candidate.start - window_start
    loaded_to = candidate.end - window_start
    clipped = saturated_channels(
        plate,
        raw,
        loaded_from,
        loaded_to,
        on_threshold_N=settings.threshold_on_N,
        min_run=settings.saturation_min_run,
        range_V=settings.saturation_range_V,
        margin_V=settings.saturation_margin_V,
    )
    if clipped:
        flags.append(SATURATED)
    data = raw
    vibration_hz, vibration_N = None, None  # what was measured and removed (stored)
    if settings.flight_drift_correction:
        vibration_hz = settings.belt_vibration_hz
        if vibration_hz is None and vibration is not None:
            vibration_hz, vibration_N = vibration.frequency_hz, vibration.amplitude_N
        found = False
        if vibration_hz is not None:
            offsets, found = window_flight_model(
                raw,
                loaded_from,
                loaded_to,
                settings.threshold_off_N,
                rate_hz=rate_hz,
                vibration_hz=vibration_hz,
            )
            if not found:
                flags.append("vibration_not_removed")
        if not found:
            offsets, found = window_flight_offsets(
                raw, loaded_from, loaded_to, settings.threshold_off_N
            )
        if found:
            data = raw - offsets
        else:
            flags.append("no_flight_for_drift")
    before = settings.samples(settings.padding_s, rate_hz)
    after = settings.samples(settings.padding_after_s, rate_hz)
    if loaded_from < before or raw.shape[0] - loaded_to < after:
        flags.append("truncated_window")  # at the start or end of the recording
    detection = lowpass_zero_lag(data[:, 2], rate_hz, settings.cutoff_hz, settings.filter_order)
    events = refine_contact(
        detection, loaded_from, loaded_to, settings.threshold_on_N, settings.threshold_off_N
    )
    start_s = candidate.start / rate_hz
    if isinstance(events, str):
        return Rejected(plate.name, start_s, events)
    contact, toe_off = sharpen_events(
        data[:, 2],
        *events,
        on_N=settings.threshold_on_N,
        off_N=settings.threshold_off_N,
        search=settings.samples(settings.event_search_s, rate_hz),
        fit_half_width=round(settings.event_fit_half_width_s * rate_hz),
    )
    chosen_midstance = None
    if move is not None:

        def index(t_s: float | None, detected: float | None) -> float | None:
            return detected if t_s is None else t_s * rate_hz - window_start

        contact, toe_off = index(move.contact_s, contact), index(move.toe_off_s, toe_off)
        chosen_midstance = index(move.midstance_s, None)
        flags.extend(f"{name}_moved_by_analyst" for name in move.moved())
    filtered = lowpass_zero_lag(data, rate_hz, settings.metrics_cutoff_hz, settings.filter_order)
    fz = filtered[:, 2]
    duration_s = (toe_off - contact) / rate_hz
    if duration_s < settings.min_stance_s:
        return Rejected(plate.name, start_s, "shorter_than_min_stance")
    if duration_s > settings.max_stance_s and plate.belt != "overground":
        flags.append("long_contact")
        if plate.belt in {"left", "right"}:
            flags.append("both_feet_on_plate")

    def seconds(index: float | None) -> float | None:
        return None if index is None else (window_start + index) / rate_hz

    m3 = peak_vgrf_index(
        detection, contact, toe_off, settings.samples(settings.peak_fit_half_width_s, rate_hz)
    )
    m4, m4_reason = braking_to_propulsion_index(filtered[:, 0], contact, toe_off)
    if m4_reason:
        flags.append(m4_reason)
    m5 = half_stance_index(contact, toe_off)
    selected = {"M3": m3, "M4": m4, "M5": m5}[settings.midstance]
    if chosen_midstance is not None:
        selected = chosen_midstance

    lr = loading_rate(
        fz,
        rate_hz,
        contact,
        toe_off,
        active_peak=m3,
        settings=settings,
        body_weight_N=body_weight_N,
    )
    flags.extend(lr.flags)
    vilr = lr.vilr_N_s
    if lr.reference == "stance_13pct" and vilr is not None:
        smooth = smooth_rise_vilr(
            data[:, 2],
            fz,
            contact=contact,
            reference_N=lr.reference_N,
            rate_hz=rate_hz,
            settings=settings,
        )
        vilr = vilr if smooth is None else smooth

    first, last = int(np.ceil(contact)), int(np.floor(toe_off))
    stance = filtered[first : last + 1]
    fx = stance[:, 0]
    dt = 1.0 / rate_hz
    braking = float(np.trapezoid(np.minimum(fx, 0.0), dx=dt))
    propulsive = float(np.trapezoid(np.maximum(fx, 0.0), dx=dt))
    peak_vertical = float(value_at(fz, m3))
    peak_braking = float(max(0.0, -np.min(fx)))

    cop, _ = plate.cop_and_free_moment(filtered, settings.cop_threshold_N)
    cop_mid = None
    if selected is not None:
        k = round(selected)
        if np.isfinite(cop[k, 0]):
            cop_mid = (float(cop[k, 0]), float(cop[k, 1]))
    cop_y = cop[first : last + 1, 1]
    cop_y = cop_y[np.isfinite(cop_y)]
    cop_mean_y = float(np.mean(cop_y)) if cop_y.size else None

    def per_bw(value: float | None) -> float | None:
        return None if value is None or not body_weight_N else value / body_weight_N

    impact_N = None if lr.impact_peak_index is None else float(fz[lr.impact_peak_index])
    return StanceRecord(
        index=-1,
        plate=plate.name,
        side=plate.belt[0].upper() if plate.belt in ("left", "right") else None,
        contact_s=seconds(contact),
        toe_off_s=seconds(toe_off),
        contact_time_s=duration_s,
        midstance_peak_vgrf_s=seconds(m3),
        midstance_ap_s=seconds(m4),
        midstance_half_s=seconds(m5),
        midstance_s=seconds(selected),
        midstance_definition=settings.midstance,
        impact_peak_N=impact_N,
        impact_peak_s=seconds(lr.impact_peak_index),
        loading_rate_reference=lr.reference,
        loading_rate_reference_N=lr.reference_N,
        valr_N_s=lr.valr_N_s,
        vilr_N_s=vilr,
        valr_BW_s=per_bw(lr.valr_N_s),
        vilr_BW_s=per_bw(vilr),
        peak_vertical_N=peak_vertical,
        peak_vertical_BW=per_bw(peak_vertical),
        peak_braking_N=peak_braking,
        peak_braking_BW=per_bw(peak_braking),
        braking_impulse_Ns=-braking,
        propulsive_impulse_Ns=propulsive,
        cop_midstance_m=cop_mid,
        cop_mean_y_m=cop_mean_y,
        flags=tuple(flags),
        belt_vibration_hz=vibration_hz,
        belt_vibration_N=vibration_N,
        saturated_channels=clipped,
    )


def smooth_rise_vilr(
    raw_fz: np.ndarray,
    fz: np.ndarray,
    *,
    contact: float,
    reference_N: float,
    rate_hz: float,
    settings: ForceSettings,
) -> float | None:
    """VILR of a stance without an impact peak: the steepest sample-to-sample slope, inside the
    same 20–80 % rise of ``fz`` that VALR uses, of the (drift-corrected) ``raw_fz`` filtered at
    ``vilr_no_impact_cutoff_hz``. Before filtering, the force before contact is replaced by the
    odd extension of the force after it (2·F(c) − F(c + τ)), so the filter sees no kink at the
    onset of loading and does not ring into the rise. Such a rise has no content near 80 Hz;
    at 150 Hz the single-sample maximum follows the noise (docs/force-analysis.md).
    Returns None when the setting is off or the rise cannot be placed."""
    if settings.vilr_no_impact_cutoff_hz is None:
        return None
    start = int(np.ceil(contact))
    t_low = first_rising_crossing(fz, start, settings.loading_rate_low_fraction * reference_N)
    t_high = first_rising_crossing(fz, start, settings.loading_rate_high_fraction * reference_N)
    first = int(np.floor(contact))
    if t_low is None or t_high is None or first < 0:
        return None
    k0, k1 = int(np.ceil(t_low)) - first, int(np.floor(t_high)) - first
    after = raw_fz[first:]
    mirror = min(after.size - 1, settings.samples(0.1, rate_hz))
    if k1 <= k0 or mirror < 1:
        return None
    extended = np.concatenate([2.0 * after[0] - after[1 : mirror + 1][::-1], after])
    smooth = lowpass_zero_lag(
        extended, rate_hz, settings.vilr_no_impact_cutoff_hz, settings.filter_order
    )[mirror:]
    return float(np.max(np.diff(smooth[k0 : k1 + 1]))) * rate_hz
