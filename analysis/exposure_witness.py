"""The camera's exposure-active witness: edges, and pulses sent = edges recorded = frames received.

In hardware sync the DAQ counter sends trigger pulse ``k`` at sample ``first + k·ratio``; the camera
raises its exposure-active output while it exposes, and that line is recorded as an analog channel
(``exposure.sagittal``, ``exposure.posterior``, 0/5 V). Rising edges are found with hysteresis (a
glitch or ringing inside the band is ignored) and timed to a fraction of a sample by interpolating
the mid-level crossing. :func:`reconcile` then matches pulses, edges and the camera's frame counters
and names every missing frame by its index: a pulse the camera never exposed (missed trigger) or an
exposure whose frame never arrived (dropped in transfer). Frames are never renumbered. A witness
recorded by a counter instead (the DAQ's ``[[daq.edge_counters]]``, cumulative edge count per
sample) is decoded by :class:`EdgeCountDecoder` into the same edge times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.clock_sync import hardware_frame_time
from analysis.errors import InputError
from analysis.provenance import software_version


@dataclass(frozen=True)
class WitnessSettings:
    """Hysteresis levels (V) of the exposure line, and how far an edge may be from its pulse."""

    low_V: float = 1.0  # below this the line is off (re-arms the detector)
    high_V: float = 4.0  # above this the line is on (an edge is counted)
    match_tolerance_frames: float = 0.25  # edge vs expected exposure start, in frame periods

    def __post_init__(self) -> None:
        if not self.low_V < self.high_V:
            raise InputError(
                f"low level {self.low_V} V is not below high level {self.high_V} V",
                subject="witness settings",
                remedy="Set low_V below high_V (defaults 1 V and 4 V for a 0/5 V line).",
            )

    @property
    def mid_V(self) -> float:
        return 0.5 * (self.low_V + self.high_V)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EdgeDecoder:
    """Streaming rising-edge decoder; feeding blocks gives exactly what one whole block gives.

    Edge times are in samples (fractional) from the first sample ever fed; divide by the rate for
    session time.
    """

    def __init__(self, settings: WitnessSettings | None = None, first_sample: int = 0) -> None:
        self.settings = settings or WitnessSettings()
        self._next_sample = first_sample
        self._armed: bool | None = None  # unknown until the line is seen below low or above high
        self._last_value: float | None = None
        self._last_crossing = np.nan  # latest mid-level up-crossing (samples) not yet used

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Decode one block of the witness channel; returns the rising edges completed in it."""
        v = np.asarray(block, dtype=np.float64).ravel()
        if v.size == 0:
            return np.empty(0)
        low, high, mid = self.settings.low_V, self.settings.high_V, self.settings.mid_V
        start = self._next_sample
        # mid-level up-crossings, including the one between the previous block and this one
        prev = np.r_[self._last_value if self._last_value is not None else v[0], v[:-1]]
        up = np.flatnonzero((prev <= mid) & (v > mid))
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (mid - prev[up]) / (v[up] - prev[up])
        crossings = start + up - 1 + frac  # sample position of the crossing
        # hysteresis state per sample: 1 on, 0 off, carried through the band
        state = np.where(v > high, 1.0, np.where(v < low, 0.0, np.nan))
        known = np.flatnonzero(~np.isnan(state))
        carried = np.full(v.size, np.nan if self._armed is None else float(not self._armed))
        if known.size:
            fill = np.maximum.accumulate(np.where(~np.isnan(state), np.arange(v.size), -1))
            has = fill >= 0
            carried[has] = state[fill[has]]
        before = np.r_[np.nan if self._armed is None else float(not self._armed), carried[:-1]]
        rising = np.flatnonzero((before == 0.0) & (carried == 1.0))
        edges = np.empty(rising.size)
        for i, r in enumerate(rising.tolist()):
            j = np.searchsorted(up, r, side="right") - 1  # latest crossing at or before the edge
            edges[i] = crossings[j] if j >= 0 else self._last_crossing
            if j < 0:
                self._last_crossing = np.nan
        if up.size and (rising.size == 0 or up[-1] > rising[-1]):
            self._last_crossing = crossings[-1]
        if not np.isnan(carried[-1]):
            self._armed = carried[-1] == 0.0
        self._last_value = float(v[-1])
        self._next_sample = start + v.size
        return edges[~np.isnan(edges)]


def rising_edges(
    signal: np.ndarray, rate_hz: float, settings: WitnessSettings | None = None
) -> np.ndarray:
    """Session times (s) of the rising edges of a whole recorded witness channel."""
    return EdgeDecoder(settings).feed(signal) / rate_hz


class EdgeCountDecoder:
    """Streaming decoder of a witness recorded as a counter's edge count (``*.edges`` columns).

    The DAQ latches the counter on every sample clock tick, so the count at sample ``n`` includes
    every exposure edge up to that tick: a step between samples ``n − 1`` and ``n`` is an edge in
    that interval, reported at its middle (``n − 0.5``, exact to ±half a sample, no threshold).
    The counter starts at zero with the acquisition; a 32-bit wrap-around is undone.
    """

    def __init__(self, first_sample: int = 0, first_count: int = 0) -> None:
        """``first_count``: the count just before ``first_sample`` (0 at acquisition start)."""
        self._next_sample = first_sample
        self._last_count = first_count

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Edge positions (samples, fractional) completed in this block of counts."""
        counts = np.rint(np.asarray(block, dtype=np.float64).ravel()).astype(np.int64)
        if counts.size == 0:
            return np.empty(0)
        steps = np.diff(np.r_[self._last_count, counts]) % (1 << 32)
        if np.any(steps > 1000):
            raise InputError(
                f"the edge count jumps by {int(steps.max())} in one sample",
                subject="exposure witness edge counter",
                remedy="Check that the column holds the counter's edge count, not a voltage.",
            )
        at = np.repeat(np.arange(counts.size), steps)
        edges = self._next_sample + at - 0.5
        self._last_count = int(counts[-1])
        self._next_sample += counts.size
        return edges.astype(np.float64)


def edges_from_counts(counts: np.ndarray, rate_hz: float) -> np.ndarray:
    """Session times (s) of the exposure edges in a whole recorded edge-count column."""
    return EdgeCountDecoder().feed(counts) / rate_hz


@dataclass(frozen=True)
class PulseTrain:
    """The trigger pulses the DAQ counter sent: pulse k at sample ``first_sample + k·ratio``."""

    daq_rate_hz: float
    samples_per_frame: int  # the force rate is an integer multiple of the frame rate
    first_sample: int = 0  # sample of pulse 0 (counter started by the analog-input start trigger)
    trigger_delay_s: float = 0.0  # camera's trigger-to-exposure delay

    def __post_init__(self) -> None:
        if self.samples_per_frame < 1 or self.daq_rate_hz <= 0:
            raise InputError(
                f"rate {self.daq_rate_hz} Hz with {self.samples_per_frame} samples per frame",
                subject="counter configuration",
                remedy="The DAQ rate must be positive and an integer multiple of the frame rate.",
            )

    @property
    def frame_rate_hz(self) -> float:
        return self.daq_rate_hz / self.samples_per_frame

    def pulses_sent(self, n_samples: int) -> int:
        """How many pulses fall inside a recording of ``n_samples`` samples."""
        return max(0, -(-(n_samples - self.first_sample) // self.samples_per_frame))

    def session_time(self, frame_index: np.ndarray) -> np.ndarray:
        """Exact exposure start of frame (pulse) ``frame_index`` on the session clock."""
        sample = (
            self.first_sample + np.asarray(frame_index, dtype=np.int64) * self.samples_per_frame
        )
        return hardware_frame_time(sample, self.daq_rate_hz, self.trigger_delay_s)


@dataclass(frozen=True)
class Reconciliation:
    """Pulses, witness edges and frames of one camera, matched; every missing frame by index."""

    camera: str
    pulses_sent: int
    edges_recorded: int
    frames_received: int
    frame_index: np.ndarray  # int64, per received frame: its pulse index (never renumbered)
    session_time_s: np.ndarray  # per received frame: exact exposure start from the pulse
    witness_time_s: np.ndarray  # per received frame: measured edge time (NaN if no edge)
    missed_trigger: np.ndarray  # pulse indices the camera never exposed (no edge)
    dropped_in_transfer: np.ndarray  # pulse indices exposed (edge) but never received
    unmatched_edges_s: np.ndarray  # edges with no pulse near them (noise or a free-running camera)
    max_edge_error_s: float  # largest |edge − expected exposure start|
    pulses: PulseTrain
    settings: WitnessSettings
    software: str = field(default_factory=software_version)

    @property
    def missing(self) -> np.ndarray:
        """Every frame index that was triggered but is not in the recording, sorted."""
        return np.union1d(self.missed_trigger, self.dropped_in_transfer)

    @property
    def consistent(self) -> bool:
        return self.pulses_sent == self.edges_recorded == self.frames_received

    @property
    def flags(self) -> tuple[str, ...]:
        flags = []
        if self.missed_trigger.size:
            flags.append("missed_triggers")
        if self.dropped_in_transfer.size:
            flags.append("dropped_frames")
        if self.unmatched_edges_s.size:
            flags.append("unmatched_witness_edges")
        return tuple(flags)

    def summary(self) -> str:
        text = (
            f"{self.camera}: {self.pulses_sent} pulses sent, {self.edges_recorded} exposure edges,"
            f" {self.frames_received} frames received"
        )
        if self.missing.size:
            shown = ", ".join(str(i) for i in self.missing[:20].tolist())
            more = f" and {self.missing.size - 20} more" if self.missing.size > 20 else ""
            text += f"; missing frames {shown}{more}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "pulses_sent": self.pulses_sent,
            "edges_recorded": self.edges_recorded,
            "frames_received": self.frames_received,
            "missed_trigger": self.missed_trigger.tolist(),
            "dropped_in_transfer": self.dropped_in_transfer.tolist(),
            "unmatched_edges_s": self.unmatched_edges_s.tolist(),
            "max_edge_error_s": self.max_edge_error_s,
            "pulses": asdict(self.pulses),
            "settings": self.settings.to_dict(),
            "flags": list(self.flags),
            "software": self.software,
        }


def reconcile(
    camera: str,
    pulses: PulseTrain,
    n_samples: int,
    edge_times_s: np.ndarray,
    frame_counters: np.ndarray,
    *,
    first_counter: int = 0,
    settings: WitnessSettings | None = None,
) -> Reconciliation:
    """Match pulses sent, witness edges and received frame counters of one camera.

    ``frame_counters`` are the camera's own counters of the received frames; the camera counts
    exposures, so counter ``first_counter + n`` is the n-th exposure, i.e. the n-th witness edge.
    Only pulses whose exposure starts at least two samples before the end of the recording are
    counted (a later edge cannot be seen). The exposure-active pulse must last at least two DAQ
    samples, or the witness misses exposures.
    """
    settings = settings or WitnessSettings()
    edges = np.asarray(edge_times_s, dtype=np.float64).ravel()
    counters = np.asarray(frame_counters, dtype=np.int64).ravel()
    if counters.size and np.any(np.diff(counters) <= 0):
        raise InputError(
            "frame counters are not strictly increasing",
            subject=f"camera '{camera}' frame counters",
            remedy="Pass the counters of the received frames in arrival order, without repeats.",
        )
    period = 1.0 / pulses.frame_rate_hz
    expected = pulses.session_time(np.arange(pulses.pulses_sent(n_samples)))
    # an exposure starting in the last two samples cannot show a complete edge: not counted
    n_pulses = int(np.searchsorted(expected, (n_samples - 2) / pulses.daq_rate_hz, side="right"))
    expected = expected[:n_pulses]
    # each edge belongs to the nearest pulse, if it is close enough to be that pulse's exposure
    nearest = np.zeros(edges.size, dtype=np.int64)
    if n_pulses:
        nearest = np.rint((edges - expected[0]) / period).astype(np.int64)
    in_range = (nearest >= 0) & (nearest < n_pulses)
    error = np.full(edges.size, np.inf)
    error[in_range] = edges[in_range] - expected[nearest[in_range]]
    matched = np.abs(error) <= settings.match_tolerance_frames * period
    _, first_of_pulse = np.unique(np.where(matched, nearest, -1), return_index=True)
    duplicate = np.ones(edges.size, dtype=bool)
    duplicate[first_of_pulse] = False
    matched &= ~duplicate  # a second edge near one pulse is not a second exposure
    edge_pulse = nearest[matched]
    edge_time = edges[matched]
    exposure = counters - first_counter  # the n-th exposure
    bad = (exposure < 0) | (exposure >= edge_pulse.size)
    if np.any(bad):
        raise InputError(
            f"{int(bad.sum())} received frames have counters with no recorded exposure edge"
            f" (first {int(counters[bad][0])})",
            subject=f"camera '{camera}' witness channel",
            remedy="Check that the exposure-active output is wired to its DAQ channel and that"
            " first_counter matches the camera's counter at the first exposure.",
        )
    frame_index = edge_pulse[exposure]
    received = np.zeros(n_pulses, dtype=bool)
    received[frame_index] = True
    exposed = np.zeros(n_pulses, dtype=bool)
    exposed[edge_pulse] = True
    # edges of pulses after the end (the witness is decoded past a recording's stop) belong to
    # later pulses, not to this reconciliation: they are not unmatched
    after_end = (nearest >= n_pulses) if n_pulses else np.zeros(edges.size, dtype=bool)
    return Reconciliation(
        camera=camera,
        pulses_sent=n_pulses,
        edges_recorded=int(edge_pulse.size),
        frames_received=int(counters.size),
        frame_index=frame_index,
        session_time_s=pulses.session_time(frame_index),
        witness_time_s=edge_time[exposure],
        missed_trigger=np.flatnonzero(~exposed),
        dropped_in_transfer=np.flatnonzero(exposed & ~received),
        unmatched_edges_s=edges[~matched & ~after_end],
        max_edge_error_s=float(np.max(np.abs(error[matched]), initial=0.0)),
        pulses=pulses,
        settings=settings,
    )
