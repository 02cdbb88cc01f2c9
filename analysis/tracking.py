"""Marker tracking and labelling: blobs per frame → named marker tracks with quality flags.

Each frame: predict every marker from its previous positions (constant velocity), assign blobs
to predictions optimally (``linear_sum_assignment``) inside a gating distance, keep a marker that
found no blob at its prediction (flagged ``PREDICTED``), ignore blobs nobody claims (stray
reflections). A label is never swapped silently: if a second candidate is within the ambiguity
margin of the chosen one, or the marker set's geometry is broken, the markers involved are
flagged and the frame is low-confidence. Offline, short gaps are filled by a cubic spline through
the measured frames (``INTERPOLATED``); longer gaps stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import linear_sum_assignment

from analysis.errors import InputError
from analysis.marker_sets import ImageOrientation, MarkerSet
from analysis.vision_settings import TrackingSettings

# Per-marker, per-frame quality bits (0 = no position).
MEASURED = 1  # a blob was assigned
PREDICTED = 2  # no blob: the position is the constant-velocity prediction
INTERPOLATED = 4  # offline: a short gap filled between measured frames
AMBIGUOUS = 8  # another blob or marker was within the ambiguity margin
GEOMETRY = 16  # a marker-set constraint involving this marker was broken
LOW_CONFIDENCE = AMBIGUOUS | GEOMETRY
_NO_MATCH = 1e9


@dataclass
class MarkerTracks:
    """Named marker positions over frames (pixels) with per-marker quality flags."""

    names: tuple[str, ...]
    xy: np.ndarray  # (n_frames, n_markers, 2) float64, NaN where unknown
    flags: np.ndarray  # (n_frames, n_markers) uint8 bits above
    settings: TrackingSettings = field(default_factory=TrackingSettings)

    @property
    def low_confidence(self) -> np.ndarray:
        """(n_frames,) True where any marker's label is in doubt."""
        return (self.flags & LOW_CONFIDENCE).any(axis=1)

    def marker(self, name: str) -> np.ndarray:
        return self.xy[:, self._index(name)]

    def marker_flags(self, name: str) -> np.ndarray:
        return self.flags[:, self._index(name)]

    def _index(self, name: str) -> int:
        if name not in self.names:
            raise InputError(
                f"no marker named {name!r} in these tracks",
                subject="marker tracks",
                remedy=f"known markers: {', '.join(self.names)}",
            )
        return self.names.index(name)

    def measured_fraction(self) -> dict[str, float]:
        """Share of frames in which each marker was seen (the per-marker quality)."""
        seen = (self.flags & MEASURED) > 0
        return {n: float(seen[:, i].mean()) if len(seen) else 0.0 for i, n in enumerate(self.names)}

    def summary(self) -> dict[str, Any]:
        return {
            "n_frames": len(self.xy),
            "measured_fraction": self.measured_fraction(),
            "low_confidence_frames": int(self.low_confidence.sum()),
            "settings": self.settings.to_dict(),
        }


class MarkerTracker:
    """Frame-by-frame labelling for one view (usable live; :func:`track_frames` offline)."""

    def __init__(
        self,
        marker_set: MarkerSet,
        orientation: ImageOrientation,
        settings: TrackingSettings | None = None,
    ) -> None:
        self.marker_set = marker_set
        self.orientation = orientation
        self.settings = settings or TrackingSettings()
        n = len(marker_set.markers)
        self._pos = np.full((n, 2), np.nan)
        self._vel = np.zeros((n, 2))
        self._unseen = np.zeros(n, dtype=int)  # frames since last measured
        self._initialised = False
        self._lost_frames = 0
        self._candidate = np.full((n, 2), np.nan)  # re-acquisition of lost markers
        self._candidate_count = np.zeros(n, dtype=int)

    @property
    def initialised(self) -> bool:
        return self._initialised

    def reset(self) -> None:
        self._pos[:] = np.nan
        self._vel[:] = 0.0
        self._unseen[:] = 0
        self._initialised = False
        self._lost_frames = 0
        self._candidate[:] = np.nan
        self._candidate_count[:] = 0

    def update(self, blobs_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Label one frame's blobs; return (positions (n_markers, 2), flags (n_markers,))."""
        blobs_xy = np.asarray(blobs_xy, dtype=float).reshape(-1, 2)
        n = len(self._pos)
        flags = np.zeros(n, dtype=np.uint8)
        if not self._initialised:
            labels = self.marker_set.initial_labels(blobs_xy, self.orientation)
            if labels is None:
                return np.full((n, 2), np.nan), flags
            self._pos = labels
            self._vel[:] = 0.0
            known = np.isfinite(labels[:, 0])
            self._unseen = np.where(known, 0, self.settings.max_predict_frames + 1)
            self._initialised = True
            self._lost_frames = 0
            flags[known] = MEASURED
            return labels.copy(), flags

        s = self.settings
        known = np.isfinite(self._pos[:, 0])
        lost_before = self._unseen > s.max_predict_frames
        active = known & ~lost_before
        prediction = self._pos + self._vel
        new_pos = np.where(active[:, None], prediction, np.nan)
        free = np.ones(len(blobs_xy), dtype=bool)
        if len(blobs_xy) and active.any():
            rows = np.flatnonzero(active)
            diff = prediction[rows, None, :] - blobs_xy[None, :, :]
            dist = np.sqrt((diff * diff).sum(axis=2))
            # a marker unseen for a few frames may have drifted from its prediction: wider gate
            gate = s.gate_px * (1.0 + 0.25 * np.minimum(self._unseen[rows], 4))
            cost = np.where(dist <= gate[:, None], dist, _NO_MATCH)
            r_idx, c_idx = linear_sum_assignment(cost)
            ok = cost[r_idx, c_idx] < _NO_MATCH
            r_idx, c_idx = r_idx[ok], c_idx[ok]
            markers = rows[r_idx]
            new_pos[markers] = blobs_xy[c_idx]
            flags[markers] = MEASURED
            free[c_idx] = False
            chosen = dist[r_idx, c_idx]
            # ambiguity: another blob nearly as close to this marker, or another marker's
            # prediction nearly as close to this blob
            if dist.shape[1] > 1:
                alt_blob = dist[r_idx].copy()
                alt_blob[np.arange(len(r_idx)), c_idx] = np.inf
                doubt = alt_blob.min(axis=1) - chosen < s.ambiguity_margin_px
            else:
                doubt = np.zeros(len(r_idx), dtype=bool)
            if dist.shape[0] > 1:
                alt_marker = dist[:, c_idx].copy()
                alt_marker[r_idx, np.arange(len(r_idx))] = np.inf
                doubt |= alt_marker.min(axis=0) - chosen < s.ambiguity_margin_px
            flags[markers[doubt]] |= AMBIGUOUS
        for i in np.flatnonzero(known & lost_before):
            self._reacquire(i, blobs_xy, free, new_pos, flags)
        measured = (flags & MEASURED) > 0
        flags[active & ~measured] = PREDICTED
        # velocity from consecutive measurements; a re-acquired marker restarts at zero velocity
        fresh = measured & (self._unseen == 0)
        self._vel[fresh] = new_pos[fresh] - self._pos[fresh]
        self._vel[measured & ~fresh] = 0.0
        self._unseen[measured] = 0
        self._unseen[~measured] += 1
        lost = self._unseen > s.max_predict_frames
        # a lost marker waits at its last position to be re-acquired and is reported unknown
        self._vel[lost] = 0.0
        self._pos = np.where(lost[:, None], self._pos, new_pos)
        new_pos[lost] = np.nan
        flags[lost] = 0
        for c in self.marker_set.violations(new_pos, self.orientation):
            flags[self.marker_set.markers.index(c.first)] |= GEOMETRY
            flags[self.marker_set.markers.index(c.second)] |= GEOMETRY
        required_lost = sum(
            lost[self.marker_set.markers.index(m)] for m in self.marker_set.required
        )
        self._lost_frames = self._lost_frames + 1 if required_lost * 2 > n else 0
        if self._lost_frames > s.reinitialise_after:
            self.reset()
        return new_pos.copy(), flags

    def _reacquire(self, i, blobs_xy, free, new_pos, flags) -> None:
        """A lost marker comes back only after ``reacquire_frames`` consecutive consistent
        sightings among the unclaimed blobs (a one-frame stray reflection cannot capture it);
        the frame it comes back on is flagged, since its label rests on old data."""
        s = self.settings
        candidate = self._candidate[i]
        has_candidate = np.isfinite(candidate[0])
        reference = candidate if has_candidate else self._pos[i]
        gate = s.gate_px if has_candidate else 3.0 * s.gate_px
        idx = np.flatnonzero(free)
        if idx.size:
            d = np.hypot(*(blobs_xy[idx] - reference).T)
            j = int(np.argmin(d))
            if d[j] <= gate:
                free[idx[j]] = False
                self._candidate[i] = blobs_xy[idx[j]]
                self._candidate_count[i] += 1
                if self._candidate_count[i] >= s.reacquire_frames:
                    new_pos[i] = blobs_xy[idx[j]]
                    flags[i] = MEASURED | AMBIGUOUS
                    self._candidate[i] = np.nan
                    self._candidate_count[i] = 0
                return
        self._candidate[i] = np.nan
        self._candidate_count[i] = 0


def track_frames(
    blobs_per_frame: list[np.ndarray],
    marker_set: MarkerSet,
    orientation: ImageOrientation,
    settings: TrackingSettings | None = None,
    *,
    fill: bool = True,
) -> MarkerTracks:
    """Offline: label every frame's blobs, then fill short gaps (``settings.max_gap_frames``)."""
    tracker = MarkerTracker(marker_set, orientation, settings)
    n_frames, n = len(blobs_per_frame), len(marker_set.markers)
    xy = np.full((n_frames, n, 2), np.nan)
    flags = np.zeros((n_frames, n), dtype=np.uint8)
    for k, blobs in enumerate(blobs_per_frame):
        xy[k], flags[k] = tracker.update(blobs)
    tracks = MarkerTracks(marker_set.markers, xy, flags, tracker.settings)
    return fill_gaps(tracks) if fill else tracks


def fill_gaps(tracks: MarkerTracks, max_gap: int | None = None) -> MarkerTracks:
    """Replace unmeasured runs of at most ``max_gap`` frames between measured frames by a cubic
    spline through the measured positions (``INTERPOLATED``); longer runs become NaN (flag 0).

    Predictions are for live display only; offline, a position is measured or interpolated.
    """
    max_gap = tracks.settings.max_gap_frames if max_gap is None else max_gap
    xy = tracks.xy.copy()
    flags = tracks.flags.copy()
    frames = np.arange(len(xy))
    for i in range(len(tracks.names)):
        seen = (flags[:, i] & MEASURED) > 0
        if seen.sum() < 2:
            xy[~seen, i] = np.nan
            flags[~seen, i] &= ~np.uint8(PREDICTED | INTERPOLATED)
            continue
        fill = np.zeros(len(xy), dtype=bool)
        idx = np.flatnonzero(seen)
        gaps = np.diff(idx) - 1
        for start, length in zip(idx[:-1], gaps, strict=True):
            if 0 < length <= max_gap:
                fill[start + 1 : start + 1 + length] = True
        unseen = ~seen
        xy[unseen & ~fill, i] = np.nan
        flags[unseen & ~fill, i] &= ~np.uint8(PREDICTED)
        if fill.any():
            spline = CubicSpline(frames[seen], tracks.xy[seen, i])
            xy[fill, i] = spline(frames[fill])
            flags[fill, i] = (flags[fill, i] & ~np.uint8(PREDICTED)) | INTERPOLATED
    return MarkerTracks(tracks.names, xy, flags, tracks.settings)
