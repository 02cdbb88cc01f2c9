"""A session as C3D for other labs' tools: markers in metres, plates as FORCE_PLATFORM TYPE 2.

Forces come from the chosen analysis revision when it holds derived forces (they include the
zeroing), otherwise from the raw volts through the stored plate calibration
(``analysis.forceplate``: six-channel matrix or Kistler eight-channel). Each plate is
written in a C3D plate frame built from its corners the way C3D readers build it (x = c1→c0,
y = c4→c1, z = x × y pointing down into the plate), with ``ORIGIN`` the working-surface centre
relative to the transducer origin in that frame, so a reader that applies the standard TYPE 2
rules (ezc3d ``extract_forceplat_data``) gets back our lab-frame force and centre of pressure.
Markers: image pixels go through the camera's plane calibration (its ``plane`` entry, an
``analysis.plane_calibration.PlaneCalibration``, or a bare ``homography``) into plane metres
(a = forward or the runner's left, b = up), placed in the lab at the plane's depth
``plane_offset_m`` (sagittal: x-z at y = offset; posterior: y-z at x = offset; default 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.forceplate import PLATE_KEYS, parse_plate
from analysis.provenance import software_version
from data.session_reader import Session, open_session

EVENT_LABELS = {"contact": "Foot Strike", "toe_off": "Foot Off"}
SIDE_CONTEXTS = {"L": "Left", "R": "Right"}


@dataclass
class C3dExport:
    path: Path
    point_labels: list[str] = field(default_factory=list)
    point_rate_hz: float = 0.0
    analog_rate_hz: float = 0.0
    plates: list[str] = field(default_factory=list)
    force_source: str = ""
    notes: list[str] = field(default_factory=list)


def c3d_plate_frame(corners_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(corners ordered so the C3D z axis points down, 3×3 axes as columns in the lab frame)."""
    corners = np.asarray(corners_m, dtype=float).reshape(4, 3)

    def axes(c: np.ndarray) -> np.ndarray:
        x = c[0] - c[1]
        y = c[0] - c[3]
        z = np.cross(x, y)
        y = np.cross(z, x)
        return np.column_stack([v / np.linalg.norm(v) for v in (x, y, z)])

    frame = axes(corners)
    if frame[2, 2] > 0:  # normal points up: reverse the walk round the corners
        corners = corners[[0, 3, 2, 1]]
        frame = axes(corners)
    return corners, frame


def _about_transducer(force: np.ndarray, moment: np.ndarray, about_m, origin_m) -> np.ndarray:
    """Move a moment from the point ``about_m`` to the transducer origin (both lab frame)."""
    lever = np.asarray(about_m, float) - np.asarray(origin_m, float)
    return moment + np.cross(lever, force)


def _lab_forces(session: Session, plate: dict, rev: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """(n,3) force and (n,3) moment about the transducer origin, lab frame, one row a sample."""
    name = str(plate["name"])
    n = session.analog.n_samples
    if rev is not None and name in rev.force_plates:
        derived = rev.forces(name)
        force, moment = np.zeros((n, 3)), np.zeros((n, 3))
        first = max(0, derived["start_index"] - session.analog.start_index)
        count = min(len(derived["force"]), n - first)
        force[first : first + count] = np.nan_to_num(derived["force"][:count])
        moment[first : first + count] = np.nan_to_num(derived["moment"][:count])
        moment = _about_transducer(force, moment, derived["moment_about_m"], plate["origin_m"])
        return force, moment, f"derived forces of {rev.name}"
    known = {k: v for k, v in plate.items() if k in PLATE_KEYS}  # e.g. noise_floor is ours
    config = parse_plate(known, subject=f"{session.path}: plate '{name}'")
    missing = [c for c in config.channels if c not in session.analog.channel_names]
    if missing:
        raise InputError(
            f"plate {name!r} channels {missing} are not in the DAQ stream",
            subject=str(session.path),
            remedy="The session's hardware configuration does not match its DAQ channels.",
        )
    columns = [session.analog.channel_names.index(c) for c in config.channels]
    wrench = config.lab_wrench(session.analog.read()[:, columns])  # moment about the surface point
    force = wrench[:, :3]
    moment = _about_transducer(force, wrench[:, 3:], config.surface_point_m, config.origin_m)
    return force, moment, "raw volts"


def _marker_points(session: Session, camera: str, point_rate: float, n_frames: int, notes):
    """(labels, (3, n_labels, n_frames) metres) for one camera's markers, or None."""
    cam = session.camera(camera)
    markers = cam.markers
    if not markers["labels"] or len(markers["xy"]) == 0:
        return None
    calibration = session.devices["cameras"].get(camera, {})
    xy = markers["xy"].astype(float)
    if markers["units"] == "px":
        if calibration.get("plane"):  # analysis.plane_calibration: undistortion, marker depths
            from analysis.plane_calibration import PlaneCalibration

            plane = PlaneCalibration.from_dict(calibration["plane"])
            columns = [plane.marker_to_plane(n, xy[:, i]) for i, n in enumerate(markers["labels"])]
            xy = np.stack(columns, axis=1)
        elif "homography" in calibration:  # a bare homography of undistorted pixels
            h = np.asarray(calibration["homography"], float)
            ones = np.ones((*xy.shape[:2], 1))
            projected = np.concatenate([xy, ones], axis=2) @ h.T
            xy = projected[..., :2] / projected[..., 2:3]
        else:
            notes.append(f"{camera} markers are in pixels and the camera has no plane calibration;"
                         " they were left out")  # fmt: skip
            return None
    offset = float(calibration.get("plane_offset_m", 0.0))
    view = cam.view or calibration.get("view", "sagittal")
    depth = np.full(xy.shape[:2], offset)
    if view == "posterior":
        lab = np.stack([depth, xy[..., 0], xy[..., 1]], axis=-1)
    else:
        lab = np.stack([xy[..., 0], depth, xy[..., 1]], axis=-1)
    lab[np.isnan(markers["quality"])] = np.nan
    times = dict(zip(cam.frame_index.tolist(), cam.session_time.tolist(), strict=True))
    points = np.full((3, len(markers["labels"]), n_frames), np.nan)
    start_s = session.analog.start_index / session.analog.rate_hz
    for row, frame in enumerate(markers["frame_index"].tolist()):
        if frame not in times:
            continue
        j = round((times[frame] - start_s) * point_rate)
        if 0 <= j < n_frames:
            points[:, :, j] = lab[row].T
    return list(markers["labels"]), points


def export_c3d(session_path: str | Path, out: str | Path, revision: str | None = None) -> C3dExport:
    """Write the session's markers, plate forces and events to a C3D file."""
    import ezc3d

    out = Path(out)
    if out.suffix.lower() != ".c3d":
        out = out.with_name(out.name + ".c3d")
    with open_session(session_path) as session:
        rev = session.analysis(revision) if (revision or session.revisions) else None
        analog_rate = session.analog.rate_hz
        marker_cameras = [c for c in session.camera_names if session.camera(c).markers["labels"]]
        point_rate = session.camera(marker_cameras[0]).rate_hz if marker_cameras else analog_rate
        ratio = analog_rate / point_rate
        if abs(ratio - round(ratio)) > 1e-9:
            raise InputError(
                f"the DAQ rate {analog_rate:g} Hz is not a whole multiple of the camera rate"
                f" {point_rate:g} Hz, which C3D requires",
                subject=str(session_path),
                remedy="Export CSV instead, or record with rates in a whole-number ratio.",
            )
        ratio = round(ratio)
        n_frames = session.analog.n_samples // ratio
        n_analog = n_frames * ratio
        report = C3dExport(out, point_rate_hz=point_rate, analog_rate_hz=analog_rate)

        labels: list[str] = []
        blocks = []
        for camera in marker_cameras:
            found = _marker_points(session, camera, point_rate, n_frames, report.notes)
            if found:
                names, block = found
                labels += [n if n not in labels else f"{camera}_{n}" for n in names]
                blocks.append(block)
        points = np.ones((4, len(labels), n_frames))
        if blocks:
            points[:3] = np.concatenate(blocks, axis=1)

        analog_labels, analog_units, channels, corners_all, origins = [], [], [], [], []
        analog_columns = []
        for number, plate in enumerate(session.devices["plates"], start=1):
            force, moment, source = _lab_forces(session, plate, rev)
            if np.isnan(force).any() or np.isnan(moment).any():
                report.notes.append(f"plate {plate['name']}: samples missing from the DAQ"
                                    " stream (gaps) are written as zero force")  # fmt: skip
                force, moment = np.nan_to_num(force), np.nan_to_num(moment)
            corners, frame = c3d_plate_frame(plate["corners_m"])
            centre = corners.mean(axis=0)
            origin = frame.T @ (centre - np.asarray(plate["origin_m"], float))
            analog_columns += [*(force[:n_analog] @ frame).T, *(moment[:n_analog] @ frame).T]
            analog_labels += [f"{c}{number}" for c in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")]
            analog_units += ["N"] * 3 + ["Nm"] * 3
            channels.append(list(range(6 * number - 5, 6 * number + 1)))
            corners_all.append(corners.T)
            origins.append(origin)
            report.plates.append(str(plate["name"]))
            report.force_source = source
        events = _events(session, rev)

    c3d = ezc3d.c3d()
    params = c3d["parameters"]
    params["POINT"]["RATE"]["value"] = np.array([point_rate])
    params["POINT"]["LABELS"]["value"] = labels
    params["POINT"]["UNITS"]["value"] = ["m"]
    c3d["data"]["points"] = points
    params["ANALOG"]["RATE"]["value"] = np.array([analog_rate])
    params["ANALOG"]["LABELS"]["value"] = analog_labels
    params["ANALOG"]["UNITS"]["value"] = analog_units
    c3d["data"]["analogs"] = np.array(analog_columns, dtype=float).reshape(
        1, len(analog_labels), n_analog
    )
    _int_parameter(c3d, "FORCE_PLATFORM", "USED", [len(channels)])
    if channels:
        _int_parameter(c3d, "FORCE_PLATFORM", "TYPE", [2] * len(channels))
        _int_parameter(c3d, "FORCE_PLATFORM", "ZERO", [1, 0])
        _int_parameter(c3d, "FORCE_PLATFORM", "CHANNEL", np.array(channels).T)
        c3d.add_parameter("FORCE_PLATFORM", "CORNERS", np.stack(corners_all, axis=2))
        c3d.add_parameter("FORCE_PLATFORM", "ORIGIN", np.array(origins).T)
    c3d.add_parameter("MANUFACTURER", "SOFTWARE", ["Midstance"])
    c3d.add_parameter("MANUFACTURER", "VERSION_LABEL", [software_version()])
    for seconds, context, label in events:
        c3d.add_event([int(seconds // 60), seconds % 60], context=context, label=label)
    report.point_labels = labels
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        c3d.write(str(out))
    except (OSError, RuntimeError) as exc:
        raise InputError(
            f"cannot write the C3D file ({exc})", subject=str(out),
            remedy="Choose a folder you can write to.",
        ) from exc  # fmt: skip
    return report


def _events(session: Session, rev: Any) -> list[tuple[float, str, str]]:
    """(session time, context, label): gait events of the revision, then the user's marks."""
    events = []
    if rev is not None:
        for row in rev.events():
            label = EVENT_LABELS.get(row.get("kind", ""), row.get("kind", "event"))
            events.append(
                (float(row["time_s"]), SIDE_CONTEXTS.get(row.get("side"), "General"), label)
            )
    events += [(float(m["time_s"]), "General", m["label"]) for m in session.marks()]
    return events


def _int_parameter(c3d: Any, group: str, name: str, values: Any) -> None:
    """An INT-typed C3D parameter (ezc3d's add_parameter stores numbers as FLOAT)."""
    import ezc3d

    array = np.atleast_1d(np.asarray(values))
    parameter = ezc3d.ezc3d.Parameter(name)
    flat = ezc3d.ezc3d.VecInt([int(v) for v in array.T.ravel()])
    parameter.set(flat, list(array.shape))
    c3d["parameters"].add_parameter(group, parameter)
