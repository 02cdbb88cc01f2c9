"""``midstance version``: the software version and which optional components are present."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json

from analysis.provenance import software_version

OPTIONAL_COMPONENTS = {
    "nidaqmx": "NI-DAQmx Python API (force DAQ)",
    "pypylon": "Basler pylon runtime (cameras)",
}
# what must import for the component to be usable (pypylon's runtime loads with pypylon.pylon)
IMPORT_CHECKS = {"nidaqmx": "nidaqmx", "pypylon": "pypylon.pylon"}


def component_states() -> dict[str, str | None]:
    """Per optional component: None when it imports, else why not ("not installed", or the
    import error of an installed but broken component, e.g. in an incomplete bundle)."""
    states: dict[str, str | None] = {}
    for name in OPTIONAL_COMPONENTS:
        if importlib.util.find_spec(name) is None:
            states[name] = "not installed"
            continue
        try:
            importlib.import_module(IMPORT_CHECKS[name])
        except Exception as exc:  # any failure means the component is unusable
            states[name] = f"installed but does not load: {type(exc).__name__}: {exc}"
        else:
            states[name] = None
    return states


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser("version", help="print the version and the optional components found")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    states = component_states()
    components = {name: problem is None for name, problem in states.items()}
    if args.json:
        problems = {name: problem for name, problem in states.items() if problem}
        document = {"version": software_version(), "components": components}
        print(json.dumps({**document, "component_problems": problems}))
        return 0
    print(f"midstance {software_version()}")
    for name, problem in states.items():
        print(f"  {OPTIONAL_COMPONENTS[name]}: {'present' if problem is None else problem}")
    return 0
