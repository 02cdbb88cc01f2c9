"""Force plates from other labs' C3D files, mapped into Midstance's lab frame (z up).

The file is read with ezc3d; the plate calibration is ours (:mod:`analysis.forceplate`), so the
result can be checked against ezc3d's own platform computation. Supported FORCE_PLATFORM types:
2 (six channels, Fx Fy Fz Mx My Mz), 4 (six channels and a 6×6 CAL_MATRIX) and 3 (Kistler, eight
channels; a, b, az0 from ORIGIN; Kistler's COP polynomial FPCOPPOLY when present). Other types
are listed as unsupported, never guessed at.

Frames: the plate's axes come from its CORNERS as in ezc3d (x = c1→c0, y ⟂ x towards c0 from c3,
z = x × y); ORIGIN is the vector from the transducer origin to the surface centre, in plate axes,
sign-corrected so that it points to the surface (the rule ezc3d applies). The vertical axis of the
file (Z for Vicon/Qualisys, Y for the Cortex treadmill file) is the plate normal; "up" is the side
where the markers are (the person stands above the floor), or, without markers, opposite to the
force the runner exerts on the plate. Lab z is up and lab x is the direction of travel, snapped to
the nearest file axis: overground, the way the markers move; on a treadmill, opposite to the way
the belt carries the centre of pressure during stance. When neither tells, x is the file's first
horizontal axis and a note says so. Forces are returned as the reaction on the runner.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import AnalysisError, InputError
from analysis.forceplate import PlateConfig, parse_plate

LENGTH_UNITS_M = {"mm": 0.001, "cm": 0.01, "m": 1.0}
TYPE_NAMES = {
    1: "TYPE 1 (Fx Fy Fz COPx COPy Tz, already processed)",
    2: "TYPE 2 (six channels Fx Fy Fz Mx My Mz)",
    3: "TYPE 3 (Kistler, eight channels)",
    4: "TYPE 4 (six channels with a 6x6 CAL_MATRIX)",
}
SUPPORTED_TYPES = (2, 3, 4)
TREADMILL_MIN_CONTACTS = 6
C3D_BLOCK_BYTES = 512
MIPS_PROCESSOR = 86  # C3D processor type 86: big-endian words; 84 (Intel) and 85 (DEC) are little
SATURATED_FRAME_FIELD = 65535  # a longer trial keeps its count in TRIAL:ACTUAL_END_FIELD instead


@dataclass
class ImportedForces:
    """The force-plate part of a C3D file, ready for :func:`analysis.force_trial`."""

    source: str
    rate_hz: float
    plates: list[PlateConfig]
    analog: np.ndarray  # (samples, channels), the plate channels only, in file units (N, N·mm…)
    channel_names: list[str]
    lab_from_file: np.ndarray  # 3x3: lab axes from the file's global axes
    length_unit_m: float
    vertical_axis: str
    force_sign: float  # +1: the file stores the reaction on the runner; −1: the action on the plate
    unsupported: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    body_mass_kg: float | None = None
    body_mass_source: str = ""
    notes: list[str] = field(default_factory=list)

    def wrenches(self) -> dict[str, np.ndarray]:
        """Lab wrench (samples, 6) of every supported plate."""
        index = {n: i for i, n in enumerate(self.channel_names)}
        return {
            p.name: p.lab_wrench(self.analog[:, [index[c] for c in p.channels]])
            for p in self.plates
        }

    def cop(self, threshold_N: float = 20.0) -> dict[str, np.ndarray]:
        """COP (samples, 3) of every plate in the lab frame, m; NaN below the threshold."""
        return {
            p.name: p.cop_and_free_moment(w, threshold_N)[0]
            for p, w in zip(self.plates, self.wrenches().values(), strict=True)
        }


def read_c3d_forces(path: str | Path, *, treadmill: bool | None = None) -> ImportedForces:
    """Read the force plates of a C3D file. ``treadmill`` forces single-belt (both feet on each
    plate) or overground interpretation; by default a plate with many contacts is a treadmill."""
    import ezc3d

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", subject=str(path), remedy="Check the path.")
    try:
        c3d = ezc3d.c3d(str(path))
    except Exception as exc:  # ezc3d raises plain RuntimeError/IOError on bad files
        raise InputError(
            f"is not a readable C3D file ({exc})",
            subject=str(path),
            remedy="Export the trial again as C3D, or check that the file is complete.",
        ) from None
    notes = _check_complete(path, c3d["header"])
    params = c3d["parameters"]
    fp = params.get("FORCE_PLATFORM", {})
    used = int(_value(fp, "USED", [0])[0]) if fp else 0
    if used == 0:
        raise AnalysisError(
            "has no force plates (FORCE_PLATFORM:USED is 0 or missing)",
            subject=str(path),
            remedy="Only files with force-plate data can be analysed for force.",
        )
    rate = float(_value(params.get("ANALOG", {}), "RATE", [0])[0])
    analogs = np.asarray(c3d["data"]["analogs"], dtype=float)
    if analogs.size == 0 or rate <= 0:
        raise AnalysisError(
            "has force plates but no analog samples",
            subject=str(path),
            remedy="This looks like a static or marker-only trial; choose the running trial.",
        )
    analogs = analogs[0].T  # (samples, channels)
    unit_name = str(_value(params.get("POINT", {}), "UNITS", ["mm"])[0]).strip().lower()
    unit = LENGTH_UNITS_M.get(unit_name)
    if unit is None:
        raise InputError(
            f"POINT:UNITS '{unit_name}' is not a length unit Midstance knows",
            subject=str(path),
            remedy=f"Known units: {', '.join(LENGTH_UNITS_M)}.",
        )
    labels = [str(x) for x in _value(params.get("ANALOG", {}), "LABELS", [])]
    types = [int(t) for t in _value(fp, "TYPE", [])]
    channel_table = np.asarray(_value(fp, "CHANNEL", []), dtype=int)
    corners_all = np.asarray(_value(fp, "CORNERS", []), dtype=float)
    origins_all = np.asarray(_value(fp, "ORIGIN", []), dtype=float)
    cal = np.asarray(_value(fp, "CAL_MATRIX", []), dtype=float)
    poly = np.asarray(_value(fp, "FPCOPPOLY", []), dtype=float).flatten(order="F")

    unsupported, descriptions, specs = [], [], []
    for i in range(used):
        name = f"plate{i + 1}"
        kind = types[i] if i < len(types) else 0
        if kind not in SUPPORTED_TYPES:
            what = TYPE_NAMES.get(kind, f"TYPE {kind}")
            unsupported.append(f"{name}: {what} is not supported; its data are left out")
            continue
        n_ch = 8 if kind == 3 else 6
        try:
            numbers = channel_table[:n_ch, i]
            corners = corners_all[:, :, i].T
            origin = origins_all[:, i].copy()
        except IndexError:
            raise InputError(
                f"FORCE_PLATFORM parameters are incomplete for {name}",
                subject=str(path),
                remedy="Check CHANNEL, CORNERS and ORIGIN in the file.",
            ) from None
        if np.any(numbers < 1) or np.any(numbers > analogs.shape[1]):
            raise InputError(
                f"FORCE_PLATFORM:CHANNEL of {name} points outside the analog channels",
                subject=str(path),
            )
        if origin[2] > 0:  # ORIGIN must point from the transducer up to the surface
            origin = -origin
        specs.append((i, name, kind, numbers - 1, corners, origin))
        descriptions.append(
            f"{name}: {TYPE_NAMES[kind]}, channels "
            + ", ".join(labels[k - 1] if k - 1 < len(labels) else str(k) for k in numbers)
        )
    if not specs:
        raise AnalysisError(
            "has no supported force plate: " + "; ".join(unsupported),
            subject=str(path),
            remedy="Midstance reads FORCE_PLATFORM types 2, 3 and 4.",
        )

    frames = [_plate_frame(c, name=name, path=path) for _, name, _, _, c, _ in specs]
    normal = frames[0][:, 2]
    vertical = int(np.argmax(np.abs(normal)))
    markers = np.asarray(c3d["data"]["points"], dtype=float)
    up, up_reason = _up_sign(markers, vertical, specs, frames, analogs=analogs, cal=cal)
    lab_from_file = _lab_from_file(vertical, up)

    tables, columns = _plate_tables(
        specs, frames, lab_from_file, cal=cal, poly=poly, unit=unit, path=path
    )
    names = [c for t in tables for c in t["channels"]]
    analog = analogs[:, columns]
    plates = [parse_plate(t, subject=f"{path}: {t['name']}") for t in tables]
    heading, heading_reason = _heading(
        markers, lab_from_file, plates, analog=analog, names=names, rate=rate, unit=unit
    )
    lab_from_file = heading @ lab_from_file
    plate_tables, _ = _plate_tables(
        specs, frames, lab_from_file, cal=cal, poly=poly, unit=unit, path=path
    )
    plates = [parse_plate(t, subject=f"{path}: {t['name']}") for t in plate_tables]
    wrench_sign = _reaction_sign([p.lab_wrench(analog[:, _cols(p, names)]) for p in plates])
    if wrench_sign < 0:
        for t in plate_tables:
            if t["type"] == "kistler":
                t["gains_N_per_V"] = [-1.0] * 8
            else:
                t["matrix"] = (-np.asarray(t["matrix"])).tolist()
    plates = [parse_plate(t, subject=f"{path}: {t['name']}") for t in plate_tables]
    contacts = _count_contacts([p.lab_wrench(analog[:, _cols(p, names)])[:, 2] for p in plates])
    for table, count in zip(plate_tables, contacts, strict=True):
        is_treadmill = count >= TREADMILL_MIN_CONTACTS if treadmill is None else treadmill
        table["belt"] = "both" if is_treadmill else "overground"
    plates = [parse_plate(t, subject=f"{path}: {t['name']}") for t in plate_tables]
    notes += [
        f"up is {'+' if up > 0 else '-'}{'XYZ'[vertical]} ({up_reason})",
        f"lab x (direction of travel) is {_axis_name(lab_from_file[0])} ({heading_reason})",
    ]
    if treadmill is None:
        notes.append(
            f"plates with at least {TREADMILL_MIN_CONTACTS} contacts are read as a single-belt "
            "treadmill (both feet on the plate); others as overground plates (per-plate contacts)"
        )
    mass, mass_source = _body_mass(params)
    return ImportedForces(
        source=str(path),
        rate_hz=rate,
        plates=plates,
        analog=analog,
        channel_names=names,
        lab_from_file=lab_from_file,
        length_unit_m=unit,
        vertical_axis="XYZ"[vertical],
        force_sign=wrench_sign,
        unsupported=unsupported,
        descriptions=descriptions,
        body_mass_kg=mass,
        body_mass_source=mass_source,
        notes=notes,
    )


def _plate_tables(specs, frames, lab_from_file, *, cal, poly, unit, path):
    """The ``[[plates]]`` tables of the supported plates, and their analog columns."""
    columns: list[int] = []
    plate_tables = []
    for (i, name, kind, cols, corners, origin), r_pg in zip(specs, frames, strict=True):
        rotation = lab_from_file @ r_pg
        centre = corners.mean(axis=0)
        table: dict[str, Any] = {
            "name": name,
            "channels": [f"{name}.ch{k + 1}" for k in range(len(cols))],
            "rotation": rotation.tolist(),
            "corners_m": (corners @ lab_from_file.T * unit).tolist(),
        }
        if kind == 3:
            table.update(
                type="kistler",
                gains_N_per_V=[1.0] * 8,
                a_m=origin[0] * unit,
                b_m=origin[1] * unit,
                az0_m=origin[2] * unit,
                origin_m=(lab_from_file @ centre * unit).tolist(),
                z_surface_m=0.0,
            )
            coefficients = poly[12 * i : 12 * (i + 1)]
            if coefficients.size == 12 and np.any(coefficients != 0):
                table.update(cop_poly=coefficients.tolist(), cop_poly_unit_m=unit)
        else:
            matrix = np.eye(6) if kind == 2 else _cal_matrix(cal, i, path)
            matrix = np.diag([1.0, 1.0, 1.0, unit, unit, unit]) @ matrix
            transducer = centre - r_pg @ origin
            table.update(
                type="six-channel",
                matrix=matrix.tolist(),
                origin_m=(lab_from_file @ transducer * unit).tolist(),
                z_surface_m=origin[2] * unit,
            )
        plate_tables.append(table)
        columns.extend(int(c) for c in cols)
    return plate_tables, columns


def _axis_name(row: np.ndarray) -> str:
    k = int(np.argmax(np.abs(row)))
    return f"{'+' if row[k] > 0 else '-'}{'XYZ'[k]} of the file"


def _heading(markers, lab_from_file, plates, *, analog, names, rate, unit) -> tuple:
    """A rotation about lab z that turns the direction of travel onto +x (snapped to an axis)."""
    direction = None
    reason = ""
    if markers.size:
        xyz = np.einsum("ij,jmf->imf", lab_from_file, markers[:3])
        moves = []
        for m in range(xyz.shape[1]):
            valid = np.flatnonzero(np.all(np.isfinite(xyz[:, m]), axis=0) & (xyz[2, m] != 0))
            if valid.size > 1:
                moves.append(xyz[:2, m, valid[-1]] - xyz[:2, m, valid[0]])
        if moves:
            median = np.median(np.array(moves), axis=0)
            if np.linalg.norm(median) * unit > 0.3:  # metres travelled: overground
                direction, reason = median, "the way the markers travel"
    if direction is None:
        velocities = []
        for plate in plates:
            wrench = plate.lab_wrench(analog[:, _cols(plate, names)])
            cop = plate.cop_and_free_moment(wrench, 200.0)[0][:, :2]
            step = np.diff(cop, axis=0) * rate
            step = step[np.all(np.isfinite(step), axis=1)]
            if step.shape[0] > 10:
                velocities.append(np.median(step, axis=0))
        if velocities:
            belt = np.median(np.array(velocities), axis=0)
            if np.linalg.norm(belt) > 0.2:
                direction, reason = -belt, "opposite to the centre of pressure moving with the belt"
    if direction is None:
        return np.eye(3), "the direction of travel could not be determined; first horizontal axis"
    k = int(np.argmax(np.abs(direction)))
    sign = 1.0 if direction[k] > 0 else -1.0
    if k == 0:
        cos, sin = sign, 0.0
    else:
        cos, sin = 0.0, -sign
    return np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]), reason


def _value(group: dict, name: str, default: Any) -> Any:
    entry = group.get(name) if isinstance(group, dict) else None
    if entry is None:
        return default
    value = entry.get("value", default)
    return default if value is None else value


def _cols(plate: PlateConfig, names: list[str]) -> list[int]:
    index = {n: i for i, n in enumerate(names)}
    return [index[c] for c in plate.channels]


def _declared_frames(path: Path) -> int | None:
    """The frame count the file's own header declares, read from its bytes.

    ezc3d rewrites its header and POINT:FRAMES to the frames it found, so a cut-off file looks
    whole through it; the raw header (words 4 and 5: first and last frame) still tells. None when
    the field is saturated (longer trials) or the header cannot be read."""
    with path.open("rb") as stream:
        header = stream.read(C3D_BLOCK_BYTES)
        if len(header) < 10 or header[0] < 1:
            return None
        stream.seek((header[0] - 1) * C3D_BLOCK_BYTES)
        parameter_start = stream.read(4)
    if len(parameter_start) < 4:
        return None
    order = ">" if parameter_start[3] == MIPS_PROCESSOR else "<"
    first, last = struct.unpack(order + "2H", header[6:10])
    if last >= SATURATED_FRAME_FIELD or last < first:
        return None
    return last - first + 1


def _check_complete(path: Path, header: dict) -> list[str]:
    """Refuse a file with fewer frames than its header declares (a truncated copy or export):
    its force would be analysed as if the trial were whole."""
    points = header["points"]
    present = int(points["last_frame"]) - int(points["first_frame"]) + 1
    declared = _declared_frames(path)
    if declared is None:
        return ["the header does not state the frame count in its 16-bit field (a long trial); "
                "completeness was not checked against it"]  # fmt: skip
    if present < declared:
        rate = float(points["frame_rate"])
        seconds = f" ({present / rate:.2f} s of {declared / rate:.2f} s)" if rate > 0 else ""
        raise InputError(
            f"the file is truncated: its header declares {declared} frames but only {present}"
            f" are present{seconds}",
            subject=str(path),
            remedy="Copy or export the trial again in full; a cut-off trial is not analysed.",
        )
    return []


def _plate_frame(corners: np.ndarray, *, name: str, path: Path) -> np.ndarray:
    """Plate axes (columns) in file axes from the four corners, as ezc3d defines them.

    Corners that do not span a plane (all zero when a plate was exported without its geometry,
    or in a line) give no axes; the plate is refused rather than read with NaN axes."""
    x = corners[0] - corners[1]
    y = corners[0] - corners[3]
    z = np.cross(x, y)
    y = np.cross(z, x)
    area = float(np.linalg.norm(z))
    edges = float(np.linalg.norm(corners[0] - corners[1]) * np.linalg.norm(corners[0] - corners[3]))
    if not np.all(np.isfinite(corners)) or area <= 1e-6 * edges or area == 0.0:
        raise InputError(
            f"FORCE_PLATFORM:CORNERS of {name} do not span a plate (corners "
            f"{np.round(corners, 3).tolist()}), so its axes are unknown",
            subject=str(path),
            remedy="Export the trial again with the force plate geometry (CORNERS) included.",
        )
    return np.column_stack([v / np.linalg.norm(v) for v in (x, y, z)])


def _lab_from_file(vertical: int, up: float) -> np.ndarray:
    """Rows: lab x, y, z in file axes; z = up, x = first horizontal file axis, y = z × x."""
    z = np.zeros(3)
    z[vertical] = up
    x = np.zeros(3)
    x[next(a for a in range(3) if a != vertical)] = 1.0
    return np.vstack([x, np.cross(z, x), z])


def _up_sign(markers, vertical, specs, frames, *, analogs, cal) -> tuple[float, str]:
    floor = float(np.mean([c[:, vertical].mean() for *_, c, _ in specs]))
    if markers.size:
        heights = markers[vertical]
        heights = heights[np.isfinite(heights) & (heights != 0)]
        if heights.size:
            up = 1.0 if float(np.median(heights)) > floor else -1.0
            return up, "the markers are on that side of the plates"
    total = 0.0
    for (i, _, kind, cols, _, _), r_pg in zip(specs, frames, strict=True):
        ch = analogs[:, cols]
        force = (
            ch[:, :3]
            if kind != 3
            else np.column_stack([ch[:, 0] + ch[:, 1], ch[:, 2] + ch[:, 3], ch[:, 4:8].sum(axis=1)])
        )
        if kind == 4:
            force = ch @ _cal_matrix(cal, i, "")[:3].T
        total += float(np.sum((force @ r_pg.T)[:, vertical]))
    return (-1.0 if total > 0 else 1.0), "no markers: the force on the plate points down"


def _reaction_sign(wrenches: list[np.ndarray]) -> float:
    """+1 when the vertical force is mostly upward (reaction on the runner), else −1."""
    total = sum(float(np.sum(w[:, 2])) for w in wrenches)
    return 1.0 if total >= 0 else -1.0


def _count_contacts(fz_list: list[np.ndarray], level_N: float = 50.0) -> list[int]:
    counts = []
    for fz in fz_list:
        loaded = np.abs(fz) > level_N
        counts.append(int(np.count_nonzero(loaded[1:] & ~loaded[:-1]) + loaded[0]))
    return counts


def _cal_matrix(cal: np.ndarray, i: int, path: Any) -> np.ndarray:
    if cal.ndim != 3 or cal.shape[:2] != (6, 6) or cal.shape[2] <= i:
        raise InputError(
            f"FORCE_PLATFORM:CAL_MATRIX is missing for TYPE 4 plate{i + 1}",
            subject=str(path),
            remedy="A TYPE 4 plate needs its 6x6 calibration matrix in the file.",
        )
    return cal[:, :, i]


def _body_mass(params: dict) -> tuple[float | None, str]:
    for group, name in (("PROCESSING", "Bodymass"), ("SUBJECTS", "MASS"), ("SUBJECT", "MASS")):
        value = _value(params.get(group, {}), name, None)
        if value is None:
            continue
        try:
            mass = float(np.asarray(value, dtype=float).ravel()[0])
        except (TypeError, ValueError, IndexError):
            continue
        if 20.0 <= mass <= 300.0:
            return mass, f"C3D parameter {group}:{name}"
    return None, ""
