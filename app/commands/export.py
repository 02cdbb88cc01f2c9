"""``midstance export FILE --csv OUT --c3d OUT``: a session for spreadsheets and other tools."""

from __future__ import annotations

import argparse
import json

from analysis.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "export", help="export a session: stance table and summaries as CSV, or C3D"
    )
    parser.add_argument("file", help="the session file (*.midstance.h5)")
    parser.add_argument(
        "--csv", metavar="OUT",
        help="stance table to OUT, per-side summaries to OUT_summary.csv, settings to"
        " OUT_settings.json",
    )  # fmt: skip
    parser.add_argument(
        "--c3d", metavar="OUT",
        help="markers (m), plate forces (FORCE_PLATFORM TYPE 2) and events to OUT",
    )  # fmt: skip
    parser.add_argument("--revision", help="analysis revision (default: the latest)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    if not (args.csv or args.c3d):
        raise InputError(
            "nothing to export", subject="midstance export", remedy="Give --csv or --c3d."
        )
    written: dict[str, object] = {}
    if args.csv:
        from data.export_csv import export_csv

        written["csv"] = [str(p) for p in export_csv(args.file, args.csv, args.revision)]
    if args.c3d:
        from data.export_c3d import export_c3d

        report = export_c3d(args.file, args.c3d, args.revision)
        written["c3d"] = {
            "path": str(report.path), "points": report.point_labels, "plates": report.plates,
            "point_rate_hz": report.point_rate_hz, "analog_rate_hz": report.analog_rate_hz,
            "force_source": report.force_source, "notes": report.notes,
        }  # fmt: skip
    if args.json:
        print(json.dumps(written))
        return 0
    for path in written.get("csv", []):
        print(f"wrote {path}")
    if "c3d" in written:
        c3d = written["c3d"]
        plates = f"{len(c3d['plates'])} plates at {c3d['analog_rate_hz']:g} Hz"
        print(f"wrote {c3d['path']}: {len(c3d['points'])} markers at {c3d['point_rate_hz']:g} Hz,"
              f" {plates} ({c3d['force_source']})")  # fmt: skip
        for note in c3d["notes"]:
            print(f"  note: {note}")
    return 0
