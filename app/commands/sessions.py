"""``midstance sessions [--subject ID] [--json]``: the recorded sessions in the library."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser("sessions", help="list recorded sessions, optionally for one subject")
    parser.add_argument(
        "--subject", metavar="ID", help="only this subject (part of the id is enough)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from data.library import list_sessions
    from data.paths import sessions_dir

    entries = list_sessions(args.subject)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries]))
        return 0
    if not entries:
        which = f" for subject {args.subject!r}" if args.subject else ""
        print(f"no sessions{which} in {sessions_dir()}")
        return 0
    print(f"{'subject':<12} {'recorded (UTC)':<20} {'protocol':<16} {'state':<10} {'length':>8}"
          f" {'stances':>7}  file")  # fmt: skip
    for e in entries:
        if e.problem:
            print(f"{e.subject_id:<12} {'?':<20} {'?':<16} {'unreadable':<10} {'':>8} {'':>7}"
                  f"  {e.path}: {e.problem}")  # fmt: skip
            continue
        length = f"{e.duration_s:>7.1f}s"
        print(f"{e.subject_id:<12} {e.created_utc[:19]:<20} {e.protocol_name:<16}"
              f" {e.recording_state:<10} {length} {e.stances:>7}  {e.path}")  # fmt: skip
    return 0
