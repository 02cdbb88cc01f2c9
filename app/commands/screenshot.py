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
    parser.add_argument(
        "--size",
        type=window_size,
        default=(1600, 1000),
        metavar="WxH",
        help="the window's size in pixels before scaling (default 1600x1000; e.g. 1200x750 to "
        "check a small screen)",
    )
    return parser


def window_size(text: str) -> tuple[int, int]:
    """'1200x750' → (1200, 750); argparse turns the ValueError into a usage message."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT, e.g. 1200x750") from None
    if width < 200 or height < 200:
        raise argparse.ArgumentTypeError(f"'{text}' is too small for the window")
    return width, height


def run(args: argparse.Namespace) -> int:
    from app.qt.screenshots import take_screenshots

    for path in take_screenshots(
        Path(args.out), args.preset, args.theme, args.width, size=args.size
    ):
        print(path)
    return 0
