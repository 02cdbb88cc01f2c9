"""What a report or comparison needs from one session file, read once: who, when, how, the
stored analysis, the stance curves and the representative midstance frames."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.compare import METRIC_BY_FIELD, SessionRecords, is_excluded
from analysis.curves import StanceCurves, stance_curves
from data.session_reader import Session, open_session

G = 9.80665


@dataclass
class MidstanceFrame:
    """One camera image at the midstance of a representative step, with its markers (px)."""

    camera: str
    view: str
    image: np.ndarray
    markers: dict[str, tuple[float, float]]
    stance: dict[str, Any]
    metric: str  # the metric the step is representative of (closest to its median)
    time_s: float


@dataclass
class SessionReportData:
    path: Path
    subject: dict[str, Any]
    created_utc: str
    protocol: str
    operator: str
    shoes: str
    recording_state: str
    recording_note: str
    software_version: str
    revision: str
    revision_note: str
    revision_history: list[dict[str, str]]
    settings: dict[str, Any]
    stances: list[dict[str, Any]]
    speed_m_s: float | None
    cameras: dict[str, dict[str, Any]]
    devices: list[str]  # one line per device with its calibration status
    body_weight_N: float | None
    curves: StanceCurves | None
    frames: list[MidstanceFrame] = field(default_factory=list)

    @property
    def date(self) -> str:
        return self.created_utc[:10]

    @property
    def subject_id(self) -> str:
        return str(self.subject.get("subject_id") or self.path.parent.name)

    def records(self, label: str) -> SessionRecords:
        return SessionRecords(
            label=label,
            subject_id=self.subject_id,
            stances=self.stances,
            settings=self.settings,
            speed_m_s=self.speed_m_s,
            cameras=self.cameras,
            date=self.date,
        )

    def meta(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "subject": {k: _plain(v) for k, v in self.subject.items()},
            "date": self.date,
            "created_utc": self.created_utc,
            "protocol": self.protocol,
            "operator": self.operator,
            "shoes": self.shoes,
            "recording_state": self.recording_state,
            "recording_note": self.recording_note,
            "recorded_with": self.software_version,
            "analysis_revision": self.revision,
            "revision_note": self.revision_note,
            "revision_history": self.revision_history,
            "treadmill_speed_m_s": self.speed_m_s,
            "devices": self.devices,
            "body_weight_N": self.body_weight_N,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def treadmill_speed(session: Session, stances: Sequence[Mapping[str, Any]]) -> float | None:
    """Belt speed of the analysed steps: the protocol step covering most of them."""
    steps = [s for s in session.protocol_steps() if math.isfinite(s.get("speed_m_s", math.nan))]
    if not steps:
        return None
    starts = [s["time_s"] for s in steps]
    counts = [0] * len(steps)
    for st in stances:
        t = st.get("contact_s")
        if t is None or not math.isfinite(t):
            continue
        k = max(0, int(np.searchsorted(starts, t, side="right")) - 1)
        counts[k] += 1
    return float(steps[int(np.argmax(counts))]["speed_m_s"])


def camera_setup(session: Session, settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What must match for video numbers to be comparable: view, rate, image size, which leg
    the calibrated plane is on, how it was calibrated, which markers were tracked."""
    out = {}
    calibrations = settings.get("calibrations") or {}
    marker_sets = settings.get("marker_sets") or {}
    for name in session.camera_names:
        cam = session.camera(name)
        cal = calibrations.get(name) or {}
        out[name] = {
            "view": cam.view,
            "rate_hz": cam.rate_hz,
            "width": cam.width,
            "height": cam.height,
            "near_leg": cal.get("near_leg", ""),
            "calibration_method": cal.get("method", "none"),
            "marker_set": marker_sets.get(name, ""),
        }
    return out


def device_lines(session: Session, settings: Mapping[str, Any]) -> list[str]:
    """Devices and their calibration status, one sentence each."""
    devices = session.devices
    lines = []
    zeroing = ((settings.get("zeroing") or {}).get("plates")) or {}
    for plate in devices.get("plates", []):
        name = plate.get("name", "?")
        text = f"force plate '{name}' ({plate.get('type', '?')})"
        floor = (zeroing.get(name) or {}).get("noise_floor")
        if floor:
            verdict = "clears" if floor.get("threshold_ok") else "does NOT clear"
            text += (
                f", zeroed in this session: noise floor {floor.get('sd_N', math.nan):.2f} N SD, "
                f"the stance threshold {verdict} it"
            )
        else:
            text += ", no zeroing recorded in this session (offsets as configured)"
        lines.append(text)
    for name, cal in (settings.get("calibrations") or {}).items():
        checks = cal.get("checks") or []
        errors = [abs(c.get("error_m", math.nan)) for c in checks]
        verified = (
            f"verified on {len(errors)} known lengths, max error {1000 * max(errors):.1f} mm"
            if errors
            else "not verified against a known length"
        )
        lines.append(
            f"camera '{name}' ({cal.get('view', '?')}): plane calibration by "
            f"{cal.get('method', '?')}, near leg {cal.get('near_leg', '?')}, {verified}"
        )
    sync = devices.get("sync", {})
    verification = sync.get("verification") or {}
    if verification:
        passed = verification.get("passed")
        offset = verification.get("led_offset_ms")
        status = {True: "passed", False: "FAILED", None: "recorded"}[passed]
        detail = f", LED offset {offset:.2f} ms" if isinstance(offset, int | float) else ""
        lines.append(f"synchronisation ({sync.get('mode', '?')}): check {status}{detail}")
    else:
        lines.append(f"synchronisation ({sync.get('mode', '?')}): no verification stored")
    return lines


def _curves(session: Session, revision, stances, body_weight_N) -> StanceCurves | None:
    """From the revision's derived forces; a revision without them (the one journaled live)
    gets the force from the raw volts through the stored plate calibration."""
    usable = [s for s in stances if not is_excluded(s)]
    plates = revision.force_plates
    if plates:
        parts = [revision.forces(p) for p in plates]
        total = sum(np.nan_to_num(p["force"]) for p in parts)
        start = parts[0]["start_index"]
    else:
        from analysis.errors import MidstanceError
        from app.session_analysis import plate_wrenches, stored_setup

        try:
            wrenches = plate_wrenches(session, stored_setup(session, revision.name).plates)
        except MidstanceError:
            return None
        total = sum(np.nan_to_num(w[:, :3]) for w in wrenches.values())
        start = session.analog.start_index
    return stance_curves(
        total, session.analog.rate_hz, usable, start_index=start, body_weight_N=body_weight_N
    )


def representative(stances: Sequence[Mapping[str, Any]], metric: str, side: str | None):
    """The usable step whose ``metric`` is closest to the median of its side (None if none)."""
    rows = [
        s
        for s in stances
        if not is_excluded(s)
        and (side is None or s.get("side") == side)
        and s.get(metric) is not None
        and math.isfinite(float(s[metric]))
    ]
    if not rows:
        return None
    median = float(np.median([float(s[metric]) for s in rows]))
    return min(rows, key=lambda s: abs(float(s[metric]) - median))


def midstance_frame(
    session: Session, camera: str, stance: Mapping[str, Any], metric: str
) -> MidstanceFrame | None:
    cam = session.camera(camera)
    t = stance.get("midstance_used_s")
    if t is None or not math.isfinite(t):
        t = stance.get("midstance_s")
    if t is None or not math.isfinite(t) or cam.n_frames == 0:
        return None
    times = cam.session_time
    k = int(np.nanargmin(np.abs(times - t)))
    markers: dict[str, tuple[float, float]] = {}
    if "markers" in cam.h5_group:
        m = cam.h5_group["markers"]
        rows = np.nonzero(m["frame_index"][:] == cam.frame_index[k])[0]
        if rows.size:
            labels = [v.decode() if isinstance(v, bytes) else str(v) for v in m.attrs["labels"]]
            xy = m["xy"][int(rows[0])]
            markers = {
                n: (float(xy[i, 0]), float(xy[i, 1]))
                for i, n in enumerate(labels)
                if np.isfinite(xy[i]).all()
            }
    return MidstanceFrame(
        camera, cam.view, cam.frame(k), markers, dict(stance), metric, float(times[k])
    )


def representative_frames(session: Session, stances, settings) -> list[MidstanceFrame]:
    """Sagittal: the near-leg step closest to the median hip–ankle distance at midstance;
    posterior: for each side, the step closest to its median FPPA."""
    frames = []
    calibrations = settings.get("calibrations") or {}
    for camera in session.camera_names:
        view = session.camera(camera).view
        if view == "sagittal":
            near = (calibrations.get(camera) or {}).get("near_leg", "R")
            picks = [(near, "hip_ankle_midstance_m")]
        elif view == "posterior":
            picks = [("L", "fppa_midstance_deg"), ("R", "fppa_midstance_deg")]
        else:
            continue
        for side, metric in picks:
            stance = representative(stances, metric, side)
            if stance is not None:
                frame = midstance_frame(session, camera, stance, metric)
                if frame is not None:
                    frames.append(frame)
    return frames


def load_session(
    path: str | Path, revision: str | None = None, *, with_frames: bool = True
) -> SessionReportData:
    """Read everything a report needs from ``path`` (analysis ``revision``, default latest)."""
    path = Path(path)
    with open_session(path) as session:
        rev = session.analysis(revision)
        settings = dict(rev.settings or {})
        stances = rev.stances()
        info = session.session_info
        subject = dict(session.subject)
        weight = settings.get("body_weight_N")
        mass = subject.get("body_mass_kg")
        if not (isinstance(weight, int | float) and math.isfinite(weight)):
            weight = float(mass) * G if isinstance(mass, float) and math.isfinite(mass) else None
        history = [
            {"name": name, "note": r.note, "parent": r.parent, "created_utc": r.created_utc}
            for name, r in ((n, session.analysis(n)) for n in session.revisions)
        ]
        return SessionReportData(
            path=path,
            subject=subject,
            created_utc=session.created_utc,
            protocol=str(info.get("protocol_name", "")),
            operator=str(info.get("operator", "")),
            shoes=str(info.get("shoes", "")),
            recording_state=session.recording_state,
            recording_note=session.recording_note,
            software_version=session.software_version,
            revision=rev.name,
            revision_note=rev.note,
            revision_history=history,
            settings=settings,
            stances=stances,
            speed_m_s=treadmill_speed(session, stances),
            cameras=camera_setup(session, settings),
            devices=device_lines(session, settings),
            body_weight_N=weight,
            curves=_curves(session, rev, stances, weight),
            frames=representative_frames(session, stances, settings) if with_frames else [],
        )


def display_value(stance: Mapping[str, Any], metric: str) -> float | None:
    """A stance's metric in the display unit of :data:`analysis.compare.METRICS`."""
    value = stance.get(metric)
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value) * METRIC_BY_FIELD[metric].scale
