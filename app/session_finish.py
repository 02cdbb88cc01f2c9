"""What happens when a recording stops: reconcile, refine, flag, close, and say what was kept.

- Hardware sync: per camera, pulses sent = witness edges recorded = frames received
  (:func:`analysis.exposure_witness.reconcile`); every missing frame of the recorded interval is
  added to ``/cameras/<camera>/dropped_frames`` by its pulse index (frames are never renumbered).
  A frame's index is its pulse. The camera's counter counts exposures, so after a missed trigger
  it runs behind the pulse index, and live the frames were timed by their counter; the stored
  indices and session times (frames and marker rows) are then corrected from the witness
  (:class:`_Renumbering`), and the note says that the live video metrics predate it.
- Software sync: the clock fit is refitted over the whole session
  (:func:`analysis.clock_sync.fit_offline`) and the frames' session times are rewritten with it;
  the online and offline mappings and the largest change are stored.
- The file is closed ``complete``; its ``recording_note`` lists what a reader must know (the
  recorder fell behind, a device failed at t, frames missing, a consumer failed).
- After closing, two JSON attributes are added: ``/devices@sync_result_json`` (per camera:
  reconciliation or clock fit) and ``/@acquisition_json`` (devices, items, drops, ring waits,
  faults, consumer errors, flags).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.clock_sync import fit_offline
from analysis.errors import MidstanceError
from analysis.exposure_witness import PulseTrain, Reconciliation, reconcile
from app.pipeline import HardwareFrameClock, SoftwareFrameClock
from app.recorder import release_free_heap
from app.session_types import ControllerError

if TYPE_CHECKING:
    from app.recorder import Recorder
    from app.session_controller import SessionController

LIVE_RECONCILE_INTERVAL_S = 1.0
LIVE_SETTLE_S = 2.0  # pulses this much older than the newest received frame are settled


def reconcile_camera(
    ctrl: SessionController, camera: str, n_samples: int | None = None
) -> Reconciliation | None:
    """Pulses/edges/frames of one camera since connect, up to DAQ sample ``n_samples`` (the
    stop) or as far as the witness is decoded."""
    stream = ctrl.camera_streams[camera]
    clock = stream.clock
    witness = ctrl.witness
    if not isinstance(clock, HardwareFrameClock) or witness is None:
        return None
    limit = (
        witness.samples_decoded if n_samples is None else min(n_samples, witness.samples_decoded)
    )
    pulses = PulseTrain(
        ctrl.daq_stream.rate_hz, clock.samples_per_frame, clock.first_sample, clock.trigger_delay_s
    )
    return _reconcile_decoded(
        camera, pulses, int(limit), witness.edge_times(camera), stream.received.array()
    )


def _reconcile_decoded(
    camera: str,
    pulses: PulseTrain,
    limit: int,
    edges_s: np.ndarray,
    counters: np.ndarray,
    *,
    first_counter: int = 0,
) -> Reconciliation:
    """:func:`reconcile` of the frames whose exposure edge lies before sample ``limit``. The
    camera counts exposures, so a frame is the n-th matched edge: frames past the last edge
    (received after the stop, or before the witness decoding caught up) are left for later.
    (Picking them by their counter's pulse time instead, as before, failed after any missed
    trigger: counter and pulse then differ.)"""
    exposed = reconcile(
        camera, pulses, limit, edges_s, np.empty(0, np.int64), first_counter=first_counter
    ).edges_recorded
    counters = counters[counters - first_counter < exposed]
    return reconcile(camera, pulses, limit, edges_s, counters, first_counter=first_counter)


@dataclass
class _LiveReconciliation:
    """One camera's live reconciliation so far. Pulses before ``pulse`` are settled: their
    missing frames are in ``missing`` and ``exposures`` counts their exposures (the camera's
    counter of the first exposure after them), so each status call reconciles only the newest
    seconds instead of the whole session (which grew by ~40 ms of CPU and tens of MB of
    temporaries per camera and second at 10 minutes of 500 fps, issue #5)."""

    stream: object
    pulse: int = 0
    exposures: int = 0
    missing: list[int] = field(default_factory=list)
    checked_at: float = -math.inf
    result: np.ndarray | None = None
    base_offset: int | None = None  # pulse − counter of the first frame (see _Renumbering)


def _follow_missed_triggers(
    ctrl: SessionController, camera: str, rec: Reconciliation, *, counters, state
) -> None:
    """After a missed trigger the camera's counter runs behind the pulses: time the frames
    from the counter the offset changed at by their pulse, and re-time the tracked ones."""
    clock = ctrl.camera_streams[camera].clock
    used = np.asarray(counters, dtype=np.int64)[: rec.frames_received]
    if not used.size or not edges_agree(rec):
        return
    offsets = rec.frame_index + state.pulse - used
    if state.base_offset is None:  # the first frames' offset is the configuration's (_Renumbering)
        state.base_offset = int(offsets[0])
    offsets = offsets - state.base_offset
    newest = int(offsets[-1])
    if newest == clock.pulse_offset:
        return
    changed = np.flatnonzero(offsets != newest)
    start = int(used[changed[-1] + 1]) if changed.size else int(used[0])
    clock.set_pulse_offset(start, newest)
    tracker = ctrl.trackers.get(camera)
    if tracker is not None:
        tracker.store.retime(start, clock.times_of)
    ctrl._banner(
        f"missed-triggers-{camera}",
        "warning",
        f"camera '{camera}' ignored {newest} trigger pulse(s) (missed triggers); live video "
        "metrics of the stances around each miss may be off by a frame, and the file is "
        "corrected when the recording stops",
        "Shorten the exposure or lower the frame rate so that the camera is ready for every "
        "trigger; re-analyse the recording for exact video metrics.",
    )


def live_missing_frames(ctrl: SessionController, camera: str) -> np.ndarray | None:
    """The frame indices missing so far, up to the newest frame received (later ones may still
    be in transit; hardware sync; None otherwise), recomputed at most once a second over the
    pulses of the last ``LIVE_SETTLE_S`` and more."""
    stream = ctrl.camera_streams[camera]
    clock, witness = stream.clock, ctrl.witness
    if not isinstance(clock, HardwareFrameClock) or witness is None:
        return None
    states = getattr(ctrl, "_live_reconciliation", {})
    ctrl._live_reconciliation = states
    state = states.get(camera)
    if state is None or state.stream is not stream:  # connected again: a new stream
        state = states[camera] = _LiveReconciliation(stream)
    if time.monotonic() - state.checked_at < LIVE_RECONCILE_INTERVAL_S:
        return state.result
    state.checked_at = time.monotonic()
    newest = stream.received.last()
    if newest is None:
        state.result = None
        return None
    rate, spf = ctrl.daq_stream.rate_hz, clock.samples_per_frame
    last = float(clock.times_of(np.array([newest]))[0])
    limit = min(witness.samples_decoded, math.floor(last * rate) + 3)
    counters = stream.received.array(at_least=state.exposures)
    first = clock.first_sample + state.pulse * spf
    pulses = PulseTrain(rate, spf, first, clock.trigger_delay_s)
    # an edge half a period before the window's first pulse belongs to an earlier one
    edges = witness.edge_times(camera)
    edges = edges[np.searchsorted(edges, float(pulses.session_time(0)) - 0.5 * spf / rate) :]
    rec = _reconcile_decoded(
        camera, pulses, int(limit), edges, counters, first_counter=state.exposures
    )
    _follow_missed_triggers(ctrl, camera, rec, counters=counters, state=state)
    missing = rec.missing + state.pulse
    state.result = np.concatenate([np.asarray(state.missing, dtype=np.int64), missing])
    settle = rec.pulses_sent - math.ceil(LIVE_SETTLE_S * pulses.frame_rate_hz)
    if settle > 0:  # everything of these pulses has arrived: keep only what they miss
        missed = int(np.count_nonzero(rec.missed_trigger < settle))
        state.exposures += settle - missed
        state.missing.extend(missing[missing < state.pulse + settle].tolist())
        state.pulse += settle
    return state.result


def finish_recording(ctrl: SessionController, recorder: Recorder, stop_s: float) -> dict[str, Any]:
    """Complete and close the file of a finished recorder; returns what was stored."""
    writer = recorder.writer
    if writer is None:
        # the recorder never received a DAQ sample, so no file was created: say why
        reason = f" ({recorder.error})" if recorder.error is not None else ""
        raise ControllerError(
            f"nothing was recorded: the force DAQ delivered no sample after the recording "
            f"started{reason}",
            subject=f"device '{recorder.daq_name}'",
            remedy="Check the force DAQ in the devices panel, then start the recording again.",
        )
    path = writer.path
    sync: dict[str, Any] = {"mode": ctrl.config.sync_mode, "cameras": {}}
    notes: list[str] = []
    flags: list[str] = []
    if recorder.error is not None:  # the writer already closed the file as aborted
        return {"path": str(path), "error": str(recorder.error), "brief": {"aborted": True}}
    rate = ctrl.daq_stream.rate_hz
    stop_sample = math.floor(stop_s * rate + 1e-9)
    refit: dict[str, np.ndarray] = {}
    renumber: dict[str, _Renumbering] = {}
    missing_total: dict[str, list[int]] = {}
    for name, stream in ctrl.camera_streams.items():
        if name not in writer.cameras:
            continue
        first = recorder.first_frame_index(name)
        counted = set(recorder.dropped_frames().get(name, []))
        clock = stream.clock
        if isinstance(clock, HardwareFrameClock) and ctrl.witness is not None:
            try:
                rec = reconcile_camera(ctrl, name, n_samples=stop_sample)
            except MidstanceError as exc:  # e.g. witness not wired: say so, keep the recording
                rec = None
                sync["cameras"][name] = {"reconciliation_error": exc.sentence()}
                notes.append(f"camera '{name}': witness reconciliation failed: {exc.sentence()}")
                flags.append(f"{name}:reconciliation_failed")
                missing_total[name] = sorted(counted)
            if rec is not None:
                fix = _Renumbering.of(rec, stream.received.array()) if edges_agree(rec) else None
                lo = first if first is not None else 0
                if fix is not None and first is not None:
                    lo = int(fix.pulse_of(np.array([first]))[0])
                missing = [int(k) for k in rec.missing.tolist() if k >= lo]
                entry = rec.to_dict()
                entry["missing_in_recording"] = missing
                sync["cameras"][name] = entry
                flags.extend(f"{name}:{f}" for f in rec.flags)
                if fix is not None and fix.needed:  # counted drops were counters: by pulse now
                    renumber[name] = fix
                    missing_total[name] = missing
                    notes.append(
                        f"camera '{name}' ignored {rec.missed_trigger.size} trigger pulse(s) "
                        "(missed triggers), so its frame counter ran behind the pulses: the "
                        "stored frame indices and times were corrected from the exposure "
                        "witness when the recording closed; the live video metrics were "
                        "computed before that — re-analyse the session for them"
                    )
                    flags.append(f"{name}:frame_index_from_witness")
                else:
                    new = [k for k in missing if k not in counted]
                    if new:
                        writer.add_dropped_frames(name, new)
                    missing_total[name] = sorted(set(missing) | counted)
        elif isinstance(clock, SoftwareFrameClock):
            entry = clock.to_dict()
            refined = _offline_times(ctrl, clock)
            if refined is not None:
                entry["offline_mapping"] = refined.mapping.to_dict()
                refit[name] = refined
            sync["cameras"][name] = entry
            missing_total[name] = sorted(counted)
        else:
            sync["cameras"][name] = clock.to_dict()
            missing_total[name] = sorted(counted)
        if missing_total.get(name):
            shown = ", ".join(str(k) for k in missing_total[name][:10])
            notes.append(f"camera '{name}' is missing {len(missing_total[name])} frame(s): {shown}")
    streams = [ctrl.daq_stream, *ctrl.camera_streams.values()]
    behind = [s.name for s in streams if "recorder_behind" in s.ring.flags]
    if ctrl.pace == "fast":
        behind = []  # every lossless reader holds producers back by design (docs/acquisition.md)
    if behind:
        notes.append(f"the recorder fell behind on {', '.join(behind)} (acquisition waited)")
        flags.append("recorder_behind")
    for s in streams:
        if s.fault is not None and s.name in (ctrl.daq_stream.name, *writer.cameras):
            notes.append(
                f"device '{s.name}' failed at {s.fault.session_time_s:.3f} s: "
                f"{s.fault.message}; the file holds its data up to then"
            )
            flags.append(f"device_failed:{s.name}")
    for name in recorder.cut_short:
        notes.append(
            f"device '{name}' had not delivered up to the stop time when the recording "
            "closed; its stream ends earlier"
        )
        flags.append(f"cut_short:{name}")
    errors = {c.name: c.error for c in ctrl._consumers() if c.error}
    for name, error in errors.items():
        notes.append(f"live analysis '{name}' failed: {error}")
        flags.append(f"consumer_failed:{name}")
    writer.close("complete", "; ".join(notes))
    acquisition = {
        "stop_session_time_s": stop_s,
        "start_index": recorder.start_index,
        "pace": ctrl.pace,
        "devices": {
            s.name: {
                "items": s.items,
                "device_dropped": s.dropped,
                "ring": _ring_status(s),
                "fault": None
                if s.fault is None
                else {"message": s.fault.message, "session_time_s": s.fault.session_time_s},
            }
            for s in streams
        },
        "analysis": {
            c.name: {"error": c.error, "missed_items": getattr(c, "missed", 0)}
            for c in ctrl._consumers()
        },
        "flags": flags,
    }
    _store_after_close(path, sync, acquisition, refit, renumber=renumber, missing=missing_total)
    release_free_heap()  # the file's buffers and HDF5's caches are freed now (app.recorder)
    return {
        "path": str(path),
        "sync": sync,
        "acquisition": acquisition,
        "missing_frames": missing_total,
        "notes": notes,
        "brief": {"flags": flags, "missing_frames": {k: len(v) for k, v in missing_total.items()}},
    }


def _offline_times(ctrl: SessionController, clock: SoftwareFrameClock):
    daq = ctrl.daq_clock
    with daq.lock:
        if len(daq.block_end_s) < 3 or not len(clock.camera_time_log):
            return None
        daq_end, daq_host = daq.block_end_s.view().copy(), daq.block_host_s.view().copy()
        cam = clock.camera_time_log.view().copy()
        host = clock.host_time_log.view().copy()
    try:
        return _Refit(fit_offline(daq_end, daq_host, cam, host, clock.settings), cam)
    except Exception:  # too little data for a refit: the online times stay, said in the sync json
        return None


EDGE_AGREEMENT_FRAMES = 0.125  # median |witness − pulse time| that lets the witness renumber


def edges_agree(rec: Reconciliation) -> bool:
    """Do the witness edges sit on their pulses (median within EDGE_AGREEMENT_FRAMES of a
    period)? Only then may they say which pulse a frame belongs to: a trigger delay the
    configuration does not know puts every edge between two pulses, and the matching would
    then move frames by one (sync-check measures that delay; the reconciliation flags it)."""
    error = np.abs(np.asarray(rec.witness_time_s) - np.asarray(rec.session_time_s))
    error = error[np.isfinite(error)]
    period = 1.0 / rec.pulses.frame_rate_hz
    return bool(error.size) and float(np.median(error)) <= EDGE_AGREEMENT_FRAMES * period


@dataclass
class _Renumbering:
    """Camera counters → pulse indices, from a reconciliation (hardware sync)."""

    counters: np.ndarray  # received frames' counters, ascending
    pulses: np.ndarray  # their pulse indices
    pulse_train: PulseTrain

    @classmethod
    def of(cls, rec: Reconciliation, counters: np.ndarray) -> _Renumbering:
        """The mapping that undoes the misses. The first frame's offset is the baseline: a
        constant offset from the start is a matter of configuration (a trigger delay the
        configuration does not know shifts every edge toward the next pulse; sync-check
        measures it), not a missed trigger, and is left as it is."""
        counters = np.asarray(counters, dtype=np.int64)[: len(rec.frame_index)]
        offsets = np.asarray(rec.frame_index, dtype=np.int64) - counters
        base = offsets[0] if offsets.size else 0
        return cls(counters, counters + offsets - base, rec.pulses)

    @property
    def needed(self) -> bool:
        return bool(np.any(self.pulses != self.counters))

    def pulse_of(self, counters: np.ndarray) -> np.ndarray:
        """Pulse index of each counter; past the reconciled frames, the last offset goes on
        (a frame received after the last decoded edge)."""
        counters = np.asarray(counters, dtype=np.int64)
        if not self.counters.size:
            return counters
        pos = np.clip(np.searchsorted(self.counters, counters), 0, self.counters.size - 1)
        known = self.counters[pos] == counters
        offset = np.where(known, self.pulses[pos] - counters, self.pulses[-1] - self.counters[-1])
        return counters + offset

    def apply(self, group, missing: list[int]) -> None:
        """Rewrite a closed file's camera group: frame indices, their session times, the
        marker rows' frame indices and the missing frames, all by pulse."""
        n = len(group["session_time"])
        index = self.pulse_of(group["frame_index"][:n])
        group["frame_index"][:n] = index
        group["session_time"][:n] = self.pulse_train.session_time(index)
        if "markers" in group and "frame_index" in group["markers"]:
            rows = group["markers/frame_index"]
            rows[:] = self.pulse_of(rows[:])
        dropped = group["dropped_frames"]
        dropped.resize((len(missing),))
        dropped[:] = np.asarray(missing, dtype=np.int64)
        group.attrs["frame_index_from_witness"] = True


class _Refit:
    """The offline mapping and the camera times it was fitted on."""

    def __init__(self, mapped, camera_times: np.ndarray) -> None:
        self.mapping = mapped.mapping
        self.camera_times = camera_times


def _ring_status(stream) -> dict[str, Any]:
    st = stream.ring.status()
    return {
        "capacity": st.capacity,
        "written": st.written,
        "recorder_waits": st.recorder_waits,
        "recorder_wait_s": st.recorder_wait_s,
        "device_dropped": st.device_dropped,
        "flags": list(st.flags),
    }


def _json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
        return str(obj)

    return json.dumps(value, default=default, allow_nan=True)


def _store_after_close(
    path, sync: dict, acquisition: dict, refit: dict, *, renumber: dict, missing: dict
) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        f.attrs["acquisition_json"] = _json(acquisition)
        f["devices"].attrs["sync_result_json"] = _json(sync)
        for name, fix in renumber.items():
            fix.apply(f[f"cameras/{name}"], missing[name])
        for name, fit in refit.items():
            group = f[f"cameras/{name}"]
            camera_time = group["camera_time"][:]
            online = group["session_time"][:]
            refined = fit.mapping.session_time(camera_time)
            if len(online):
                group["session_time"][:] = refined
                change = float(np.nanmax(np.abs(refined - online)))
            else:
                change = math.nan
            group.attrs["clock_sync_json"] = _json(
                {"offline_mapping": fit.mapping.to_dict(), "max_change_from_online_s": change}
            )
