"""``midstance repair FILE``: close a session file left open by a crash or a killed recording."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "repair",
        help="close a session left open by a crash: trim to the last flush, mark it repaired",
    )
    parser.add_argument("file", help="the session file (*.midstance.h5)")
    parser.add_argument(
        "--keep-original", action="store_true",
        help="keep the untouched file beside it as FILE.before-repair",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from data.repair import repair_session

    report = repair_session(args.file, keep_original=args.keep_original)
    if args.json:
        print(json.dumps(report.to_dict()))
    elif report.state_before == "recording":
        print(f"{args.file}: {report.state_after}. {report.note}")
        if report.recovered_stances:
            print(f"  {report.recovered_stances} stances found live were stored as rev_0001")
    else:
        print(f"{args.file}: nothing to repair ({report.state_before}).")
    return 0
