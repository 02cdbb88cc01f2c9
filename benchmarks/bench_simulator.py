"""How much faster than real time the simulated lab streams, on ONE core.

The load: two cameras at 500 fps, 640×480 Mono8, plus 16 analog channels at 2 kHz, read through
the driver interface (``sim.daq`` and ``sim.camera`` devices, ``pace = "fast"``) exactly as the
acquisition pipeline reads them. Prints the real-time factor (simulated seconds per wall second),
the cost per frame and per second of analog data, and a naive baseline in the same process (noise
drawn per pixel per frame, limbs drawn as thick anti-aliased lines) for the ratio.

    python benchmarks/bench_simulator.py [--seconds 10]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from drivers.registry import create_device  # noqa: E402
from drivers.sim import LabSetup, SimulatedLab, preset  # noqa: E402

FPS = 500
DAQ_HZ = 2000


def _pin_to_one_core() -> str:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity on this platform)"


def stream(seconds: float) -> tuple[float, dict[str, int]]:
    """Read ``seconds`` of session through the three devices; return (wall s, items read)."""
    shared = {"sim.settings": {"sync_mode": "hardware"}}
    settings = {"preset": "healthy", "seed": 1, "duration_s": seconds + 1, "pace": "fast"}
    daq = create_device("sim.daq", "force", {**settings, "rate_hz": DAQ_HZ}, shared)
    cams = [
        create_device("sim.camera", view, {**settings, "rate_hz": FPS}, shared)
        for view in ("sagittal", "posterior")
    ]
    devices = [daq, *cams]
    for device in devices:
        device.open()
    buffers = {
        daq.name: daq.describe().empty_buffer(DAQ_HZ // 50),  # 20 ms blocks, as a real DAQ
        **{c.name: c.describe().empty_buffer(FPS // 50) for c in cams},
    }
    for device in devices:
        device.start()
    counts = {d.name: 0 for d in devices}
    targets = {daq.name: int(seconds * DAQ_HZ), **{c.name: int(seconds * FPS) for c in cams}}
    start = time.perf_counter()
    while any(counts[n] < targets[n] for n in counts):
        for device in devices:  # interleaved, as the producer threads would on one core
            if counts[device.name] < targets[device.name]:
                counts[device.name] += device.read(buffers[device.name]).count
    wall = time.perf_counter() - start
    for device in devices:
        device.close()
    return wall, counts


def per_item_costs(lab: SimulatedLab) -> dict[str, float]:
    buffer = np.empty((50, 480, 640), np.uint8)
    costs = {}
    for camera in ("sagittal", "posterior"):
        lab.render_into(camera, range(50), buffer)  # warm-up: patch banks
        t = time.perf_counter()
        for block in range(1, 9):
            lab.render_into(camera, range(block * 50, block * 50 + 50), buffer)
        costs[f"{camera} frame (ms)"] = (time.perf_counter() - t) / 400 * 1e3
    t = time.perf_counter()
    for block in range(50):
        lab.analog(block * 40, 40)
    costs["analog, 1 s of 16 ch at 2 kHz in 20 ms blocks (ms)"] = (time.perf_counter() - t) * 1e3
    return costs


def naive_frame_ms(lab: SimulatedLab, n: int = 60) -> float:
    """Baseline: the same scene with per-pixel noise drawn for every frame and limbs drawn as
    thick anti-aliased lines (what the simulator avoids)."""
    rng = np.random.default_rng(0)
    background = lab.renderer("sagittal").background
    times = lab.frame_time("sagittal", np.arange(n))
    points = lab.points(times)
    model = lab.cameras["sagittal"]
    chain = ("R_hip_joint", "R_knee_joint", "R_ankle_joint", "R_toe")
    t = time.perf_counter()
    for row in range(n):
        img = background.copy()
        pix = model.project(np.vstack([points[k][row] for k in chain]))[0]
        for a, b in itertools.pairwise(pix):
            cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), 60, 25, cv2.LINE_AA)
        noise = rng.normal(0, 2.0, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return (time.perf_counter() - t) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="session seconds to stream")
    args = parser.parse_args()
    pinned = _pin_to_one_core()
    print(
        f"simulated lab benchmark ({pinned}): 2 cameras 640x480 @ {FPS} fps + 16 ch @ {DAQ_HZ} Hz"
    )
    lab = SimulatedLab(preset("healthy"), LabSetup(frame_rate_hz=FPS), seed=1, duration_s=20)
    costs = per_item_costs(lab)
    for name, value in costs.items():
        print(f"  {name:<55} {value:8.3f}")
    naive = naive_frame_ms(lab)
    ours = costs["sagittal frame (ms)"]
    print(
        f"  {'naive baseline frame (ms)':<55} {naive:8.3f}   (ours is {naive / ours:.1f}x faster)"
    )
    budget = 2 * FPS * (costs["sagittal frame (ms)"] + costs["posterior frame (ms)"]) / 2
    budget += costs["analog, 1 s of 16 ch at 2 kHz in 20 ms blocks (ms)"]
    print(f"  estimated cost of 1 s of session from the parts: {budget:.0f} ms")
    wall, counts = stream(args.seconds)
    factor = args.seconds / wall
    print(
        f"streamed {args.seconds:g} s of session through the driver interface in {wall:.2f} s: "
        f"real-time factor {factor:.2f} "
        f"({', '.join(f'{n}: {c} items' for n, c in counts.items())})"
    )
    naive_factor = 1000 / (2 * FPS * naive)
    print(f"naive baseline would reach at most {naive_factor:.2f}x real time on frames alone")


if __name__ == "__main__":
    main()
