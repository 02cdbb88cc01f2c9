"""``midstance analyze FILE``: stances, midstance and loading rates from a recorded force file.

Reads Midstance session files (the raw DAQ volts with the plate calibration stored in the
file), C3D files (force plates of TYPE 2, 3, 4) and the Fukuchi GRF text format; ``--json``
prints one JSON document, otherwise a table. The reader is chosen by file type in ``READERS``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

G = 9.81

# suffix -> (reader module, function, what it reads). Add a line for a new source.
READERS: dict[str, tuple[str, str, str]] = {
    ".c3d": ("data.c3d_import", "read_c3d_forces", "C3D with force plates"),
    ".txt": ("data.grf_text", "read_grf_text", "GRF text (Time Fx Fy Fz COPx COPy COPz Ty)"),
    ".h5": ("app.commands.analyze", "read_session_forces", "Midstance session (.midstance.h5)"),
}


def read_session_forces(path: Path) -> Any:
    """The force plates of a Midstance session: raw volts and the stored plate calibration."""
    import numpy as np

    from analysis.errors import AnalysisError, InputError
    from analysis.forceplate import PLATE_KEYS, parse_plate
    from data import open_session
    from data.c3d_import import ImportedForces

    if not path.is_file():
        raise InputError("file not found", subject=str(path), remedy="Check the path.")
    with open_session(path) as session:
        analog = session.analog
        volts = analog.read()
        plates = []
        for entry in session.devices["plates"]:
            table = {k: v for k, v in entry.items() if k in PLATE_KEYS}
            table = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in table.items()}
            plates.append(parse_plate(table, subject=f"{path}: plate {table.get('name')}"))
        if not plates:
            raise AnalysisError(
                "the session has no force plates", subject=str(path), remedy="Nothing to analyse."
            )
        mass = session.subject.get("body_mass_kg")
        notes = []
        if analog.start_index:
            notes.append(
                f"times are from the first stored sample; session time = t + "
                f"{analog.start_index / analog.rate_hz:g} s"
            )
        return ImportedForces(
            source=str(path),
            rate_hz=analog.rate_hz,
            plates=plates,
            analog=volts,
            channel_names=list(analog.channel_names),
            lab_from_file=np.eye(3),
            length_unit_m=1.0,
            vertical_axis="z",
            force_sign=1.0,
            descriptions=[f"{p.name}: {p.type}, belt {p.belt}" for p in plates],
            body_mass_kg=float(mass) if mass and np.isfinite(mass) else None,
            body_mass_source="the session's subject record",
            notes=notes,
        )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "analyze",
        help="stances, midstance and loading rate from a session, C3D or GRF text file",
        description="Detect every stance in a force recording and report contact/toe-off, "
        "midstance (M3 peak vGRF, M4 braking-to-propulsion, M5 half stance), impact peak and "
        "loading rates (VALR, VILR), with the settings used.",
    )
    parser.add_argument(
        "file",
        type=Path,
        help="a .midstance.h5 session, .c3d or GRF .txt file; or a folder of sessions (--csv)",
    )
    parser.add_argument(
        "--csv", type=Path, metavar="OUT", help="folder mode: one row per session into this CSV"
    )
    parser.add_argument(
        "--reanalyse",
        action="store_true",
        help="folder mode: re-analyse each session into a new revision first",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--body-mass", type=float, metavar="KG", help="body mass in kg")
    parser.add_argument("--threshold-on", type=float, metavar="N", help="stance on (default 50)")
    parser.add_argument("--threshold-off", type=float, metavar="N", help="stance off (default 20)")
    parser.add_argument("--cutoff", type=float, metavar="HZ", help="detection filter (default 50)")
    return parser


def run(args: argparse.Namespace) -> int:
    import importlib

    from analysis.errors import InputError
    from analysis.force_settings import ForceSettings
    from analysis.force_trial import analyse_force_trial
    from data.grf_text import fukuchi_body_mass

    path: Path = args.file
    if path.is_dir() or args.csv is not None:
        return run_folder(args)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = "; ".join(f"{s} ({what})" for s, (_, _, what) in READERS.items())
        raise InputError(
            f"unsupported file type '{path.suffix or '(none)'}'",
            subject=str(path),
            remedy=f"midstance analyze reads: {known}.",
        )
    module, function, _ = reader
    read: Callable[[Path], Any] = getattr(importlib.import_module(module), function)
    imported = read(path)

    changes: dict[str, float] = {}
    if args.threshold_on is not None:
        changes["threshold_on_N"] = args.threshold_on
    if args.threshold_off is not None:
        changes["threshold_off_N"] = args.threshold_off
    if args.cutoff is not None:
        changes["cutoff_hz"] = args.cutoff
    settings, extra_notes = ForceSettings(**changes).adapted_to(imported.rate_hz)

    weight, weight_source = None, ""
    if args.body_mass is not None:
        if not (math.isfinite(args.body_mass) and 20.0 <= args.body_mass <= 300.0):
            raise InputError(
                f"{args.body_mass:g} kg is not a plausible body mass",
                subject="--body-mass",
                remedy="Give the runner's mass in kilograms (20–300).",
            )
        weight, weight_source = args.body_mass * G, "--body-mass"
    else:
        mass, source = imported.body_mass_kg, imported.body_mass_source
        if mass is None:
            mass, source = fukuchi_body_mass(path)
        if mass is not None:
            weight, weight_source = mass * G, f"{mass:g} kg from {source}"
    result = analyse_force_trial(
        imported.wrenches(),
        imported.plates,
        imported.rate_hz,
        settings,
        body_weight_N=weight,
        body_weight_source=weight_source,
        source=str(path),
    )
    overground = all(p.belt == "overground" for p in imported.plates)
    full = result.to_dict()
    document = {
        "source": str(path),
        "mode": "per-plate contacts (overground)" if overground else "running stances",
        "rate_hz": imported.rate_hz,
        "body_weight_N": result.body_weight_N,
        "body_weight_source": result.body_weight_source,
        "settings": full["settings"],
        "software_version": full["software_version"],
        "file": {
            "plates": imported.descriptions,
            "unsupported_plates": imported.unsupported,
            "vertical_axis": imported.vertical_axis,
            "notes": imported.notes,
        },
        "stances": full["stances"],
        "rejected_candidates": full["rejected_candidates"],
        "summary": full["summary"],
        "notes": extra_notes + full["notes"],
    }
    if args.json:
        print(json.dumps(_finite(document), allow_nan=False))
    else:
        print(_table(document))
    return 0


def run_folder(args: argparse.Namespace) -> int:
    """Folder mode: a CSV of per-session summaries, with a progress bar on stderr."""
    import sys

    from analysis.errors import InputError
    from app.report_batch import summarise_folder

    if args.csv is None or not args.file.is_dir():
        raise InputError(
            "folder mode needs a folder and --csv OUT",
            subject=str(args.file),
            remedy="Use: midstance analyze FOLDER --csv OUT.csv",
        )

    def bar(done: int, total: int, current: Path) -> None:
        filled = round(30 * done / total)
        name = current.name if done < total else "done"
        print(f"\r[{'#' * filled}{' ' * (30 - filled)}] {done}/{total} {name[:40]:<40}",
              end="" if done < total else "\n", file=sys.stderr, flush=True)  # fmt: skip

    rows = summarise_folder(args.file, args.csv, reanalyse=args.reanalyse, progress=bar)
    problems = [r for r in rows if r.get("problem")]
    print(f"{len(rows)} sessions summarised into {args.csv}"
          + (f"; {len(problems)} could not be read (see the 'problem' column)" if problems
             else ""))  # fmt: skip
    return 0


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined numbers become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _table(doc: dict[str, Any]) -> str:
    s = doc["settings"]
    bw = doc["body_weight_N"]
    lines = [
        f"{doc['source']}  ({doc['mode']}, {doc['rate_hz']:g} Hz)",
        f"body weight: {_fmt(bw, '.0f')} N — {doc['body_weight_source']}",
        f"settings: on {s['threshold_on_N']:g} N / off {s['threshold_off_N']:g} N, detection "
        f"filter {s['cutoff_hz']:g} Hz, metrics filter {s['metrics_cutoff_hz']:g} Hz, "
        f"midstance {s['midstance']}",
        *[f"plate {p}" for p in doc["file"]["plates"]],
        *[f"unsupported: {u}" for u in doc["file"]["unsupported_plates"]],
        "",
        f"{'#':>3} {'plate':<10} {'side':<4} {'contact s':>9} {'toe-off s':>9} {'Tc ms':>6} "
        f"{'peak N':>7} {'impact N':>8} {'VALR BW/s':>9} {'VILR BW/s':>9} {'ref':<12} flags",
    ]
    for st in doc["stances"]:
        lines.append(
            f"{st['index']:>3} {st['plate']:<10} {st['side'] or '?':<4} {st['contact_s']:>9.3f} "
            f"{st['toe_off_s']:>9.3f} {1000 * st['contact_time_s']:>6.0f} "
            f"{st['peak_vertical_N']:>7.0f} {_fmt(st['impact_peak_N'], '8.0f'):>8} "
            f"{_fmt(st['valr_BW_s'], '9.1f'):>9} {_fmt(st['vilr_BW_s'], '9.1f'):>9} "
            f"{st['loading_rate_reference']:<12} {','.join(st['flags'])}"
        )
    summary = doc["summary"]
    lines.append("")
    for side in ("L", "R"):
        block = summary[side]
        lines.append(
            f"{side}: {block['n_stances']} stances, contact "
            f"{_fmt(block['contact_time_s']['mean'], '.3f')} s, peak "
            f"{_fmt(block['peak_vertical_N']['mean'], '.0f')} N, VALR "
            f"{_fmt(block['valr_BW_s']['mean'], '.1f')} BW/s, VILR "
            f"{_fmt(block['vilr_BW_s']['mean'], '.1f')} BW/s"
        )
    cadence = summary.get("cadence_steps_per_min")
    lines.append(f"cadence: {_fmt(cadence, '.1f')} steps/min; excluded: {summary['n_excluded']}")
    lines.extend(f"note: {n}" for n in [*doc["file"]["notes"], *doc["notes"]])
    return "\n".join(lines)
