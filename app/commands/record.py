"""``midstance record``: run a whole session headless through the live pipeline and save it.

The same :class:`~app.session_controller.SessionController` the window uses: devices, producer
threads, recorder, live analysis. ``--simulate`` runs the simulated lab; ``--config FILE`` runs
the devices of a hardware configuration. Prints the per-side summary (mean ± SD, n) and writes
the session file (raw volts, frames, markers, stances, settings, sync result, dropped frames).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

SUMMARY_ROWS = (
    # (metric, label, scale, unit, decimals)
    ("hip_ankle_contact_m", "hip–ankle at contact", 100.0, "cm", 1),
    ("hip_ankle_midstance_m", "hip–ankle at midstance", 100.0, "cm", 1),
    ("fppa_midstance_deg", "FPPA at midstance (+valgus)", 1.0, "°", 1),
    ("pelvic_drop_deg", "pelvic drop (+contralateral)", 1.0, "°", 1),
    ("valr_BW_s", "VALR", 1.0, "BW/s", 1),
    ("vilr_BW_s", "VILR", 1.0, "BW/s", 1),
    ("contact_time_s", "contact time", 1000.0, "ms", 0),
    ("cadence_spm", "cadence", 1.0, "steps/min", 1),
)
SIM_MARGIN_S = 10.0  # the simulated lab runs this much longer than the recording


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "record",
        help="record a session headless (simulated lab or a hardware configuration)",
        description="Connect the devices, record for a duration through the live pipeline, "
        "print the per-side summary and save the session file.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--simulate", action="store_true", help="use the simulated lab")
    source.add_argument("--config", type=Path, metavar="FILE", help="hardware configuration")
    parser.add_argument("--preset", default="healthy", help="simulated runner (default healthy)")
    parser.add_argument("--seed", type=int, default=1, help="simulated lab seed (default 1)")
    parser.add_argument(
        "--sync",
        choices=("hardware", "software"),
        default="hardware",
        help="simulated synchronisation mode (default hardware)",
    )
    parser.add_argument(
        "--size", default="640x480", metavar="WxH", help="simulated frame size (default 640x480)"
    )
    parser.add_argument(
        "--duration", type=float, default=30.0, metavar="S", help="seconds to record (default 30)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="session file (default: a new file in the session library)",
    )
    parser.add_argument("--subject", default="anonymous", metavar="ID", help="pseudonymous id")
    parser.add_argument(
        "--body-mass",
        type=float,
        metavar="KG",
        help="runner's mass (simulated: the simulated runner's by default)",
    )
    parser.add_argument("--leg-length", type=float, metavar="M", help="runner's leg length")
    parser.add_argument(
        "--pace",
        choices=("realtime", "fast"),
        default="realtime",
        help="realtime (what a lab sees; default) or fast (simulated lab only: as fast as the "
        "machine can render and analyse)",
    )
    parser.add_argument("--protocol", default="record", help="protocol name stored in the file")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _size(text: str) -> tuple[int, int]:
    from analysis.errors import InputError

    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(
            f"'{text}' is not a frame size",
            subject="--size",
            remedy="Write it as WIDTHxHEIGHT, e.g. 640x480.",
        ) from None
    return width, height


def build_config(args: argparse.Namespace):
    from analysis.errors import InputError
    from drivers.config import load_config, parse_config

    if args.duration is None or not (math.isfinite(args.duration) and 1 <= args.duration <= 7000):
        raise InputError(
            f"{args.duration} s cannot be recorded",
            subject="--duration",
            remedy="Give a duration between 1 s and 7000 s.",
        )
    if args.config is not None:
        config = load_config(args.config)
        if config.simulated and args.pace == "fast":
            return config
        if not config.simulated and args.pace == "fast":
            raise InputError(
                "real devices run in real time",
                subject="--pace fast",
                remedy="Omit --pace for a hardware configuration.",
            )
        return config
    width, height = _size(args.size)
    raw = {
        "lab": {"name": "Simulated lab", "treadmill": "single-belt"},
        "sync": {"mode": args.sync},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": view, "kind": "sim.camera", "view": view, "rate_hz": 250.0}
            for view in ("sagittal", "posterior")
        ],
        "simulation": {
            "preset": args.preset,
            "seed": args.seed,
            "duration_s": args.duration + SIM_MARGIN_S,
            "setup": {"image_width": width, "image_height": height},
        },
    }
    return parse_config(raw, source="--simulate")


def run(args: argparse.Namespace) -> int:
    from analysis.errors import InputError
    from app.session_controller import SessionController

    config = build_config(args)
    subject: dict[str, Any] = {"id": args.subject}
    controller = SessionController(config, pace=args.pace)
    interrupted = False
    try:
        controller.connect()
        mass = args.body_mass
        if mass is None and config.simulated:
            mass = controller.shared["sim.lab"].runner.body_mass_kg
        if mass is not None:
            subject["body_mass_kg"] = mass
        if args.leg_length is not None:
            subject["leg_length_m"] = args.leg_length
        controller.set_subject(subject)
        out = args.out
        if out is not None and out.exists():
            raise InputError(
                "the file already exists", subject=str(out), remedy="Choose a new file name."
            )
        controller.start_recording(out, protocol=args.protocol, duration_s=args.duration)
        start = max(0.0, controller.synchronised_time_s())
        try:
            reached = controller.wait_for_session_time(
                start + args.duration, timeout_s=args.duration * 20 + 60
            )
        except KeyboardInterrupt:
            interrupted, reached = True, True
        path = controller.stop_recording()
        status = controller.status()
        stances = controller.stances()
        summary = controller.summary(last_n=10**9)
    finally:
        controller.close()
    document = _document(path, status, stances, summary, controller)
    if args.json:
        print(json.dumps(_finite(document), allow_nan=False))
    else:
        print(_table(document))
    if interrupted:
        return 130
    if not reached:
        print(
            "midstance: the devices stopped before the duration was reached; the file keeps "
            "what was recorded."
        )
        return 3
    return 0


def _document(path, status, stances, summary, controller) -> dict[str, Any]:
    from app.live_views import summarise_stance_records
    from data.session_reader import open_session

    with open_session(path) as session:
        # the summary is of the stances saved in the file (the live view also saw stances
        # before the recording started and after it stopped)
        records = session.analysis().stances() if session.revisions else []
        stored = len(records)
        if records:
            summary = summarise_stance_records(records, last_n=len(records))
        note = session.recording_note
        sync = json.loads(session.h5["devices"].attrs.get("sync_result_json", "{}"))
    return {
        "file": str(path),
        "recording_note": note,
        "sync_mode": status.sync_mode,
        "stances_in_file": stored,
        "stances_live": len(stances),
        "summary": summary,
        "dropped_frames": {k: list(v) for k, v in status.dropped_frames.items()},
        "sync": {
            name: {
                k: v
                for k, v in entry.items()
                if k
                in (
                    "pulses_sent",
                    "edges_recorded",
                    "frames_received",
                    "missing_in_recording",
                    "max_edge_error_s",
                    "latest_standard_error_s",
                    "offline_mapping",
                    "flags",
                )
            }
            for name, entry in sync.get("cameras", {}).items()
        },
        "banners": [b.to_dict() for b in status.banners],
        "settings": controller.live_settings(),
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _cell(stat: dict[str, Any], scale: float, decimals: int) -> str:
    if not stat["n"]:
        return "—"
    mean = stat["mean"] * scale
    sd = stat["sd"] * scale if math.isfinite(stat["sd"]) else math.nan
    sd_text = f"{sd:.{decimals}f}" if math.isfinite(sd) else "—"
    return f"{mean:.{decimals}f} ± {sd_text} (n={stat['n']})"


def _table(doc: dict[str, Any]) -> str:
    lines = [f"session: {doc['file']}", f"sync: {doc['sync_mode']}"]
    for name, entry in doc["sync"].items():
        if "pulses_sent" in entry:
            lines.append(
                f"  {name}: {entry['pulses_sent']} pulses, {entry['edges_recorded']} exposure "
                f"edges, {entry['frames_received']} frames; missing in recording: "
                f"{entry['missing_in_recording'] or 'none'}"
            )
        elif entry.get("offline_mapping"):
            m = entry["offline_mapping"]
            lines.append(
                f"  {name}: offset {m['offset_s'] * 1e3:.2f} ms, drift "
                f"{m['drift_ppm']:.1f} ppm (refitted over the session)"
            )
    lines.append(f"stances: {doc['stances_in_file']} in the file")
    lines.append(f"{'':32} {'left':>28} {'right':>28}")
    for metric, label, scale, unit, decimals in SUMMARY_ROWS:
        left = _cell(doc["summary"]["L"][metric], scale, decimals)
        right = _cell(doc["summary"]["R"][metric], scale, decimals)
        lines.append(f"{label + ' (' + unit + ')':32} {left:>28} {right:>28}")
    for banner in doc["banners"]:
        lines.append(f"{banner['level']}: {banner['text']}")
    if doc["recording_note"]:
        lines.append(f"note: {doc['recording_note']}")
    return "\n".join(lines)
