"""``midstance report FILE``: one session's per-side results, as a table, JSON or a PDF.

The PDF is what a clinician hands to the runner: subject, date, protocol, devices and their
calibration status, the per-side table with stride-bootstrap intervals, stance curves,
step-by-step distributions, representative midstance frames and the definitions used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "report",
        help="a session's per-side results as a table, JSON or a PDF report",
        description="Summarise a session's stored analysis (mean ± SD and 95 % interval per "
        "side and metric) and optionally write the PDF report for the runner.",
    )
    parser.add_argument("file", type=Path, help="a session file (*.midstance.h5)")
    parser.add_argument("--pdf", type=Path, metavar="OUT", help="write the PDF report here")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--revision", metavar="REV", help="analysis revision (default: latest)")
    return parser


def run(args: argparse.Namespace) -> int:
    from app.commands.analyze import _finite
    from app.reports import session_report

    pdf = _output(args.pdf)
    doc = session_report(args.file, pdf, revision=args.revision)
    if args.json:
        print(json.dumps(_finite(doc), allow_nan=False))
        return 0
    print(table(doc))
    if pdf is not None:
        print(f"report written to {pdf}")
    return 0


def _output(path: Path | None) -> Path | None:
    from analysis.errors import InputError

    if path is None:
        return None
    if not path.parent.exists():
        raise InputError(
            "the folder for the report does not exist", subject=str(path),
            remedy="Create the folder or choose another path.",
        )  # fmt: skip
    if path.suffix.lower() != ".pdf":
        raise InputError("the report must be a .pdf file", subject=str(path))
    return path


def _fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(doc: dict) -> str:
    s = doc["session"]
    lines = [
        f"{s['subject'].get('subject_id', '?')}  {s['date']}  {s['protocol']}  "
        f"({s['analysis_revision']}: {s['revision_note']})",
        f"{'metric':<40} {'side':<4} {'n':>3} {'mean':>8} {'SD':>7} {'95 % interval':>18}",
    ]
    for r in doc["summary"]:
        digits = 2 if r["unit"] == "BW" else 1
        interval = f"[{_fmt(r['low'], digits)}, {_fmt(r['high'], digits)}]"
        lines.append(
            f"{r['label'] + ' (' + r['unit'] + ')':<40} {r['side']:<4} {r['n']:>3} "
            f"{_fmt(r['mean'], digits):>8} {_fmt(r['sd'], digits):>7} {interval:>18}"
        )
    flags = ", ".join(f"{k} ×{v}" for k, v in doc["flags"].items()) or "none"
    lines.append(f"{doc['n_stances']} steps; flags: {flags}")
    lines.append(f"intervals: {doc['statistics']['description']}")
    return "\n".join(lines)
