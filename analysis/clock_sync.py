"""Map a device clock onto the session clock (the DAQ sample clock), with an honest uncertainty.

Hardware sync needs no estimation: a frame triggered by the DAQ counter at sample ``n`` starts its
exposure at ``(n + delay·rate) / rate`` (:func:`hardware_frame_time`).

Software sync (cameras without a trigger input) only has host receive times. Two independent
fits are made, each ``host = a + b · device_time``: one for the camera clock (frame timestamps, or
frame counter / nominal fps for cameras without timestamps) and one for the session clock (the
end time of each DAQ block). Receive latency is one-sided -- nothing arrives before it happened --
so each fit uses the lower envelope: the minimum-delay point of every segment of the
device clock, fitted by least squares over a sliding window (as Lab Streaming Layer does), not all
points. Composing the camera fit with the inverse of the DAQ fit gives camera → session.

The reported standard error combines the line's own standard error with the residual latency left
in a segment minimum, estimated from the spread of that segment's receive delays (for exponential
delays the minimum of N draws exceeds the true floor by mean/N). A constant difference between the
two devices' *minimum* delivery latencies is invisible to any timestamp fit; it is measured with the
LED or belt-tap check (:mod:`analysis.sync_events`) and passed back as ``*_floor_latency_s``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.errors import AnalysisError, InputError
from analysis.provenance import software_version


def hardware_frame_time(
    trigger_sample: np.ndarray | int, daq_rate_hz: float, trigger_delay_s: float = 0.0
) -> np.ndarray:
    """Exact session time of exposure start for frames triggered at DAQ sample ``trigger_sample``.

    The counter output shares the analog input's timebase and start trigger, so this is exact up
    to the camera's documented trigger-to-exposure delay.
    """
    if not daq_rate_hz > 0:
        raise InputError(
            f"DAQ rate must be positive, got {daq_rate_hz}",
            subject="daq_rate_hz",
            remedy="Check the DAQ sample rate in the hardware configuration.",
        )
    samples = np.asarray(trigger_sample, dtype=np.float64)
    return (samples + trigger_delay_s * daq_rate_hz) / daq_rate_hz


@dataclass(frozen=True)
class ClockSyncSettings:
    """How the software clock fit is made; stored with every mapped timestamp."""

    window_s: float = 30.0  # sliding window of the online fit (device clock); inf = whole session
    segment_s: float = 1.0  # one minimum-delay point per segment of the camera clock
    daq_segment_s: float = 3.0  # DAQ blocks arrive ~10/s, so longer segments for a clean minimum
    frame_period_s: float = 0.004  # the half-frame uncertainty warning is relative to this
    prior_drift_ppm: float = 100.0  # assumed drift bound before three segments exist
    camera_floor_latency_s: float = 0.0  # constant minimum frame delivery latency (from sync-check)
    daq_floor_latency_s: float = 0.0  # constant minimum DAQ block delivery latency

    def __post_init__(self) -> None:
        for name in ("window_s", "segment_s", "daq_segment_s", "frame_period_s"):
            value = getattr(self, name)
            if not (value > 0):
                raise InputError(
                    f"must be positive, got {value}",
                    subject=f"clock sync setting '{name}'",
                    remedy="Use a positive number of seconds.",
                )
        if self.window_s < 3 * max(self.segment_s, self.daq_segment_s):
            longest = max(self.segment_s, self.daq_segment_s)
            raise InputError(
                f"window {self.window_s} s holds fewer than 3 segments of {longest} s",
                subject="clock sync setting 'window_s'",
                remedy="Use a window at least three segments long (default 30 s, segments 1 s).",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClockSyncSettings:
        return cls(**values)


@dataclass(frozen=True)
class LinearClockFit:
    """``target = target_ref + slope · (source − source_ref)``, with its uncertainty terms."""

    source_ref: float
    target_ref: float
    slope: float
    var_target_ref: float  # variance of target_ref (independent of slope: source_ref is the mean)
    var_slope: float
    floor_var: float  # residual latency left in the envelope points (variance)
    n_segments: int

    def predict(self, source: np.ndarray) -> np.ndarray:
        return self.target_ref + self.slope * (
            np.asarray(source, dtype=np.float64) - self.source_ref
        )

    def standard_error(self, source: np.ndarray) -> np.ndarray:
        dx = np.asarray(source, dtype=np.float64) - self.source_ref
        return np.sqrt(self.var_target_ref + dx * dx * self.var_slope + self.floor_var)

    def inverse(self, target: np.ndarray) -> np.ndarray:
        return (
            self.source_ref + (np.asarray(target, dtype=np.float64) - self.target_ref) / self.slope
        )


class LowerEnvelopeFit:
    """Online least-squares fit of ``receive_time = a + b · device_time`` on minimum-delay points.

    Points are added in chunks (vectorised); per segment of the device clock only the point with
    the smallest delay is kept, with the count and mean of the delays seen, so memory is bounded by
    the window whatever the rate.
    """

    def __init__(
        self, settings: ClockSyncSettings, segment_s: float, *, floor_latency_s: float = 0.0
    ) -> None:
        self.settings = settings
        self.segment_s = segment_s
        self.floor_latency_s = floor_latency_s
        self._origin: float | None = None
        self._slope_guess = 1.0
        # per segment: id -> [x_min, y_min, count, sum of (y − x), sum of x]
        self._segments: dict[int, list[float]] = {}
        self._fit: LinearClockFit | None = None
        self._dirty = False

    @property
    def n_points(self) -> int:
        return int(sum(seg[2] for seg in self._segments.values()))

    def add(self, device_time_s: np.ndarray, receive_time_s: np.ndarray) -> None:
        """Add points (device clock, host receive clock), in device-time order."""
        x = np.atleast_1d(np.asarray(device_time_s, dtype=np.float64))
        y = np.atleast_1d(np.asarray(receive_time_s, dtype=np.float64)) - self.floor_latency_s
        if x.shape != y.shape:
            raise InputError(
                f"{x.size} device times but {y.size} receive times",
                subject="clock sync points",
                remedy="Pass one receive time per timestamp.",
            )
        if x.size == 0:
            return
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise InputError(
                "timestamps contain NaN or infinity",
                subject="clock sync points",
                remedy="Drop items without a valid timestamp before fitting.",
            )
        if self._origin is None:
            self._origin = float(x[0])
        seg_ids = np.floor((x - self._origin) / self.segment_s).astype(np.int64)
        rel = y - x  # delays relative to slope 1; the drift part is applied as (slope − 1)·x
        delay = rel - (self._slope_guess - 1.0) * x
        # x is time-ordered, so each segment is one contiguous run
        starts = np.flatnonzero(np.r_[True, seg_ids[1:] != seg_ids[:-1]])
        counts = np.diff(np.r_[starts, x.size])
        rel_sums = np.add.reduceat(rel, starts)
        x_sums = np.add.reduceat(x, starts)
        runs = zip(
            starts.tolist(), counts.tolist(), rel_sums.tolist(), x_sums.tolist(), strict=True
        )
        for start, count, rel_sum, x_sum in runs:
            best = start + int(np.argmin(delay[start : start + count]))
            sid = int(seg_ids[start])
            seg = self._segments.get(sid)
            if seg is None:
                self._segments[sid] = [x[best], y[best], count, rel_sum, x_sum]
                continue
            if delay[best] < (seg[1] - seg[0]) - (self._slope_guess - 1.0) * seg[0]:
                seg[0], seg[1] = x[best], y[best]
            seg[2] += count
            seg[3] += rel_sum
            seg[4] += x_sum
        if math.isfinite(self.settings.window_s):
            newest = int(seg_ids[-1])
            keep_from = newest - math.ceil(self.settings.window_s / self.segment_s) + 1
            for sid in [s for s in self._segments if s < keep_from]:
                del self._segments[sid]
        self._dirty = True

    def fit(self) -> LinearClockFit:
        """The current line over the window; raises when no point has been added."""
        if not self._dirty and self._fit is not None:
            return self._fit
        if not self._segments:
            raise AnalysisError(
                "no timestamps yet",
                subject="clock sync",
                remedy="Map timestamps only after the first frames and DAQ blocks have arrived.",
            )
        segs = np.array([self._segments[k] for k in sorted(self._segments)], dtype=np.float64)
        if len(segs) > 1 and segs[-1, 2] < max(3.0, 0.5 * float(np.median(segs[:-1, 2]))):
            segs = segs[:-1]  # the segment still filling has too few points for a clean minimum
        x, y, n, rel_sum, x_sum = segs.T
        # residual latency in each minimum ≈ (mean delay − min delay)/(N − 1) for exponential delays
        # (unknown, so infinite, from fewer than three points)
        drift = self._slope_guess - 1.0
        mean_excess = (rel_sum - drift * x_sum) / n - ((y - x) - drift * x)
        with np.errstate(divide="ignore", invalid="ignore"):
            bias = np.where(n >= 3, mean_excess / (n - 1), np.inf)
        floor_var = float(np.mean(bias**2))
        x_ref = float(np.mean(x))
        dx = x - x_ref
        if len(x) >= 3:
            sxx = float(dx @ dx)
            rel = y - x  # fit the small part (slope − 1) for conditioning
            c = float(dx @ (rel - rel.mean()) / sxx)
            resid = rel - rel.mean() - c * dx
            # the minima scatter about the line by s; their latency above the true floor is of
            # that order too (equal for exponential delays, ~2 s for peaked ones), so a new
            # point's prediction variance, s² on top of the line's own, bounds it honestly
            s2 = max(float(resid @ resid) / (len(x) - 2), floor_var)
            fit = LinearClockFit(
                source_ref=x_ref,
                target_ref=x_ref + float(rel.mean()),
                slope=1.0 + c,
                var_target_ref=s2 / len(x),
                var_slope=s2 / sxx,
                floor_var=s2,
                n_segments=len(x),
            )
            self._slope_guess = fit.slope
        else:
            prior = self.settings.prior_drift_ppm * 1e-6
            rel = y - x
            fit = LinearClockFit(
                source_ref=x_ref,
                target_ref=x_ref + float(rel.mean()),
                slope=1.0,
                var_target_ref=floor_var / len(x),
                var_slope=prior * prior,
                floor_var=floor_var,
                n_segments=len(x),
            )
        self._fit = fit
        self._dirty = False
        return fit


@dataclass(frozen=True)
class CameraToSession:
    """``session = offset_s + (1 + drift_ppm·1e-6) · camera_time`` and its standard error."""

    camera: LinearClockFit  # camera clock -> host clock
    daq: LinearClockFit  # session clock -> host clock
    settings: ClockSyncSettings
    software: str = field(default_factory=software_version)

    def session_time(self, camera_time_s: np.ndarray) -> np.ndarray:
        return self.daq.inverse(self.camera.predict(camera_time_s))

    def standard_error(self, camera_time_s: np.ndarray) -> np.ndarray:
        host = self.camera.predict(camera_time_s)
        session = self.daq.inverse(host)
        var = self.camera.standard_error(camera_time_s) ** 2 + self.daq.standard_error(session) ** 2
        return np.sqrt(var) / self.daq.slope

    @property
    def offset_s(self) -> float:
        return float(self.session_time(np.array(0.0)))

    @property
    def drift_ppm(self) -> float:
        return (self.camera.slope / self.daq.slope - 1.0) * 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset_s": self.offset_s,
            "drift_ppm": self.drift_ppm,
            "camera_fit": asdict(self.camera),
            "daq_fit": asdict(self.daq),
            "settings": self.settings.to_dict(),
            "software": self.software,
        }


@dataclass(frozen=True)
class MappedTimes:
    """Session times of frames with their standard errors and the half-frame warning."""

    session_time_s: np.ndarray
    standard_error_s: np.ndarray
    uncertain: np.ndarray  # bool: standard error above half a frame period
    mapping: CameraToSession

    @property
    def flags(self) -> tuple[str, ...]:
        return ("clock_sync_uncertain",) if bool(np.any(self.uncertain)) else ()


class SoftwareClockSync:
    """Online camera-clock → session-clock mapping from host receive times (software sync)."""

    def __init__(self, settings: ClockSyncSettings | None = None) -> None:
        self.settings = settings or ClockSyncSettings()
        s = self.settings
        self._camera = LowerEnvelopeFit(s, s.segment_s, floor_latency_s=s.camera_floor_latency_s)
        self._daq = LowerEnvelopeFit(s, s.daq_segment_s, floor_latency_s=s.daq_floor_latency_s)

    def add_daq_blocks(self, block_end_session_s: np.ndarray, host_time_s: np.ndarray) -> None:
        """DAQ blocks: session time just after each block's last sample, and its receive time."""
        self._daq.add(block_end_session_s, host_time_s)

    def add_frames(self, camera_time_s: np.ndarray, host_time_s: np.ndarray) -> None:
        """Frames: camera timestamp of exposure start (or counter / nominal fps), receive time."""
        self._camera.add(camera_time_s, host_time_s)

    def mapping(self) -> CameraToSession:
        return CameraToSession(self._camera.fit(), self._daq.fit(), self.settings)

    def map_frames(self, camera_time_s: np.ndarray) -> MappedTimes:
        """Session times of these frames from the fit as it stands now (online)."""
        mapping = self.mapping()
        se = mapping.standard_error(camera_time_s)
        return MappedTimes(
            session_time_s=mapping.session_time(camera_time_s),
            standard_error_s=se,
            uncertain=se > 0.5 * self.settings.frame_period_s,
            mapping=mapping,
        )


def fit_offline(
    daq_block_end_session_s: np.ndarray,
    daq_host_time_s: np.ndarray,
    camera_time_s: np.ndarray,
    camera_host_time_s: np.ndarray,
    settings: ClockSyncSettings | None = None,
) -> MappedTimes:
    """Refit over the whole session (one line per clock) and map every frame with it."""
    base = settings or ClockSyncSettings()
    whole = ClockSyncSettings(**{**base.to_dict(), "window_s": math.inf})
    sync = SoftwareClockSync(whole)
    sync.add_daq_blocks(daq_block_end_session_s, daq_host_time_s)
    sync.add_frames(camera_time_s, camera_host_time_s)
    return sync.map_frames(camera_time_s)
