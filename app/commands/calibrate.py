"""``midstance calibrate camera``: camera intrinsics from checkerboard photos.

Prints fx, fy, cx, cy, the distortion coefficients and the RMS reprojection error, and names every
photo that was rejected and why, so a technician can retake just those.
"""

from __future__ import annotations

import argparse
import json
import re

from analysis.errors import InputError


def _board(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not COLSxROWS (inner corners, e.g. 4x7)")
    return int(match.group(1)), int(match.group(2))


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser("calibrate", help="calibrate a camera (intrinsics from a checkerboard)")
    what = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    camera = what.add_parser(
        "camera",
        help="intrinsics and lens distortion from checkerboard photos",
        description="Calibrate one camera from photos of a checkerboard (Zhang's method).",
    )
    camera.add_argument("--images", required=True, help="folder holding the photos")
    camera.add_argument(
        "--board", required=True, type=_board, help="inner corners as COLSxROWS, e.g. 4x7"
    )
    camera.add_argument(
        "--square-mm", required=True, type=float, help="side of one square in millimetres"
    )
    camera.add_argument(
        "--max-edge-width",
        type=float,
        default=7.0,
        help="reject photos whose board edges are blurred wider than this (pixels; default 7)",
    )
    camera.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from analysis.camera_calibration import calibrate_camera, image_files

    if args.square_mm <= 0:
        raise InputError(
            f"{args.square_mm} mm is not a square size", subject="--square-mm", remedy="give mm > 0"
        )
    files = image_files(Path(args.images))
    result = calibrate_camera(
        files, args.board, args.square_mm, max_edge_width_px=args.max_edge_width
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    k = result.intrinsics
    sd = result.std_dev
    print(f"camera calibration from {len(result.used)} of {len(result.images)} photos")
    print(f"  image size  {k.image_size[0]} x {k.image_size[1]} px")
    print(f"  fx, fy      {k.fx:.2f}, {k.fy:.2f} px   (± {sd['fx']:.2f}, {sd['fy']:.2f})")
    print(f"  cx, cy      {k.cx:.2f}, {k.cy:.2f} px   (± {sd['cx']:.2f}, {sd['cy']:.2f})")
    names = ("k1", "k2", "p1", "p2", "k3")
    print("  distortion  " + ", ".join(f"{n}={v:.5f}" for n, v in zip(names, k.dist, strict=True)))
    print(f"  RMS reprojection error {result.rms_px:.3f} px")
    for im in result.images:
        name = Path(im.path).name
        if im.used:
            print(f"  used      {name}  (error {im.reprojection_rms_px:.3f} px)")
        else:
            print(f"  rejected  {name}: {im.reason}")
    return 0
