"""``midstance version``: the software version and which optional components are present."""

from __future__ import annotations

import argparse
import importlib.util
import json

from analysis.provenance import software_version

OPTIONAL_COMPONENTS = {
    "nidaqmx": "NI-DAQmx Python API (force DAQ)",
    "pypylon": "Basler pylon runtime (cameras)",
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser("version", help="print the version and the optional components found")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    components = {name: importlib.util.find_spec(name) is not None for name in OPTIONAL_COMPONENTS}
    if args.json:
        print(json.dumps({"version": software_version(), "components": components}))
        return 0
    print(f"midstance {software_version()}")
    for name, present in components.items():
        state = "present" if present else "absent"
        print(f"  {OPTIONAL_COMPONENTS[name]}: {state}")
    return 0
