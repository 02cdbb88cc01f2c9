"""``midstance open [FILE]``: the review window, on a session file (or empty, to pick one).

The window is its own process (``python -m app.qt.review_window``) so that the command line
stays free of Qt: ``app`` never imports ``app.qt``. ``--screenshot PNG`` renders the window
offscreen and exits (for support requests and documentation).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "open",
        help="open the review window on a session file",
        description="Review a saved session: synchronised video and force, the stance table, "
        "corrections, re-analysis into a new revision, and comparison with another session.",
    )
    parser.add_argument("file", nargs="?", type=Path, help="a session file (*.midstance.h5)")
    parser.add_argument("--time", type=float, metavar="S", help="start at this session time")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="render the window to PNG and exit"
    )
    return parser


def command_line(args: argparse.Namespace) -> list[str]:
    """The review window's own command line for these arguments."""
    line = [sys.executable, "-m", "app.qt.review_window"]
    if args.file is not None:
        line.append(str(args.file))
    if args.time is not None:
        line += ["--time", str(args.time)]
    if args.screenshot is not None:
        line += ["--screenshot", str(args.screenshot)]
    return line


def run(args: argparse.Namespace) -> int:
    from analysis.errors import InputError

    if args.file is not None and not args.file.is_file():
        raise InputError(
            "the file does not exist", subject=str(args.file), remedy="Check the path."
        )
    return subprocess.run(command_line(args), check=False).returncode
