"""How analysis time and memory grow with session length and with frame rate.

    python benchmarks/bench_scaling.py [--quick] [--trace-minutes 10] [--json PATH]

- Session length: offline force analysis (volts → lab wrench → stances, midstances, loading rates)
  of the first 1, 5, 10 and 30 minutes of one simulated 30-minute, 16-channel run at 2 kHz
  (simulated once), every length measured for real; wall time (median), time per minute of session
  (flat = linear scaling) and the peak memory the analysis allocates beyond its input (tracemalloc,
  numpy arrays included, measured in a separate untimed run) for lengths up to ``--trace-minutes``:
  tracing makes a run ~3x slower, so by default the 30-minute run is timed only and its memory is
  given as an extrapolation from the traced lengths, and says so.
- Frame rate: marker detection + labelling of 4 s of sagittal 640×480 video at 120, 240 and 500
  fps; compute per second of session (must stay below 1000 ms on one core for live use) and
  per frame, and the memory of one second of frames (what a ring of one second holds).

The ratio column compares each row with the smallest workload of its table, in the same run.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from _common import Figure, median_time, print_figures, save_figures

from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plates
from analysis.marker_sets import ImageOrientation, marker_set
from analysis.markers import detect_markers
from analysis.tracking import track_frames
from drivers.sim import LabSetup, SimulatedLab, preset

ORIENTATION = ImageOrientation(forward_x=1, left_x=-1)


def _peak_mb(fn) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def force_scaling(minutes_list: list[float], trace_minutes: float) -> list[Figure]:
    """Time every length; trace the memory of those up to ``trace_minutes`` (tracemalloc makes a
    run ~3x slower, so the longest are timed only and their memory is extrapolated, said so)."""
    figures, first, input_ratio = [], None, None
    settings = ForceSettings()
    # one run as long as the longest length, simulated once; each length is its first minutes
    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=1, duration_s=60 * max(minutes_list))
    session = lab.analog(0, lab.n_samples)
    plates = parse_plates(lab.plate_configs())
    # the schedule's body weight is the truth's, without computing every stance's truth
    rate, bw = lab.setup.daq_rate_hz, lab.schedule.body_weight_N
    for minutes in minutes_list:
        volts = session[: round(60 * minutes * rate)]

        def analyse(volts=volts):
            wrenches = plate_wrenches(plates, volts, lab.channel_names)
            return analyse_force_trial(wrenches, plates, rate, settings, body_weight_N=bw)

        repeats = 3 if minutes <= 1 else 1
        kept = []

        def analyse_keep(analyse=analyse, kept=kept):
            kept[:] = [analyse()]  # the last run's result: its stance count

        wall, cpu = median_time(analyse_keep, repeats, warmup=0)
        n_stances = len(kept[0].stances)
        per_min = wall / minutes
        first = first or per_min
        input_mb = volts.nbytes / 1e6
        if minutes <= trace_minutes:
            peak = _peak_mb(analyse)
            input_ratio = peak / input_mb
            memory = f"analysis allocates at peak {peak:.0f} MB ({input_ratio:.1f}x the input)"
        elif input_ratio is not None:
            memory = (
                f"memory not traced at this length (tracing triples the run): at "
                f"{input_ratio:.1f}x the input, as traced up to {trace_minutes:g} min, it would "
                f"be ~{input_ratio * input_mb:.0f} MB — an extrapolation"
            )
        else:
            memory = "memory not traced"
        figures.append(
            Figure(
                "scaling: session length (force)",
                f"{minutes:g} min",
                wall,
                "s",
                f"first {volts.shape[0]} samples x {volts.shape[1]} ch at {rate:g} Hz of a "
                f"{max(minutes_list):g}-min run "
                f"({input_mb:.0f} MB of volts), {n_stances} stances",
                repeats,
                cpu,
                ratio=per_min / first,
                ratio_to=f"time per minute at {minutes_list[0]:g} min",
                note=f"{per_min:.3f} s per minute of session; {memory}",
            )
        )
        del volts, kept
        gc.collect()
    return figures


def frame_rate_scaling(rates: list[int], seconds: float, repeats: int) -> list[Figure]:
    figures, first = [], None
    mset = marker_set("sagittal")
    for fps in rates:
        daq = 2000.0 if 2000 % fps == 0 else 1200.0  # hardware sync: an integer multiple
        setup = LabSetup(frame_rate_hz=float(fps), daq_rate_hz=daq)
        lab = SimulatedLab(preset("healthy"), setup, seed=2, duration_s=seconds + 0.5)
        n = int(seconds * fps)
        frames = lab.frames("sagittal", range(n))

        def analyse(frames=frames):
            blobs = [detect_markers(f) for f in frames]
            return track_frames(blobs, mset, ORIENTATION)

        wall, cpu = median_time(analyse, repeats, warmup=0)
        per_s = wall / seconds * 1e3
        first = first or per_s
        one_second_mb = frames[0].nbytes * fps / 1e6
        figures.append(
            Figure(
                "scaling: frame rate (detection + labelling)",
                f"{fps} fps",
                per_s,
                "ms per session second",
                f"{n} frames 640x480 ({seconds:g} s, sagittal)",
                repeats,
                cpu / seconds * 1e3,
                ratio=per_s / first,
                ratio_to=f"{rates[0]} fps",
                note=f"{wall / n * 1e6:.0f} µs per frame; one second of frames "
                f"{one_second_mb:.0f} MB",
            )
        )
        del frames
        gc.collect()
    return figures


def run(quick: bool = False, trace_minutes: float = 10.0) -> list[Figure]:
    minutes = [0.5, 1, 2] if quick else [1, 5, 10, 30]
    figures = force_scaling(minutes, trace_minutes)
    figures += frame_rate_scaling([120, 240, 500], 1.0 if quick else 4.0, 1 if quick else 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short sessions (smoke run)")
    parser.add_argument(
        "--trace-minutes",
        type=float,
        default=10.0,
        help="trace memory (tracemalloc, ~3x slower) for session lengths up to this; longer ones "
        "are timed only and their memory extrapolated (default 10: the 30-min run is timed only)",
    )
    parser.add_argument("--json", help="write the figures to this JSON file (for run_all.py)")
    args = parser.parse_args()
    figures = run(args.quick, args.trace_minutes)
    print_figures(figures)
    save_figures(args.json, figures)


if __name__ == "__main__":
    main()
