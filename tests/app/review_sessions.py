"""Session files from the simulated lab for the review, report and comparison tests.

Written the way ``midstance record`` writes them (raw volts, JPEG frames of both cameras, the
markers tracked on every frame, the plates, plane calibrations and settings in the file), then
analysed once with :func:`app.session_analysis.analyse_session` into ``rev_0001``. Images are
320×240 to keep rendering cheap (measured on this lab: hip–ankle within 0.2 cm and FPPA within
0.05° of the truth at that size). Files are cached per pytest run in ``cache_dir`` and loaded by
the test modules with ``load()`` (tests cannot import each other under importlib mode).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np

SECONDS = 8.0
SPEED_M_S = 3.3
BEFORE = {"preset": "overstrider", "seed": 1}
# after six weeks of gait retraining: the ankle lands nearer the hip; FPPA 3° higher (< SDD 8°)
AFTER = {
    "preset": "overstrider",
    "seed": 2,
    "runner": {"hip_ankle_contact_m": 0.26, "hip_ankle_midstance_m": -0.03,
               "fppa_deg": (7.0, 7.0)},
}  # fmt: skip


def load():
    """This module, importable from any test file (registered once in sys.modules)."""
    if "review_sessions" not in sys.modules:
        spec = importlib.util.spec_from_file_location("review_sessions", Path(__file__))
        module = importlib.util.module_from_spec(spec)
        sys.modules["review_sessions"] = module
        spec.loader.exec_module(module)
    return sys.modules["review_sessions"]


def lab_for(spec: dict, seconds: float = SECONDS):
    from drivers.sim import LabSetup, SimulatedLab, preset

    runner = preset(spec["preset"])
    if spec.get("runner"):
        runner = runner.replace(**spec["runner"])
    setup = LabSetup(image_width=320, image_height=240)
    return SimulatedLab(runner, setup, seed=spec["seed"], duration_s=seconds)


def write_simulated_session(
    path: Path, spec: dict, *, subject_id: str = "P-007", created: str = "",
    seconds: float = SECONDS, speed_m_s: float = SPEED_M_S, analyse: bool = True,
):  # fmt: skip
    """Record ``spec`` (preset, seed, runner overrides) into ``path``; return the lab."""
    from analysis.marker_sets import marker_set
    from analysis.video_metrics import track_video
    from app.session_analysis import analyse_session
    from app.sim_calibration import simulated_session_layout
    from data.session_writer import SessionWriter
    from data.video_codecs import CodecChoice

    lab = lab_for(spec, seconds)
    layout = simulated_session_layout(lab, CodecChoice("jpeg", 90))
    calibrations, cameras, live = layout.calibrations, layout.cameras, layout.live_settings
    devices = layout.devices
    devices["sync"]["verification"] = {"led_offset_ms": 0.02, "passed": True}
    mass = lab.runner.body_mass_kg
    with SessionWriter(
        path, channel_names=lab.channel_names, daq_rate_hz=lab.setup.daq_rate_hz,
        cameras=cameras, devices=devices, live_settings=live,
        subject={"subject_id": subject_id, "body_mass_kg": mass, "leg_length_m": 0.92,
                 "height_m": 1.78, "pain_side": "R", "notes": "anterior knee pain"},
        session={"protocol_name": "standard-run", "protocol_version": "1",
                 "operator": "tech A", "shoes": "neutral trainer"},
    ) as writer:  # fmt: skip
        writer.add_protocol_step(0.0, "steady run", speed_m_s, 0.0)
        for start in range(0, lab.n_samples, 2000):
            writer.append_analog(lab.analog(start, min(2000, lab.n_samples - start)))
        for name in lab.cameras:
            n = lab.n_frames(name)
            frames = lab.frames(name, range(n))
            times = lab.frame_time(name, np.arange(n))
            tracks = track_video(frames, marker_set(name), calibrations[name].orientation)
            for k in range(n):
                writer.append_frame(name, frames[k], frame_index=k, session_time_s=float(times[k]),
                                    camera_time_s=float(times[k]))  # fmt: skip
                quality = np.where(tracks.flags[k] & 1, 1.0, np.nan)
                writer.append_markers(name, k, tracks.xy[k], quality)
    if created:
        import h5py

        with h5py.File(path, "r+") as f:
            f.attrs["created_utc"] = created
    if analyse:
        analyse_session(path, note="analysis after recording")
    return lab


def cached_session(cache_dir: Path, which: str) -> Path:
    """The 'before' or 'after' session, written once per pytest run (a fresh copy each call)."""
    spec, created = {"before": (BEFORE, "2026-10-03T09:12:00Z"),
                     "after": (AFTER, "2026-11-14T09:30:00Z")}[which]  # fmt: skip
    cache_dir.mkdir(parents=True, exist_ok=True)
    master = cache_dir / f"{which}.midstance.h5"
    if not master.exists():
        partial = cache_dir / f"{which}.partial.h5"
        write_simulated_session(partial, spec, created=created)
        partial.rename(master)
        (cache_dir / f"{which}.json").write_text(json.dumps(spec))
    copy = cache_dir / f"{which}-copy-{len(list(cache_dir.glob(f'{which}-copy-*')))}.midstance.h5"
    shutil.copyfile(master, copy)
    return copy
