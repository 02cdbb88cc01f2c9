"""``midstance compare BEFORE AFTER``: two sessions of one runner, per side and metric.

Refuses sessions whose analysis settings, treadmill speed, camera set-up or runner differ (and
says what differs) unless ``--force``; then every difference is printed on the report and in the
JSON. Differences come with a 95 % interval from a moving-block bootstrap over strides, and a
verdict against the metric's smallest detectable difference where one is published.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "compare",
        help="compare two sessions of one runner (before/after), table, JSON or PDF",
        description="Per side and metric: n, mean ± SD before and after, the change with a 95 % "
        "interval (moving-block bootstrap over strides) and whether it exceeds the smallest "
        "detectable difference.",
    )
    parser.add_argument("before", type=Path, help="the earlier session file")
    parser.add_argument("after", type=Path, help="the later session file")
    parser.add_argument(
        "more",
        type=Path,
        nargs="*",
        metavar="LATER",
        help="further follow-ups: each is compared with BEFORE (the baseline), one PDF for all",
    )
    parser.add_argument("--pdf", type=Path, metavar="OUT", help="write the PDF report here")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare even when settings, speed or camera set-up differ (stated on the report)",
    )
    parser.add_argument(
        "--resamples", type=int, default=4000, metavar="N", help="bootstrap resamples (4000)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    import sys

    from analysis.statistics import BootstrapSettings
    from app.commands.analyze import _finite
    from app.commands.report import _output
    from app.reports import comparison_report, comparison_series, short_verdict

    pdf = _output(args.pdf)
    bootstrap = BootstrapSettings(n_resamples=args.resamples)
    if args.more:
        series = comparison_series(
            [args.before, args.after, *args.more], pdf, force=args.force, bootstrap=bootstrap
        )
        docs = series["comparisons"]
    else:
        docs = [comparison_report(args.before, args.after, pdf, force=args.force,
                                  bootstrap=bootstrap)]  # fmt: skip
        series = docs[0]
    for doc in docs:
        for m in doc["mismatches"]:
            print(f"midstance: WARNING, compared despite: {m['what']} — {m['detail']}",
                  file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps(_finite(series), allow_nan=False))
        return 0
    print("\n\n".join(table(doc, short_verdict) for doc in docs))
    if pdf is not None:
        print(f"report written to {pdf}")
    return 0


def _fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(doc: dict, short_verdict) -> str:
    b, a = doc["before"], doc["after"]
    lines = [
        f"{doc['subject_id']}: {b['date']} ({b['analysis_revision']}) → {a['date']} "
        f"({a['analysis_revision']})",
        f"{'metric':<38} {'side':<4} {'before':>17} {'after':>17} {'change [95 % CI]':>24}  "
        "verdict",
    ]
    for r in doc["metrics"]:
        k = 2 if r["unit"] == "BW" else 1
        before = (
            f"{_fmt(r['before']['mean'], k)} ± {_fmt(r['before']['sd'], k)} ({r['before']['n']})"
        )
        after = f"{_fmt(r['after']['mean'], k)} ± {_fmt(r['after']['sd'], k)} ({r['after']['n']})"
        d = r["difference"]
        change = f"{_fmt(d['difference'], k)} [{_fmt(d['low'], k)}, {_fmt(d['high'], k)}]"
        lines.append(
            f"{r['label'] + ' (' + r['unit'] + ')':<38} {r['side']:<4} {before:>17} {after:>17} "
            f"{change:>24}  {short_verdict(r['verdict'])}"
        )
    lines.append(f"intervals: {doc['statistics']['description']}")
    lines.append(doc["within_measurement_error_means"])
    return "\n".join(lines)
