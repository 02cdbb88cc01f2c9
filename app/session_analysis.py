"""Re-analysis of a saved session into a new analysis revision: force and video, raw data untouched.

The analysis starts from the raw DAQ volts and the recorded markers (or the frames themselves,
when ``retrack`` is asked for or the file has no markers), with the plates, plane calibrations and
marker sets the file stored, and the force and vision settings given (default: those of the
latest revision). The analyst's corrections (a moved, deleted or relabelled event, an excluded
step, two marker labels swapped over a time range) are applied on the way and stored in the
revision's settings, so the revision can be reproduced from the file alone. Every stage reports
its progress through a callback ``progress(fraction, message)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.compare import ANALYST_EXCLUDED, DAQ_GAP, METRICS, is_excluded
from analysis.errors import InputError
from analysis.force_metrics import EventMove
from analysis.force_settings import ForceSettings
from analysis.force_summary import SUMMARY_METRICS, describe
from analysis.force_trial import analyse_force_trial
from analysis.forceplate import PlateConfig, parse_plates
from analysis.marker_sets import marker_set
from analysis.plane_calibration import PlaneCalibration
from analysis.tracking import MEASURED, PREDICTED, MarkerTracks, fill_gaps
from analysis.vision_settings import VisionSettings
from data.revisions import add_analysis_revision
from data.session_reader import Session, open_session

Progress = Callable[[float, str], None]
G = 9.80665
EVENT_FIELDS = ("contact_s", "toe_off_s", "midstance_s")
CORRECTION_KINDS = ("move_event", "delete", "relabel", "exclude", "include", "swap_markers")
MATCH_TOLERANCE_S = 0.05  # a correction names its stance by contact time, within this
TIME_FIELDS = (
    "contact_s",
    "toe_off_s",
    "midstance_peak_vgrf_s",
    "midstance_ap_s",
    "midstance_half_s",
    "midstance_s",
    "impact_peak_s",
)
VIDEO_KEYS_SKIPPED = ("index", "side", "contact_s", "toe_off_s", "flags")


@dataclass(frozen=True)
class Correction:
    """One analyst correction. A stance is named by its contact time (stable across revisions).

    - ``move_event``: ``event`` (contact_s, toe_off_s or midstance_s) of the stance to ``time_s``
    - ``delete``: drop the stance from this revision (it stays in the parent revision)
    - ``relabel``: set the stance's ``side`` ("L" or "R")
    - ``exclude`` / ``include``: keep the stance out of (or back in) summaries and comparisons
    - ``swap_markers``: swap the labels ``markers`` of ``camera`` between ``start_s`` and ``stop_s``
    """

    kind: str
    stance_contact_s: float | None = None
    event: str = ""
    time_s: float | None = None
    side: str = ""
    camera: str = ""
    markers: tuple[str, ...] = ()
    start_s: float | None = None
    stop_s: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        where = f"correction {self.kind!r}"
        if self.kind not in CORRECTION_KINDS:
            raise InputError(
                "unknown correction", subject=where, remedy=f"Use one of {CORRECTION_KINDS}."
            )
        if self.kind == "swap_markers":
            if not self.camera or len(self.markers) != 2 or self.start_s is None:
                raise InputError(
                    "a marker swap needs a camera, two marker names and a time range",
                    subject=where,
                )
            return
        if self.stance_contact_s is None:
            raise InputError("the correction does not name a stance", subject=where)
        if self.kind == "move_event" and (self.event not in EVENT_FIELDS or self.time_s is None):
            raise InputError(
                f"cannot move event {self.event!r}",
                subject=where,
                remedy=f"Name one of {EVENT_FIELDS} and the new time.",
            )
        if self.kind == "relabel" and self.side not in ("L", "R"):
            raise InputError(f"side {self.side!r} is not L or R", subject=where)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["markers"] = list(self.markers)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Correction:
        data = dict(raw)
        data["markers"] = tuple(data.get("markers", ()))
        return cls(**data)


@dataclass
class StoredSetup:
    """What the file says about how it was (and should again be) analysed."""

    plates: list[PlateConfig]
    force: ForceSettings
    vision: VisionSettings
    calibrations: dict[str, PlaneCalibration]  # by camera name
    marker_sets: dict[str, str]  # camera → marker set name
    body_weight_N: float | None
    body_weight_source: str
    leg_length_m: float | None
    corrections: list[Correction] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def stored_setup(session: Session, revision: str | None = None) -> StoredSetup:
    """Settings of ``revision`` (default the latest), falling back to the live settings."""
    settings: dict[str, Any] = {}
    if session.revisions:
        settings = dict(session.analysis(revision).settings or {})
    if not settings.get("plates"):
        from data.session_schema import from_json

        live = from_json(session.h5["live"].attrs.get("settings_json", "{}")) or {}
        settings = {**live, **{k: v for k, v in settings.items() if v}}
    where = str(session.path)
    raw_plates = settings.get("plates") or session.devices.get("plates") or []
    if not raw_plates:
        raise InputError(
            "the session stores no force plate configuration",
            subject=where,
            remedy="It cannot be re-analysed; open its stored analysis instead.",
        )
    plates = parse_plates([_plain(p) for p in raw_plates], source=where)
    subject = session.subject
    mass = subject.get("body_mass_kg")
    weight, weight_source = settings.get("body_weight_N"), "stored with the analysis"
    if _finite(mass):
        weight, weight_source = float(mass) * G, f"{float(mass):g} kg from the subject record"
    elif not _finite(weight):
        weight, weight_source = None, ""
    leg = subject.get("leg_length_m")
    return StoredSetup(
        plates=plates,
        force=ForceSettings.from_dict(settings.get("force") or {}),
        vision=VisionSettings.from_dict(settings.get("vision") or {}),
        calibrations={
            name: PlaneCalibration.from_dict(cal)
            for name, cal in (settings.get("calibrations") or {}).items()
        },
        marker_sets=dict(settings.get("marker_sets") or {}),
        body_weight_N=float(weight) if weight is not None else None,
        body_weight_source=weight_source,
        leg_length_m=float(leg) if _finite(leg) else None,
        corrections=[Correction.from_dict(c) for c in settings.get("corrections", [])],
        raw=settings,
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any) -> Any:
    """Stored arrays back to lists (parse_plates takes what a TOML file gives)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# -- force ------------------------------------------------------------------------------------


def plate_wrenches(session: Session, plates: Sequence[PlateConfig]) -> dict[str, np.ndarray]:
    """Lab wrench of every plate from the raw volts (only the plates' columns are read)."""
    analog = session.analog
    index = {name: i for i, name in enumerate(analog.channel_names)}
    out = {}
    for plate in plates:
        missing = [c for c in plate.channels if c not in index]
        if missing:
            raise InputError(
                f"channel(s) {', '.join(missing)} are not in the recording",
                subject=f"{session.path}: plate {plate.name!r}",
                remedy="The plate configuration does not match the recorded channels.",
            )
        cols = [index[c] for c in plate.channels]
        order = np.argsort(cols)
        block = session.h5["daq/analog"][:, sorted(cols)]
        volts = np.empty_like(block)
        volts[:, order] = block
        out[plate.name] = plate.lab_wrench(volts)
    return out


def _gap_rows(session: Session, n: int) -> np.ndarray:
    """Rows of the analog table that hold no recorded sample (missing DAQ blocks)."""
    missing = np.zeros(n, dtype=bool)
    start = session.analog.start_index
    for a, b in session.gaps:
        missing[max(0, int(a) - start) : max(0, int(b) - start)] = True
    return missing


def event_moves(corrections: Sequence[Correction], shift_s: float = 0.0) -> list[EventMove]:
    """The ``move_event`` corrections as one move per stance (times minus ``shift_s``: session →
    trial time). A later move of the same stance names it by its contact as moved before."""
    moves: list[dict[str, Any]] = []
    for c in corrections:
        if c.kind != "move_event":
            continue
        group = next(
            (g for g in moves if abs(g["current"] - c.stance_contact_s) <= MATCH_TOLERANCE_S), None
        )
        if group is None:
            group = {"stance_contact_s": c.stance_contact_s, "current": c.stance_contact_s}
            moves.append(group)
        group[c.event] = float(c.time_s)
        if c.event == "contact_s":
            group["current"] = float(c.time_s)
    return [
        EventMove(
            **{
                k: v - shift_s
                for k, v in g.items()
                if k in ("stance_contact_s", "contact_s", "toe_off_s", "midstance_s")
            }
        )
        for g in moves
    ]


def force_stances(
    session: Session,
    setup: StoredSetup,
    settings: ForceSettings,
    corrections: Sequence[Correction] = (),
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, dict[str, Any]]]:
    """Stance records (dicts, session time), the trial's facts, and derived forces per plate.
    The analyst's event moves among ``corrections`` are analysed in (every number of a moved
    stance, and the step and flight times after it, follow its events)."""
    rate = session.analog.rate_hz
    shift = session.analog.start_index / rate
    wrenches = plate_wrenches(session, setup.plates)
    n = next(iter(wrenches.values())).shape[0]
    missing = _gap_rows(session, n)
    for w in wrenches.values():
        missing |= ~np.isfinite(w).all(axis=1)
    for w in wrenches.values():
        w[missing] = 0.0  # the analysis needs numbers; stances touching a gap are excluded below
    result = analyse_force_trial(
        wrenches,
        setup.plates,
        rate,
        settings,
        body_weight_N=setup.body_weight_N,
        body_weight_source=setup.body_weight_source,
        source=str(session.path),
        moves=event_moves(corrections, shift),
        move_tolerance_s=MATCH_TOLERANCE_S,
    )
    stances = []
    for rec in result.stances:
        row = rec.to_dict()
        for name in TIME_FIELDS:
            if row.get(name) is not None:
                row[name] += shift
        first = max(0, math.floor(rec.contact_s * rate) - 1)
        last = min(n, math.ceil(rec.toe_off_s * rate) + 1)
        if missing[first:last].any():
            row["flags"] = [*row["flags"], DAQ_GAP]
        stances.append(row)
    forces = {}
    for plate in setup.plates:
        w = wrenches[plate.name]
        cop, free = plate.cop_and_free_moment(w, settings.cop_threshold_N)
        forces[plate.name] = {
            "force": w[:, :3], "moment": w[:, 3:], "cop": cop, "free_moment": free,
            "start_index": session.analog.start_index,
            "moment_about_m": plate.surface_point_m,
        }  # fmt: skip
    facts = {
        "body_weight_N": result.body_weight_N,
        "body_weight_source": result.body_weight_source,
        "notes": list(result.notes),
        "rejected_candidates": len(result.rejected),
        "daq_gap_samples": int(missing.sum()),
    }
    return stances, facts, forces


# -- video ------------------------------------------------------------------------------------


def _stored_tracks(session: Session, camera: str) -> tuple[MarkerTracks, np.ndarray] | None:
    """The markers recorded live for ``camera`` as offline tracks (gaps filled), with times."""
    cam = session.camera(camera)
    if "markers" not in cam.h5_group or cam.h5_group["markers/xy"].shape[0] == 0:
        return None
    m = cam.markers
    if m["units"] != "px":
        return None
    frame_index = cam.frame_index
    times = cam.session_time
    lookup = dict(zip(frame_index.tolist(), times.tolist(), strict=True))
    keep = np.array([k in lookup for k in m["frame_index"].tolist()], dtype=bool)
    quality = m["quality"][keep]
    flags = np.where(quality >= 1.0, MEASURED, np.where(quality == 0.0, PREDICTED, 0))
    xy = m["xy"][keep].astype(float)
    xy[flags == 0] = np.nan
    tracks = fill_gaps(MarkerTracks(m["labels"], xy, flags.astype(np.uint8)))
    t = np.array([lookup[k] for k in m["frame_index"][keep].tolist()])
    return tracks, t


def _frames(session: Session, camera: str, batch: int = 64) -> Iterator[np.ndarray]:
    cam = session.camera(camera)
    for start in range(0, cam.n_frames, batch):
        yield from cam.frames(start, min(start + batch, cam.n_frames))


def _retrack(
    session: Session, camera: str, set_name: str, cal: PlaneCalibration, *,
    vision: VisionSettings, report: Callable[[float], None],
) -> tuple[MarkerTracks, np.ndarray]:  # fmt: skip
    from analysis.markers import detect_markers
    from analysis.tracking import track_frames

    cam = session.camera(camera)
    total = max(1, cam.n_frames)
    blobs = []
    for k, frame in enumerate(_frames(session, camera)):
        blobs.append(detect_markers(frame, vision.detection))
        if k % 250 == 0:
            report(k / total)
    tracks = track_frames(
        blobs,
        marker_set(set_name),
        cal.orientation,
        vision.tracking,
        frame_index=cam.frame_index[: len(blobs)],
    )
    return tracks, cam.session_time[: len(blobs)]


def swap_labels(
    tracks: MarkerTracks, times: np.ndarray, corrections: Iterable[Correction], camera: str
) -> MarkerTracks:
    """Tracks with marker labels swapped where the analyst said the labelling was wrong."""
    xy, flags = tracks.xy.copy(), tracks.flags.copy()
    for c in corrections:
        if c.kind != "swap_markers" or c.camera != camera:
            continue
        for name in c.markers:
            if name not in tracks.names:
                raise InputError(
                    f"camera {camera!r} has no marker {name!r}",
                    subject="marker swap correction",
                    remedy=f"Markers: {', '.join(tracks.names)}.",
                )
        i, j = (tracks.names.index(n) for n in c.markers)
        stop = math.inf if c.stop_s is None else c.stop_s
        rows = (times >= c.start_s) & (times <= stop)
        xy[rows, i], xy[rows, j] = tracks.xy[rows, j], tracks.xy[rows, i]
        flags[rows, i], flags[rows, j] = tracks.flags[rows, j], tracks.flags[rows, i]
    return MarkerTracks(tracks.names, xy, flags, tracks.settings)


def plane_tracks_by_view(
    session: Session, setup: StoredSetup, vision: VisionSettings, corrections: Sequence[Correction],
    *, retrack: bool | set[str], progress: Callable[[float, str], None],
) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
    """PlaneTracks per view ("sagittal"/"posterior"), and where each camera's markers came from.
    ``retrack``: True (every camera) or the cameras whose markers are re-detected."""
    from analysis.video_metrics import plane_tracks

    out, sources = {}, {}
    cameras = [c for c in session.camera_names if c in setup.calibrations]
    for number, camera in enumerate(cameras):
        cal = setup.calibrations[camera]

        def report(f: float, number=number, camera=camera) -> None:
            progress((number + f) / max(1, len(cameras)), f"tracking markers: {camera}")

        again = retrack is True or (isinstance(retrack, set) and camera in retrack)
        stored = None if again else _stored_tracks(session, camera)
        if stored is not None:
            tracks, times = stored
            sources[camera] = "recorded live (gaps filled offline)"
        else:
            set_name = setup.marker_sets.get(camera, cal.view)
            tracks, times = _retrack(session, camera, set_name, cal, vision=vision, report=report)
            sources[camera] = "re-detected from the frames"
        tracks = swap_labels(tracks, times, corrections, camera)
        out[cal.view] = plane_tracks(tracks, times, cal)
        report(1.0)
    for camera in session.camera_names:
        sources.setdefault(camera, "no plane calibration: no video metrics")
    return out, sources


# -- corrections and joining ------------------------------------------------------------------


def _find(stances: list[dict[str, Any]], contact_s: float) -> dict[str, Any] | None:
    best = min(stances, key=lambda s: abs(s["contact_s"] - contact_s), default=None)
    if best is None or abs(best["contact_s"] - contact_s) > MATCH_TOLERANCE_S:
        return None
    return best


def apply_stance_corrections(
    stances: list[dict[str, Any]], corrections: Sequence[Correction]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Corrections that change events, sides, exclusions and deletions; notes for unmatched."""
    notes = []
    deleted = set()
    for c in corrections:
        if c.kind in ("swap_markers", "move_event"):
            continue  # marker swaps act on the tracks, event moves inside the force analysis
        st = _find(stances, c.stance_contact_s)
        if st is None:
            notes.append(
                f"{c.kind} of the stance at {c.stance_contact_s:.3f} s not applied: no stance "
                f"within {MATCH_TOLERANCE_S * 1000:.0f} ms in this analysis"
            )
            continue
        flags = list(st.get("flags") or [])
        if c.kind == "delete":
            deleted.add(id(st))
        elif c.kind == "exclude":
            flags.append(ANALYST_EXCLUDED)
        elif c.kind == "include":
            flags = [f for f in flags if f != ANALYST_EXCLUDED]
        elif c.kind == "relabel":
            st["side"] = c.side
            flags.append("side_set_by_analyst")
        st["flags"] = list(dict.fromkeys(flags))
    return [s for s in stances if id(s) not in deleted], notes


def join_video(
    stances: list[dict[str, Any]],
    tracks: Mapping[str, Any],
    vision: VisionSettings,
    leg_length_m: float | None,
) -> dict[str, Any]:
    """Video metrics of every sided stance merged into its row; facts about the video."""
    from analysis.video_metrics import stance_video_records

    sided = [s for s in stances if s.get("side") in ("L", "R")]
    if not tracks or not sided:
        return {"leg_length_m": leg_length_m, "leg_length_source": "not needed"}
    metrics = stance_video_records(
        [(s["side"], s["contact_s"], s["toe_off_s"]) for s in sided],
        sagittal=tracks.get("sagittal"),
        posterior=tracks.get("posterior"),
        settings=vision,
        leg_length_m=leg_length_m,
    )
    for row, video in zip(sided, metrics.records, strict=True):
        for key, value in video.to_dict().items():
            if key not in VIDEO_KEYS_SKIPPED:
                row[key] = value
        row["flags"] = list(dict.fromkeys([*row.get("flags", []), *video.flags]))
    return {"leg_length_m": metrics.leg_length_m, "leg_length_source": metrics.leg_length_source}


def summary_rows(stances: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-side mean, SD and n of every metric, over the steps that count."""
    fields = list(dict.fromkeys([*SUMMARY_METRICS, *(m.field for m in METRICS)]))
    rows = []
    for side in ("L", "R"):
        usable = [s for s in stances if s.get("side") == side and not is_excluded(s)]
        row: dict[str, Any] = {"side": side, "n_stances": len(usable)}
        for name in fields:
            d = describe([s.get(name) for s in usable])
            row[f"{name}_mean"], row[f"{name}_sd"], row[f"{name}_n"] = d["mean"], d["sd"], d["n"]
        rows.append(row)
    return rows


def event_rows(stances: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for s in stances:
        for kind, name in (("contact", "contact_s"), ("toe_off", "toe_off_s"),
                           ("midstance", "midstance_s"),
                           ("midstance_knee_flexion", "midstance_knee_flexion_s")):  # fmt: skip
            t = s.get(name)
            if t is not None and math.isfinite(t):
                rows.append({"time_s": t, "kind": kind, "side": s.get("side") or "",
                             "plate": s.get("plate", "")})  # fmt: skip
    return sorted(rows, key=lambda r: r["time_s"])


# -- the whole job ----------------------------------------------------------------------------


def analyse_session(
    path: str | Path,
    *,
    force: ForceSettings | None = None,
    vision: VisionSettings | None = None,
    corrections: Sequence[Correction] | None = None,
    marker_sets: Mapping[str, str] | None = None,
    retrack: bool = False,
    note: str = "",
    base_revision: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Analyse ``path`` again and store the result as a new revision; return its name.

    ``force``/``vision`` default to the settings of ``base_revision`` (default: the latest);
    ``corrections`` default to the base revision's corrections (pass ``[]`` to drop them).
    ``marker_sets`` (camera → marker set name) re-detects the markers of every camera whose set
    changes; ``retrack`` re-detects all of them from the frames.
    """
    path = Path(path)
    say = progress or (lambda fraction, message: None)
    say(0.0, "reading the session")
    with open_session(path) as session:
        if not session.is_complete:
            raise InputError(
                "the session is still being recorded (or was left by a crash)",
                subject=str(path),
                remedy="Wait for the recording to finish, or run `midstance repair` first.",
            )
        setup = stored_setup(session, base_revision)
        changed_sets = {
            cam: name
            for cam, name in (marker_sets or {}).items()
            if name != setup.marker_sets.get(cam, cam)
        }
        for name in changed_sets.values():
            marker_set(name)  # an unknown name is an InputError naming it
        setup.marker_sets.update(changed_sets)
        force = force or setup.force
        vision = vision or setup.vision
        corrections = list(setup.corrections if corrections is None else corrections)
        say(0.02, "force: stances, midstance and loading rates")
        stances, facts, forces = force_stances(session, setup, force, corrections)
        say(0.2, "force done")
        tracks, sources = plane_tracks_by_view(
            session, setup, vision, corrections, retrack=retrack or set(changed_sets),
            progress=lambda f, message: say(0.2 + 0.7 * f, message),
        )  # fmt: skip
        stances, notes = apply_stance_corrections(stances, corrections)
        say(0.9, "video metrics per stance")
        video_facts = join_video(stances, tracks, vision, setup.leg_length_m)
        parent = base_revision or (session.revisions[-1] if session.revisions else "")
    for i, row in enumerate(stances):
        row["index"] = i
    settings = {
        **{k: v for k, v in setup.raw.items() if k not in ("force", "vision", "corrections")},
        "force": force.to_dict(),
        "vision": vision.to_dict(),
        "plates": [p.to_dict() for p in setup.plates],
        "calibrations": {k: v.to_dict() for k, v in setup.calibrations.items()},
        "marker_sets": setup.marker_sets,
        "body_weight_N": facts["body_weight_N"],
        "corrections": [c.to_dict() for c in corrections],
        "source": "offline re-analysis of the raw data",
        "markers_source": sources,
        "analysis_notes": [*facts["notes"], *notes],
        "leg_length": video_facts,
    }
    say(0.95, "writing the revision")
    name = add_analysis_revision(
        path,
        settings=settings,
        stances=stances,
        summaries=summary_rows(stances),
        events=event_rows(stances),
        forces=forces,
        note=note or ("re-analysis with corrections" if corrections else "re-analysis"),
        parent=parent,
    )
    say(1.0, f"saved as {name}")
    return name
