"""Build the Midstance one-folder bundle with PyInstaller, report its size, smoke-test it.

    .venv/bin/pip install -e ".[bundle]" && .venv/bin/python installer/build.py [--smoke]

Writes ``dist/midstance/`` (``--dist`` to change) and ``dist/midstance-build.json`` with the build
time, the size and what takes the space, so a release records the same figures every time
(docs/installing.md keeps the last release check). ``--without-vendor-sdks`` builds the bundle
without nidaqmx and pypylon (simulated lab, replay and offline commands only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

INSTALLER = Path(__file__).resolve().parent
ROOT = INSTALLER.parent
SPEC = INSTALLER / "midstance.spec"
BUNDLE_NAME = "midstance"
LARGEST_SHOWN = 12


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def space_by_component(bundle: Path) -> list[tuple[str, int]]:
    """Bytes per top-level entry of the bundle's contents folder, largest first.

    Shared libraries that PyInstaller places at the top (``libpython``, OpenCV's and SciPy's
    ``.libs`` folders) are grouped under the name they start with, so the table says which package
    owns the space.
    """
    contents = bundle / "_internal"
    totals: Counter[str] = Counter()
    for path in contents.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        top = path.relative_to(contents).parts[0]
        totals[top.split(".libs")[0] if ".libs" in top else top] += path.stat().st_size
    return totals.most_common()


def build(dist: Path, work: Path, *, without_vendor_sdks: bool) -> dict:
    """Run PyInstaller on the spec; return the build record (time, size, largest components)."""
    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit(
            "build.py: PyInstaller is not installed in this Python; run"
            ' `pip install -e ".[bundle]"` in the virtual environment first.'
        )
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    if without_vendor_sdks:
        command += ["--", "--without-vendor-sdks"]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    seconds = time.perf_counter() - started
    bundle = dist / BUNDLE_NAME
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "pyinstaller": _version("pyinstaller"),
        "without_vendor_sdks": without_vendor_sdks,
        "build_seconds": round(seconds, 1),
        "bundle": str(bundle),
        "bundle_bytes": folder_bytes(bundle),
        "largest": [[name, size] for name, size in space_by_component(bundle)[:LARGEST_SHOWN]],
    }


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def print_record(record: dict) -> None:
    mib = 1024 * 1024
    print(
        f"built {record['bundle']} in {record['build_seconds']:.0f} s: "
        f"{record['bundle_bytes'] / mib:.0f} MiB"
    )
    for name, size in record["largest"]:
        print(f"  {size / mib:7.1f} MiB  {name}")
    smoke = record.get("smoke")
    if smoke:
        print(f"smoke check passed: {smoke['version_line']}; components {smoke['components']}")
        for step, seconds in smoke["seconds"].items():
            print(f"  {step:<12} {seconds:5.1f} s")
        print(f"  session file: {smoke['session_bytes'] / mib:.0f} MiB")
        print(
            f"  stances: {smoke['stances_in_file']} in the file, "
            f"{smoke['stances_with_fppa']} with live FPPA (worker processes)"
        )
        print(f"  a lab DAQ here: {smoke['daq_refusal']}")
        print(f"  a lab camera here: {smoke['camera_refusal']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller work folder"
    )
    parser.add_argument(
        "--without-vendor-sdks",
        action="store_true",
        help="leave out nidaqmx and pypylon (simulated lab and offline use only)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="then run the bundle offscreen: version, a short simulated recording, a preview",
    )
    args = parser.parse_args(argv)
    dist = args.dist.resolve()
    record = build(dist, args.work.resolve(), without_vendor_sdks=args.without_vendor_sdks)
    if args.smoke:
        sys.path.insert(0, str(INSTALLER))
        from smoke import smoke_check

        record["smoke"] = smoke_check(dist / BUNDLE_NAME, args.work.resolve() / "smoke").to_dict()
    (dist / f"{BUNDLE_NAME}-build.json").write_text(json.dumps(record, indent=2) + "\n")
    print_record(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
