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
    source.add_argument(
        "--file",
        type=Path,
        metavar="FILE",
        help="analyse a session already recorded during the check instead of recording one",
    )
    parser.add_argument(
        "--method",
        choices=("led", "tap"),
        default="led",
        help="the physical event: led (a DAQ output drives an LED in the camera's view) or tap "
        "(a marked tool tapped on the belt; needs --file and --tap-marker)",
    )
    parser.add_argument(
        "--tap-marker", metavar="NAME", help="tap: the tracked marker on the tapping tool"
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

    if args.file is not None or args.method == "tap":
        return _run_on_file(args)
    config = _config(args)
    _require_operator(args, simulated=config.simulated)
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


def _run_on_file(args: argparse.Namespace) -> int:
    """The check on a session recorded while the LED blinked or the tool tapped."""
    from analysis.errors import InputError
    from data.session_reader import open_session

    if args.file is None:
        raise InputError(
            "the belt tap is checked on a recording of the taps",
            subject="--method tap",
            remedy="Record a session while tapping the belt with the marked tool, then run "
            "midstance sync-check --method tap --file FILE --tap-marker NAME. (The simulated "
            "lab has no tapping tool; use --method led with --simulate.)",
        )
    _require_operator(args, simulated=False)
    with open_session(args.file) as session:
        if args.camera not in session.camera_names:
            raise InputError(
                f"no camera '{args.camera}' in the recording",
                subject=str(args.file),
                remedy=f"Use one of: {', '.join(session.camera_names)}.",
            )
        sync_mode = session.devices["sync"]["mode"] or "hardware"
        rate = session.camera(args.camera).rate_hz
        config = json.loads(session.h5["devices"].attrs.get("config_json", "{}"))
    if args.method == "tap":
        if not args.tap_marker:
            raise InputError(
                "which marker is on the tool?",
                subject="--tap-marker",
                remedy="Name the tracked marker on the tapping tool.",
            )
        check = tap_check(args.file, args.camera, args.tap_marker)
    else:
        cam = next((c for c in config.get("cameras", []) if c.get("name") == args.camera), {})
        if "led_roi" not in cam or "exposure_s" not in cam:
            raise InputError(
                f"camera '{args.camera}' has no led_roi and exposure_s in the stored configuration",
                subject=str(args.file),
                remedy="Add led_roi and exposure_s to the camera's [[cameras]] table and record "
                "the check again.",
            )
        roi = tuple(int(v) for v in cam["led_roi"])
        check = led_check(args.file, args.camera, roi, float(cam["exposure_s"]))
    info = _FileInfo(sync_mode=sync_mode, simulated=False, rate_hz=rate, camera=args.camera)
    result = _result(check, args, info)
    if not args.no_log:
        result["log"] = _log(result, args, info)
    print(json.dumps(_finite(result), allow_nan=False) if args.json else _text(result))
    return 0 if result["passed"] else 1


def _require_operator(args: argparse.Namespace, *, simulated: bool) -> None:
    from analysis.errors import InputError

    if not (args.no_log or simulated or args.operator.strip()):
        raise InputError(
            "every calibration entry names who made it",
            subject="--operator",
            remedy="Give --operator NAME (or --no-log to skip the calibration log).",
        )


class _FileInfo:
    """What _result/_log need from a configuration, for a check made on a recorded file."""

    def __init__(self, *, sync_mode: str, simulated: bool, rate_hz: float, camera: str) -> None:
        self.sync_mode = sync_mode
        self.simulated = simulated
        self.cameras = [_Camera(camera, rate_hz)]


class _Camera:
    def __init__(self, name: str, rate_hz: float) -> None:
        self.name = name
        self.rate_hz = rate_hz


def tap_check(path: Path, camera: str, marker: str):
    """Belt taps: Fz transients (all plates summed) paired with the tool marker's acceleration
    peaks, over every unbroken run of tracked frames."""
    import numpy as np

    from analysis.errors import InputError
    from analysis.forceplate import parse_plates
    from analysis.sync_events import acceleration_peak_times, pair_events, tap_times_force
    from data.session_reader import open_session

    with open_session(path) as session:
        live = json.loads(session.h5["live"].attrs.get("settings_json", "{}"))
        if not live.get("plates"):
            raise InputError(
                "the recording has no plates in its live settings",
                subject=str(path),
                remedy="Record the check with Midstance.",
            )
        plates = parse_plates(live["plates"], source=str(path))
        analog = session.analog
        volts = analog.read()
        names = analog.channel_names
        fz = sum(p.lab_wrench(volts[:, [names.index(c) for c in p.channels]])[:, 2] for p in plates)
        daq = tap_times_force(fz, analog.rate_hz) + analog.start_index / analog.rate_hz
        cam = session.camera(camera)
        markers = cam.markers
        if marker not in markers["labels"]:
            raise InputError(
                f"no marker '{marker}' was tracked in camera '{camera}'",
                subject=str(path),
                remedy=f"Tracked markers: {', '.join(markers['labels']) or 'none'}.",
            )
        xy = markers["xy"][:, markers["labels"].index(marker)]
        rows = np.searchsorted(cam.frame_index, markers["frame_index"])
        times = cam.session_time[np.clip(rows, 0, cam.n_frames - 1)]
    ok = np.isfinite(xy).all(axis=1)
    breaks = np.flatnonzero(np.diff(markers["frame_index"]) != 1) + 1
    video = []
    for piece in np.split(np.arange(len(xy)), breaks):
        run = piece[ok[piece]]
        if run.size >= 5 and np.all(np.diff(markers["frame_index"][run]) == 1):
            video.append(acceleration_peak_times(xy[run], times[run]))
    video_s = np.concatenate(video) if video else np.empty(0)
    return pair_events(daq, video_s, "belt_tap")


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
    method = "belt_tap" if args.method == "tap" else "led"
    passed = not check.flags and check.n >= args.repetitions
    passed = passed and math.isfinite(check.sd_s) and check.sd_s <= 0.25 * frame_period
    out = {
        "camera": args.camera,
        "sync_mode": config.sync_mode,
        "method": method,
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
    if args.file is not None:
        out["file"] = str(args.file)
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
            "method": result["method"],
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
        f"{'LED' if result['method'] == 'led' else 'belt-tap'} check, camera {result['camera']} "
        f"({result['sync_mode']} sync): video − DAQ = "
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
