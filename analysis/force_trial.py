"""Offline force analysis of a whole trial: plates → stances → records, with settings attached.

Stances are found by the same candidate tracker and analysed by the same window function as the
streaming analyser (:mod:`analysis.streaming_force`), in the same order, so the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.belt_vibration import vibration_before
from analysis.errors import AnalysisError, InputError
from analysis.force_metrics import EventMove, Rejected, StanceRecord, analyse_window
from analysis.force_settings import ForceSettings
from analysis.force_summary import summarise
from analysis.forceplate import PlateConfig
from analysis.gait_events import Candidate, stance_candidates
from analysis.provenance import software_version
from analysis.stance_sides import StanceSequencer


@dataclass
class ForceTrialResult:
    """Stances of one trial and everything needed to reproduce them."""

    source: str
    rate_hz: float
    settings: ForceSettings
    body_weight_N: float | None
    body_weight_source: str
    plates: list[dict[str, Any]]
    stances: list[StanceRecord]
    rejected: list[Rejected] = field(default_factory=list)
    incomplete: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return summarise(self.stances, self.settings)

    def to_dict(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for r in self.rejected:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        return {
            "source": self.source,
            "software_version": software_version(),
            "rate_hz": self.rate_hz,
            "body_weight_N": self.body_weight_N,
            "body_weight_source": self.body_weight_source,
            "settings": self.settings.to_dict(),
            "plates": self.plates,
            "stances": [s.to_dict() for s in self.stances],
            "rejected_candidates": reasons,
            "incomplete_at_edges": self.incomplete,
            "notes": list(self.notes),
            "summary": self.summary(),
        }


def plate_wrenches(
    plates: Sequence[PlateConfig], analog: np.ndarray, channel_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Lab wrench of every plate from the analog block (columns named by ``channel_names``)."""
    index = {name: i for i, name in enumerate(channel_names)}
    out = {}
    for plate in plates:
        missing = [c for c in plate.channels if c not in index]
        if missing:
            raise InputError(
                f"channel(s) {', '.join(missing)} not in the recording",
                subject=f"plate '{plate.name}'",
                remedy="Check the plate's channel names against the DAQ channel list.",
            )
        cols = [index[c] for c in plate.channels]
        out[plate.name] = plate.lab_wrench(np.asarray(analog)[:, cols])
    return out


def analyse_candidates(
    items: list[tuple[int, int, Candidate]],
    plates: Sequence[PlateConfig],
    window: Any,
    *,
    rate_hz: float,
    settings: ForceSettings,
    body_weight_N: float | None,
    sequencer: StanceSequencer,
    moves: Sequence[EventMove] = (),
    move_tolerance_s: float = 0.05,
    applied: list[EventMove] | None = None,
) -> tuple[list[StanceRecord], list[Rejected]]:
    """Analyse completed candidates in completion order; ``window(plate_index, start, stop)``
    returns the raw lab wrench of that plate for absolute samples ``[start, stop)`` (clipped)
    and the first sample it actually starts at. The belt vibration of each stance is measured on
    the ``vibration_history_s`` of raw Fz ending where its window ends (same samples live and
    offline). ``moves``: analysts' events for the stances whose detected contact lies within
    ``move_tolerance_s`` of theirs; each stance moved is analysed again from its events (before
    the sequencer, so step and flight times follow), and its move appended to ``applied``."""
    pad_before = settings.samples(settings.padding_s, rate_hz)
    pad_after = settings.samples(settings.padding_after_s, rate_hz)
    history = settings.samples(settings.vibration_history_s, rate_hz)
    measure = settings.belt_vibration_auto and settings.belt_vibration_hz is None
    records, rejected = [], []

    def analyse(plate_index: int, candidate: Candidate, move: EventMove | None):
        lo, hi = candidate.start, candidate.end
        if move is not None:
            # the window widens only for events less than half a padding inside it (a wider
            # window would change the drift fit, hence the events the analyst did not move)
            for t_s in (move.contact_s, move.toe_off_s, move.midstance_s):
                if t_s is not None:
                    lo = min(lo, math.floor(t_s * rate_hz + pad_before / 2))
                    hi = max(hi, math.ceil(t_s * rate_hz - pad_after / 2))
        raw, start = window(plate_index, lo - pad_before, hi + pad_after)
        vibration = None
        if measure:
            stop = start + raw.shape[0]
            before, _ = window(plate_index, stop - history, stop)
            vibration = vibration_before(before[:, 2], rate_hz, settings.threshold_off_N)
        return analyse_window(
            plates[plate_index],
            raw,
            start,
            candidate,
            rate_hz=rate_hz,
            settings=settings,
            body_weight_N=body_weight_N,
            vibration=vibration,
            move=move,
        )

    for _, plate_index, candidate in sorted(items, key=lambda item: (item[0], item[1])):
        result = analyse(plate_index, candidate, None)
        move = None
        if moves and not isinstance(result, Rejected):
            move = min(moves, key=lambda m: abs(m.stance_contact_s - result.contact_s))
            if abs(move.stance_contact_s - result.contact_s) > move_tolerance_s:
                move = None
        if move is not None:
            moved = analyse(plate_index, candidate, move)
            if not isinstance(moved, Rejected):  # events that make no stance are not applied
                result = moved
                if applied is not None:
                    applied.append(move)
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            records.append(sequencer.step(result))
    return records, rejected


def analyse_force_trial(
    wrenches: Mapping[str, np.ndarray],
    plates: Sequence[PlateConfig],
    rate_hz: float,
    settings: ForceSettings | None = None,
    *,
    body_weight_N: float | None = None,
    body_weight_source: str = "",
    belt_speed_m_s: float | None = None,
    source: str = "",
    moves: Sequence[EventMove] = (),
    move_tolerance_s: float = 0.05,
) -> ForceTrialResult:
    """Every stance on every plate. Without a body weight, a treadmill trial's body weight is
    the mean total vertical force over whole strides (a first pass finds the strides).
    ``moves``: an analyst's events for some stances (see :func:`analyse_candidates`); a move
    that names no stance, or whose events make none, is left out with a note."""
    settings = settings or ForceSettings()
    if body_weight_N is not None and not body_weight_N > 0:
        raise InputError(f"body weight must be positive, not {body_weight_N!r}", subject=source)
    n = _check_lengths(wrenches, plates, source)
    settings.check_rate(rate_hz)
    records, rejected, incomplete, applied = _run(
        wrenches,
        plates,
        rate_hz,
        settings,
        body_weight_N=body_weight_N,
        belt_speed_m_s=belt_speed_m_s,
        moves=moves,
        move_tolerance_s=move_tolerance_s,
    )
    notes: list[str] = []
    if body_weight_N is None:
        estimate = body_weight_from_strides(wrenches, plates, records, rate_hz)
        if estimate is not None:
            body_weight_N, body_weight_source = estimate
            records, rejected, incomplete, applied = _run(
                wrenches,
                plates,
                rate_hz,
                settings,
                body_weight_N=body_weight_N,
                belt_speed_m_s=belt_speed_m_s,
                moves=moves,
                move_tolerance_s=move_tolerance_s,
            )
        else:
            body_weight_source = "unknown (no standing trial, mass or whole strides on the plates)"
    notes.extend(_move_notes(moves, applied))
    notes.extend(_resolution_notes(records, rate_hz, settings))
    notes.extend(_vibration_notes(records, settings))
    notes.extend(_saturation_notes(records, settings))
    if not records:
        notes.append(f"no stance found in {n} samples above {settings.threshold_on_N:g} N")
    return ForceTrialResult(
        source=source,
        rate_hz=rate_hz,
        settings=settings,
        body_weight_N=body_weight_N,
        body_weight_source=body_weight_source,
        plates=[{"name": p.name, "belt": p.belt, "type": p.type} for p in plates],
        stances=records,
        rejected=rejected,
        incomplete=incomplete,
        notes=notes,
    )


def _run(
    wrenches, plates, rate_hz, settings, *, body_weight_N, belt_speed_m_s, moves, move_tolerance_s
):
    gap = settings.samples(settings.min_flight_s, rate_hz)
    items = []
    incomplete = 0
    for i, plate in enumerate(plates):
        found, cut = stance_candidates(
            wrenches[plate.name][:, 2], settings.threshold_on_N, settings.threshold_off_N, gap
        )
        incomplete += cut
        items.extend((c.end, i, c) for c in found)

    def window(plate_index: int, start: int, stop: int):
        data = wrenches[plates[plate_index].name]
        start = max(0, start)
        return data[start : min(stop, data.shape[0])], start

    sequencer = StanceSequencer(plates, settings, belt_speed_m_s)
    applied: list[EventMove] = []
    records, rejected = analyse_candidates(
        items,
        plates,
        window,
        rate_hz=rate_hz,
        settings=settings,
        body_weight_N=body_weight_N,
        sequencer=sequencer,
        moves=moves,
        move_tolerance_s=move_tolerance_s,
        applied=applied,
    )
    return records, rejected, incomplete, applied


def _move_notes(moves: Sequence[EventMove], applied: list[EventMove]) -> list[str]:
    return [
        f"analyst's {', '.join(m.moved())} of the stance at {m.stance_contact_s:.3f} s not "
        "applied: no stance there in this analysis, or its events make no stance"
        for m in moves
        if not any(a is m for a in applied)
    ]


def body_weight_from_strides(
    wrenches: Mapping[str, np.ndarray],
    plates: Sequence[PlateConfig],
    records: Sequence[StanceRecord],
    rate_hz: float,
) -> tuple[float, str] | None:
    """Mean total vertical force from the first contact to the contact an even number of
    consecutive steps later (whole strides), when the plates see every step (a treadmill)."""
    if any(p.belt == "overground" for p in plates):
        return None
    chain = [r for r in records if r.step_time_s is not None]
    if len(chain) < 4:
        return None
    # the longest run of consecutive steps
    best: list[StanceRecord] = []
    run: list[StanceRecord] = []
    for r in records:
        if r.step_time_s is None:
            run = [r]
        else:
            run.append(r)
        if len(run) > len(best):
            best = list(run)
    steps = len(best) - 1
    steps -= steps % 2
    if steps < 4:
        return None
    first = round(best[0].contact_s * rate_hz)
    last = round(best[steps].contact_s * rate_hz)
    total = sum(wrenches[p.name][first:last, 2] for p in plates)
    weight = float(np.mean(total))
    return weight, f"mean vertical force over {steps // 2} whole strides"


def body_weight_from_standing(
    fz: np.ndarray, rate_hz: float, window_s: float = 1.0, max_cv: float = 0.02
) -> tuple[float, str]:
    """Body weight from a standing trial: mean vertical force over the stillest ``window_s``
    (lowest SD). Refuses a trial where even that window varies by more than ``max_cv``."""
    fz = np.asarray(fz, dtype=float)
    n = round(window_s * rate_hz)
    if fz.size < n or n < 2:
        raise AnalysisError(
            f"a standing trial needs at least {window_s:g} s of data",
            subject="body weight",
            remedy="Record the runner standing still on the plate for a few seconds.",
        )
    cumsum = np.concatenate(([0.0], np.cumsum(fz)))
    cumsq = np.concatenate(([0.0], np.cumsum(fz * fz)))
    means = (cumsum[n:] - cumsum[:-n]) / n
    sds = np.sqrt(np.maximum((cumsq[n:] - cumsq[:-n]) / n - means**2, 0.0))
    k = int(np.argmin(sds))
    mean, sd = float(means[k]), float(sds[k])
    if mean <= 0 or sd / mean > max_cv:
        raise AnalysisError(
            f"the standing trial is not still (best {window_s:g} s: {mean:.0f} N ± {sd:.0f} N)",
            subject="body weight",
            remedy="Stand still on the plate, feet apart, arms at the sides, and record again.",
        )
    start = k / rate_hz
    return mean, f"standing trial, mean of {start:.1f}–{start + window_s:.1f} s (SD {sd:.1f} N)"


def _check_lengths(wrenches, plates, source) -> int:
    if not plates:
        raise InputError("no force plates to analyse", subject=source or "force analysis")
    lengths = set()
    for p in plates:
        if p.name not in wrenches:
            raise InputError(f"no data for plate '{p.name}'", subject=source or "force analysis")
        w = np.asarray(wrenches[p.name])
        if w.ndim != 2 or w.shape[1] != 6:
            raise InputError(f"plate '{p.name}' data must be (samples, 6)", subject=source)
        if not np.all(np.isfinite(w)):
            raise AnalysisError(
                f"plate '{p.name}' has missing (NaN) or infinite samples",
                subject=source or "force analysis",
                remedy="Gaps in force data cannot be analysed; re-export without gaps.",
            )
        lengths.add(w.shape[0])
    if len(lengths) != 1:
        raise InputError("plates have different numbers of samples", subject=source)
    return lengths.pop()


def _resolution_notes(records, rate_hz, settings) -> list[str]:
    low = sum("vilr_low_resolution" in r.flags for r in records)
    if not low:
        return []
    return [
        f"{low} of {len(records)} stances have fewer than {settings.min_samples_for_vilr} "
        f"samples in the 20–80 % rise at {rate_hz:g} Hz: VILR (the steepest sample-to-sample "
        "slope) is poorly resolved at this rate; VALR is more trustworthy here"
    ]


def _vibration_notes(records, settings) -> list[str]:
    """What belt vibration was measured and removed, so the reader sees it was (or was not)."""
    if not records or not settings.flight_drift_correction:
        return []
    if settings.belt_vibration_hz is not None:
        return [f"belt vibration at {settings.belt_vibration_hz:g} Hz (set) removed per stance"]
    measured = [r for r in records if r.belt_vibration_N is not None]
    if not settings.belt_vibration_auto or not measured:
        return []
    hz = [r.belt_vibration_hz for r in measured]
    amplitude = [r.belt_vibration_N for r in measured]
    removed = sum("vibration_not_removed" not in r.flags for r in measured)
    return [
        f"belt vibration measured in the flight phases before {len(measured)} of {len(records)} "
        f"stances ({min(hz):.2f}–{max(hz):.2f} Hz, {min(amplitude):.1f}–{max(amplitude):.1f} N) "
        f"and removed in {removed}"
    ]


def _saturation_notes(records, settings) -> list[str]:
    """Which channels clipped in how many stances (those stances are left out of summaries)."""
    counts: dict[str, int] = {}
    for r in records:
        for name in r.saturated_channels:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return []
    flagged = sum(bool(r.saturated_channels) for r in records)
    channels = ", ".join(f"{name} ({n})" for name, n in counts.items())
    rule = f"{settings.saturation_min_run} or more samples flat at the extreme"
    if settings.saturation_range_V is not None:
        lo, hi = settings.saturation_range_V
        rule += f", or within {settings.saturation_margin_V:g} V of the {lo:g}..{hi:g} V range"
    return [
        f"{flagged} of {len(records)} stances have a saturated (clipped) channel: {channels} "
        f"({rule}); their peak force and loading rates are not trustworthy and they are left "
        "out of the summaries. Use a larger DAQ input range or amplifier range."
    ]
