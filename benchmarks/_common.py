"""Shared helpers of the benchmark suite: the machine description, medians over repeats, figures
and the markdown/JSON reference table.

A *figure* is one measured number with its unit, the workload that produced it, and (where there
is one) the ratio against a baseline or peer measured in the same process, on the same data, in
the same run — never against a number from another day. The benchmark scripts that ``run_all.py``
runs as subprocesses hand their figures back as JSON (``--json PATH``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Figure:
    """One measured number, what produced it, and its comparison (if any)."""

    group: str  # e.g. "marker detection"
    name: str  # e.g. "ours, 640x480"
    value: float
    unit: str
    workload: str
    repeats: int = 1  # the value is the median over this many runs
    cpu: float | None = None  # median process CPU time in the same unit (all threads)
    ratio: float | None = None  # value / baseline value, both measured in this run
    ratio_to: str = ""  # what the ratio is against
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> tuple[float, float]:
    """Median wall time and median process CPU time (s) of ``fn()`` over ``repeats`` runs after
    ``warmup`` untimed runs. On a shared machine the CPU time is the steadier of the two."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), statistics.median(cpus)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1e6


def current_rss_mb() -> float:
    """Resident memory now (MB); /proc on Linux, psutil elsewhere, NaN if neither is available."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        try:
            import psutil

            return psutil.Process().memory_info().rss / 1e6
        except ImportError:
            return float("nan")


def _proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one live process from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children...), found from /proc."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent_of[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        below = [p for p, parent in parent_of.items() if parent in frontier]
        found += below
        frontier = below
    return found


class ChildCpu:
    """CPU time of this process's child processes (e.g. marker-tracking workers, which are
    children of a forkserver child) between construction and :meth:`seconds`.

    ``os.times()`` counts only children that have exited and been waited for, and workers are
    the forkserver's children, not ours: so live descendants are read from /proc, by a sampling
    thread every ``every_s`` (a worker that ends mid-run keeps the CPU it had at the last
    sample: at most ``every_s`` of its time is missed). Linux only; elsewhere NaN."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.available = os.path.isdir("/proc/self/task")
        self.start = self._snapshot()
        self.last = dict(self.start)
        self.stopping = threading.Event()
        self.sampler = threading.Thread(
            target=self._sample, args=(every_s,), name="bench-child-cpu", daemon=True
        )
        if self.available:
            self.sampler.start()

    def _snapshot(self) -> dict[int, float]:
        if not self.available:
            return {}
        out = {}
        for pid in _descendants(os.getpid()):
            cpu = _proc_cpu_seconds(pid)
            if cpu is not None:
                out[pid] = cpu
        return out

    def _sample(self, every_s: float) -> None:
        while not self.stopping.wait(every_s):
            self.last.update(self._snapshot())

    def seconds(self) -> tuple[float, int]:
        """CPU seconds used by descendant processes since construction, and how many ran."""
        if not self.available:
            return float("nan"), 0
        self.stopping.set()
        self.sampler.join()
        self.last.update(self._snapshot())
        used = sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())
        return used, len(self.last)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    try:
        import psutil

        return psutil.virtual_memory().total / 1024**3
    except ImportError:
        return float("nan")


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def machine_description() -> dict[str, Any]:
    """CPU, cores, RAM, OS, Python and library versions, and the load when the run started."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gb": round(_ram_gb(), 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "opencv": _version("opencv-python-headless"),
        "h5py": _version("h5py"),
        "hdf5plugin": _version("hdf5plugin"),
        "ezc3d": _version("ezc3d"),
        "trackpy": _version("trackpy"),
        "kineticstoolkit": _version("kineticstoolkit"),
        "load_average_1_5_15_min": [round(x, 2) for x in load],
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def print_figures(figures: Iterable[Figure]) -> None:
    for f in figures:
        ratio = f" (x{f.ratio:.3g} vs {f.ratio_to})" if f.ratio is not None else ""
        cpu = f" (CPU {f.cpu:.4g})" if f.cpu is not None else ""
        print(f"[{f.group}] {f.name}: {f.value:.4g} {f.unit}{cpu}{ratio} — {f.workload}")
        if f.note:
            print(f"    {f.note}")


def save_figures(path: str | Path | None, figures: Iterable[Figure]) -> None:
    """Hand the figures to ``run_all.py`` (``--json PATH``); nothing if ``path`` is None."""
    if path:
        Path(path).write_text(json.dumps([f.to_dict() for f in figures], indent=1))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(figures: list[dict[str, Any]]) -> str:
    """The figures as a markdown table grouped in the order they came."""
    lines = [
        "| group | figure | value (wall) | CPU time | ratio (same run) | workload | repeats |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        ratio = f"×{f['ratio']:.3g} vs {f['ratio_to']}" if f.get("ratio") is not None else ""
        value = f"{f['value']:.4g} {f['unit']}"
        cpu = f"{f['cpu']:.4g}" if f.get("cpu") is not None else ""
        name = f["name"] + (f" — {f['note']}" if f.get("note") else "")
        lines.append(
            f"| {_cell(f['group'])} | {_cell(name)} | {_cell(value)} | {cpu} | {_cell(ratio)} | "
            f"{_cell(f['workload'])} | {f.get('repeats', 1)} |"
        )
    return "\n".join(lines)


# -- a camera that serves pre-rendered frames on the real trigger timeline --------------------

from drivers.base import (  # noqa: E402  (after the sys.path set-up above)
    Chunk,
    Device,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
)


class LoopedCamera(Device):
    """A simulated camera whose frames were rendered once, before the clock starts, and are then
    served on the simulated trigger timeline (frame k = loop[k mod n], at its exact exposure
    time). Rendering the simulated runner costs far more than a real camera's transfer (≈ 3 ms
    per 640×480 frame), so benchmarks of the live pipeline and the window use this instead."""

    kind: ClassVar[str] = "bench.looped-camera"

    def __init__(self, name, settings, shared) -> None:
        super().__init__(name, settings)
        self.shared = shared

    @classmethod
    def probe(cls, name, settings) -> Health:
        return Health(HealthStatus.SIMULATED, "benchmark camera")

    def _open(self) -> StreamDescription:
        import numpy as np

        from drivers.sim.devices import LAB_KEY

        lab = self.shared[LAB_KEY]
        self.lab = lab
        self.view = self.settings["view"]
        n = int(self.settings.get("loop_frames", 120))
        width, height = lab.cameras[self.view].size
        self.loop = np.empty((n, height, width), np.uint8)
        lab.render_into(self.view, np.arange(n), self.loop)
        return StreamDescription(
            device=self.name,
            kind=StreamKind.FRAMES,
            source="benchmark loop",
            dtype="uint8",
            shape=(height, width),
            rate_hz=lab.setup.frame_rate_hz,
            units=("DN",),
        )

    def _start(self) -> None:
        self.next = 0
        self.stopping = threading.Event()

    def _read(self, out, timeout_s) -> Chunk:
        import numpy as np

        from drivers.sim.devices import CLOCK_KEY

        clock = self.shared[CLOCK_KEY]
        lab = self.lab
        deadline = time.monotonic() + timeout_s
        while True:
            if clock.daq_started.is_set():
                elapsed = clock.elapsed(time.monotonic())
                ready = (
                    math.floor(
                        (elapsed - lab.setup.exposure_s - float(lab.frame_time(self.view, 0)))
                        * lab.setup.frame_rate_hz
                    )
                    + 1
                )
                if ready > self.next:
                    break
                # sleep until this frame's exposure ends, as a camera's driver blocks until a
                # frame arrives (polling every 1 ms woke the producer twice a frame at 500 fps)
                due = float(lab.frame_time(self.view, self.next)) + lab.setup.exposure_s
                wait_s = min(max(due - elapsed, 1e-4), 0.01)
            else:
                wait_s = 0.001
            if time.monotonic() > deadline or self.stopping.wait(wait_s):
                return Chunk(0, self.next, time.monotonic())
        count = min(len(out), ready - self.next)
        ks = np.arange(self.next, self.next + count)
        n = len(self.loop)
        for row, k in enumerate(ks.tolist()):  # one copy per frame, as a driver copies its buffer
            out[row] = self.loop[k % n]
        self.next += count
        times = lab.camera_time(lab.frame_time(self.view, ks))
        return Chunk(count, int(ks[0]), time.monotonic(), device_time_s=np.asarray(times))

    def _stop(self) -> None:
        self.stopping.set()

    def _close(self) -> None:
        pass


def looped_camera_factory(kind, name, settings, shared):
    """The session's device factory: looped cameras by their kind, the registry for the rest."""
    from app.session_setup import registry_factory

    if kind == LoopedCamera.kind:
        return LoopedCamera(name, settings, shared)
    return registry_factory(kind, name, settings, shared)
