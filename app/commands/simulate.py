"""``midstance simulate``: render the simulated lab and write a preview anyone can look at.

Writes a contact sheet of both camera views at contact, midstance and toe-off with the true
markers and hip–knee–ankle lines, a plot of the three force components with the true events, and
the ground truth (every stance, the parameters, the setup) as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "simulate",
        help="render the simulated lab; write a preview and the ground truth",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument(
        "--preset",
        default="healthy",
        help="runner: healthy, overstrider, valgus-left, forefoot or crossover (default healthy)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of running (default 10)"
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the preview files")
    parser.add_argument(
        "--treadmill",
        choices=("single-belt", "split-belt"),
        default="single-belt",
        help="one plate under both feet, or one plate per belt (default single-belt)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print the written paths as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from analysis.errors import InputError
    from drivers.sim import LabSetup, SimulatedLab, preset
    from drivers.sim.preview import write_preview

    runner = preset(args.preset)
    lab = SimulatedLab(
        runner, LabSetup(treadmill=args.treadmill), seed=args.seed, duration_s=args.duration
    )
    if not lab.truth.stances:
        raise InputError(
            f"{args.duration:g} s holds no complete stance",
            subject="--duration",
            remedy="Simulate at least 1 s.",
        )
    out = args.out
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", subject=str(out), remedy="Choose a folder.")
    try:
        paths = write_preview(lab, out, args.preset)
    except OSError as exc:
        raise InputError(
            f"cannot be written ({exc.strerror or exc})",
            subject=str(out),
            remedy="Choose a folder you can write to.",
        ) from None
    stances = lab.truth.stances
    if args.json:
        print(json.dumps({name: str(path) for name, path in paths.items()}))
        return 0
    print(
        f"Simulated '{args.preset}' on a {args.treadmill} treadmill for {args.duration:g} s "
        f"(seed {args.seed}): {len(stances)} stances."
    )
    print(f"  contact sheet (both views, true markers): {paths['contact_sheet']}")
    print(f"  force plot (true events marked):          {paths['forces']}")
    print(f"  ground truth (all stances, parameters):   {paths['truth']}")
    return 0
