"""What the live screen shows, computed from ring snapshots: the force window, the midstance
freeze frame, the per-side summary; and the zeroing arithmetic of the plates.

Pure functions over copies, so the controller can call them from the GUI thread while the
producers keep writing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from analysis.force_metrics import EXCLUDING_FLAGS
from analysis.forceplate import PlateConfig
from analysis.plate_checks import noise_floor_check, zeroing_statistics
from app.ring_buffer import ItemBatch, RingBuffer
from app.session_types import ControllerError, ForceWindow, FreezeFrame, StanceResult

SUMMARY_METRICS = (
    "hip_ankle_contact_m",
    "hip_ankle_midstance_m",
    "fppa_midstance_deg",
    "pelvic_drop_deg",
    "valr_BW_s",
    "vilr_BW_s",
    "valr_N_s",
    "vilr_N_s",
    "contact_time_s",
    "cadence_spm",
)
LOADED_RANGE_N = 50.0  # Fz varying more than this while zeroing: someone is on the plate
LOADED_ABS_N = 200.0  # |Fz| beyond this with the old offsets: a load is standing on the plate


def force_window_from(
    batch: ItemBatch,
    channel_names: Sequence[str],
    plates: Sequence[PlateConfig],
    cop_threshold_N: float,
) -> ForceWindow:
    """Lab force summed over the plates, the combined COP (Fz-weighted) and each plate's Fz."""
    total = np.zeros((batch.count, 3))
    moment_weight = np.zeros((batch.count, 2))
    plate_fz = {}
    for plate in plates:
        w = plate.lab_wrench(batch.data[:, [channel_names.index(c) for c in plate.channels]])
        total += w[:, :3]
        plate_fz[plate.name] = w[:, 2].copy()
        cop, _ = plate.cop_and_free_moment(w, cop_threshold_N)
        loaded = np.isfinite(cop[:, 0])
        moment_weight[loaded] += cop[loaded, :2] * w[loaded, 2:3]
    with np.errstate(invalid="ignore", divide="ignore"):
        cop = np.where(total[:, 2:3] >= cop_threshold_N, moment_weight / total[:, 2:3], np.nan)
    return ForceWindow(batch.session_time_s.copy(), total, cop, plate_fz)


def freeze_frame_from(
    camera: str,
    ring: RingBuffer,
    session_time_s: float,
    markers_of: Callable[[int], dict] | None,
    stance: StanceResult,
    *,
    max_gap_s: float = math.inf,
) -> FreezeFrame | None:
    """A copy of the frame still in the ring nearest ``session_time_s``; None if gone, or if
    the nearest is more than ``max_gap_s`` away (a camera that stopped delivering: its last
    frame is not this stance's midstance)."""
    if not ring.written:
        return None
    times = ring.session_time_s
    if not np.isfinite(times).any():
        return None
    slot = int(np.nanargmin(np.abs(times - session_time_s)))
    if abs(times[slot] - session_time_s) > max_gap_s:
        return None
    index = int(ring.index[slot])
    image = ring.data[slot].copy()
    if int(ring.index[slot]) != index:  # overwritten while copying
        return None
    markers = markers_of(index) if markers_of is not None else {}
    return FreezeFrame(camera, image, index, float(times[slot]), markers, stance)


def frame_at_index(ring: RingBuffer, index: int) -> tuple[np.ndarray, float] | None:
    """A copy of frame ``index`` if it is still in the ring, with its session time."""
    hits = np.flatnonzero(ring.index == index)
    if not hits.size:
        return None
    slot = int(hits[-1])
    image = ring.data[slot].copy()
    time_s = float(ring.session_time_s[slot])
    if int(ring.index[slot]) != index:  # overwritten while copying
        return None
    return image, time_s


def summarise_stances(stances: Sequence[StanceResult], last_n: int = 20) -> dict:
    """``{"L": {metric: {"mean", "sd", "n"}}, "R": ...}`` over the last ``last_n`` usable
    stances of each side (flags that exclude a stance from summaries: analysis.force_metrics)."""
    return summarise_stance_records([s.to_dict() for s in stances], last_n)


def summarise_stance_records(records: Sequence[Mapping[str, Any]], last_n: int = 20) -> dict:
    """The same summary from stance records as dicts (e.g. the rows of a saved session)."""
    out: dict[str, dict] = {}
    for side in ("L", "R"):
        usable = [
            d
            for d in records
            if d.get("side") == side and not EXCLUDING_FLAGS.intersection(d.get("flags") or ())
        ]
        mine = usable[-last_n:] if last_n > 0 else []
        metrics = {}
        for name in SUMMARY_METRICS:
            if name == "cadence_spm":
                values = [60.0 / d["step_time_s"] for d in mine if d.get("step_time_s")]
            else:
                values = [d.get(name) for d in mine]
            x = np.array([v for v in values if v is not None and math.isfinite(v)], float)
            metrics[name] = {
                "mean": float(x.mean()) if x.size else math.nan,
                "sd": float(x.std(ddof=1)) if x.size > 1 else math.nan,
                "n": int(x.size),
            }
        out[side] = metrics
    return out


def zeroed_plates(
    volts: np.ndarray,
    channel_names: Sequence[str],
    plates: Sequence[PlateConfig],
    rate_hz: float,
    threshold_off_N: float,
) -> tuple[list[PlateConfig], dict[str, Any]]:
    """New offsets for every plate from an unloaded record, with its noise floor; refuses a
    loaded plate (a zero taken under load would subtract the load from every later force)."""
    result: dict[str, Any] = {"seconds": len(volts) / rate_hz, "plates": {}}
    new_plates = []
    for plate in plates:
        cols = [channel_names.index(c) for c in plate.channels]
        fz = plate.lab_wrench(volts[:, cols])[:, 2]
        spread = float(np.ptp(fz))
        level = float(np.median(fz))
        if spread > LOADED_RANGE_N or abs(level) > LOADED_ABS_N:
            raise ControllerError(
                f"is loaded (Fz {level:.0f} N, varying by {spread:.0f} N), so it cannot be zeroed",
                subject=f"plate '{plate.name}'",
                remedy="Ask the runner to step off the treadmill, stop the belt, and zero again.",
            )
        stats = zeroing_statistics(volts[:, cols], rate_hz)
        zeroed = plate.with_offsets(stats.offsets_V)
        floor = noise_floor_check(zeroed.lab_wrench(volts[:, cols])[:, 2], threshold_off_N)
        new_plates.append(zeroed)
        result["plates"][plate.name] = {"zeroing": stats.to_dict(), "noise_floor": floor.to_dict()}
    return new_plates, result
