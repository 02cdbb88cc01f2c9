"""Analysis results as revisions: ``/analysis/rev_0001``, ``rev_0002``, … never overwritten.

Re-analysing a session adds a revision with its settings, software version, time, parent and a
note; raw data is never modified. Revisions are added to finished files in normal HDF5 mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from analysis.errors import InputError
from analysis.provenance import software_version as current_software_version
from data import session_schema as schema

FORCE_COMPONENTS = {
    "force": ("N", 3),
    "moment": ("N*m", 3),
    "cop": ("m", 3),
    "free_moment": ("N*m", 0),
}


def add_analysis_revision(
    path: str | Path,
    *,
    settings: Mapping[str, Any],
    stances: Iterable[Any] = (),
    summaries: Iterable[Any] = (),
    events: Iterable[Any] = (),
    forces: Mapping[str, Mapping[str, Any]] | None = None,
    note: str = "",
    parent: str | None = None,
    software_version: str | None = None,
) -> str:
    """Store one analysis of a finished session as the next revision; return its name.

    ``forces`` maps a plate name to ``force`` (n,3) N, ``moment`` (n,3) N·m about the point
    ``moment_about_m`` (3,), ``cop`` (n,3) m, ``free_moment`` (n,) N·m, all in the lab frame, and
    ``start_index`` (the DAQ sample of row 0). ``parent`` defaults to the latest revision.
    """
    path = Path(path)
    try:
        f = h5py.File(path, "r+")
    except OSError as exc:
        raise InputError(
            f"cannot open the session to add an analysis ({exc})",
            subject=str(path),
            remedy="Close other programs using it; if it was being recorded, run"
            " `midstance repair` first.",
        ) from exc
    with f:
        if f.attrs.get("recording_state") == "recording":
            raise InputError(
                "the session is still marked as recording",
                subject=str(path),
                remedy="Finish the recording, or run `midstance repair` on it first.",
            )
        root = f.require_group("analysis")
        existing = sorted(k for k in root if k.startswith("rev_"))
        if parent is None:
            parent = existing[-1] if existing else ""
        elif parent and parent not in root:
            raise InputError(f"parent revision {parent!r} does not exist", subject=str(path))
        name = schema.revision_name(len(existing) + 1)
        rev = root.create_group(name)
        rev.attrs.update(
            {
                "settings_json": schema.to_json(dict(settings)),
                "software_version": software_version or current_software_version(),
                "created_utc": schema.utc_now(),
                "parent": parent,
                "note": note,
            }
        )
        for table_name, rows in (
            ("stances", stances),
            ("summaries", summaries),
            ("events", events),
        ):
            _write_table(rev, table_name, list(rows))
        forces_group = rev.create_group("forces")
        for plate, arrays in (forces or {}).items():
            _write_forces(forces_group.create_group(plate), arrays)
    return name


def _write_table(group: h5py.Group, name: str, rows: list[Any]) -> None:
    table, attrs = schema.records_to_table(rows)
    ds = group.create_dataset(name, data=table)
    for key, value in attrs.items():
        ds.attrs[key] = value


def _write_forces(group: h5py.Group, arrays: Mapping[str, Any]) -> None:
    group.attrs["frame"] = "lab"
    group.attrs["start_index"] = int(arrays.get("start_index", 0))
    about = np.asarray(arrays.get("moment_about_m", ()), dtype="f8")
    if about.shape != (3,):
        raise InputError(
            "the derived forces do not say which point the moment is about",
            subject=f"plate {group.name}",
            remedy="Pass moment_about_m: the lab-frame point (3,) of the moments, e.g. the"
            " plate's surface point.",
        )
    group.attrs["moment_about_m"] = about
    for key, (unit, width) in FORCE_COMPONENTS.items():
        if key not in arrays:
            raise InputError(f"the derived forces lack {key!r}", subject=f"plate {group.name}")
        data = np.asarray(arrays[key], dtype="f8")
        expected = data.ndim == (2 if width else 1) and (not width or data.shape[1] == width)
        if not expected:
            raise InputError(
                f"{key} has shape {data.shape}", subject=f"plate {group.name}",
                remedy="Pass (n,3) force/moment/cop and (n,) free_moment.",
            )  # fmt: skip
        ds = group.create_dataset(key, data=data, chunks=True, compression="gzip", shuffle=True)
        ds.attrs["units"] = unit
