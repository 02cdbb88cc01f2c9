"""``midstance screenshot --out DIR``: PNG screenshots of the live window's main states."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "screenshot",
        help="write PNG screenshots of the live window (idle, recording, freeze-frames, error)",
        description="Run the live window offscreen on the simulated lab for about 15 s and write "
        "idle.png, recording.png, freeze-sagittal.png, freeze-posterior.png and error-banner.png. "
        "The demo recording goes to a temporary folder, not the session library.",
    )
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for the PNG files")
    parser.add_argument("--preset", default="valgus-left", help="simulated runner")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    parser.add_argument("--width", type=int, help="scale whole-window shots to this width (px)")
    return parser


def run(args: argparse.Namespace) -> int:
    from app.qt.screenshots import take_screenshots

    for path in take_screenshots(Path(args.out), args.preset, args.theme, args.width):
        print(path)
    return 0
