"""Re-analysis time of a saved session (``app.session_analysis.analyse_session``).

    python benchmarks/bench_reanalysis.py [--minutes 5] [--retrack-minutes 0.5] [--quick]
                                          [--cache DIR] [--json PATH]

The session is written the way ``midstance record`` writes one (``_shared_inputs.write_session``:
raw volts of the simulated lab's 16 channels at 2 kHz, both cameras at 250 fps as JPEG q90 with
the markers tracked on every frame, plates, plane calibrations and settings). To keep writing the
file affordable on a 2-core machine the frames are 320×240 (detection cost scales with pixels, see
bench_peers/bench_scaling) and the video repeats the first 2 s rendered by the simulated lab (with
its tracked markers): the cost per frame of decoding, detecting and labelling does not depend on
which stride is shown, but the video metrics of this file are not meaningful and are not reported
here (their accuracy is tested in tests/app). With ``--cache DIR`` (``run_all.py``) the file
``bench_hdf5.py`` opened is reused, and analysed as a copy (re-analysis adds revisions). Then it is
re-analysed:
- from the recorded markers (what an analyst does after a correction), median over repeats;
- with ``retrack=True`` (every JPEG frame decoded, markers detected and labelled again), on a
  ``--retrack-minutes`` session (default 0.5; its ratio is scaled per session minute).
Baseline in the same process: the offline force analysis of the same volts held in memory
(``analysis.force_trial``), i.e. the floor without the file and the video join.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import Figure, median_time, print_figures, save_figures
from _shared_inputs import add_cache_option, run_once, saved_session, session_lab, write_session

from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plates
from app.session_analysis import analyse_session


def run(minutes: float, repeats: int, retrack_minutes: float, cache: Path | None) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        saved = saved_session(minutes, cache, Path(tmp))
        lab, path, workload = saved.lab, saved.path, saved.describe()
        print(workload + (" — shared with an earlier step" if saved.reused else ""))
        if cache is not None:  # the revisions written below must not change the shared file
            path = Path(shutil.copyfile(path, Path(tmp) / "bench.midstance.h5"))

        volts = lab.analog(0, lab.n_samples)
        plates = parse_plates(lab.plate_configs())

        def in_memory():
            wrenches = plate_wrenches(plates, volts, lab.channel_names)
            return analyse_force_trial(
                wrenches,
                plates,
                lab.setup.daq_rate_hz,
                ForceSettings(),
                body_weight_N=lab.schedule.body_weight_N,  # the truth's, without every stance
            )

        base, _ = median_time(in_memory, repeats, warmup=0)
        names = []
        full, full_cpu = median_time(lambda: names.append(analyse_session(path)), repeats, 0)
        figures.append(
            Figure(
                "re-analysis of a saved session",
                "from recorded markers (force + video)",
                full,
                "s",
                workload,
                repeats,
                full_cpu,
                ratio=full / base,
                ratio_to="force-only analysis of the same volts in memory",
                note=f"{minutes * 60 / full:.0f}x faster than real time; force-only in-memory "
                f"baseline {base:.2f} s; {len(names)} revisions written",
            )
        )
        if retrack_minutes != minutes:  # retracking decodes every frame: a shorter file
            lab = session_lab(retrack_minutes)
            path = Path(tmp) / "retrack.midstance.h5"
            write_session(path, lab)
        n_frames = sum(lab.n_frames(c) for c in lab.cameras)
        _, retrack, retrack_cpu = run_once(lambda: analyse_session(path, retrack=True))
        figures.append(
            Figure(
                "re-analysis of a saved session",
                "retrack=True (decode + detect + label)",
                retrack,
                "s",
                f"the same kind of session, {retrack_minutes:g} min ({n_frames} frames)",
                1,
                retrack_cpu,
                ratio=retrack / full * minutes / retrack_minutes,
                ratio_to="re-analysis from recorded markers, per session minute",
                note=f"{retrack / n_frames * 1e6:.0f} µs per frame over {n_frames} frames; "
                f"{retrack_minutes * 60 / retrack:.2f}x real time",
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="session length")
    parser.add_argument(
        "--retrack-minutes",
        type=float,
        default=0.5,
        help="session length for the retrack=True figure (it decodes every frame)",
    )
    parser.add_argument("--quick", action="store_true", help="a 0.5-minute session, 1 repeat")
    add_cache_option(parser)
    parser.add_argument("--json", help="write the figures to this JSON file (for run_all.py)")
    args = parser.parse_args()
    minutes = 0.5 if args.quick else args.minutes
    retrack_minutes = min(minutes, args.retrack_minutes)
    figures = run(minutes, 1 if args.quick else 3, retrack_minutes, args.cache)
    print_figures(figures)
    save_figures(args.json, figures)


if __name__ == "__main__":
    main()
