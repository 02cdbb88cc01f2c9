"""Re-analysis time of a saved session (``app.session_analysis.analyse_session``).

    python benchmarks/bench_reanalysis.py [--minutes 5] [--quick] [--json PATH]

The session is written the way ``midstance record`` writes one: raw volts of the simulated lab's
16 channels at 2 kHz for the whole session, both cameras at 250 fps as JPEG (q90), the markers
tracked on every frame, plates, plane calibrations and settings. To keep writing the file
affordable on a 2-core machine the frames are 320×240 (detection cost scales with pixels, see
bench_peers/bench_scaling) and the video repeats the first ``CYCLE_S`` seconds rendered by the
simulated lab (with its tracked markers): the cost per frame of decoding, detecting and labelling
does not depend on which stride is shown, but the video metrics of this file are not meaningful
and are not reported here (their accuracy is tested in tests/app). Then it is re-analysed:
- from the recorded markers (what an analyst does after a correction), median over repeats;
- with ``retrack=True`` (every JPEG frame decoded, markers detected and labelled again), on a
  ``--retrack-minutes`` session (default 0.5; its ratio is scaled per session minute).
Baseline in the same process: the offline force analysis of the same volts held in memory
(``analysis.force_trial``), i.e. the floor without the file and the video join.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import Figure, median_time, print_figures, save_figures

from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plates
from analysis.marker_sets import marker_set
from analysis.markers import detect_markers
from analysis.tracking import track_frames
from analysis.vision_settings import VisionSettings
from app.session_analysis import analyse_session
from app.sim_calibration import simulated_plane_calibrations
from data.session_writer import CameraSpec, SessionWriter
from data.video_codecs import CodecChoice
from drivers.sim import LabSetup, SimulatedLab, preset

CYCLE_S = 2.0


def write_session(path: Path, minutes: float) -> SimulatedLab:
    """A complete session file of ``minutes`` from the simulated lab (frames rendered in batches,
    never all in memory)."""
    lab = SimulatedLab(
        preset("overstrider"),
        LabSetup(image_width=320, image_height=240),
        seed=5,
        duration_s=60 * minutes,
    )
    calibrations = simulated_plane_calibrations(lab)
    vision = VisionSettings()
    cameras = [
        CameraSpec(
            name,
            model.size[1],
            model.size[0],
            lab.setup.frame_rate_hz,
            model.view,
            CodecChoice("jpeg", 90),
            marker_set(name).markers,
            "px",
            {"detection": vision.detection.to_dict()},
        )
        for name, model in lab.cameras.items()
    ]
    plates = lab.plate_configs()
    live = {
        "force": ForceSettings().to_dict(),
        "vision": vision.to_dict(),
        "plates": plates,
        "calibrations": {k: v.to_dict() for k, v in calibrations.items()},
        "marker_sets": {name: name for name in lab.cameras},
        "sync_mode": "hardware",
    }
    devices = {
        "config": {
            "lab": {"name": "Simulated lab", "treadmill": lab.setup.treadmill},
            "sync": {"mode": "hardware"},
            "cameras": [
                {"name": n, "view": m.view, "rate_hz": lab.setup.frame_rate_hz}
                for n, m in lab.cameras.items()
            ],
            "simulation": {"lab": lab.to_dict()},
        },
        "plates": plates,
        "cameras": {name: {"plane": cal.to_dict()} for name, cal in calibrations.items()},
        "sync": {"mode": "hardware"},
    }
    subject = {"subject_id": "BENCH", "body_mass_kg": lab.runner.body_mass_kg, "leg_length_m": 0.92}
    with SessionWriter(
        path,
        channel_names=lab.channel_names,
        daq_rate_hz=lab.setup.daq_rate_hz,
        cameras=cameras,
        devices=devices,
        live_settings=live,
        subject=subject,
    ) as writer:
        for start in range(0, lab.n_samples, 20000):
            writer.append_analog(lab.analog(start, min(20000, lab.n_samples - start)))
        for name in lab.cameras:
            n = lab.n_frames(name)
            times = lab.frame_time(name, np.arange(n))
            cycle = lab.frames(name, range(min(n, int(CYCLE_S * lab.setup.frame_rate_hz))))
            blobs = [detect_markers(frame, vision.detection) for frame in cycle]
            tracks = track_frames(
                blobs, marker_set(name), calibrations[name].orientation, vision.tracking
            )
            quality = np.where(tracks.flags & 1, 1.0, np.nan)
            for k in range(n):
                c = k % len(cycle)
                writer.append_frame(
                    name,
                    cycle[c],
                    frame_index=k,
                    session_time_s=float(times[k]),
                    camera_time_s=float(times[k]),
                )
                writer.append_markers(name, k, tracks.xy[c], quality[c])
    return lab


def run(minutes: float, repeats: int, retrack_minutes: float) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.midstance.h5"
        start = time.perf_counter()
        lab = write_session(path, minutes)
        written = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        n_frames = sum(lab.n_frames(c) for c in lab.cameras)
        workload = (
            f"{minutes:g}-min session: {lab.n_samples} samples x 16 ch at 2 kHz, "
            f"2 cameras x {lab.n_frames('sagittal')} JPEG frames 320x240 at 250 fps "
            f"(first {CYCLE_S:g} s repeated), "
            f"{len(lab.truth.stances)} true stances, {size_mb:.0f} MB "
            f"(written in {written:.0f} s)"
        )
        print(workload)

        volts = lab.analog(0, lab.n_samples)
        plates = parse_plates(lab.plate_configs())

        def in_memory():
            wrenches = plate_wrenches(plates, volts, lab.channel_names)
            return analyse_force_trial(
                wrenches,
                plates,
                lab.setup.daq_rate_hz,
                ForceSettings(),
                body_weight_N=lab.truth.body_weight_N,
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
            path = Path(tmp) / "retrack.midstance.h5"
            lab = write_session(path, retrack_minutes)
            n_frames = sum(lab.n_frames(c) for c in lab.cameras)
        start, cpu = time.perf_counter(), time.process_time()
        analyse_session(path, retrack=True)
        retrack, retrack_cpu = time.perf_counter() - start, time.process_time() - cpu
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
    parser.add_argument("--json", help="write the figures to this JSON file (for run_all.py)")
    args = parser.parse_args()
    minutes = 0.5 if args.quick else args.minutes
    figures = run(minutes, 1 if args.quick else 3, min(minutes, args.retrack_minutes))
    print_figures(figures)
    save_figures(args.json, figures)


if __name__ == "__main__":
    main()
