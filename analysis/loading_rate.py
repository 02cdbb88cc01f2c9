"""Vertical loading rate (SCIENCE.md §4): impact peak, VALR and VILR over 20–80 %.

The reference force is the impact peak when there is one (a local maximum within the first part of
stance, before the active peak, with a minimum prominence); otherwise the force at 13 % of stance
(Blackmore, Willy & Creaby 2016), and the step is flagged ``loading_rate_13pct``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from analysis.force_settings import ForceSettings
from analysis.gait_events import first_rising_crossing, value_at


@dataclass(frozen=True)
class LoadingRate:
    """Loading-rate numbers of one stance (indices are fractional, into the analysed window)."""

    reference: str  # "impact_peak" or "stance_13pct"
    reference_N: float
    impact_peak_index: float | None
    valr_N_s: float | None
    vilr_N_s: float | None
    flags: tuple[str, ...]


def impact_peak_index(
    fz: np.ndarray,
    contact: float,
    toe_off: float,
    *,
    active_peak: float,
    settings: ForceSettings,
    body_weight_N: float | None,
) -> int | None:
    """First local maximum of Fz in the first ``impact_window_fraction`` of stance, before the
    active peak, with at least the minimum prominence (BW-based when body weight is known)."""
    first, last = int(np.ceil(contact)), int(np.floor(toe_off))
    if body_weight_N:
        prominence = settings.impact_min_prominence_BW * body_weight_N
    else:
        prominence = settings.impact_min_prominence_N
    peaks, _ = find_peaks(fz[first : last + 1], prominence=prominence)
    limit = contact + settings.impact_window_fraction * (toe_off - contact)
    active = round(active_peak)
    for p in peaks + first:
        # an impact peak is separated from the active peak by a dip of at least the prominence;
        # otherwise it is the active peak itself (e.g. the first hump of a walking step)
        if p <= limit and p < active and np.min(fz[p : active + 1]) < fz[p] - prominence:
            return int(p)
    return None


def loading_rate(
    fz: np.ndarray,
    rate_hz: float,
    contact: float,
    toe_off: float,
    *,
    active_peak: float,
    settings: ForceSettings,
    body_weight_N: float | None,
) -> LoadingRate:
    """VALR = rise from 20 % to 80 % of the reference over its duration; VILR = steepest
    sample-to-sample slope with both samples inside that rise."""
    flags: list[str] = []
    peak = None
    if settings.loading_rate_method == "impact_peak_or_13pct":
        peak = impact_peak_index(
            fz,
            contact,
            toe_off,
            active_peak=active_peak,
            settings=settings,
            body_weight_N=body_weight_N,
        )
    if peak is not None:
        reference, reference_N = "impact_peak", float(fz[peak])
    else:
        reference = "stance_13pct"
        reference_N = value_at(fz, contact + settings.stance_fraction_13pct * (toe_off - contact))
        flags.append("loading_rate_13pct")
    start = int(np.ceil(contact))
    low_level = settings.loading_rate_low_fraction * reference_N
    high_level = settings.loading_rate_high_fraction * reference_N
    t_low = first_rising_crossing(fz, start, low_level)
    t_high = first_rising_crossing(fz, start, high_level)
    if t_low is None or t_high is None or t_high <= t_low:
        flags.append("loading_rate_undefined")
        return LoadingRate(reference, reference_N, peak, None, None, tuple(flags))
    valr = (high_level - low_level) / ((t_high - t_low) / rate_hz)
    k0, k1 = int(np.ceil(t_low)), int(np.floor(t_high))
    if k1 - k0 + 1 < settings.min_samples_for_vilr:
        flags.append("vilr_low_resolution")
    if k1 > k0:
        vilr = float(np.max(np.diff(fz[k0 : k1 + 1]))) * rate_hz
    else:
        vilr = valr
    return LoadingRate(reference, reference_N, peak, float(valr), float(vilr), tuple(flags))
