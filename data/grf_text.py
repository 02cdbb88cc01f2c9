"""Ground reaction forces from the tab-separated text format of Fukuchi et al. (2017).

Columns: ``Time Fx Fy Fz COPx COPy COPz Ty`` — frame number, forces in N with **Y vertical**,
centre of pressure in mm, free moment about the vertical in N·mm, 300 Hz (Fukuchi, Fukuchi &
Duarte 2017, PeerJ 5:e3298). The file has no plate geometry, so the forces are rebuilt as a lab
wrench about a point on the belt surface at the runner's median mediolateral COP, which then
serves as the belt midline for side assignment. Subject data (body mass) come from the
``RBDSinfo.txt`` that ships beside the files.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from analysis.errors import InputError
from analysis.forceplate import parse_plate
from data.c3d_import import ImportedForces

COLUMNS = ("Time", "Fx", "Fy", "Fz", "COPx", "COPy", "COPz", "Ty")
DEFAULT_RATE_HZ = 300.0
# file axes (X forward, Y up, Z lateral) -> lab (x, y = z × x, z up)
LAB_FROM_FILE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def read_grf_text(path: str | Path, rate_hz: float = DEFAULT_RATE_HZ) -> ImportedForces:
    """Read a Fukuchi-format GRF text file into a single treadmill plate (both feet)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            header = handle.readline().split()
            if tuple(header) != COLUMNS:
                raise InputError(
                    f"header {' '.join(header)!r} is not the GRF text format",
                    subject=str(path),
                    remedy=f"Expected the columns: {' '.join(COLUMNS)}.",
                )
            table = np.loadtxt(handle, dtype=float, ndmin=2)
    except FileNotFoundError:
        raise InputError("file not found", subject=str(path), remedy="Check the path.") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot be read as GRF text ({exc})", subject=str(path)) from None
    if table.shape[0] < 10 or table.shape[1] != len(COLUMNS):
        raise InputError(
            f"has {table.shape[0]} rows of {table.shape[1]} columns; need 8 columns",
            subject=str(path),
        )
    force = table[:, 1:4] @ LAB_FROM_FILE.T
    cop = table[:, 4:7] @ LAB_FROM_FILE.T * 0.001
    free = table[:, 7] * 0.001
    loaded = force[:, 2] > 50.0
    valid_cop = np.isfinite(cop).all(axis=1)
    midline = float(np.median(cop[loaded & valid_cop, 1])) if np.any(loaded & valid_cop) else 0.0
    r = np.where(valid_cop[:, None], cop - np.array([0.0, midline, 0.0]), 0.0)
    r[:, 2] = 0.0
    moment = np.cross(r, force)
    moment[:, 2] += np.where(np.isfinite(free), free, 0.0)
    wrench = np.column_stack([force, moment])
    channels = [f"grf.{c}" for c in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")]
    plate = parse_plate(
        {
            "name": "treadmill",
            "type": "six-channel",
            "channels": channels,
            "matrix": np.eye(6).tolist(),
            "origin_m": [0.0, midline, 0.0],
            "belt": "both",
        },
        subject=str(path),
    )
    mass, mass_source = fukuchi_body_mass(path)
    return ImportedForces(
        source=str(path),
        rate_hz=rate_hz,
        plates=[plate],
        analog=wrench,
        channel_names=channels,
        lab_from_file=LAB_FROM_FILE,
        length_unit_m=0.001,
        vertical_axis="Y",
        force_sign=1.0,
        descriptions=[
            f"treadmill: text GRF at {rate_hz:g} Hz (rate from the format: the file holds "
            "frame numbers), Y vertical"
        ],
        body_mass_kg=mass,
        body_mass_source=mass_source,
        notes=[f"belt midline taken as the median mediolateral COP ({midline:.3f} m)"],
    )


def fukuchi_body_mass(path: str | Path) -> tuple[float | None, str]:
    """Body mass of an RBDS subject from the ``RBDSinfo.txt`` beside the file, if there is one."""
    path = Path(path)
    match = re.match(r"RBDS(\d+)", path.name)
    info = path.with_name("RBDSinfo.txt")
    if not match or not info.is_file():
        return None, ""
    subject = int(match.group(1))
    try:
        with info.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row.get("Subject", "").strip() == str(subject) and row.get("Mass"):
                    return float(row["Mass"]), f"{info.name} (subject {subject}, Mass column)"
    except (OSError, ValueError, csv.Error) as exc:
        raise InputError(f"cannot be read ({exc})", subject=str(info)) from None
    return None, ""
