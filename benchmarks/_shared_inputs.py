"""Simulated inputs that more than one benchmark needs, made once per suite run.

``run_all.py`` gives every step that accepts ``--cache DIR`` the same folder (in the run's temp
dir); the first step that needs an input writes it there and the later ones reuse it. A step run
alone without ``--cache`` makes its inputs in its own temp dir, so every script still runs by
itself. What is shared today: the saved 5-minute session that ``bench_hdf5.py`` opens and reads at
random and ``bench_reanalysis.py`` analyses again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CYCLE_S = 2.0  # the saved session's video repeats its first CYCLE_S seconds
SESSION_FRAME_SIZE = (320, 240)


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        help="folder of simulated inputs shared between benchmarks (run_all.py passes one per "
        "run): an input found there is reused, one missing is written there",
    )


def run_once(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``'s result, its wall time and process CPU time (s): for workloads too slow to
    repeat, whose result is needed too."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


@dataclass(frozen=True)
class SavedSession:
    path: Path
    lab: Any  # drivers.sim.SimulatedLab that produced it
    written_s: float  # wall time the file took to write (by whichever step wrote it)
    reused: bool  # found in the cache rather than written by this process

    def describe(self) -> str:
        lab, (width, height) = self.lab, SESSION_FRAME_SIZE
        return (
            f"{lab.duration_s / 60:g}-min session: {lab.n_samples} samples x "
            f"{len(lab.channel_names)} ch at {lab.setup.daq_rate_hz:g} Hz, 2 cameras x "
            f"{lab.n_frames('sagittal')} JPEG frames {width}x{height} at "
            f"{lab.setup.frame_rate_hz:g} fps (first {CYCLE_S:g} s repeated), "
            f"{self.path.stat().st_size / 1e6:.0f} MB "
            f"(written in {self.written_s:.0f} s)"
        )


def session_lab(minutes: float):
    """The simulated lab behind the saved session (cheap: nothing is rendered here)."""
    from drivers.sim import LabSetup, SimulatedLab, preset

    width, height = SESSION_FRAME_SIZE
    setup = LabSetup(image_width=width, image_height=height)
    return SimulatedLab(preset("overstrider"), setup, seed=5, duration_s=60 * minutes)


def saved_session(minutes: float, cache: Path | None, folder: Path) -> SavedSession:
    """The saved session of ``minutes`` from ``cache`` if a step wrote it there this run, else
    written now (into ``cache`` when given, else ``folder``). Write to the file only if you are
    its last user (``bench_reanalysis.py`` adds revisions: it works on a copy)."""
    lab = session_lab(minutes)
    target = Path(cache or folder) / f"session-overstrider-seed5-{minutes:g}min.midstance.h5"
    note = target.with_suffix(".json")
    if cache is not None and target.exists() and note.exists():
        return SavedSession(target, lab, json.loads(note.read_text())["written_s"], True)
    partial = target.with_name(target.name + ".partial")  # a killed step leaves no usable file
    partial.unlink(missing_ok=True)
    start = time.perf_counter()
    write_session(partial, lab)
    written = time.perf_counter() - start
    partial.replace(target)
    note.write_text(json.dumps({"written_s": written}))
    return SavedSession(target, lab, written, False)


def write_session(path: Path, lab) -> None:
    """A complete session file, written the way ``midstance record`` writes one: raw volts of the
    16 channels for the whole session, both cameras as JPEG (q90) with the markers tracked on
    every frame, plates, plane calibrations and settings. The video repeats the first
    ``CYCLE_S`` seconds rendered by the simulated lab (with their tracked markers): decoding,
    detecting and labelling cost the same whichever stride a frame shows, but the video metrics
    of this file are not meaningful."""
    from analysis.marker_sets import marker_set
    from analysis.markers import detect_markers
    from analysis.tracking import track_frames
    from analysis.vision_settings import VisionSettings
    from app.sim_calibration import simulated_session_layout
    from data.session_writer import SessionWriter
    from data.video_codecs import CodecChoice

    vision = VisionSettings()
    layout = simulated_session_layout(lab, CodecChoice("jpeg", 90), vision)
    calibrations, cameras = layout.calibrations, layout.cameras
    live, devices = layout.live_settings, layout.devices
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
            views = list(cycle)  # one array object per cycle frame, handed over at every repeat
            with _jpeg_encoded_once(views):
                for k in range(n):
                    c = k % len(cycle)
                    writer.append_frame(
                        name,
                        views[c],
                        frame_index=k,
                        session_time_s=float(times[k]),
                        camera_time_s=float(times[k]),
                    )
                    writer.append_markers(name, k, tracks.xy[c], quality[c])


@contextlib.contextmanager
def _jpeg_encoded_once(views: list[np.ndarray]) -> Iterator[None]:
    """While a video repeating the frames ``views`` is written, the writer's JPEG encoder runs
    once per frame of ``views`` (recognised by identity: the same array objects are handed over
    at every repeat) and its bytes are reused for the repeats. The encoder is deterministic
    (checked here), so the file holds exactly the bytes that encoding every frame gives, written
    without ~0.2 ms of encoding per 320x240 frame (28 s of a 5-minute session's 150 000 frames)."""
    from data import session_writer

    encode = session_writer.encode_jpeg
    index_of = {id(view): i for i, view in enumerate(views)}
    memo: dict[tuple[int, int, int], Any] = {}

    def encode_once(image: np.ndarray, quality: int, row_bytes: int):
        i = index_of.get(id(image))
        if i is None or views[i] is not image:  # not one of the views: encode as usual
            return encode(image, quality, row_bytes)
        key = (i, quality, row_bytes)
        if key not in memo:
            memo[key] = encode(image, quality, row_bytes)
        return memo[key]

    first, again = encode(views[0], 90, 1 << 20), encode(views[0], 90, 1 << 20)
    if first[0] != again[0]:
        raise RuntimeError("the JPEG encoder gave two different outputs for the same frame")
    session_writer.encode_jpeg = encode_once
    try:
        yield
    finally:
        session_writer.encode_jpeg = encode
