"""Stance detection from vertical force: hysteresis, then interpolated threshold crossings.

Detection happens in two stages so that a live (streaming) run and an offline run of the same data
give identical stances:

1. :class:`StanceCandidateTracker` applies the on/off hysteresis to the raw vertical force, block
   by block, and merges supra-threshold runs separated by less than the minimum flight time.
   Its state is a handful of integers, so cutting the data into blocks changes nothing.
2. Each completed candidate is analysed in a window of raw data padded on both sides
   (:mod:`analysis.force_metrics`): drift removal, zero-lag filtering, and the contact and toe-off
   instants at the linearly interpolated off-threshold crossings (:func:`refine_contact`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """A run of loading on one plate, in absolute sample indices ``[start, end)``."""

    start: int
    end: int


class StanceCandidateTracker:
    """On/off hysteresis on raw Fz with gap merging; feed blocks, get completed candidates."""

    def __init__(self, on_N: float, off_N: float, min_gap_samples: int) -> None:
        self.on_N = float(on_N)
        self.off_N = float(off_N)
        self.min_gap = int(min_gap_samples)
        self.n_seen = 0
        self._loaded = False
        self._run_start: int | None = None
        self._pending: Candidate | None = None
        self.incomplete_at_end = 0

    @property
    def open_since(self) -> int | None:
        """First sample of the candidate not yet complete (None when nothing is open)."""
        if self._pending is not None:
            return self._pending.start
        return self._run_start

    def push(self, fz: np.ndarray) -> list[Candidate]:
        fz = np.asarray(fz, dtype=float)
        n = fz.size
        done: list[Candidate] = []
        if n == 0:
            return done
        mark = np.zeros(n, dtype=np.int8)
        mark[fz > self.on_N] = 1
        mark[fz < self.off_N] = -1
        if mark.any():
            # forward fill of the last decisive sample; before the first, the carried state
            last = np.where(mark != 0, np.arange(n), -1)
            np.maximum.accumulate(last, out=last)
            loaded = np.where(last >= 0, mark[last] > 0, self._loaded)
            previous = np.concatenate(([self._loaded], loaded[:-1]))
            starts = np.flatnonzero(loaded & ~previous) + self.n_seen
            ends = np.flatnonzero(~loaded & previous) + self.n_seen
            for index, is_start in sorted(
                [(int(i), True) for i in starts] + [(int(i), False) for i in ends]
            ):
                if is_start:
                    self._start(index, done)
                else:
                    self._pending = Candidate(self._run_start, index)
                    self._run_start = None
            self._loaded = bool(loaded[-1])
        self.n_seen += n
        if self._pending is not None and self.n_seen - self._pending.end >= self.min_gap:
            done.append(self._pending)
            self._pending = None
        return done

    def _start(self, index: int, done: list[Candidate]) -> None:
        if self._pending is not None and index - self._pending.end < self.min_gap:
            self._run_start = self._pending.start  # flight too short: same contact
        else:
            if self._pending is not None:
                done.append(self._pending)
            self._run_start = index
        self._pending = None

    def flush(self) -> list[Candidate]:
        """At the end of the data: the pending candidate; a still-loaded run is incomplete."""
        done = []
        if self._pending is not None:
            done.append(self._pending)
            self._pending = None
        if self._run_start is not None:
            self.incomplete_at_end += 1
            self._run_start = None
        return done


def stance_candidates(
    fz: np.ndarray, on_N: float, off_N: float, min_gap_samples: int
) -> tuple[list[Candidate], int]:
    """All candidates of a whole recording, and how many were cut off by its end."""
    tracker = StanceCandidateTracker(on_N, off_N, min_gap_samples)
    found = tracker.push(fz) + tracker.flush()
    return found, tracker.incomplete_at_end


def crossing(f: np.ndarray, i: int, level: float) -> float:
    """Fractional index where the line through samples i and i+1 reaches ``level``."""
    a, b = f[i], f[i + 1]
    if b == a:
        return float(i)
    return i + float((level - a) / (b - a))


def refine_contact(
    f: np.ndarray, first: int, last: int, on_N: float, off_N: float
) -> tuple[float, float] | str:
    """Contact and toe-off (fractional indices into ``f``) of the loading that peaks within
    ``f[first:last]``: the off-threshold crossing before the run that exceeds ``on_N``, and the
    first one after it. Returns a reason string when the window cannot give them."""
    if last <= first:
        return "empty_candidate"
    peak = first + int(np.argmax(f[first:last]))
    if f[peak] <= on_N:
        return "below_threshold_after_filter"
    below_before = np.flatnonzero(f[:peak] < off_N)
    if below_before.size == 0:
        return "loaded_at_window_start"
    below_after = np.flatnonzero(f[peak:] < off_N)
    if below_after.size == 0:
        return "loaded_at_window_end"
    i = int(below_before[-1])
    j = peak + int(below_after[0])
    return crossing(f, i, off_N), crossing(f, j - 1, off_N)


def fitted_crossing(f: np.ndarray, i: int, level: float, half_width: int) -> float:
    """Where a least-squares line through ``f`` around samples i, i+1 (``half_width`` more on
    each side) reaches ``level``: the interpolated crossing, with white noise averaged down."""
    lo, hi = max(i - half_width, 0), min(i + 1 + half_width, f.size - 1)
    if half_width < 1 or hi - lo < 2:
        return crossing(f, i, level)
    x = np.arange(lo, hi + 1, dtype=float) - i
    if hi - lo >= 5:  # enough samples: a parabola follows the curvature of the force
        a, b, c = np.polyfit(x, f[lo : hi + 1], 2)
        roots = np.roots([a, b, c - level]) if a != 0 else np.roots([b, c - level])
    else:
        b, c = np.polyfit(x, f[lo : hi + 1], 1)
        roots = np.roots([b, c - level]) if b != 0 else np.array([])
    real = [float(r.real) for r in np.atleast_1d(roots) if abs(r.imag) < 1e-12]
    near = [r for r in real if -1.0 <= r <= 2.0]
    if not near:
        return crossing(f, i, level)
    return i + min(near, key=lambda r: abs(r - 0.5))


def sharpen_events(
    f: np.ndarray,
    contact: float,
    toe_off: float,
    *,
    on_N: float,
    off_N: float,
    search: int,
    fit_half_width: int = 0,
) -> tuple[float, float]:
    """Move contact and toe-off found on a smooth signal to the off-threshold crossings of a
    sharper one (less filtered) ``f``, applying the same hysteresis within ``search`` samples.
    Keeps the original instant where ``f`` gives no such crossing nearby."""
    n = f.size
    lo = max(int(np.floor(contact)) - search, 0)
    hi = min(int(np.ceil(contact)) + search, n - 1)
    above = np.flatnonzero(f[lo : hi + 1] > on_N)
    if above.size:
        j = lo + int(above[0])
        below = np.flatnonzero(f[lo:j] < off_N)
        if below.size:
            contact = fitted_crossing(f, lo + int(below[-1]), off_N, fit_half_width)
    lo = max(int(np.floor(toe_off)) - search, 0)
    hi = min(int(np.ceil(toe_off)) + search, n - 1)
    above = np.flatnonzero(f[lo : hi + 1] > on_N)
    if above.size:
        j = lo + int(above[-1])
        below = np.flatnonzero(f[j : hi + 1] < off_N)
        if below.size:
            toe_off = fitted_crossing(f, j + int(below[0]) - 1, off_N, fit_half_width)
    return contact, toe_off


def first_rising_crossing(f: np.ndarray, start: int, level: float) -> float | None:
    """First fractional index at or after sample ``start`` where ``f`` rises through ``level``."""
    above = np.flatnonzero(f[start:] >= level)
    if above.size == 0:
        return None
    k = start + int(above[0])
    if k == 0:
        return 0.0
    return crossing(f, k - 1, level)


def value_at(f: np.ndarray, t: float) -> float:
    """Linear interpolation of ``f`` at fractional index ``t``."""
    i = min(max(int(np.floor(t)), 0), f.size - 2)
    return float(f[i] + (f[i + 1] - f[i]) * (t - i))
