"""Our analysis beside established peers, on the same data, in the same process.

    python benchmarks/bench_peers.py [--quick] [--event-minutes 1] [--json PATH]

- Marker detection per frame (simulated lab frames with noise, 640×480 and 1280×1024): ours
  (one threshold + ``findContours`` + intensity-weighted centroid) vs OpenCV's
  ``SimpleBlobDetector`` (many thresholds, blobs merged across them, binary centroid) vs trackpy's
  ``locate`` (band-pass filter, local maxima, iterative centroid refinement; built for fluorescent
  particles). Time per frame and accuracy against the simulator's true marker pixels (recall
  within 3 px, median centroid error, false detections per frame).
- Marker labelling/linking: our ``MarkerTracker`` (anatomical labels from the marker set, motion
  prediction, gap handling) vs trackpy's ``link`` (nearest-neighbour linking into anonymous
  trajectories, no labels) on the same detections.
- Force platform computation on a real C3D file (Fukuchi 2017 treadmill, TYPE 4 plate): ours
  (``data.c3d_import``) vs ezc3d's own ``extract_forceplat_data`` (forces, moments, COP for every
  plate); time and largest difference.
- Gait events on a simulated 2 kHz trial: ours (``analysis.force_trial``: filter, hysteresis,
  interpolated crossings, sides, midstances, loading rates) vs kineticstoolkit's
  ``cycles.detect_cycles`` (threshold crossings on a TimeSeries, no filtering or interpolation)
  on the same vertical force; time and contact/toe-off error against the simulator's truth.

Figures and ratios only; it passes or fails nothing.
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")  # kineticstoolkit's progress bars

import cv2
import numpy as np
from _common import Figure, median_time, print_figures, save_figures
from _shared_inputs import run_once

from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plates
from analysis.marker_sets import ImageOrientation, marker_set
from analysis.markers import detect_markers
from analysis.tracking import MarkerTracker
from drivers.sim import LabSetup, SimulatedLab, preset

ORIENTATION = ImageOrientation(forward_x=1, left_x=-1)  # the simulated lab's default cameras
MATCH_PX = 3.0


def _lab(width: int, height: int, seconds: float) -> SimulatedLab:
    setup = LabSetup(image_width=width, image_height=height, stray_reflections_per_frame=1.0)
    return SimulatedLab(preset("healthy"), setup, seed=4, duration_s=seconds)


def _truth(lab: SimulatedLab, camera: str, ks) -> list[np.ndarray]:
    out = []
    for k in ks:
        t = lab.frame_truth(camera, int(k))
        out.append(np.asarray(t.pixels)[np.asarray(t.visible)])
    return out


def _accuracy(found: list[np.ndarray], truth: list[np.ndarray]) -> tuple[float, float, float]:
    """Recall within MATCH_PX, median error of the matched (px), false detections per frame."""
    matched, total, errors, false = 0, 0, [], 0
    for raw, true in zip(found, truth, strict=True):
        xy = np.asarray(raw, float).reshape(-1, 2)
        total += len(true)
        used = np.zeros(len(xy), bool)
        for p in true:
            if len(xy) == 0:
                break
            d = np.hypot(*(xy - p).T)
            d[used] = np.inf
            j = int(np.argmin(d))
            if d[j] <= MATCH_PX:
                used[j] = True
                matched += 1
                errors.append(d[j])
        false += int((~used).sum())
    return (
        matched / max(total, 1),
        float(np.median(errors)) if errors else np.nan,
        false / len(found),
    )


def _blob_detector() -> cv2.SimpleBlobDetector:
    p = cv2.SimpleBlobDetector_Params()
    p.filterByColor, p.blobColor = True, 255
    p.minThreshold, p.maxThreshold = 100, 255  # ours uses one threshold at 100
    p.filterByArea, p.minArea, p.maxArea = True, 4, 2000
    p.filterByCircularity, p.minCircularity = True, 0.6
    p.filterByInertia = p.filterByConvexity = False
    return cv2.SimpleBlobDetector_create(p)


def detection_figures(width: int, height: int, n_frames: int, repeats: int) -> list[Figure]:
    lab = _lab(width, height, seconds=max(2.0, n_frames / 250 + 0.5))
    ks = np.linspace(0, lab.n_frames("sagittal") - 1, n_frames).astype(int)
    frames = list(lab.frames("sagittal", ks))
    truth = _truth(lab, "sagittal", ks)
    workload = f"{n_frames} simulated sagittal frames {width}x{height}, 6 markers + 1 stray"
    size = f"{width}x{height}"
    figures = []

    ours_t, ours_c = median_time(lambda: [detect_markers(f) for f in frames], repeats)
    ours_acc = _accuracy([detect_markers(f).xy for f in frames], truth)
    detector = _blob_detector()

    def opencv():
        return [np.array([kp.pt for kp in detector.detect(f)]) for f in frames]

    cv_t, cv_c = median_time(opencv, repeats)
    cv_acc = _accuracy(opencv(), truth)
    rows = [
        ("ours (threshold + contours + weighted centroid)", ours_t, ours_c, ours_acc),
        ("OpenCV SimpleBlobDetector", cv_t, cv_c, cv_acc),
    ]
    try:
        import trackpy

        trackpy.quiet()
        diameter = int(2 * np.max(lab.frame_truth("sagittal", 0).radius_px)) | 1
        diameter += 2
        first = trackpy.locate(frames[0], diameter)
        xy0 = first[["x", "y"]].to_numpy()
        d0 = np.array([np.min(np.hypot(*(xy0 - p).T)) for p in truth[0]])
        minmass = 0.3 * float(
            first["mass"]
            .to_numpy()[[int(np.argmin(np.hypot(*(xy0 - p).T))) for p in truth[0][d0 <= MATCH_PX]]]
            .min()
        )

        few = frames[: max(2, n_frames // 10)]  # trackpy is slow: a tenth of the frames

        def tp():
            return [
                trackpy.locate(f, diameter, minmass=minmass)[["x", "y"]].to_numpy() for f in few
            ]

        tp_found, tp_t, tp_c = run_once(tp)
        tp_t *= n_frames / len(few)  # per-frame cost on the same scale as the others
        tp_c *= n_frames / len(few)
        rows.append(
            (
                f"trackpy.locate (diameter {diameter}, minmass from frame 0; {len(few)} frames)",
                tp_t,
                tp_c,
                _accuracy(tp_found, truth[: len(few)]),
            )
        )
    except ImportError:
        print("trackpy not installed: its detection peer is skipped (pip install '.[bench]')")
    for name, t, c, (recall, err, false) in rows:
        figures.append(
            Figure(
                "marker detection",
                f"{name}, {size}",
                t / n_frames * 1e6,
                "µs/frame",
                workload,
                repeats,
                c / n_frames * 1e6,
                ratio=t / ours_t,
                ratio_to="ours",
                note=f"recall {recall:.3f} within {MATCH_PX:g} px, median error {err:.3f} px, "
                f"{false:.2f} false/frame",
            )
        )
    return figures


def tracking_figures(n_frames: int, repeats: int) -> list[Figure]:
    lab = _lab(640, 480, seconds=n_frames / 250 + 0.5)
    ks = range(n_frames)
    blobs = [  # rendered in batches (one body evaluation each), the same frames as one by one
        detect_markers(frame)
        for first in ks[::250]
        for frame in lab.frames("sagittal", range(first, min(first + 250, n_frames)))
    ]
    truth_all = [lab.frame_truth("sagittal", k) for k in ks]
    mset = marker_set("sagittal")
    workload = f"{n_frames} frames (250 fps, 640x480) of detections, sagittal set of 6 markers"

    def ours():
        tracker = MarkerTracker(mset, ORIENTATION)
        return [tracker.update(b.xy, b.area_px)[0].copy() for b in blobs]

    ours_t, ours_c = median_time(ours, repeats)
    labelled = np.array(ours())
    right = total = unlabelled = 0
    for k, t in enumerate(truth_all):
        for i, name in enumerate(mset.markers):
            j = t.names.index(name)
            if t.visible[j]:
                total += 1
                unlabelled += bool(np.isnan(labelled[k, i, 0]))
                right += bool(np.hypot(*(labelled[k, i] - t.pixels[j])) <= MATCH_PX)
    figures = [
        Figure(
            "marker labelling",
            "ours: MarkerTracker.update",
            ours_t / n_frames * 1e6,
            "µs/frame",
            workload,
            repeats,
            ours_c / n_frames * 1e6,
            note=f"{right / total:.3f} of visible markers carry the right anatomical label, "
            f"{unlabelled / total:.3f} not yet labelled (start-up: waiting for a clean frame)",
        )
    ]
    try:
        import pandas as pd
        import trackpy

        trackpy.quiet()
        rows = [(k, x, y) for k, b in enumerate(blobs) for x, y in b.xy]
        table = pd.DataFrame(rows, columns=["frame", "x", "y"])

        def tp():
            return trackpy.link(table, search_range=25, memory=3)

        tp_t, tp_c = median_time(tp, repeats)
        n_tracks = tp()["particle"].nunique()
        figures.append(
            Figure(
                "marker labelling",
                "trackpy.link (search 25 px, memory 3)",
                tp_t / n_frames * 1e6,
                "µs/frame",
                workload,
                repeats,
                tp_c / n_frames * 1e6,
                ratio=tp_t / ours_t,
                ratio_to="ours",
                note=f"{n_tracks} anonymous trajectories for 6 markers + strays; no labels",
            )
        )
    except ImportError:
        print("trackpy not installed: its linking peer is skipped")
    return figures


def platform_figures(real_dir, repeats: int) -> list[Figure]:
    import ezc3d

    from data.c3d_import import read_c3d_forces

    path = real_dir / "fukuchi2017" / "RBDS001runT35.c3d"
    if not path.exists():
        print(f"{path} not found: the C3D platform peer is skipped")
        return []

    def ours():
        imported = read_c3d_forces(path)
        return imported, imported.wrenches(), imported.cop(threshold_N=50.0)

    def peer():
        return ezc3d.c3d(str(path), extract_forceplat_data=True)["data"]["platform"]

    ours_t, ours_c = median_time(ours, repeats)
    peer_t, peer_c = median_time(peer, repeats)
    imported, wrenches, cops = ours()
    ref = peer()[0]
    to_lab = imported.lab_from_file
    force_ref = (to_lab @ ref["force"]).T * imported.force_sign
    mine = next(iter(wrenches.values()))
    cop_ref = (to_lab @ ref["center_of_pressure"]).T * imported.length_unit_m
    loaded = mine[:, 2] > 50.0
    cop_mm = 1000 * np.nanmax(np.abs(next(iter(cops.values()))[loaded, :2] - cop_ref[loaded, :2]))
    workload = f"{path.name}: 30 s treadmill run, TYPE 4 plate at 300 Hz, read from disk"
    return [
        Figure(
            "force platform (real C3D)",
            "ours: read_c3d_forces + wrenches + COP",
            ours_t * 1e3,
            "ms",
            workload,
            repeats,
            ours_c * 1e3,
            ratio=ours_t / peer_t,
            ratio_to="ezc3d extract_forceplat_data",
            note=f"max |F| difference {np.max(np.abs(mine[:, :3] - force_ref)):.2g} N, "
            f"max COP difference {cop_mm:.2g} mm where Fz > 50 N",
        ),
        Figure(
            "force platform (real C3D)",
            "ezc3d extract_forceplat_data",
            peer_t * 1e3,
            "ms",
            workload,
            repeats,
            peer_c * 1e3,
            note="ezc3d reads the whole file (markers too) and computes F, M, COP, Tz per plate",
        ),
    ]


def event_figures(minutes: float, repeats: int) -> list[Figure]:
    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=1, duration_s=60 * minutes)
    rate = lab.setup.daq_rate_hz
    plates = parse_plates(lab.plate_configs())
    wrenches = plate_wrenches(plates, lab.analog(0, lab.n_samples), lab.channel_names)
    settings = ForceSettings()
    bw = lab.truth.body_weight_N
    truth = lab.truth.stances
    workload = (
        f"{minutes:g} min simulated run at {rate:g} Hz ({lab.n_samples} samples), "
        f"{len(truth)} true stances"
    )

    def ours():
        return analyse_force_trial(wrenches, plates, rate, settings, body_weight_N=bw)

    def errors(contacts, toe_offs) -> str:
        c = np.asarray(contacts)
        t = np.asarray(toe_offs)
        ec, et = [], []
        for s in truth:
            i = int(np.argmin(np.abs(c - s.contact_s)))
            if abs(c[i] - s.contact_s) < 0.05:
                ec.append(abs(c[i] - s.contact_s))
            j = int(np.argmin(np.abs(t - s.toe_off_s)))
            if abs(t[j] - s.toe_off_s) < 0.05:
                et.append(abs(t[j] - s.toe_off_s))
        return (
            f"found {len(c)} contacts; median |error| contact {np.median(ec) * 1e3:.2f} ms, "
            f"toe-off {np.median(et) * 1e3:.2f} ms ({len(ec)}/{len(truth)} matched)"
        )

    ours_t, ours_c = median_time(ours, repeats, warmup=0)
    result = ours()
    figures = [
        Figure(
            "gait events from force",
            "ours: analyse_force_trial (events + metrics)",
            ours_t * 1e3,
            "ms",
            workload,
            repeats,
            ours_c * 1e3,
            note=errors(
                [s.contact_s for s in result.stances], [s.toe_off_s for s in result.stances]
            ),
        )
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import kineticstoolkit as ktk
        fz = wrenches["belt"][:, 2]
        ts = ktk.TimeSeries(time=np.arange(len(fz)) / rate)
        ts.data["Fz"] = fz

        def peer():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ktk.cycles.detect_cycles(
                    ts,
                    "Fz",
                    event_names=["contact", "toe_off"],
                    thresholds=[50.0, 20.0],
                    min_durations=[0.1, 0.02],
                )

        found, peer_t, peer_c = run_once(peer)  # slow (a Python loop over cycles): once
        events = found.events
        figures.append(
            Figure(
                "gait events from force",
                "kineticstoolkit cycles.detect_cycles (thresholds 50/20 N, raw Fz)",
                peer_t * 1e3,
                "ms",
                workload,
                1,
                peer_c * 1e3,
                ratio=peer_t / ours_t,
                ratio_to="ours",
                note=errors(
                    [e.time for e in events if e.name == "contact"],
                    [e.time for e in events if e.name == "toe_off"],
                )
                + "; events only: no filter, no interpolation, no sides or metrics",
            )
        )
    except ImportError:
        print("kineticstoolkit not installed: its event peer is skipped")
    return figures


def run(quick: bool = False, event_minutes: float = 1.0) -> list[Figure]:
    from pathlib import Path

    real = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"
    real = Path(os.environ.get("MIDSTANCE_SHARED_DATA", real))
    repeats = 3 if quick else 5
    figures = []
    figures += detection_figures(640, 480, 20 if quick else 60, repeats)
    figures += detection_figures(1280, 1024, 10 if quick else 30, repeats)
    figures += tracking_figures(250 if quick else 750, repeats)
    figures += platform_figures(real, repeats)
    figures += event_figures(0.5 if quick else event_minutes, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and a shorter trial")
    parser.add_argument(
        "--event-minutes", type=float, default=1.0, help="simulated trial for the gait-event peer"
    )
    parser.add_argument("--json", help="write the figures to this JSON file (for run_all.py)")
    args = parser.parse_args()
    figures = run(args.quick, args.event_minutes)
    print_figures(figures)
    save_figures(args.json, figures)


if __name__ == "__main__":
    main()
