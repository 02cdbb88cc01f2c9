"""Foot contact and toe-off from marker trajectories, for video-only sessions and as a check on
synchronisation with the force plate (SCIENCE §2).

Zeni et al. (2008) finds each event roughly — contact when the heel is farthest ahead of the
pelvis, toe-off when the toe is farthest behind it — and Handsaker et al. (2016) refines it:
contact at the peak upward acceleration of the heel or toe marker (whichever decelerates harder,
so fore- and rear-foot strikers both work), toe-off at the peak vertical jerk of the toe marker.
Peaks are located to a fraction of a frame by a parabola through the three highest samples.
Input is plane coordinates (``a`` forward, ``b`` up, metres) and frame times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from analysis.errors import AnalysisError
from analysis.vision_settings import EventSettings

HANDSAKER = "handsaker"
ZENI = "zeni"


@dataclass(frozen=True)
class FootEvents:
    """Contacts of one foot, each with its toe-off (NaN if not seen) and how it was found."""

    contact_s: np.ndarray
    toe_off_s: np.ndarray
    method: tuple[str, ...]  # per contact: "handsaker" or "zeni" (fallback)
    settings: EventSettings

    def to_dict(self) -> dict:
        return {
            "contact_s": self.contact_s.tolist(),
            "toe_off_s": self.toe_off_s.tolist(),
            "method": list(self.method),
            "settings": self.settings.to_dict(),
        }


def _lowpass(x: np.ndarray, cutoff_hz: float, rate_hz: float) -> np.ndarray:
    """Zero-lag Butterworth (2nd order run twice = 4th order effective), as for force data."""
    if cutoff_hz <= 0 or cutoff_hz >= rate_hz / 2:
        return x
    sos = butter(2, cutoff_hz, fs=rate_hz, output="sos")
    return sosfiltfilt(sos, x, axis=0)


def _peak_time(signal: np.ndarray, times: np.ndarray, lo: int, hi: int) -> float | None:
    """Time of the maximum of ``signal[lo:hi]``, refined by a parabola (None if no data)."""
    lo, hi = max(lo, 1), min(hi, len(signal) - 1)
    if hi <= lo:
        return None
    window = signal[lo:hi]
    if not np.isfinite(window).any():
        return None
    k = lo + int(np.nanargmax(window))
    y0, y1, y2 = signal[k - 1], signal[k], signal[k + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if np.isfinite(denom) and denom < 0 else 0.0
    shift = float(np.clip(shift, -0.5, 0.5))
    return float(np.interp(k + shift, np.arange(len(times)), times))


def _finite_runs(ok: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], ok.astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(a, b) for a, b in zip(starts, stops, strict=True) if b - a >= min_len]


def detect_foot_events(
    times_s: np.ndarray,
    heel: np.ndarray,
    toe: np.ndarray,
    hip: np.ndarray,
    settings: EventSettings | None = None,
) -> FootEvents:
    """Contacts and toe-offs of the foot carrying ``heel`` and ``toe`` (plane coordinates)."""
    settings = settings or EventSettings()
    times = np.asarray(times_s, dtype=float)
    heel, toe, hip = (np.asarray(v, dtype=float) for v in (heel, toe, hip))
    if len(times) < 3 or not (len(heel) == len(toe) == len(hip) == len(times)):
        raise AnalysisError(
            "marker series and frame times differ in length or are too short",
            subject="kinematic events",
            remedy="pass one time per frame and one position per frame for heel, toe and hip",
        )
    rate = 1.0 / float(np.median(np.diff(times)))
    stride = max(int(settings.min_stride_s * rate), 1)
    before = round(settings.search_before_s * rate)
    after = round(settings.search_after_s * rate)
    ok = np.isfinite(heel).all(1) & np.isfinite(toe).all(1) & np.isfinite(hip).all(1)
    contacts: list[float] = []
    toe_offs: list[float] = []
    methods: list[str] = []
    for start, stop in _finite_runs(ok, max(3 * stride, 16)):
        t = times[start:stop]
        f = {
            name: _lowpass(series[start:stop], settings.lowpass_hz, rate)
            for name, series in (("heel", heel), ("toe", toe), ("hip", hip))
        }
        heel_ahead = f["heel"][:, 0] - f["hip"][:, 0]
        toe_ahead = f["toe"][:, 0] - f["hip"][:, 0]
        zeni_c, _ = find_peaks(heel_ahead, distance=stride)
        zeni_t, _ = find_peaks(-toe_ahead, distance=stride)
        dt = 1.0 / rate
        heel_acc = np.gradient(np.gradient(f["heel"][:, 1], dt), dt)
        toe_acc = np.gradient(np.gradient(f["toe"][:, 1], dt), dt)
        toe_jerk = np.gradient(toe_acc, dt)
        acc = np.maximum(heel_acc, toe_acc)
        toe_off_times = []
        for k in zeni_t:
            if k < before or k + after >= len(t):
                continue  # the event's search window runs off this run of data
            found = _peak_time(toe_jerk, t, k - before, k + after + 1)
            toe_off_times.append(found if found is not None else float(t[k]))
        toe_off_arr = np.asarray(toe_off_times)
        for k in zeni_c:
            if k < before or k + after >= len(t):
                continue
            found = _peak_time(acc, t, k - before, k + after + 1)
            contact = found if found is not None else float(t[k])
            later = toe_off_arr[toe_off_arr > contact]
            nxt = later[0] if len(later) else np.nan
            if contacts and contact - contacts[-1] < settings.min_stride_s / 2:
                continue
            contacts.append(contact)
            toe_offs.append(float(nxt) if nxt - contact < settings.min_stride_s else np.nan)
            methods.append(HANDSAKER if found is not None else ZENI)
    return FootEvents(np.asarray(contacts), np.asarray(toe_offs), tuple(methods), settings)


@dataclass(frozen=True)
class ContactBias:
    """Kinematic minus force contact times, paired within a tolerance (a synchronisation check:
    the bias should be constant over a session, SCIENCE §2)."""

    differences_s: np.ndarray
    mean_s: float
    sd_s: float
    n: int
    unpaired_force: int  # force contacts with no kinematic contact within the tolerance

    def to_dict(self) -> dict:
        return {
            "differences_s": self.differences_s.tolist(),
            "mean_s": self.mean_s,
            "sd_s": self.sd_s,
            "n": self.n,
            "unpaired_force": self.unpaired_force,
        }


def contact_bias(
    kinematic_contact_s: np.ndarray, force_contact_s: np.ndarray, tolerance_s: float = 0.05
) -> ContactBias:
    """Pair each force contact with the nearest kinematic contact of the same foot."""
    kin = np.sort(np.asarray(kinematic_contact_s, dtype=float))
    force = np.asarray(force_contact_s, dtype=float)
    if not len(kin) or not len(force):
        raise AnalysisError(
            "no contacts to compare",
            subject="kinematic/force contact check",
            remedy="record at least one stance of the camera-side foot with both systems",
        )
    nearest = kin[np.argmin(np.abs(kin[None, :] - force[:, None]), axis=1)]
    diff = nearest - force
    paired = np.abs(diff) <= tolerance_s
    d = diff[paired]
    return ContactBias(
        differences_s=d,
        mean_s=float(d.mean()) if len(d) else float("nan"),
        sd_s=float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
        n=len(d),
        unpaired_force=int((~paired).sum()),
    )
