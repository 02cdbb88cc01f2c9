"""Run the whole benchmark suite and write the dated reference table (markdown + JSON).

    python benchmarks/run_all.py --out docs/ [--quick] [--only NAME ... | --skip NAME ...]
                                 [--timeout S]

Every benchmark runs in its own subprocess (so one's memory or threads never colour another's
figures), one after the other. Scripts that accept ``--json PATH`` hand back structured figures
(value, unit, workload, repeats, ratio against a baseline or peer measured in the same run); the
others' printed output is kept verbatim in the table. Scripts that accept ``--cache DIR`` share
the simulated inputs they make through one folder for the run (``_shared_inputs.py``: the saved
5-minute session is written once, by the HDF5 step, and re-analysed by the last). Writes
``benchmarks-YYYY-MM-DD.md`` and ``.json`` into ``--out`` with the machine description (CPU, cores,
RAM, OS, Python, library versions), the load average before and after and the CPU other processes
used during the run, so a run on a shared machine says so; prints the run's total wall time last.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT, machine_description, markdown_table

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Step:
    name: str  # the step's name; the script's stem without "bench_" unless ``script`` says
    measures: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    script: str = ""  # another step's script with other options (default: ``name``)
    timeout_s: float | None = None  # longer than --timeout for a long workload


# The suite in running order; the options keep the whole run under ~15 min on an idle 2-core
# machine: ~11 of them the 10-minute live session, ~4 everything else (each step's share is in the
# dated table). Shorter than a script's own defaults where the figures stay stable: force on
# 2 minutes (the offline length scaling is bench_scaling's), markers on 300 frames a view, HDF5
# codecs on 1 s each and the frame-path figure on 128 frames x 3 runs, 240 fps live for 20 s,
# window rows of 8 s, the gait-event peer on 0.5 minute, memory vs session length traced at 1 and
# 5 minutes (tracing triples a run; 10 and 30 are timed and their memory extrapolated, labelled
# so), retracking on 6 s of session.
STEPS = (
    Step(
        "simulator",
        "simulator speed (2 cameras 640x480 @ 500 fps + 16 ch @ 2 kHz, one core)",
        ("--seconds", "10"),
        ("--seconds", "2"),
    ),
    Step(
        "force",
        "force analysis throughput and streaming toe-off-to-record delay",
        ("--minutes", "2"),
        ("--minutes", "1"),
    ),
    Step(
        "markers",
        "marker detection and tracking per frame",
        ("--frames", "300"),
        ("--frames", "100", "--repeats", "1"),
    ),
    Step(
        "hdf5",
        "HDF5 write headroom per codec, size per minute, open and random-read times",
        ("--seconds", "1", "--open-minutes", "5", "--path-frames", "128", "--path-repeats", "3"),
        (
            "--seconds",
            "0.5",
            "--open-minutes",
            "0.5",
            "--path-frames",
            "128",
            "--path-repeats",
            "1",
        ),
    ),
    Step("ring_buffer", "ring buffer vs queue of copies, one producer, 1 or 3 consumers"),
    Step(
        "pipeline",
        "whole live pipeline, a 10-minute session of 2 cameras 640x480 @ 500 fps + 16 ch @ 2 kHz "
        "recorded as ten 1-minute files: drops, toe-off-to-metrics delay, CPU per thread, memory "
        "growth",
        ("--minutes", "10", "--workload", "500", "--trial-minutes", "1"),
        ("--minutes", "0.25", "--workload", "500"),
        timeout_s=1200.0,
    ),
    Step(
        "pipeline-240",
        "whole live pipeline, 2 cameras 1280x1024 @ 240 fps + 16 ch @ 2.4 kHz",
        ("--minutes", "0.33", "--workload", "240"),
        ("--minutes", "0.25", "--workload", "240"),
        script="pipeline",
    ),
    Step("gui", "GUI refresh rate under the full live load", ("--seconds", "8")),
    Step(
        "peers",
        "ours vs OpenCV SimpleBlobDetector, trackpy, ezc3d, kineticstoolkit",
        ("--event-minutes", "0.5"),
        ("--quick",),
    ),
    Step(
        "scaling",
        "time and memory vs session length and frame rate",
        ("--trace-minutes", "5"),
        ("--quick",),
    ),
    Step(
        "reanalysis",
        "re-analysis of a 5-minute saved session",
        ("--minutes", "5", "--retrack-minutes", "0.1"),
        ("--quick", "--retrack-minutes", "0.05"),
    ),
)


@functools.cache
def _help(script: Path, env_items: tuple[tuple[str, str], ...]) -> str:
    """The script's ``--help`` (once per script): which of the suite's options it takes."""
    env = dict(env_items)
    try:
        out = subprocess.run(
            [sys.executable, str(script), "--help"],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=env,
        )
        return out.stdout if out.returncode == 0 else ""
    except subprocess.TimeoutExpired:
        return ""


def _are_figures(data) -> bool:
    keys = {"group", "name", "value", "unit", "workload"}
    return isinstance(data, list) and all(isinstance(d, dict) and keys <= set(d) for d in data)


def run_step(
    step: Step,
    quick: bool,
    timeout_s: float,
    env: dict[str, str],
    cache: Path | None = None,
    *,
    own_cpu: OwnCpu | None = None,
) -> dict:
    script = HERE / f"bench_{step.script or step.name}.py"
    result = {"name": step.name, "script": f"benchmarks/{script.name}", "measures": step.measures}
    if not script.exists():
        result.update(status="absent", output="(this script is not in the checkout yet)")
        return result
    args = list(step.quick_args if quick else step.args)
    help_text = _help(script, tuple(sorted(env.items())))
    if quick and not step.quick_args and "--quick" in help_text:
        args.append("--quick")
    if cache is not None and "--cache" in help_text:
        args += ["--cache", str(cache)]
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "figures.json"
        if "--json" in help_text:
            args += ["--json", str(json_path)]
        command = [sys.executable, str(script), *args]
        result["command"] = " ".join(["python", f"benchmarks/{script.name}", *args])
        result["command"] = result["command"].replace(str(json_path), "FILE")
        if cache is not None:
            result["command"] = result["command"].replace(str(cache), "CACHE")
        print(f"== {result['command']}", flush=True)
        own_cpu = own_cpu or OwnCpu()
        start, cpu = time.perf_counter(), own_cpu.total_s()
        try:
            proc = subprocess.run(
                command,
                check=False,
                capture_output=True,
                text=True,
                timeout=max(timeout_s, step.timeout_s or 0.0),
                cwd=ROOT,
                env=env,
            )
            result.update(returncode=proc.returncode, output=proc.stdout.strip())
            result["status"] = "ok" if proc.returncode == 0 else "failed"
            if proc.returncode != 0:
                result["stderr_tail"] = proc.stderr.strip().splitlines()[-15:]
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            limit = max(timeout_s, step.timeout_s or 0.0)
            result.update(status=f"timed out after {limit:g} s", output=out.strip())
        result["wall_s"] = round(time.perf_counter() - start, 1)
        # CPU of the step and every process it started (e.g. tracking workers): on an idle
        # machine a one-thread step's wall time is about this, whatever the load was here
        result["cpu_s"] = round(own_cpu.total_s() - cpu, 1)
        if json_path.exists():
            data = json.loads(json_path.read_text())
            if _are_figures(data):
                result["figures"] = data
            else:  # the script's own structure: kept as it is, shown as JSON
                result["data"] = data
    print(result.get("output", ""), flush=True)
    print(
        f"-- {step.name}: {result['status']} in {result.get('wall_s', 0):.0f} s "
        f"(CPU {result.get('cpu_s', 0):.0f} s)",
        flush=True,
    )
    return result


def busy_cpu_s() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat; NaN elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return math.nan
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OwnCpu:
    """CPU seconds of this process and every process it started, however deep.

    ``getrusage(RUSAGE_CHILDREN)`` counts only the children each process waited for: the
    tracking workers under their forkserver are never waited for up to here, so their CPU
    looked like "other processes" and an idle machine was reported as shared. Here every
    process of this process group is sampled from /proc every half second (each keeps its
    latest reading; at most half a second of a process that ends between samples is lost);
    where /proc does not exist, the waited-for children's usage stands in.
    """

    def __init__(self, interval_s: float = 0.5) -> None:
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.group = os.getpgrp() if hasattr(os, "getpgrp") else None
        self.seen: dict[int, float] = {}
        self.proc = Path("/proc").is_dir() and self.group is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        if self.proc:
            self._thread.start()

    def total_s(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if not self.proc:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
        self.sample()
        return usage.ru_utime + usage.ru_stime + sum(self.seen.values())

    def sample(self) -> None:
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.group:  # pgrp
                self.seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self.tick

    def close(self) -> None:
        self._stop.set()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.sample()


def write_report(
    out_dir: Path,
    machine: dict,
    steps: list[dict],
    quick: bool,
    load_after,
    *,
    other_cores: float,
    run_wall_s: float,
) -> Path:
    day = machine["date_utc"][:10]
    stem = out_dir / f"benchmarks-{day}{'-quick' if quick else ''}"
    # other work: the machine's busy CPU during the run minus the benchmarks' own (the load
    # average would count the benchmarks' threads and the decay of earlier work)
    shared = not other_cores <= 0.1
    total = sum(s.get("wall_s", 0) for s in steps)
    payload = {
        "machine": machine,
        "load_average_after": list(load_after),
        "quick": quick,
        "machine_shared_with_other_work": shared,
        "other_work_cores_during_run": round(other_cores, 3),
        "total_wall_s": round(total, 1),  # the steps' own
        "run_wall_s": round(run_wall_s, 1),  # the whole run, with the help probes
        "steps": steps,
    }
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    m = machine
    lines = [
        f"# Benchmark reference table, {m['date_utc']} UTC",
        "",
        "Written by `python benchmarks/run_all.py --out docs/` (see `docs/benchmarks.md` for what "
        "each figure means). Every ratio is against a baseline or peer measured in the same run "
        "on the same data; values are medians over the stated repeats.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}; {m['logical_cores']} logical cores, {m['usable_cores']} usable; "
        f"RAM {m['ram_gb']} GB",
        f"- OS: {m['os']}; Python {m['python']}",
        f"- numpy {m['numpy']}, scipy {m['scipy']}, OpenCV {m['opencv']}, h5py {m['h5py']}, "
        f"hdf5plugin {m['hdf5plugin']}, ezc3d {m['ezc3d']}, trackpy {m['trackpy']}, "
        f"kineticstoolkit {m['kineticstoolkit']}",
        f"- load average (1/5/15 min) at start {m['load_average_1_5_15_min']}, at end "
        f"{[round(x, 2) for x in load_after]}"
        + (
            f" — **the machine was shared with other work during this run** (on average "
            f"{other_cores:.2f} cores busy with other processes), so absolute times are "
            "pessimistic and noisy; the same-run ratios are the figures to compare."
            if shared
            else f"; other processes used {other_cores:.2f} cores on average during the run"
        ),
        f"- whole suite: {run_wall_s / 60:.1f} min (the steps {total / 60:.1f} min"
        + ("; quick options)" if quick else ")"),
        "",
        "## Figures with same-run comparisons",
        "",
        markdown_table([f for s in steps for f in s.get("figures", [])]),
        "",
        "## Each benchmark's own output",
        "",
    ]
    for s in steps:
        lines += [f"### {s['script']} — {s['measures']}", ""]
        if s["status"] == "absent":
            lines += ["Not in the checkout when this table was made: not measured.", ""]
            continue
        lines += [
            f"`{s['command']}` — {s['status']}, {s.get('wall_s', 0):.0f} s "
            f"(CPU {s.get('cpu_s', 0):.0f} s)",
            "",
            "```",
            s.get("output", ""),
            "```",
            "",
        ]
        if "data" in s:
            lines += ["Its JSON output:", "", "```json", json.dumps(s["data"], indent=1), "```", ""]
        if s.get("stderr_tail"):
            lines += ["stderr (last lines):", "", "```", *s["stderr_tail"], "```", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="steps, in running order (NAME: what it measures):\n"
        + "\n".join(f"  {s.name}: {s.measures}" for s in STEPS),
    )
    parser.add_argument(
        "--out",
        default="docs",
        help="folder for the dated table, benchmarks-YYYY-MM-DD.md and .json (default: docs)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small workloads: a smoke run of a few minutes"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these steps")
    parser.add_argument(
        "--skip",
        nargs="+",
        metavar="NAME",
        help="run every step but these (e.g. --skip pipeline: all but the 10-minute session)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds a step may take before it is stopped (default 600; a step may allow "
        "itself longer: the 10-minute session 1200)",
    )
    args = parser.parse_args()
    names = {s.name for s in STEPS}
    unknown = (set(args.only or ()) | set(args.skip or ())) - names
    if unknown:
        parser.error(f"no step {', '.join(sorted(unknown))}; the steps: {', '.join(sorted(names))}")
    if args.only and args.skip:
        parser.error("give --only or --skip, not both")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("TQDM_DISABLE", "1")
    machine = machine_description()
    steps = [
        s
        for s in STEPS
        if (not args.only or s.name in args.only) and s.name not in (args.skip or ())
    ]
    own_cpu = OwnCpu()
    busy0, own0, wall0 = busy_cpu_s(), own_cpu.total_s(), time.monotonic()
    # every script's --help probed before anything is measured, as many at once as there are
    # cores (each imports its libraries: ~1 s); run_step finds them cached
    env_items = tuple(sorted(env.items()))
    scripts = {HERE / f"bench_{s.script or s.name}.py" for s in steps}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda script: _help(script, env_items), sorted(scripts)))
    print(f"probed {len(scripts)} scripts' options in {time.monotonic() - wall0:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="midstance-bench-cache-") as cache:
        results = [
            run_step(s, args.quick, args.timeout, env, Path(cache), own_cpu=own_cpu) for s in steps
        ]
    run_wall = time.monotonic() - wall0
    other_cores = max(0.0, (busy_cpu_s() - busy0 - (own_cpu.total_s() - own0)) / run_wall)
    own_cpu.close()
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = write_report(
        out_dir,
        machine,
        results,
        args.quick,
        load_after,
        other_cores=other_cores,
        run_wall_s=run_wall,
    )
    print(f"wrote {stem}.md and {stem}.json")
    print(
        f"total wall time {run_wall / 60:.1f} min ({run_wall:.0f} s) for "
        f"{len(steps)} steps; other processes used {other_cores:.2f} cores on average"
    )


if __name__ == "__main__":
    main()
