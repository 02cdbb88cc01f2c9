"""The video metrics of one live stance, from its cameras' labelled markers around it.

The live join (:class:`app.live_analysis.ForceAnalysis`) cuts each camera's window of labelled
marker pixels out of its tracker's store (:class:`CameraWindow`) and hands the windows here;
in real time this runs in the force analysis worker (:mod:`app.force_worker`), so its many
short numpy and OpenCV calls do not wait for the interpreter lock of the process that
acquires, records and draws the window. Pixels become plane metres through
:func:`analysis.video_metrics.plane_tracks`, the function the offline re-analysis uses, so
per-marker depth offsets of a calibration count live as they do offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.plane_calibration import PlaneCalibration
from analysis.tracking import MarkerTracks
from analysis.video_metrics import PlaneTracks, plane_tracks, stance_video_records
from analysis.vision_settings import VisionSettings

VIDEO_WINDOW_PAD_S = 0.05  # frames before contact, for interpolation at the events
# a stance's video may lack this many consecutive frames (dropped frames are interpolated);
# longer holes (a camera that failed or stalled) leave the stance without that camera's metrics
MAX_VIDEO_GAP_FRAMES = 4  # (= TrackingSettings.restart_after_unseen: the tracker restarts there)


@dataclass(frozen=True)
class CameraWindow:
    """One camera's labelled markers (pixels) over a stance's video window, session clock."""

    calibration: PlaneCalibration
    names: tuple[str, ...]
    times_s: np.ndarray  # (n,)
    xy_px: np.ndarray  # (n, n_markers, 2)
    flags: np.ndarray  # (n, n_markers)
    period_s: float  # the camera's frame period

    def plane_tracks(self) -> PlaneTracks:
        tracks = MarkerTracks(self.names, self.xy_px, self.flags)
        return plane_tracks(tracks, self.times_s, self.calibration)


def video_covers(times_s: np.ndarray, start_s: float, end_s: float, period_s: float) -> bool:
    """Do frames cover ``start_s``–``end_s`` with no hole longer than MAX_VIDEO_GAP_FRAMES?"""
    inside = np.asarray(times_s, dtype=float)
    inside = inside[np.isfinite(inside)]
    if inside.size < 2:
        return False
    limit = MAX_VIDEO_GAP_FRAMES * period_s + 1e-9
    within = inside[(inside > start_s) & (inside < end_s)]
    gaps = np.diff(np.concatenate(([start_s], within, [end_s])))
    ends_covered = inside[0] <= start_s + limit and inside[-1] >= end_s - limit
    return bool(ends_covered and gaps.max() <= limit)


@dataclass(frozen=True)
class StanceVideoRequest:
    """One stance's video metrics to compute: its events, the force record's flags and its
    cameras' windows (what the live join sends to the force worker)."""

    side: str
    contact_s: float
    toe_off_s: float
    flags: tuple[str, ...]
    windows: Sequence[CameraWindow]
    settings: VisionSettings
    leg_length_m: float | None

    def compute(self) -> tuple[dict[str, Any], list[str]]:
        """The stance's video metrics (``StanceResult.video``) and its flags: the force
        record's, followed by those the video adds."""
        flags = list(self.flags)
        contact_s, toe_off_s = self.contact_s, self.toe_off_s
        by_view = {w.calibration.view: w for w in self.windows}
        tracks = {view: w.plane_tracks() for view, w in by_view.items()}
        for view in list(tracks):
            # a camera that stopped (or lost frames) during the stance: its metrics would be
            # read off interpolation across the hole, so this stance gets none from it
            times = tracks[view].times_s
            if len(times) >= 3 and not video_covers(
                times, contact_s, toe_off_s, by_view[view].period_s
            ):
                del tracks[view]
                flags.append(f"video_incomplete_{view}")
        metrics = stance_video_records(
            [(self.side, contact_s, toe_off_s)],
            sagittal=tracks.get("sagittal"),
            posterior=tracks.get("posterior"),
            settings=self.settings,
            leg_length_m=self.leg_length_m,
        )
        record = metrics.records[0]
        video = record.to_dict()
        video["leg_length_m"] = metrics.leg_length_m
        video["leg_length_source"] = metrics.leg_length_source
        flags.extend(f for f in record.flags if f not in flags)
        for view, track in tracks.items():
            if len(track.times_s) < 3:
                flags.append(f"no_video_{view}")
        return video, flags
