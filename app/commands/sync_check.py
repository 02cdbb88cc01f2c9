"""``midstance sync-check``: verify the force–video synchronisation with the sync LED.

A DAQ digital output lights an LED in the camera's view and is looped back into the analog channel
``sync.led``. A short session is recorded through the live pipeline (the same producers, clocks
and recorder as a lab session) with the frames timed by the configured sync and **no**
trigger-delay correction; then each LED onset is timed on the DAQ (``led_onsets_analog``) and in
the video (``led_onsets_video``: mean brightness of a small region around the LED, sub-frame from
the partly lit frame) and paired (SCIENCE §9: mean ± SD over ≥ 10 repetitions). In hardware sync
``video − DAQ`` is minus the camera's trigger-to-exposure delay, which the command reports in the
form the configuration takes (``trigger_delay_s``). The result goes into the calibration log
(kind ``sync-verification``).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

LED_ROI_HALF_PX = 3  # the simulated LED's region: 7×7 pixels around its centre
SIM_FRAME_SIZE = (160, 120)  # the smallest the simulated lab renders: the LED is all we need
EDGE_MARGIN_S = 0.1  # events this close to either end of the recording are not paired


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "sync-check",
        help="measure the video − DAQ offset with the sync LED and log it",
        description="Record a short session with the sync LED blinking, time each LED onset on "
        "the DAQ and in the video, and report the offset mean ± SD over the repetitions.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--simulate", action="store_true", help="use the simulated lab")
    source.add_argument("--config", type=Path, metavar="FILE", help="hardware configuration")
    parser.add_argument(
        "--method",
        choices=("led",),
        default="led",
        help="the physical event: led (a DAQ output drives an LED in the camera's view)",
    )
    parser.add_argument(
        "--repetitions",
        type=int,
        default=10,
        metavar="N",
        help="LED flashes to pair (default 10, at least 10 recommended)",
    )
    parser.add_argument("--camera", default="sagittal", help="camera that sees the LED")
    parser.add_argument(
        "--trigger-delay-ms",
        type=float,
        default=0.0,
        metavar="X",
        help="simulated lab: the camera's true trigger-to-exposure delay",
    )
    parser.add_argument(
        "--sync",
        choices=("hardware", "software"),
        default="hardware",
        help="simulated synchronisation mode (default hardware)",
    )
    parser.add_argument("--operator", default="", help="who ran the check (for the log)")
    parser.add_argument("--keep", type=Path, metavar="FILE", help="keep the recording here")
    parser.add_argument("--no-log", action="store_true", help="do not write the calibration log")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _config(args: argparse.Namespace):
    from analysis.errors import InputError
    from drivers.config import load_config, parse_config

    if not 2 <= args.repetitions <= 200:
        raise InputError(
            f"{args.repetitions} repetitions cannot be used",
            subject="--repetitions",
            remedy="Use between 10 and 200 (SCIENCE §9: at least 10).",
        )
    if args.config is not None:
        config = load_config(args.config)
        cam = next((c for c in config.cameras if c.name == args.camera), None)
        if cam is None:
            raise InputError(
                f"no camera named '{args.camera}'",
                subject=str(args.config),
                remedy="Name the camera that sees the LED with --camera.",
            )
        for key in ("led_roi", "exposure_s"):
            if key not in cam.settings:
                raise InputError(
                    f"camera '{cam.name}' has no {key}",
                    subject=f"{args.config}: cameras '{cam.name}'",
                    remedy="Add led_roi = [x, y, width, height] (pixels around the LED) and "
                    "exposure_s (the exposure time) to the camera's table.",
                )
        return config
    if not 0 <= args.trigger_delay_ms <= 10:
        raise InputError(
            f"{args.trigger_delay_ms} ms is outside 0–10 ms", subject="--trigger-delay-ms"
        )
    if args.camera not in ("sagittal", "posterior"):
        raise InputError(
            f"the simulated lab has no camera '{args.camera}'",
            subject="--camera",
            remedy="Use sagittal or posterior.",
        )
    width, height = SIM_FRAME_SIZE
    raw = {
        "lab": {"name": "Simulated lab (sync check)"},
        "sync": {"mode": args.sync},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            # trigger_delay_s = 0: the delay is what this check measures
            {
                "name": args.camera,
                "kind": "sim.camera",
                "view": args.camera,
                "rate_hz": 250.0,
                "trigger_delay_s": 0.0,
                "track_markers": False,
            }
        ],
        "simulation": {
            "seed": 1,
            "duration_s": _duration_s(args.repetitions) + 10.0,
            "setup": {
                "image_width": width,
                "image_height": height,
                "trigger_delay_s": args.trigger_delay_ms * 1e-3,
            },
        },
    }
    return parse_config(raw, source="--simulate")


def _duration_s(repetitions: int) -> float:
    """The simulated LED flashes every 0.8 s ± 20 % from 0.3 s: enough time for N of them."""
    return 0.3 + 1.0 * repetitions + 1.5


def run(args: argparse.Namespace) -> int:
    from app.session_controller import SessionController

    config = _config(args)
    # software sync rests on arrival times, so even the simulated lab must run in real time
    pace = "fast" if config.simulated and config.sync_mode == "hardware" else "realtime"
    controller = SessionController(config, pace=pace)
    with tempfile.TemporaryDirectory(prefix="midstance-sync-") as folder:
        path = args.keep or Path(folder) / "sync-check.midstance.h5"
        try:
            controller.connect()
            controller.start_recording(path, protocol="sync-check")
            start = max(0.0, controller.synchronised_time_s())
            controller.wait_for_session_time(start + _duration_s(args.repetitions), timeout_s=600)
            controller.stop_recording()
            roi, exposure = _led_geometry(controller, args.camera)
        finally:
            controller.close()
        check = led_check(path, args.camera, roi, exposure)
    result = _result(check, args, config)
    if not args.no_log:
        result["log"] = _log(result, args, config)
    if args.json:
        print(json.dumps(_finite(result), allow_nan=False))
    else:
        print(_text(result))
    return 0 if result["passed"] else 1


def _led_geometry(controller, camera: str) -> tuple[tuple[int, int, int, int], float]:
    cam = next(c for c in controller.config.cameras if c.name == camera)
    if "led_roi" in cam.settings:
        x, y, w, h = (int(v) for v in cam.settings["led_roi"])
        return (x, y, w, h), float(cam.settings["exposure_s"])
    lab = controller.shared["sim.lab"]
    cx, cy = (round(c) for c in lab.renderer(cam.view).led_centre)
    half = LED_ROI_HALF_PX
    return (cx - half, cy - half, 2 * half + 1, 2 * half + 1), float(lab.setup.exposure_s)


def led_check(path: Path, camera: str, roi, exposure_s: float):
    """LED onsets on the DAQ and in the recorded frames of ``camera``, paired."""
    import numpy as np

    from analysis.sync_events import (
        led_onsets_analog,
        led_onsets_video,
        pair_events,
        roi_brightness,
    )
    from data.session_reader import open_session

    with open_session(path) as session:
        rate = session.analog.rate_hz
        start = int(session.h5["daq/analog"].attrs["start_index"])
        daq = led_onsets_analog(session.analog.channel("sync.led"), rate) + start / rate
        cam = session.camera(camera)
        brightness = np.concatenate(
            [
                roi_brightness(cam.frames(i, min(i + 256, cam.n_frames)), roi)
                for i in range(0, cam.n_frames, 256)
            ]
        )
        times = cam.session_time
        video = led_onsets_video(brightness, times, exposure_s)
        # only events both streams could see: an onset at either end is not a missing pair
        lo = max(start / rate, float(times[0])) + EDGE_MARGIN_S
        hi = min((start + session.analog.n_samples) / rate, float(times[-1])) - EDGE_MARGIN_S
    return pair_events(daq[(daq > lo) & (daq < hi)], video[(video > lo) & (video < hi)], "led")


def _result(check, args, config) -> dict[str, Any]:
    frame_period = 1.0 / next(c.rate_hz for c in config.cameras if c.name == args.camera)
    passed = not check.flags and check.n >= args.repetitions
    passed = passed and math.isfinite(check.sd_s) and check.sd_s <= 0.25 * frame_period
    out = {
        "camera": args.camera,
        "sync_mode": config.sync_mode,
        "method": "led",
        "n": check.n,
        "mean_s": check.mean_s,
        "sd_s": check.sd_s,
        "passed": bool(passed),
        "check": check.to_dict(),
        "simulated": config.simulated,
    }
    if config.sync_mode == "hardware":
        out["trigger_delay_estimate_s"] = -check.mean_s
    else:  # frames placed too late by a latency floor the timestamp fit cannot see
        out["floor_latency_correction_s"] = check.mean_s
    if config.simulated:
        out["injected_trigger_delay_s"] = args.trigger_delay_ms * 1e-3
    return out


def _log(result: dict[str, Any], args, config) -> str:
    from data.calibration_log import CalibrationLog

    log = CalibrationLog()
    operator = args.operator or ("simulation" if config.simulated else "")
    values = {k: result[k] for k in ("n", "mean_s", "sd_s")}
    values["offsets_s"] = result["check"]["offsets_s"]
    if "trigger_delay_estimate_s" in result:
        values["trigger_delay_estimate_s"] = result["trigger_delay_estimate_s"]
    log.record(
        "sync-verification",
        args.camera,
        operator,
        result["passed"],
        values=values,
        settings={
            "method": "led",
            "sync_mode": config.sync_mode,
            "events": result["check"]["settings"],
            "simulated": config.simulated,
        },
        note="simulated lab" if config.simulated else "",
    )
    return str(log.path)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _text(result: dict[str, Any]) -> str:
    lines = [
        f"LED check, camera {result['camera']} ({result['sync_mode']} sync): video − DAQ = "
        f"{result['mean_s'] * 1e3:.2f} ± {result['sd_s'] * 1e3:.2f} ms over {result['n']} "
        f"flashes — {'PASS' if result['passed'] else 'FAIL'}"
    ]
    if "trigger_delay_estimate_s" in result:
        delay = result["trigger_delay_estimate_s"]
        lines.append(
            f"the camera exposes {delay * 1e3:.2f} ms after its trigger; set "
            f"trigger_delay_s = {delay:.5f} in its [[cameras]] table"
        )
    if "floor_latency_correction_s" in result:
        lines.append(
            f"add {result['floor_latency_correction_s']:.5f} s to the camera's floor_latency_s "
            "(software sync)"
        )
    if result["simulated"]:
        lines.append(
            f"(simulated lab: true delay {result['injected_trigger_delay_s'] * 1e3:.2f} ms)"
        )
    for flag in result["check"]["flags"]:
        lines.append(f"flag: {flag}")
    if "log" in result:
        lines.append(f"logged to {result['log']}")
    return "\n".join(lines)
