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

import math
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
IRREGULAR = 32  # the blob's size or roundness is not this marker's own: merged or partly hidden
LOW_CONFIDENCE = AMBIGUOUS | GEOMETRY  # the label is in doubt
LOW_QUALITY = LOW_CONFIDENCE | IRREGULAR  # the label or the position is in doubt
_NO_MATCH = 1e9
_TO_COMPLEX = np.array([1.0, 1j])  # (n, 2) @ this = x + iy: distances as complex magnitudes


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

    @property
    def low_quality(self) -> np.ndarray:
        """(n_frames,) True where any marker's label or position is in doubt (``IRREGULAR`` too)."""
        return (self.flags & LOW_QUALITY).any(axis=1)

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
        self._waiting = 0  # frames spent waiting for a clean frame to start labelling
        self._area = np.full(n, np.nan)  # running blob size of each marker
        self._circularity = np.full(n, np.nan)  # running blob roundness of each marker
        self._all_rows = np.arange(n)
        self._all_tracked = False  # no marker lost or unknown: the usual-frame path may apply
        self._residual = np.ones(n)  # running prediction error of each marker (px)
        self._blob = np.full(n, -1)  # this frame's blob of each marker (-1: none)
        self._required = np.array([marker_set.index(m) for m in marker_set.required], dtype=int)
        self._init_history: list[tuple[int, np.ndarray]] = []  # (frame count, labels)
        self._repair_history: list[tuple[int, np.ndarray]] = []
        self._frame = 0
        self._last_index: int | None = None  # the previous frame's counter (when given)
        self.restarts = 0  # labelling restarted after frames not seen
        self._candidate = np.full((n, 2), np.nan)  # re-acquisition of lost markers
        self._candidate_count = np.zeros(n, dtype=int)

    @property
    def initialised(self) -> bool:
        return self._initialised

    def reset(self) -> None:
        self._all_tracked = False
        self._pos[:] = np.nan
        self._vel[:] = 0.0
        self._unseen[:] = 0
        self._initialised = False
        self._lost_frames = 0
        self._candidate[:] = np.nan
        self._candidate_count[:] = 0
        self._waiting = 0
        self._init_history.clear()

    def update(
        self,
        blobs_xy: np.ndarray,
        areas: np.ndarray | None = None,
        circularity: np.ndarray | None = None,
        *,
        frame_index: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label one frame's blobs; return (positions (n_markers, 2), flags (n_markers,)).

        ``areas`` (blob sizes in pixels, from :func:`analysis.markers.detect_markers`) let the
        tracker refuse a blob of the wrong size when it has to search wide for a marker, and
        flag a blob that grew (a stray reflection merged with the marker: ``IRREGULAR``);
        ``circularity`` (same source) flags a blob that lost its round shape the same way.
        ``frame_index`` (the camera's frame counter): after more than
        ``settings.restart_after_unseen`` frames not seen, labelling restarts rather than
        predict across them onto the wrong blobs.
        """
        if frame_index is not None:
            last, self._last_index = self._last_index, int(frame_index)
            if last is not None and frame_index - last > self.settings.restart_after_unseen + 1:
                self.reset()
                self.restarts += 1
        self._frame += 1
        blobs_xy = np.asarray(blobs_xy, dtype=float).reshape(-1, 2)
        n_blobs = len(blobs_xy)
        areas = np.full(n_blobs, np.nan) if areas is None else np.asarray(areas, float)
        if self._all_tracked:
            usual = self._update_usual(blobs_xy, areas, circularity)
            if usual is not None:
                return usual
        n = len(self._pos)
        flags = np.zeros(n, dtype=np.uint8)
        if not self._initialised:
            return self._try_initialise(blobs_xy, areas, flags)
        s = self.settings
        self._blob = np.full(n, -1)
        known = ~np.isnan(self._pos[:, 0])
        lost_before = self._unseen > s.max_predict_frames
        active = known & ~lost_before
        all_active = bool(active.all())
        prediction = self._pos + self._vel
        new_pos = prediction.copy()
        if not all_active:
            new_pos[~active] = np.nan
        free = np.ones(n_blobs, dtype=bool)
        rows = self._all_rows if all_active else np.flatnonzero(active)
        if n_blobs and rows.size:
            # distances as complex magnitudes: one subtraction and one abs for the whole matrix
            blobs_c = blobs_xy[:, 0] + 1j * blobs_xy[:, 1]
            pred_c = prediction[rows, 0] + 1j * prediction[rows, 1]
            dist = np.abs(pred_c[:, None] - blobs_c[None, :])
            # pass 1, tight: the gate grows with the marker's speed (prediction errors do) and
            # with the frames it has been unseen
            speed = np.abs(self._vel[rows, 0] + 1j * self._vel[rows, 1])
            grow = 1.0 + 0.5 * np.minimum(self._unseen[rows], 4)
            gate = np.minimum((s.gate_min_px + s.gate_speed_factor * speed) * grow, s.gate_px)
            if not self._assign_nearest(
                rows, dist, gate, blobs_xy=blobs_xy, free=free, new_pos=new_pos, flags=flags
            ):
                self._assign(
                    rows,
                    dist,
                    gate[:, None],
                    blobs_xy=blobs_xy,
                    free=free,
                    new_pos=new_pos,
                    flags=flags,
                )
            # pass 2, wide: a marker that jerked off its prediction (or reappears) may take an
            # unclaimed blob within gate_px of its prediction or last position, if its size fits
            left = np.flatnonzero((flags[rows] & MEASURED) == 0)
            if left.size and free.any():
                behind = self._pos[rows[left], None, :] - blobs_xy[None, :, :]
                wide = np.minimum(dist[left], np.sqrt((behind * behind).sum(axis=2)))
                wide[:, ~free] = np.inf
                expected = self._area[rows[left]][:, None]
                ratio = areas[None, :] / expected
                misfit = np.isfinite(ratio) & ((ratio < 0.6) | (ratio > 1.6))
                wide[misfit] = np.inf
                before = (flags & MEASURED) > 0
                self._assign(
                    rows[left],
                    wide,
                    s.gate_px,
                    blobs_xy=blobs_xy,
                    free=free,
                    new_pos=new_pos,
                    flags=flags,
                )
                # found off its prediction: the label is plausible, not certain
                flags[((flags & MEASURED) > 0) & ~before] |= AMBIGUOUS
        if not all_active:
            for i in np.flatnonzero(known & lost_before):
                self._reacquire(i, blobs_xy, free, new_pos, flags)
        measured = (flags & MEASURED) > 0
        flags[active & ~measured] = PREDICTED
        # a jump far beyond this marker's usual prediction error is doubtful even inside the gate
        hit = measured & active & (self._unseen == 0)
        jump = new_pos[hit] - prediction[hit]
        residual = np.abs(jump[:, 0] + 1j * jump[:, 1])
        scale = self._residual[hit]
        flags[np.flatnonzero(hit)[(residual > s.gate_min_px) & (residual > 4 * scale)]] |= AMBIGUOUS
        self._residual[hit] = 0.9 * scale + 0.1 * np.minimum(residual, s.gate_min_px)
        got = measured & (self._blob >= 0)
        if got.any():
            self._check_blob_shape(got, areas, circularity, flags)
        # velocity from consecutive measurements; a re-acquired marker restarts at zero velocity
        fresh = measured & (self._unseen == 0) & ((flags & AMBIGUOUS) == 0)
        self._vel[fresh] = new_pos[fresh] - self._pos[fresh]
        self._vel[measured & ~fresh & (self._unseen > 0)] = 0.0  # a doubtful one keeps its own
        self._unseen[measured] = 0
        self._unseen[~measured] += 1
        lost = self._unseen > s.max_predict_frames
        if lost.any():
            # a lost marker waits at its last position to be re-acquired and is reported unknown
            self._vel[lost] = 0.0
            self._pos = np.where(lost[:, None], self._pos, new_pos)
            new_pos[lost] = np.nan
            flags[lost] = 0
        else:
            self._pos = new_pos.copy()
        broken = self.marker_set.violated(new_pos, self.orientation)
        if broken.any() or lost.any():
            new_pos = self._repair(blobs_xy, areas, new_pos, flags, lost)
            broken = self.marker_set.violated(new_pos, self.orientation)
        if broken.any():
            first, second = self.marker_set.constraint_markers
            flags[first[broken]] |= GEOMETRY
            flags[second[broken]] |= GEOMETRY
        required_lost = int(lost[self._required].sum())
        self._lost_frames = self._lost_frames + 1 if required_lost * 2 > n else 0
        if self._lost_frames > s.reinitialise_after:
            self.reset()
        self._all_tracked = bool(
            self._initialised
            and np.isfinite(self._pos[:, 0]).all()
            and (self._unseen <= s.max_predict_frames).all()
        )
        return new_pos, flags

    def _update_usual(self, blobs_xy, areas, circularity):
        """:meth:`update` for the usual frame, marker by marker in plain Python floats.

        It applies when every marker is being tracked (none lost), each marker's nearest blob
        inside its gate is nobody else's, and a marker with no blob in its gate (hidden this
        frame) is not about to be lost and has no unclaimed blob of its size within
        ``gate_px`` (pass 2 would find nothing). Then taking the nearest blobs is the optimal
        assignment (each marker at its own minimum, the "not seen" option included) and
        nothing is re-acquired. The same rules and the same arithmetic as the general path
        (its numbers to the bit); returns None, having changed nothing, otherwise (two markers
        wanting one blob, pass 2, lost markers). With 6-8 markers, Python floats beat numpy
        calls (~1 µs each); only the distance matrix is one numpy expression, as in the
        general path (numpy's complex magnitude is not always libm's ``hypot``)."""
        s = self.settings
        n_blobs = len(blobs_xy)
        if not n_blobs:
            return None
        prediction = self._pos + self._vel
        # x + iy by viewing each (x, y) row as one complex number: no arithmetic, no copy
        blobs_c = np.ascontiguousarray(blobs_xy).view(np.complex128).T  # (1, n_blobs)
        dist_array = np.abs(prediction.view(np.complex128) - blobs_c)
        top = dist_array.max()
        if math.isnan(top):  # a NaN blob: argmin and min disagree on NaN; the general path decides
            return None
        dist = dist_array.tolist()
        speed = np.abs(np.ascontiguousarray(self._vel).view(np.complex128)).ravel().tolist()
        unseen = self._unseen.tolist()
        hidden = any(unseen)  # some marker was not measured on the previous frame
        gate_min, gate_px = s.gate_min_px, s.gate_px
        nearest: list[int] = []
        chosen: list[float] = []
        take: list[bool] = []
        for i, row in enumerate(dist):
            best = min(row)
            gate = gate_min + s.gate_speed_factor * speed[i]
            if hidden:
                gate *= 1.0 + 0.5 * min(unseen[i], 4)
            nearest.append(row.index(best))
            chosen.append(best)
            take.append(best <= (gate if gate < gate_px else gate_px))
        picked = [j for j, t in zip(nearest, take, strict=True) if t]
        if len(set(picked)) < len(picked):
            return None  # two markers want one blob: the optimal assignment decides
        n = len(dist)
        all_taken = len(picked) == n
        if not all_taken and self._pass_two_would_act(
            blobs_xy, areas, dist, take=take, unseen=unseen, picked=picked
        ):
            return None
        # ambiguity: another blob nearly as close to this marker, or another marker's
        # prediction nearly as close to this blob (second-smallest distances)
        margin = s.ambiguity_margin_px
        scale = self._residual.tolist()
        residual = scale.copy()
        doubt = [False] * n
        if n_blobs > 1:
            second_blob = np.partition(dist_array, 1, axis=1)[:, 1].tolist()
            doubt = [b - c < margin for b, c in zip(second_blob, chosen, strict=True)]
        if n > 1:
            low, second = np.partition(dist_array, 1, axis=0)[:2].tolist()  # every blob's
        for i in range(n):
            c = chosen[i]
            if n > 1:
                j = nearest[i]
                doubt[i] = doubt[i] or (second[j] if c <= low[j] else low[j]) - c < margin
            # a jump far beyond this marker's usual prediction error is doubtful even in the gate
            if take[i] and unseen[i] == 0:  # the jump test is for markers seen last frame
                old = scale[i]
                doubt[i] = doubt[i] or (c > gate_min and c > 4 * old)
                residual[i] = 0.9 * old + 0.1 * (c if c < gate_min else gate_min)
        self._residual = np.array(residual)
        flags = [MEASURED | AMBIGUOUS if d else MEASURED for d in doubt]
        self._check_shapes_usual(areas, circularity, nearest, take, flags)
        nearest_array = np.array(nearest)
        out = blobs_xy[nearest_array]
        if all_taken and not hidden:
            self._blob = nearest_array
            # velocity from consecutive measurements; a doubtful one keeps its own
            step = out - self._pos
            self._vel = np.where(np.array(doubt)[:, None], self._vel, step) if any(doubt) else step
        else:
            missing = [i for i, t in enumerate(take) if not t]
            if missing:
                out[missing] = prediction[missing]
                for i in missing:
                    flags[i] = PREDICTED
            # a re-appearing marker restarts at zero velocity; a doubtful or hidden one keeps
            # its own
            fresh = [t and u == 0 and not d for t, u, d in zip(take, unseen, doubt, strict=True)]
            velocity = np.where(np.array(fresh)[:, None], out - self._pos, self._vel)
            back = [i for i, (t, u) in enumerate(zip(take, unseen, strict=True)) if t and u > 0]
            if back:
                velocity[back] = 0.0
            self._vel = velocity
            self._blob = np.array([j if t else -1 for j, t in zip(nearest, take, strict=True)])
            self._unseen = np.array([0 if t else u + 1 for t, u in zip(take, unseen, strict=True)])
        self._pos = out.copy()
        self._lost_frames = 0
        flag_array = np.array(flags, dtype=np.uint8)
        if self.marker_set.breaks_any(out.tolist(), self.orientation):
            lost = np.zeros(n, dtype=bool)
            out = self._repair(blobs_xy, areas, out, flag_array, lost)
            broken = self.marker_set.violated(out, self.orientation)
            if broken.any():
                first, second = self.marker_set.constraint_markers
                flag_array[first[broken]] |= GEOMETRY
                flag_array[second[broken]] |= GEOMETRY
        return out, flag_array

    def _pass_two_would_act(self, blobs_xy, areas, dist, *, take, unseen, picked) -> bool:
        """Whether the general path would do more than predict the markers with no blob in
        their gate: one is about to be lost, or an unclaimed blob of its size lies within
        ``gate_px`` of its prediction or last position (pass 2 would take it)."""
        s = self.settings
        missing = [i for i, t in enumerate(take) if not t]
        if any(unseen[i] >= s.max_predict_frames for i in missing):
            return True  # it would be lost this frame
        free = [True] * len(dist[0])
        for j in picked:
            free[j] = False
        blobs = blobs_xy.tolist()
        sizes = areas.tolist()
        pos = self._pos.tolist()
        expected = self._area.tolist()
        for i in missing:
            px, py = pos[i]
            row = dist[i]
            for j, (bx, by) in enumerate(blobs):
                if not free[j]:
                    continue
                dx, dy = px - bx, py - by
                behind = math.sqrt(dx * dx + dy * dy)
                wide = row[j] if row[j] < behind else behind
                if wide > s.gate_px:
                    continue
                ratio = sizes[j] / expected[i] if expected[i] != 0.0 else math.nan
                if not (math.isfinite(ratio) and (ratio < 0.6 or ratio > 1.6)):
                    return True  # not a misfit: pass 2 may take it
        return False

    def _check_shapes_usual(self, areas, circularity, nearest, take, flags) -> None:
        """The usual path's :meth:`_check_blob_shape`: flag a taken blob larger, smaller or
        less round than its marker's running size and shape (``IRREGULAR``); a regular one
        updates the running values, an irregular or absent one keeps them."""
        s = self.settings
        sizes = areas.tolist()
        size = [sizes[j] for j in nearest]
        if all(map(math.isnan, size)):
            return
        old = self._area.tolist()
        new_area = old.copy()
        grow, shrink = s.irregular_area_ratio, s.irregular_shrink_ratio
        if circularity is not None:
            roundness = np.asarray(circularity, float).tolist()
            old_circ = self._circularity.tolist()
            new_circ = old_circ.copy()
            drop = s.irregular_circularity_drop
        for i, j in enumerate(nearest):
            if not take[i]:
                continue
            a, o = size[i], old[i]
            merged = a > grow * o or a < shrink * o  # NaN (no history yet) compares False
            if circularity is not None:
                c, oc = roundness[j], old_circ[i]
                merged = merged or c < oc - drop
                if not merged and not math.isnan(c):
                    new_circ[i] = c if math.isnan(oc) else 0.9 * oc + 0.1 * c
            if merged:
                flags[i] |= IRREGULAR
            else:
                new_area[i] = a if math.isnan(o) else 0.9 * o + 0.1 * a
        if circularity is not None:
            self._circularity = np.array(new_circ)
        self._area = np.array(new_area)

    def _check_blob_shape(self, got, areas, circularity, flags) -> None:
        """Flag a marker whose blob is larger or less round than its own running size and shape
        (a stray reflection merged with it moves the centroid by up to a pixel or two); such a
        blob does not update the running size, so a lasting merge stays flagged."""
        blob = self._blob[got]
        size = areas[blob]
        old = self._area[got]
        if np.isnan(size).all():
            return
        merged = (size > self.settings.irregular_area_ratio * old) | (
            size < self.settings.irregular_shrink_ratio * old
        )  # NaN (no history yet) compares False
        if circularity is not None:
            circ = np.asarray(circularity, float)[blob]
            old_circ = self._circularity[got]
            merged |= circ < old_circ - self.settings.irregular_circularity_drop
            fine = ~merged & np.isfinite(circ)
            self._circularity[np.flatnonzero(got)[fine]] = np.where(
                np.isfinite(old_circ[fine]), 0.9 * old_circ[fine] + 0.1 * circ[fine], circ[fine]
            )
        if merged.any():
            flags[np.flatnonzero(got)[merged]] |= IRREGULAR
        fine = ~merged
        self._area[np.flatnonzero(got)[fine]] = np.where(
            np.isfinite(old[fine]), 0.9 * old[fine] + 0.1 * size[fine], size[fine]
        )

    def _try_initialise(self, blobs_xy, areas, flags) -> tuple[np.ndarray, np.ndarray]:
        """Start labelling once ``init_frames`` consecutive clean frames agree.

        A clean frame has one blob per marker, blobs of similar size (a stray reflection is
        rarely the size of a marker) and labels that satisfy the marker set's geometry; the
        frames must agree (no label moving more than the gate between them), so a stray that
        happens to replace a hidden marker in one frame cannot start a wrong labelling.
        """
        s = self.settings
        n = len(self._pos)
        nothing = np.full((n, 2), np.nan)
        labels = self.marker_set.initial_labels(
            blobs_xy,
            self.orientation,
            allow_missing_optional=self._waiting > s.reinitialise_after,
        )
        self._waiting += 1
        sizes = areas[np.isfinite(areas)]
        if labels is not None and sizes.size:
            median = float(np.median(sizes))
            if ((sizes < 0.5 * median) | (sizes > 2.0 * median)).any():
                labels = None
        if labels is None:
            # a frame with a stray or a hidden marker is skipped; a long run of them restarts
            if self._init_history and self._waiting - self._init_history[-1][0] > s.init_frames:
                self._init_history.clear()
            return nothing, flags
        if self._init_history:
            seen_at, previous = self._init_history[-1]
            same = np.isfinite(previous[:, 0]) == np.isfinite(labels[:, 0])
            moved = np.hypot(*(labels - previous).T)
            if not same.all() or np.nanmax(moved) > s.gate_px * (self._waiting - seen_at):
                self._init_history.clear()
        if len(self._init_history) >= 2 and not self._steady_motion(labels):
            self._init_history.clear()
        self._init_history.append((self._waiting, labels))
        if len(self._init_history) < s.init_frames:
            return nothing, flags
        known = np.isfinite(labels[:, 0])
        self._pos = labels
        self._vel[:] = 0.0
        if len(self._init_history) > 1:
            seen_at, previous = self._init_history[-2]
            self._vel = np.nan_to_num((labels - previous) / (self._waiting - seen_at))
        self._unseen = np.where(known, 0, s.max_predict_frames + 1)
        self._area[:] = np.nan
        self._circularity[:] = np.nan
        for i in np.flatnonzero(known):
            self._area[i] = areas[np.argmin(np.hypot(*(blobs_xy - labels[i]).T))]
        self._initialised = True
        self._all_tracked = bool((self._unseen == 0).all())
        self._waiting = 0
        self._lost_frames = 0
        self._init_history.clear()
        flags[known] = MEASURED
        return labels.copy(), flags

    def _steady_motion(self, labels: np.ndarray) -> bool:
        """The last two starting frames and this one move every label at a nearly constant
        velocity (change below ``gate_min_px``): a stray standing in for a hidden marker, even
        close to where that marker was, breaks this unless it lines up by chance twice."""
        (t0, p0), (t1, p1) = self._init_history[-2:]
        t2 = self._waiting
        change = ((labels - p1) / (t2 - t1) - (p1 - p0) / (t1 - t0)) * (t2 - t1)
        return not bool(np.nanmax(np.hypot(change[:, 0], change[:, 1])) > self.settings.gate_min_px)

    def _repair(self, blobs_xy, areas, new_pos, flags, lost) -> np.ndarray:
        """When the labels are in trouble (geometry broken, a marker lost) and this frame is
        clean, relabel it from geometry; every marker whose label changes is flagged."""
        ms = self.marker_set
        optional_unknown = all(np.isnan(new_pos[ms.index(m), 0]) for m in ms.optional)
        if len(blobs_xy) != len(ms.markers) and not (
            optional_unknown and len(blobs_xy) == len(ms.required)
        ):
            return new_pos
        sizes = areas[np.isfinite(areas)]
        if sizes.size and (np.abs(np.log(sizes / np.median(sizes))) > np.log(2.0)).any():
            return new_pos
        labels = ms.initial_labels(
            blobs_xy, self.orientation, allow_missing_optional=optional_unknown
        )
        if labels is None:
            return new_pos
        # like the first labelling, a relabelling must hold over init_frames clean frames
        previous = self._repair_history
        if previous and (
            self._frame - previous[-1][0] > 2
            or not (np.hypot(*(labels - previous[-1][1]).T) <= self.settings.gate_px).all()
        ):
            previous.clear()
        previous.append((self._frame, labels))
        if len(previous) < self.settings.init_frames:
            return new_pos
        previous.clear()
        moved = np.hypot(*(labels - new_pos).T)
        changed = ~(moved < 0.5)  # NaN (was unknown) counts as changed
        changed &= np.isfinite(labels[:, 0])
        if not changed.any():
            return new_pos
        self._pos[changed] = labels[changed]
        self._vel[changed] = 0.0
        self._unseen[changed] = 0
        self._candidate[changed] = np.nan
        self._candidate_count[changed] = 0
        lost[changed] = False
        flags[changed] = MEASURED | AMBIGUOUS
        out = new_pos.copy()
        out[changed] = labels[changed]
        return out

    def _assign_nearest(self, rows, dist, gate, *, blobs_xy, free, new_pos, flags) -> bool:
        """Pass 1 when every marker's nearest blob is a different one (the usual frame): then
        each marker taking its nearest blob inside its gate is the optimal assignment (every
        row at its own minimum, the "not seen" option included), so the Hungarian call is
        skipped. Returns False, changing nothing, when two markers want the same blob."""
        n_rows, n_blobs = dist.shape
        nearest = dist.argmin(axis=1)
        chosen = dist[self._all_rows[:n_rows], nearest]
        take = chosen <= gate
        picked = nearest[take]
        if picked.size > 1 and np.unique(picked).size < picked.size:
            return False
        if not picked.size:
            return True
        markers = rows[take]
        chosen = chosen[take]
        new_pos[markers] = blobs_xy[picked]
        self._blob[markers] = picked
        flags[markers] = MEASURED
        free[picked] = False
        margin = self.settings.ambiguity_margin_px
        # ambiguity: another blob nearly as close to this marker, or another marker's
        # prediction nearly as close to this blob (second-smallest distances)
        doubt = np.zeros(picked.size, dtype=bool)
        if n_blobs > 1:
            second_blob = np.partition(dist[take], 1, axis=1)[:, 1]
            doubt |= second_blob - chosen < margin
        if n_rows > 1:
            two = np.partition(dist[:, picked], 1, axis=0)
            other_marker = np.where(chosen <= two[0], two[1], two[0])
            doubt |= other_marker - chosen < margin
        if doubt.any():
            flags[markers[doubt]] |= AMBIGUOUS
        return True

    def _assign(self, rows, dist, gate, *, blobs_xy, free, new_pos, flags) -> None:
        """Optimal assignment of markers ``rows`` to blobs inside ``gate``; flags ambiguity.

        Each marker also has a "not seen" option costing its gate, so hiding one marker does not
        make its neighbours shift along the chain to keep every marker assigned.
        """
        gate = np.broadcast_to(np.asarray(gate, dtype=float).reshape(-1, 1), (len(rows), 1))
        cost = np.where((dist <= gate) & free[None, :], dist, _NO_MATCH)
        missing = np.full((len(rows), len(rows)), _NO_MATCH)
        np.fill_diagonal(missing, gate[:, 0])
        r_idx, c_idx = linear_sum_assignment(np.hstack([cost, missing]))
        ok = c_idx < dist.shape[1]
        r_idx, c_idx = r_idx[ok], c_idx[ok]
        ok = cost[r_idx, c_idx] < _NO_MATCH
        r_idx, c_idx = r_idx[ok], c_idx[ok]
        if not r_idx.size:
            return
        markers = rows[r_idx]
        new_pos[markers] = blobs_xy[c_idx]
        self._blob[markers] = c_idx
        flags[markers] = MEASURED
        free[c_idx] = False
        chosen = dist[r_idx, c_idx]
        margin = self.settings.ambiguity_margin_px
        # ambiguity: another blob nearly as close to this marker, or another marker's
        # prediction nearly as close to this blob
        alt_blob = dist[r_idx].copy()
        alt_blob[np.arange(len(r_idx)), c_idx] = np.inf
        doubt = alt_blob.min(axis=1) - chosen < margin
        if dist.shape[0] > 1:
            alt_marker = dist[:, c_idx].copy()
            alt_marker[r_idx, np.arange(len(r_idx))] = np.inf
            doubt |= alt_marker.min(axis=0) - chosen < margin
        flags[markers[doubt]] |= AMBIGUOUS

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
    blobs_per_frame: list,
    marker_set: MarkerSet,
    orientation: ImageOrientation,
    settings: TrackingSettings | None = None,
    *,
    fill: bool = True,
    frame_index: np.ndarray | None = None,
) -> MarkerTracks:
    """Offline: label every frame's blobs (``Blobs`` or (n, 2) arrays), then fill short gaps
    (``settings.max_gap_frames``). ``frame_index``: the frames' counters (dropped frames are
    missing from them; a long run restarts the labelling, see :meth:`MarkerTracker.update`)."""
    tracker = MarkerTracker(marker_set, orientation, settings)
    n_frames, n = len(blobs_per_frame), len(marker_set.markers)
    xy = np.full((n_frames, n, 2), np.nan)
    flags = np.zeros((n_frames, n), dtype=np.uint8)
    for k, blobs in enumerate(blobs_per_frame):
        index = None if frame_index is None else int(frame_index[k])
        if hasattr(blobs, "area_px"):  # analysis.markers.Blobs
            xy[k], flags[k] = tracker.update(
                blobs.xy, blobs.area_px, blobs.circularity, frame_index=index
            )
        else:
            xy[k], flags[k] = tracker.update(blobs, frame_index=index)
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
