"""Stance table and per-side summaries as CSV, with the settings that produced them beside them.

Column names carry their unit (``valr_N_s``, ``contact_s``); missing values are empty cells
(read as NaN by spreadsheets and pandas); flag lists are joined with ``;``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from analysis.errors import InputError
from data.session_reader import open_session


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, tuple | list):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # shortest exact round trip
    return value


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow([_cell(row.get(name)) for name in names])


def export_csv(
    session_path: str | Path, out: str | Path, revision: str | None = None
) -> list[Path]:
    """Write ``OUT`` (stances), ``OUT_summary.csv`` and ``OUT_settings.json``; return the paths."""
    out = Path(out)
    if out.suffix.lower() != ".csv":
        out = out.with_suffix(out.suffix + ".csv") if out.suffix else out.with_suffix(".csv")
    summary_path = out.with_name(out.stem + "_summary.csv")
    settings_path = out.with_name(out.stem + "_settings.json")
    with open_session(session_path) as session:
        rev = session.analysis(revision)
        stances, summaries = rev.stances(), rev.summaries()
        provenance = {
            "session_file": str(session_path),
            "session_id": session.session_id,
            "subject_id": session.subject["subject_id"],
            "revision": rev.name,
            "created_utc": rev.created_utc,
            "software_version": rev.software_version,
            "note": rev.note,
            "settings": rev.settings,
            "units": {
                "stances": rev.table_units("stances"),
                "summaries": rev.table_units("summaries"),
            },
        }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_rows(out, stances)
        _write_rows(summary_path, summaries)
        settings_path.write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the CSV export ({exc.strerror or exc})",
            subject=str(out),
            remedy="Choose a folder you can write to.",
        ) from exc
    return [out, summary_path, settings_path]
