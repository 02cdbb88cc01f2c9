"""The live force analysis: feed blocks of volts (or forces), get each stance as soon as it ends.

A stance is emitted once the force has stayed below the off threshold for the minimum flight time
(the toe-off is confirmed) and ``padding_after_s`` samples past its last loaded sample have
arrived, i.e. about ``padding_after_s`` (30 ms) after toe-off. It is analysed from exactly the
same raw window, by the same code, as in the offline analysis
(:func:`analysis.force_trial.analyse_force_trial`), so the records are the same. Per block the
work is a matrix product per plate and a vectorised threshold pass; the filtering happens once
per stance, on a window of a few hundred samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.errors import InputError
from analysis.force_metrics import Rejected, StanceRecord
from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_candidates
from analysis.forceplate import PlateConfig
from analysis.gait_events import Candidate, StanceCandidateTracker
from analysis.stance_sides import StanceSequencer


class _SampleBuffer:
    """The recent samples of one plate, addressed by absolute sample index."""

    def __init__(self, width: int, capacity: int = 8192) -> None:
        self.data = np.empty((capacity, width))
        self.start = 0
        self.length = 0

    def append(self, block: np.ndarray) -> None:
        need = self.length + block.shape[0]
        if need > self.data.shape[0]:
            grown = np.empty((max(2 * self.data.shape[0], need), self.data.shape[1]))
            grown[: self.length] = self.data[: self.length]
            self.data = grown
        self.data[self.length : need] = block
        self.length = need

    def discard_before(self, index: int) -> None:
        k = min(index - self.start, self.length)
        if k <= 0:
            return
        self.data[: self.length - k] = self.data[k : self.length]
        self.start += k
        self.length -= k

    def window(self, start: int, stop: int) -> tuple[np.ndarray, int]:
        start = max(start, self.start)
        stop = min(stop, self.start + self.length)
        return self.data[start - self.start : stop - self.start], start


class StreamingForceAnalyser:
    """Stance records from a live stream of one or more plates.

    ``push(volts)`` takes a (samples, channels) block whose columns are ``channel_names``;
    ``push_forces(wrenches)`` takes one (samples, 6) lab wrench per plate instead. Call
    ``finish()`` at the end of the recording to analyse the last stance.
    """

    def __init__(
        self,
        plates: Sequence[PlateConfig],
        rate_hz: float,
        settings: ForceSettings | None = None,
        *,
        channel_names: Sequence[str] | None = None,
        body_weight_N: float | None = None,
        belt_speed_m_s: float | None = None,
    ) -> None:
        if not plates:
            raise InputError("no force plates to analyse", subject="streaming force analysis")
        self.plates = list(plates)
        self.rate_hz = float(rate_hz)
        self.settings = settings or ForceSettings()
        self.body_weight_N = body_weight_N
        s = self.settings
        s.check_rate(self.rate_hz)
        self.pad_before = s.samples(s.padding_s, rate_hz)
        self.pad_after = s.samples(s.padding_after_s, rate_hz)
        gap = s.samples(s.min_flight_s, rate_hz)
        self.trackers = [
            StanceCandidateTracker(s.threshold_on_N, s.threshold_off_N, gap) for _ in plates
        ]
        self.buffers = [_SampleBuffer(6) for _ in plates]
        self.sequencer = StanceSequencer(self.plates, s, belt_speed_m_s)
        self.rejected: list[Rejected] = []
        self._pending: list[tuple[int, int, Candidate]] = []
        self._columns = None
        if channel_names is not None:
            index = {name: i for i, name in enumerate(channel_names)}
            missing = [c for p in plates for c in p.channels if c not in index]
            if missing:
                raise InputError(
                    f"channel(s) {', '.join(missing)} are not in the DAQ channel list",
                    subject="streaming force analysis",
                    remedy="Check the [[plates]] channel names against the DAQ configuration.",
                )
            self._columns = [[index[c] for c in p.channels] for p in plates]

    @property
    def samples_seen(self) -> int:
        return self.trackers[0].n_seen

    def push(self, volts: np.ndarray) -> list[StanceRecord]:
        """Add a block of raw DAQ volts; return the stances completed by it."""
        if self._columns is None:
            raise InputError(
                "this analyser was created without channel names, so it cannot read volts",
                subject="streaming force analysis",
                remedy="Pass channel_names=..., or use push_forces().",
            )
        volts = np.asarray(volts, dtype=float)
        return self.push_forces(
            [
                p.lab_wrench(volts[:, cols])
                for p, cols in zip(self.plates, self._columns, strict=True)
            ]
        )

    def push_forces(self, wrenches: Sequence[np.ndarray]) -> list[StanceRecord]:
        """Add one block of lab wrenches (samples, 6) per plate, in plate order."""
        if len(wrenches) != len(self.plates):
            raise InputError(
                f"{len(wrenches)} force blocks for {len(self.plates)} plates",
                subject="streaming force analysis",
            )
        for i, block in enumerate(wrenches):
            w = np.asarray(block, dtype=float)
            self.buffers[i].append(w)
            self._pending.extend((c.end, i, c) for c in self.trackers[i].push(w[:, 2]))
        seen = self.samples_seen
        ready = [item for item in self._pending if item[0] + self.pad_after <= seen]
        records = self._analyse(ready)
        self._trim()
        return records

    def finish(self) -> list[StanceRecord]:
        """End of recording: analyse what is left with windows clipped at the last sample."""
        for i, tracker in enumerate(self.trackers):
            self._pending.extend((c.end, i, c) for c in tracker.flush())
        return self._analyse(list(self._pending))

    @property
    def incomplete(self) -> int:
        return sum(t.incomplete_at_end for t in self.trackers)

    def _analyse(self, ready: list[tuple[int, int, Candidate]]) -> list[StanceRecord]:
        if not ready:
            return []
        done = {id(item) for item in ready}
        self._pending = [item for item in self._pending if id(item) not in done]

        def window(plate_index: int, start: int, stop: int):
            return self.buffers[plate_index].window(max(start, 0), stop)

        records, rejected = analyse_candidates(
            ready,
            self.plates,
            window,
            rate_hz=self.rate_hz,
            settings=self.settings,
            body_weight_N=self.body_weight_N,
            sequencer=self.sequencer,
        )
        self.rejected.extend(rejected)
        return records

    def _trim(self) -> None:
        keep = self.samples_seen
        for tracker in self.trackers:
            if tracker.open_since is not None:
                keep = min(keep, tracker.open_since)
        for _, _, c in self._pending:
            keep = min(keep, c.start)
        # the window before a stance, and the stretch its belt vibration is measured on
        history = self.settings.samples(self.settings.vibration_history_s, self.rate_hz)
        for buffer in self.buffers:
            buffer.discard_before(keep - max(self.pad_before, history))
