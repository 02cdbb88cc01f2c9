"""``midstance gui``: the clinician's live window (the simulated lab when no hardware is set up)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gui",
        help="open the live window (simulated lab unless --config names the lab's hardware)",
        description="Open the clinician's live window. Without --config it runs on the simulated "
        "lab, labelled 'Simulated' on screen.",
    )
    parser.add_argument("--config", metavar="FILE", help="the lab's hardware configuration (TOML)")
    parser.add_argument(
        "--preset", metavar="NAME", help="simulated runner (e.g. healthy, overstrider)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from app.qt.launch import run_window

    return run_window(getattr(args, "config", None), getattr(args, "preset", None))
