"""The whole live pipeline in real time: what this machine sustains.

Run: ``python benchmarks/bench_pipeline.py`` (a short run of both workloads, ~1 minute in all).
The 10-minute run: ``python benchmarks/bench_pipeline.py --minutes 10 --workload 500
--trial-minutes 1`` — ten back-to-back 1-minute recordings in one session (acquisition, tracking
and live analysis run throughout; each file, ~10 GB of lossless 2 × 500 fps video, is measured
and deleted as it closes, since 10 continuous minutes would need ~100 GB of disk).
Options: ``--minutes M``, ``--workload 500|240|both``, ``--fps`` and ``--size WxH`` (override the
workload), ``--codec lossless|none|jpeg``, ``--json PATH``.

Workloads: two cameras at 500 fps 640×480 with a 2 kHz DAQ (16 channels), and two cameras at
240 fps 1280×1024 with a 2.4 kHz DAQ (2 kHz is not a multiple of 240 fps; 2400 Hz is the nearest
valid pair). Everything runs through :class:`app.session_controller.SessionController` at pace
"realtime": one producer thread per device, the recorder writing HDF5, marker detection and
tracking on every frame of both cameras (in one worker process per camera, as in every real-time
session: ``app/marker_worker.py``), the force analysis (in its worker process,
``app/force_worker.py``) and the per-stance join.

The cameras: rendering the simulated runner costs far more than a real camera's transfer (≈ 3 ms
per 640×480 frame here), so each camera renders a short loop of frames once, before the clock
starts, and then serves them on the simulated trigger timeline (frame k = loop[k mod n], at its
exact exposure time). The DAQ is the simulated DAQ itself. Marker tracking re-acquires at each
loop boundary, which is real work, not skipped work.

Reported (figures, not pass/fail; the machine is shared, run twice): samples and frames delivered
vs expected, frames the live tracker missed, frames missing from the file, recorder waits (the
recorder holding acquisition back; also per recording, beside how long deleting each file took),
per-stance result delay after toe-off (p50/p95: the session
clock at the result's emission − toe-off, and its two parts: the force record's completion and
the wait for the camera trackers to pass the stance's frames; of the first, the part that is the
data the analysis waits for: the newest sample it had then − toe-off), CPU seconds per thread
(and per analysis worker process, ``worker track-<camera>``, ``worker analyse-force``) and as %
of the run, resident memory (at start, after connect — the rings are allocated and touched
there —, after the first minute, and
at the end: growth after the first minute is what a leak shows; the workers' own at the end),
file size and write rate. (Earlier versions took the newest delivered DAQ sample as "now", which
is up to one DAQ read behind the clock.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import LoopedCamera, looped_camera_factory

from app.session_controller import SessionController
from drivers.config import parse_config
from drivers.sim.devices import CLOCK_KEY

WORKLOADS = {"500": (500.0, (640, 480), 2000.0), "240": (240.0, (1280, 1024), 2400.0)}


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of every live thread of this process, by Python name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        name = names.get(int(task.name), f"native-{task.name}")
        out[name] = out.get(name, 0.0) + seconds
    return out


def rss_mb(pid: int | str = "self") -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return math.nan
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def analysis_workers(controller: SessionController, timeout_s: float = 120.0) -> dict[str, int]:
    """The analysis worker processes (marker tracking per camera, app.marker_worker; the force
    analysis, app.force_worker), by name, once all have started."""
    deadline = time.monotonic() + timeout_s
    consumers = [*controller.trackers.values(), controller.force]
    while time.monotonic() < deadline:
        if all(c.engine is not None for c in consumers):
            break
        time.sleep(0.1)
    pids = {f"worker {c.name}": getattr(c.engine, "pid", None) for c in consumers}
    return {n: pid for n, pid in pids.items() if pid is not None}


def process_cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) of each of ``pids`` (whole processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def run_workload(
    fps: float,
    size: tuple[int, int],
    daq_hz: float,
    *,
    minutes: float,
    codec: str,
    folder: Path,
    trial_minutes: float | None = None,
) -> dict[str, Any]:
    seconds = minutes * 60
    raw = {
        "lab": {"name": "benchmark"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": daq_hz},
        "cameras": [
            {"name": v, "kind": LoopedCamera.kind, "view": v, "rate_hz": fps, "codec": codec}
            for v in ("sagittal", "posterior")
        ],
        "simulation": {
            "preset": "healthy",
            # room for the stops between recordings (up to ~12 s each under a slow disk)
            "duration_s": seconds + 60.0 + 20.0 * math.ceil(minutes / (trial_minutes or minutes)),
            "setup": {"image_width": size[0], "image_height": size[1]},
        },
    }
    rss_start = rss_mb()
    lab_shared: dict[str, Any] = {}

    def keep_shared(kind, name, settings, shared):
        lab_shared.update(shared=shared)  # the simulated lab's session clock is in there
        return looped_camera_factory(kind, name, settings, shared)

    controller = SessionController(parse_config(raw), pace="realtime", device_factory=keep_shared)
    emitted: list[tuple[int, float, float]] = []  # (index, toe-off, session clock at emission)

    def on_event(kind: str, payload: dict) -> None:
        if kind == "stance":
            now_s = lab_shared["shared"][CLOCK_KEY].elapsed(time.monotonic())
            emitted.append((payload["index"], payload["toe_off_s"], now_s))

    controller.add_listener(on_event)
    controller.connect()
    rss_connected = rss_mb()  # the rings are allocated (and touched) at connect
    rss_samples: list[float] = []
    sampling = threading.Event()

    def sample_rss() -> None:
        while not sampling.wait(5.0):
            rss_samples.append(rss_mb())

    sampler = threading.Thread(target=sample_rss, name="bench-rss", daemon=True)
    sampler.start()
    trials = max(1, math.ceil(minutes / trial_minutes - 1e-9)) if trial_minutes else 1
    trial_s = seconds / trials
    size_mb, missing, banners, stop_s, unlink_s = 0.0, {}, {}, [], []
    cameras = list(controller.camera_streams.values())

    def camera_wait_s() -> float:
        return sum(s.ring.status().recorder_wait_s for s in cameras)

    waits_by_recording: list[float] = []  # camera rings' recorder waits during each recording
    recorder_cpu_s = 0.0  # each recording's recorder thread ends with it: summed per recording
    try:
        controller.set_subject({"id": "bench", "body_mass_kg": 70.0})
        workers = analysis_workers(controller)
        # frames skipped while the workers started (before the first recording) are not counted
        missed_before = {n: t.missed for n, t in controller.trackers.items()}
        cpu_before = {**thread_cpu(), **process_cpu(workers)}
        wall = time.monotonic()
        first_start = None
        for trial in range(trials):  # back to back: acquisition and live analysis never stop
            path = folder / f"bench-{int(fps)}-{trial}.midstance.h5"
            waited_before = camera_wait_s()
            controller.start_recording(path)
            start = max(0.0, controller.synchronised_time_s())
            first_start = start if first_start is None else first_start
            controller.wait_for_session_time(start + trial_s, timeout_s=trial_s * 3 + 60)
            status = controller.status()
            for name, frames in status.dropped_frames.items():
                missing[name] = missing.get(name, 0) + len(frames)
            banners.update(dict.fromkeys(b.text for b in status.banners))
            recorder_cpu_s += thread_cpu().get("recorder", 0.0)
            stop_wall = time.monotonic()
            controller.stop_recording()
            stop_s.append(time.monotonic() - stop_wall)
            waits_by_recording.append(round(camera_wait_s() - waited_before, 2))
            size_mb += path.stat().st_size / 1e6
            unlink_wall = time.monotonic()
            path.unlink()  # 2 x 500 fps lossless is ~10 GB a minute
            unlink_s.append(time.monotonic() - unlink_wall)
        elapsed_s = controller.synchronised_time_s() - first_start
        cpu_after = {**thread_cpu(), **process_cpu(workers)}
        rss_workers_end = sum(rss_mb(pid) for pid in workers.values())
        run_wall = time.monotonic() - wall
        status = controller.status()
        trackers = {
            n: (t.frames, t.missed - missed_before.get(n, 0))
            for n, t in controller.trackers.items()
        }
        analysis_missed = controller.force.missed
        video_wait = {r.index: r.video_delay_s for r in controller.stances()}
        data_wait = {r.index: r.available_at_s - r.toe_off_s for r in controller.stances()}
        rings = {
            s.name: s.ring.status()
            for s in (controller.daq_stream, *controller.camera_streams.values())
        }
        rss_end = rss_mb()
    finally:
        sampling.set()
        controller.close()
    devices = {d.name: d for d in status.devices}
    cpu = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after}
    cpu["recorder"] = recorder_cpu_s
    cpu = {k: v for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v > 0.05}
    delays = [now_s - toe_off_s for _, toe_off_s, now_s in emitted]
    waits = [video_wait.get(index, math.nan) for index, _, _ in emitted]
    force_part = [d - w for d, w in zip(delays, waits, strict=True)]
    data_part = [data_wait.get(index, math.nan) for index, _, _ in emitted]
    return {
        "workload": f"2 cameras {int(fps)} fps {size[0]}x{size[1]}, DAQ 16 ch {daq_hz:g} Hz, "
        f"codec {codec}, {seconds:g} s",
        "session_s": elapsed_s,
        "wall_s": run_wall,
        "samples": devices["force"].items,
        "samples_expected": round(elapsed_s * daq_hz),
        "frames": {n: devices[n].items for n in ("sagittal", "posterior")},
        "frames_expected": round(elapsed_s * fps),
        "device_dropped": {n: d.dropped for n, d in devices.items()},
        "missing_frames": missing,
        "tracker_frames_and_missed": trackers,
        "force_analysis_missed_samples": analysis_missed,
        "recorder_waits": {
            n: (r.recorder_waits, round(r.recorder_wait_s, 3)) for n, r in rings.items()
        },
        "stances": len(delays),
        "stance_delay_p50_s": float(np.percentile(delays, 50)) if delays else math.nan,
        "stance_delay_p95_s": float(np.percentile(delays, 95)) if delays else math.nan,
        "stance_force_delay_p50_s": _percentile(force_part, 50),
        "stance_force_delay_p95_s": _percentile(force_part, 95),
        "stance_force_data_p50_s": _percentile(data_part, 50),
        "stance_force_data_p95_s": _percentile(data_part, 95),
        "stance_video_wait_p50_s": _percentile(waits, 50),
        "stance_video_wait_p95_s": _percentile(waits, 95),
        "cpu_s_per_thread": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_percent_of_run": {k: round(100 * v / run_wall, 1) for k, v in cpu.items()},
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_connected": round(rss_connected, 1),
        # growth after the first minute (file and caches warmed up): what a leak would show
        "rss_mb_after_1_min": round(rss_samples[11], 1) if len(rss_samples) > 11 else None,
        "rss_mb_end": round(rss_end, 1),
        # the analysis workers' own memory (shared libraries counted in each), constant by design
        "rss_mb_analysis_workers_end": round(rss_workers_end, 1),
        "file_mb": round(size_mb, 1),
        "write_mb_per_s": round(size_mb / max(elapsed_s, 1e-9), 1),
        "recordings": trials,
        "stop_recording_s_max": round(max(stop_s), 2),
        # both cameras' recorder waits (s) in each recording, and the deletion of each file
        # (the benchmark's own work, next to the next recording)
        "recorder_wait_s_by_recording": waits_by_recording,
        "delete_file_s_max": round(max(unlink_s), 2),
        "banners": list(banners),
    }


def _percentile(values: list[float], q: float) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.percentile(finite, q)) if finite else math.nan


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=0.25)
    parser.add_argument("--workload", choices=("500", "240", "both"), default="both")
    parser.add_argument("--fps", type=float, help="override the workload's frame rate")
    parser.add_argument("--size", help="override the workload's frame size, WxH")
    parser.add_argument("--codec", choices=("lossless", "none", "jpeg"), default="lossless")
    parser.add_argument(
        "--trial-minutes",
        type=float,
        help="record the session as back-to-back recordings of this length (files deleted as "
        "they close: 2 x 500 fps lossless is ~10 GB a minute)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    names = ("500", "240") if args.workload == "both" else (args.workload,)
    results = []
    # a killed run (SIGTERM) unwinds as Ctrl-C does: the session closes and the temporary
    # folder's recordings (~10 GB a minute at 2 x 500 fps) are deleted, not left to fill the disk
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="midstance-bench-") as folder:
        for name in names:
            fps, size, daq_hz = WORKLOADS[name]
            if args.fps:
                fps = args.fps
            if args.size:
                size = tuple(int(v) for v in args.size.lower().split("x"))
            result = run_workload(
                fps,
                size,
                daq_hz,
                minutes=args.minutes,
                codec=args.codec,
                folder=Path(folder),
                trial_minutes=args.trial_minutes,
            )
            results.append(result)
            print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
