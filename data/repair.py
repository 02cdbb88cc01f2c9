"""Closing a session file properly after a crash or a killed recording.

A crashed recording leaves a file marked ``recording`` whose HDF5 status flags still say it is
open for SWMR writing. ``repair_session`` reads it in SWMR mode (which HDF5 allows), finds the last
consistent length of every stream (rows that were allocated but never written still hold their
fill value: NaN, -1, zero-length JPEG), copies everything into a new file trimmed to those
lengths, marks it ``repaired`` with a note, and only then replaces the original. Stances that were
journaled live become analysis revision ``rev_0001``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from analysis.errors import InputError
from data import session_schema as schema
from data.recording_lock import is_being_recorded, remove_stale_lock
from data.session_reader import Session


@dataclass
class RepairReport:
    path: str
    state_before: str
    state_after: str
    kept_rows: dict[str, int] = field(default_factory=dict)
    trimmed_rows: dict[str, int] = field(default_factory=dict)
    recovered_stances: int = 0
    note: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _trailing_fill(data: np.ndarray, fill_test) -> int:
    """How many rows at the end are entirely fill value."""
    if len(data) == 0:
        return 0
    flat = data.reshape(len(data), -1)
    is_fill = np.all(fill_test(flat), axis=1)
    written = np.flatnonzero(~is_fill)
    return len(data) - (written[-1] + 1 if len(written) else 0)


def consistent_lengths(f: h5py.File) -> dict[str, int]:
    """For every growable dataset, how many leading rows hold written data."""
    lengths: dict[str, int] = {}
    analog = f["daq/analog"][()]
    lengths["daq/analog"] = len(analog) - _trailing_fill(analog, np.isnan)
    gaps = f["daq/gaps"][()]
    lengths["daq/gaps"] = len(gaps) - _trailing_fill(gaps, lambda a: a < 0)
    for path in ("session/marks", "session/protocol_steps"):
        table = f[path][()]
        lengths[path] = len(table) - _trailing_fill(table["time_s"], np.isnan)
    for cam in f["cameras"]:
        g = f["cameras"][cam]
        per_frame = ["frame_index", "session_time", "camera_time", "host_time"]
        per_frame += (
            ["frames_jpeg", "jpeg_length", "jpeg_quality"] if "frames_jpeg" in g else ["frames"]
        )
        n = min(g[name].shape[0] for name in per_frame)
        times = g["session_time"][:n]
        n -= _trailing_fill(times, np.isnan)
        if "jpeg_length" in g:
            valid = g["jpeg_length"][:n] > 0
            n = int(np.argmin(valid)) if not valid.all() else n
        for name in per_frame:
            lengths[f"cameras/{cam}/{name}"] = n
        dropped = g["dropped_frames"][()]
        lengths[f"cameras/{cam}/dropped_frames"] = len(dropped) - _trailing_fill(
            dropped, lambda a: a < 0
        )
        m = g["markers"]
        n_m = min(m[name].shape[0] for name in ("xy", "quality", "frame_index"))
        n_m -= _trailing_fill(m["frame_index"][:n_m], lambda a: a < 0)
        for name in ("xy", "quality", "frame_index"):
            lengths[f"cameras/{cam}/markers/{name}"] = n_m
    journal = f["live/stance_journal"][()]
    text = journal.tobytes().rstrip(b"\0")
    lengths["live/stance_journal"] = text.rfind(b"\n") + 1
    return lengths


def repair_session(path: str | Path, *, keep_original: bool = False) -> RepairReport:
    """Close an interrupted recording: trim to consistent lengths and mark it ``repaired``."""
    path = Path(path)
    with Session(path) as session:
        state = session.recording_state
    if state != "recording":
        return RepairReport(str(path), state, state, note="the file was already closed properly")
    if is_being_recorded(path):
        raise InputError(
            "the session is still being recorded by another program",
            subject=str(path),
            remedy="Stop that recording first; repair is only for files left open by a crash.",
        )
    tmp = path.with_name(path.name + ".repairing")
    tmp.unlink(missing_ok=True)
    try:
        report = _copy_trimmed(path, tmp)
        _fsync(tmp)
        if keep_original:
            os.replace(path, path.with_name(path.name + ".before-repair"))
        os.replace(tmp, path)
        remove_stale_lock(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(
            f"could not write the repaired copy ({exc})",
            subject=str(path),
            remedy="Free disk space next to the file and run `midstance repair` again;"
            " the original file was not changed.",
        ) from exc
    if report.recovered_stances:
        from data.revisions import add_analysis_revision

        with Session(path) as session:
            settings = schema.from_json(session.h5["live"].attrs["settings_json"]) or {}
            rows = session.live_stances()
        add_analysis_revision(
            path, settings=settings, stances=rows,
            note="stances found live during recording, recovered by repair",
        )  # fmt: skip
    return report


def _copy_trimmed(source: Path, target: Path) -> RepairReport:
    with h5py.File(source, "r", swmr=True) as src, h5py.File(target, "w", libver="latest") as dst:
        lengths = consistent_lengths(src)
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name)
        trimmed = {}
        for name, n in lengths.items():
            ds = dst[name]
            if ds.shape[0] != n:
                trimmed[name] = ds.shape[0] - n
                ds.resize(n, axis=0)
        analog = dst["daq/analog"]
        seconds = analog.shape[0] / float(analog.attrs["rate_hz"])
        frames = ", ".join(
            f"{cam}: {dst['cameras'][cam]['session_time'].shape[0]} frames"
            for cam in dst["cameras"]
        )
        note = (
            f"recording was interrupted; repaired on {schema.utc_now()}: kept"
            f" {analog.shape[0]} DAQ samples ({seconds:.2f} s){'; ' + frames if frames else ''}"
        )
        dst.attrs["recording_state"] = "repaired"
        dst.attrs["recording_note"] = note
        journal = dst["live/stance_journal"][()]
        stances = len(schema.parse_stance_journal(journal))
        already = "analysis" in dst and len(dst["analysis"]) > 0
        return RepairReport(
            path=str(source),
            state_before="recording",
            state_after="repaired",
            kept_rows=lengths,
            trimmed_rows=trimmed,
            recovered_stances=0 if already else stances,
            note=note,
        )


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
