"""Shared helpers of the benchmark suite: the machine description, medians over repeats, figures
and the markdown/JSON reference table.

A *figure* is one measured number with its unit, the workload that produced it, and (where there
is one) the ratio against a baseline or peer measured in the same process, on the same data, in
the same run — never against a number from another day. The benchmark scripts that ``run_all.py``
runs as subprocesses hand their figures back as JSON (``--json PATH``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
