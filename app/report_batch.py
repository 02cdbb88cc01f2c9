"""Per-session summaries of a folder of sessions, as one CSV row each (``midstance analyze
FOLDER --csv OUT``). A file that cannot be read gets a row with its problem instead of stopping
the batch, so one damaged file never hides the others."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.compare import METRICS, SIDES
from analysis.errors import InputError, MidstanceError
from app.report_data import load_session
from app.reports import session_summary
from data.session_schema import FILE_SUFFIX

BASE_COLUMNS = (
    "file", "subject_id", "date", "protocol", "recording_state", "revision", "revision_note",
    "n_stances", "treadmill_speed_m_s", "body_weight_N", "problem",
)  # fmt: skip
STATS = ("mean", "sd", "n", "low", "high")


def metric_columns() -> list[str]:
    """``<metric>_<side>_<stat>`` in the display unit named in the column (e.g. ``_cm``)."""
    out = []
    for metric in METRICS:
        for side in SIDES:
            for stat in STATS:
                unit = "" if stat == "n" else f"_{metric.unit.replace('/', '_per_')}"
                out.append(f"{metric.field}_{side}_{stat}{unit}")
    return out


def session_files(folder: Path) -> list[Path]:
    """Every session file under ``folder`` (any depth), in path order."""
    if not folder.is_dir():
        raise InputError("this is not a folder", subject=str(folder))
    return sorted(folder.rglob(f"*{FILE_SUFFIX}"))


def summary_row(path: Path, *, reanalyse: bool = False) -> dict[str, Any]:
    """One session's CSV row (its latest analysis, or a fresh one with ``reanalyse``)."""
    row: dict[str, Any] = {"file": str(path)}
    try:
        if reanalyse:
            from app.session_analysis import analyse_session

            analyse_session(path, note="batch re-analysis (midstance analyze FOLDER)")
        data = load_session(path, with_frames=False)
    except MidstanceError as exc:
        row["problem"] = exc.sentence()
        return row
    row.update(
        subject_id=data.subject_id, date=data.date, protocol=data.protocol,
        recording_state=data.recording_state, revision=data.revision,
        revision_note=data.revision_note, n_stances=len(data.stances),
        treadmill_speed_m_s=data.speed_m_s, body_weight_N=data.body_weight_N, problem="",
    )  # fmt: skip
    units = {m.field: m.unit for m in METRICS}
    for r in session_summary(data):
        unit = units[r["metric"]].replace("/", "_per_")
        for stat in STATS:
            suffix = "" if stat == "n" else f"_{unit}"
            row[f"{r['metric']}_{r['side']}_{stat}{suffix}"] = r[stat]
    return row


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def summarise_folder(
    folder: Path,
    out_csv: Path,
    *,
    reanalyse: bool = False,
    progress: Callable[[int, int, Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Write one row per session file under ``folder`` to ``out_csv``; return the rows."""
    files = session_files(folder)
    if not files:
        raise InputError(
            f"no session files (*{FILE_SUFFIX}) in the folder",
            subject=str(folder),
            remedy="Give the folder holding the sessions (the library keeps one per subject).",
        )
    if not out_csv.parent.is_dir():
        raise InputError("the folder for the CSV does not exist", subject=str(out_csv))
    rows = []
    for i, path in enumerate(files):
        if progress is not None:
            progress(i, len(files), path)
        rows.append(summary_row(path, reanalyse=reanalyse))
    if progress is not None:
        progress(len(files), len(files), files[-1])
    columns = [*BASE_COLUMNS, *metric_columns()]
    with out_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in columns})
    return rows
