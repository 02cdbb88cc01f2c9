"""Streaming, crash-safe writing of a session file while it is being recorded.

Every group and dataset is created up front, then the file switches to SWMR mode so a viewer
(or ``open_session``) can read it while it grows. Appends are buffered and flushed at least every
``flush_interval_s`` (0.5 s by default), so a crash loses at most that much. Float datasets are
filled with NaN, which lets ``repair`` tell written rows from rows that were only allocated.
A write error (disk full) stops the recording cleanly: the datasets are cut back to the last
flush, the file is closed and marked ``aborted``, and :class:`SessionWriteError` says what happened.

Frames are the heavy stream (2 cameras × 500 fps × 300 kB). Each frame is one HDF5 chunk; the
writer compresses it itself (python-blosc, GIL released) or keeps it raw, and hands the finished
chunk to HDF5 (``write_direct_chunk``), a batch of chunks at a time. Their per-frame rows
(index, times) are written at each flush, so between flushes ``frames`` may be longer than
``session_time``: a frame counts as recorded once its ``session_time`` row exists (readers and
``repair`` take the shorter length). Dataset handles and lengths are kept here, so the hot path
never looks a path up in the file. After each flush the file's written pages are handed back to
the system (:func:`_release_written_pages`): kept in the page cache, they made every later write
cost the kernel ten times more.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from analysis.errors import InputError, MidstanceError
from analysis.provenance import software_version
from data import session_schema as schema
from data.recording_lock import RecordingLock
from data.video_codecs import (
    LOSSLESS_BLOSC,
    PADDING_BLOSC,
    CodecChoice,
    blosc_lossless_filter,
    blosc_padding_filter,
    compress_chunk,
    encode_jpeg,
    jpeg_row_width,
)

_clock = time.monotonic  # wall clock for the flush interval (tests replace it)
# posix_fadvise(DONTNEED) after each flush (Linux; see _release_written_pages)
_FADVISE = getattr(os, "posix_fadvise", None)
FRAME_BATCH = 32  # frame chunks held before they are written (bounded memory per camera)
# HDF5 chunk cache per dataset: appends need only the chunk being filled (64 kB at most here);
# the default 1 MB per dataset kept ~14 MB of written chunks resident per file (issue #5)
CHUNK_CACHE_BYTES = 256 * 1024
MARK_LABEL_BYTES = 200
STEP_NAME_BYTES = 64
MARK_DTYPE = np.dtype([("time_s", "f8"), ("label", f"S{MARK_LABEL_BYTES}")])
STEP_DTYPE = np.dtype(
    [("time_s", "f8"), ("step", f"S{STEP_NAME_BYTES}"), ("speed_m_s", "f8"),
     ("incline_percent", "f8")]
)  # fmt: skip
MARK_UNITS = ["s", "1"]
STEP_UNITS = ["s", "1", "m/s", "%"]

CAMERA_ARRAY_UNITS = {
    "K": "px",
    "dist": "1",
    "R": "1",
    "t": "m",
    "homography": "m/px (projective, image px -> plane m)",
    "size": "px",
}
PLATE_ARRAY_UNITS = {
    "matrix": "N/V (rows Fx,Fy,Fz); N*m/V (rows Mx,My,Mz)",
    "offsets_V": "V",
    "origin_m": "m",
    "rotation": "1",
    "corners_m": "m",
    "noise_floor": "N (Fx,Fy,Fz); N*m (Mx,My,Mz)",
}
SUBJECT_FIELDS = {
    "subject_id": "",
    "body_mass_kg": math.nan,
    "leg_length_m": math.nan,
    "height_m": math.nan,
    "pain_side": "",
    "notes": "",
}
SESSION_FIELDS = {
    "protocol_name": "",
    "protocol_version": "",
    "operator": "",
    "shoes": "",
    "protocol_run_json": "",  # filled by store_protocol_run once the procedure's steps are known
    "calibration_json": "",
}


class SessionWriteError(MidstanceError):
    """Writing the session file failed (disk full, device removed); the recording stopped."""


@dataclass(frozen=True)
class CameraSpec:
    """One camera's stream: frame geometry, rate, codec and (optionally) its marker set."""

    name: str
    height: int
    width: int
    rate_hz: float
    view: str = ""
    codec: CodecChoice = field(default_factory=CodecChoice)
    marker_labels: tuple[str, ...] = ()
    marker_units: str = "px"  # "px" (image) or "m" (lab plane: x|y horizontal, z vertical)
    marker_settings: Mapping[str, Any] = field(default_factory=dict)


def _growable(group: h5py.Group, name: str, shape: tuple, dtype: Any, units: Any, **kw: Any):
    """An empty dataset that grows along axis 0, NaN-filled when it holds floats."""
    dtype = np.dtype(dtype)
    # Fill values mark rows that were allocated but never written (what repair trims).
    if dtype.kind == "f":
        kw.setdefault("fillvalue", np.nan)
    elif dtype.kind == "i":
        kw.setdefault("fillvalue", -1)
    elif dtype.names:
        fill = np.zeros((), dtype)
        fill["time_s"] = np.nan
        kw.setdefault("fillvalue", fill)
    if "compression" not in kw:  # gzip is built into every HDF5 library
        kw.update(compression="gzip", compression_opts=1, shuffle=dtype.itemsize > 1)
    chunks = kw.pop("chunks", None) or (max(1, 65536 // max(1, dtype.itemsize)), *shape)
    ds = group.create_dataset(
        name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks, **kw
    )
    ds.attrs["units"] = units
    return ds


class SessionWriter:
    """Write one session while it is recorded. Use as a context manager or call ``close``."""

    def __init__(
        self,
        path: str | Path,
        *,
        channel_names: Sequence[str],
        daq_rate_hz: float,
        cameras: Sequence[CameraSpec] = (),
        subject: Mapping[str, Any] | None = None,
        session: Mapping[str, Any] | None = None,
        devices: Mapping[str, Any] | None = None,
        live_settings: Mapping[str, Any] | None = None,
        start_index: int = 0,
        flush_interval_s: float = 0.5,
        swmr: bool = True,
    ) -> None:
        self.path = Path(path)
        self.channel_names = tuple(channel_names)
        self.daq_rate_hz = float(daq_rate_hz)
        self.cameras = {c.name: c for c in cameras}
        self.live_settings = dict(live_settings or {})
        self.flush_interval_s = float(flush_interval_s)
        self.session_id = str(uuid.uuid4())
        self._analog_buffer: list[np.ndarray] = []
        self._analog_buffered = 0
        self._next_sample = int(start_index)
        self._pending_gaps: list[tuple[int, int]] = []
        self._chunks: dict[str, list[bytes]] = {name: [] for name in self.cameras}
        self._frame_rows: dict[str, list[tuple]] = {name: [] for name in self.cameras}
        self._jpeg_rows: dict[str, list[tuple[int, int]]] = {name: [] for name in self.cameras}
        self._jpeg_padding = {  # a zero row per JPEG camera: a frame row is its JPEG + the tail
            c.name: bytes(jpeg_row_width(c.height, c.width))
            for c in cameras
            if c.codec.name == "jpeg"
        }
        self._datasets: dict[str, h5py.Dataset] = {}  # every growable dataset, by path
        self._length: dict[str, int] = {}  # rows written to each (allocated = written)
        self._markers: dict[str, list[tuple]] = {name: [] for name in self.cameras}
        self._rows: dict[str, list] = {"marks": [], "steps": [], "gaps": [], "journal": []}
        self._dropped: dict[str, list[int]] = {name: [] for name in self.cameras}
        self._stances: list[dict[str, Any]] = []
        self._committed: dict[str, int] = {}
        self._failure: SessionWriteError | None = None
        self._closed = False
        self._last_flush = _clock()
        self._flush_samples = max(1, int(self.daq_rate_hz * self.flush_interval_s))
        if not self.channel_names:
            raise InputError("no DAQ channels given", subject=str(self.path))
        try:
            self._lock = RecordingLock(self.path)
        except OSError as exc:
            raise InputError(
                f"cannot start recording ({exc})",
                subject=str(self.path),
                remedy="Another recording uses this file name; choose a new one.",
            ) from exc
        try:
            self._file = h5py.File(self.path, "w-", libver="latest", rdcc_nbytes=CHUNK_CACHE_BYTES)
        except (FileExistsError, OSError) as exc:
            self._lock.release()
            raise InputError(
                f"cannot create the session file ({exc})",
                subject=str(self.path),
                remedy="Choose a new file name in a folder you can write to.",
            ) from exc
        try:
            self._create_layout(subject or {}, session or {}, devices or {}, start_index)
            self._file.flush()
            if swmr:
                self._file.swmr_mode = True
        except Exception:
            self._file.close()
            self._lock.release()
            self.path.unlink(missing_ok=True)
            raise
        self._committed = dict(self._length)
        self._fd = _file_descriptor(self._file)

    # ------------------------------------------------------------------ layout
    def _create_layout(self, subject, session, devices, start_index: int) -> None:
        f = self._file
        f.attrs.update(
            {
                "format": schema.FORMAT_NAME,
                "format_version": schema.FORMAT_VERSION,
                "session_id": self.session_id,
                "created_utc": schema.utc_now(),
                "stopped_utc": "",
                "software_version": software_version(),
                "recording_state": "recording",
                "recording_note": "",
            }
        )
        for key, text in schema.SIGN_CONVENTIONS.items():
            f.attrs[f"convention_{key}"] = text
        _plain_attrs(f.create_group("subject"), SUBJECT_FIELDS, subject)
        sess = f.create_group("session")
        _plain_attrs(sess, SESSION_FIELDS, session)
        self._growable(sess, "protocol_steps", (), STEP_DTYPE, STEP_UNITS, chunks=(256,))
        self._growable(sess, "marks", (), MARK_DTYPE, MARK_UNITS, chunks=(256,))
        _write_devices(f.create_group("devices"), devices)

        daq = f.create_group("daq")
        n_ch = len(self.channel_names)
        analog = self._growable(
            daq, "analog", (n_ch,), "f8", "V", chunks=(max(64, 8192 // n_ch), n_ch),
            compression="gzip", compression_opts=1, shuffle=True,
        )  # fmt: skip
        analog.attrs["channel_names"] = schema.string_array(self.channel_names)
        analog.attrs["rate_hz"] = self.daq_rate_hz
        analog.attrs["start_index"] = int(start_index)
        gaps = self._growable(daq, "gaps", (2,), "i8", "samples", chunks=(256, 2))
        gaps.attrs["meaning"] = "[start, stop) sample ranges missing from the DAQ stream"

        cams = f.create_group("cameras")
        for spec in self.cameras.values():
            self._create_camera(cams.create_group(spec.name), spec)
        live = f.create_group("live")
        journal = self._growable(live, "stance_journal", (), "u1", "bytes", chunks=(4096,))
        journal.attrs["meaning"] = "stance rows found during recording, as UTF-8 JSON lines"
        live.attrs["settings_json"] = schema.to_json(self.live_settings)
        live.attrs["software_version"] = software_version()

    def _growable(self, group: h5py.Group, name: str, *args: Any, **kw: Any) -> h5py.Dataset:
        ds = _growable(group, name, *args, **kw)
        path = ds.name.lstrip("/")
        self._datasets[path] = ds
        self._length[path] = 0
        return ds

    def _create_camera(self, g: h5py.Group, spec: CameraSpec) -> None:
        h, w = int(spec.height), int(spec.width)
        g.attrs.update(
            {
                "codec": spec.codec.name,
                "jpeg_quality": int(spec.codec.quality) if spec.codec.name == "jpeg" else 0,
                "rate_hz": float(spec.rate_hz),
                "height": h,
                "width": w,
                "view": spec.view,
            }
        )
        if spec.codec.name == "jpeg":
            row = jpeg_row_width(h, w)
            self._growable(g, "frames_jpeg", (row,), "u1", "JPEG bytes", chunks=(1, row),
                           **blosc_padding_filter())  # fmt: skip
            self._growable(g, "jpeg_length", (), "i4", "bytes", chunks=(1024,))
            self._growable(g, "jpeg_quality", (), "u1", "1", chunks=(1024,))
        else:
            extra = (
                blosc_lossless_filter() if spec.codec.name == "lossless" else {"compression": None}
            )
            self._growable(g, "frames", (h, w), "u1", "grey level 0-255", chunks=(1, h, w), **extra)
        self._growable(g, "frame_index", (), "i8", "1", chunks=(1024,))
        self._growable(g, "session_time", (), "f8", "s", chunks=(1024,))
        self._growable(g, "camera_time", (), "f8", "s", chunks=(1024,))
        self._growable(g, "host_time", (), "f8", "s", chunks=(1024,))
        self._growable(g, "dropped_frames", (), "i8", "1", chunks=(1024,))
        m = g.create_group("markers")
        n_m = max(1, len(spec.marker_labels))
        self._growable(m, "xy", (n_m, 2), "f4", spec.marker_units, chunks=(256, n_m, 2))
        self._growable(m, "quality", (n_m,), "f4", "1", chunks=(256, n_m))
        self._growable(m, "frame_index", (), "i8", "1", chunks=(1024,))
        m.attrs["labels"] = schema.string_array(spec.marker_labels)
        m.attrs["settings_json"] = schema.to_json(dict(spec.marker_settings))
        m.attrs["software_version"] = software_version()

    # ------------------------------------------------------------------ appends
    def append_analog(self, block: np.ndarray) -> None:
        """Append DAQ samples in volts, shape (n, n_channels), in acquisition order."""
        self._check_open()
        block = np.asarray(block, dtype="f8")
        if block.ndim != 2 or block.shape[1] != len(self.channel_names):
            raise InputError(
                f"an analog block of shape {block.shape} does not match the"
                f" {len(self.channel_names)} channels of this session",
                subject=str(self.path),
                remedy="Pass (n_samples, n_channels) arrays in the declared channel order.",
            )
        rows = 0
        while (
            self._pending_gaps and self._pending_gaps[0][0] - self._next_sample <= len(block) - rows
        ):
            gap_start, gap_stop = self._pending_gaps.pop(0)
            before = gap_start - self._next_sample
            self._buffer_rows(block[rows : rows + before].copy())
            self._buffer_rows(np.full((gap_stop - gap_start, block.shape[1]), np.nan))
            rows += before
            self._next_sample = gap_stop
        self._buffer_rows(block[rows:].copy())
        self._next_sample += len(block) - rows
        self._maybe_flush()

    def _buffer_rows(self, rows: np.ndarray) -> None:
        if len(rows):
            self._analog_buffer.append(rows)
            self._analog_buffered += len(rows)

    def append_frame(
        self,
        camera: str,
        image: np.ndarray,
        *,
        frame_index: int,
        session_time_s: float,
        camera_time_s: float = math.nan,
        host_time_s: float = math.nan,
    ) -> None:
        """Append one grey frame with its index, session time, camera and host timestamps."""
        self._check_open()
        spec = self._camera(camera)
        image = np.asarray(image)
        if image.shape != (spec.height, spec.width) or image.dtype != np.uint8:
            raise InputError(
                f"a frame of shape {image.shape} and type {image.dtype} does not match camera"
                f" {camera!r} ({spec.height}x{spec.width} uint8)",
                subject=str(self.path),
                remedy="Pass grey uint8 frames of the declared size.",
            )
        codec = spec.codec.name
        if not image.flags.c_contiguous:
            image = np.ascontiguousarray(image)
        # the chunk is made now (a copy: the caller may reuse its array once this returns)
        if codec == "lossless":
            chunk = compress_chunk(image, LOSSLESS_BLOSC)
        elif codec == "jpeg":
            padding = self._jpeg_padding[camera]
            payload, quality = encode_jpeg(image, spec.codec.quality, len(padding))
            row = payload + padding[len(payload) :]
            chunk = compress_chunk(row, PADDING_BLOSC)
            self._jpeg_rows[camera].append((len(payload), quality))
        else:
            chunk = image.tobytes()
        self._chunks[camera].append(chunk)
        self._frame_rows[camera].append(
            (int(frame_index), float(session_time_s), float(camera_time_s), float(host_time_s))
        )
        if len(self._chunks[camera]) >= FRAME_BATCH:
            self._guarded(self._write_chunks, camera)
        self._maybe_flush()

    def append_markers(
        self, camera: str, frame_index: int, xy: np.ndarray, quality: np.ndarray | None = None
    ) -> None:
        """Append one frame's marker positions (n_markers, 2) and quality (n_markers,)."""
        q = None if quality is None else np.asarray(quality, "f4")[np.newaxis]
        self.append_marker_rows(
            camera, np.array([frame_index], "i8"), np.asarray(xy, "f4")[np.newaxis], q
        )

    def append_marker_rows(
        self,
        camera: str,
        frame_index: np.ndarray,
        xy: np.ndarray,
        quality: np.ndarray | None = None,
    ) -> None:
        """Append the marker rows of several frames: counters (n,), positions
        (n, n_markers, 2) and quality (n, n_markers)."""
        self._check_open()
        spec = self._camera(camera)
        n_m = max(1, len(spec.marker_labels))
        index = np.array(frame_index, dtype="i8", ndmin=1)
        n = len(index)
        xy = np.array(xy, dtype="f4").reshape(n, n_m, 2)
        if quality is None:
            q = np.full((n, n_m), np.nan, "f4")
        else:
            q = np.array(quality, dtype="f4").reshape(n, n_m)
        self._markers[camera].append((index, xy, q))
        self._maybe_flush()

    def append_stance(self, record: Any) -> None:
        """Append a stance row found during recording (dict or result with ``to_dict()``)."""
        self._check_open()
        row = schema.as_plain_dict(record)
        line = json.dumps(row, default=schema._json_default, allow_nan=True) + "\n"
        self._stances.append(row)
        self._rows["journal"].append(np.frombuffer(line.encode("utf-8"), dtype="u1"))
        self._maybe_flush()

    def add_mark(self, time_s: float, label: str) -> None:
        """A user mark at a session time (e.g. 'pain 3/10')."""
        self._check_open()
        self._rows["marks"].append((float(time_s), _fixed_text(label, MARK_LABEL_BYTES, "mark")))

    def add_protocol_step(
        self, time_s: float, step: str, speed_m_s: float, incline_percent: float = 0.0
    ) -> None:
        """A protocol step starting at a session time, with its treadmill speed and incline."""
        self._check_open()
        name = _fixed_text(step, STEP_NAME_BYTES, "protocol step")
        self._rows["steps"].append((float(time_s), name, float(speed_m_s), float(incline_percent)))

    @property
    def next_sample(self) -> int:
        """The DAQ sample index the next analog row will have."""
        return self._next_sample

    def add_gap(self, start_sample: int, stop_sample: int) -> None:
        """DAQ samples [start, stop) that never arrived, reported before the samples after them
        are appended (at or inside the next block). They are recorded in ``/daq/gaps`` and kept
        as NaN rows, so row i stays sample ``start_index + i`` and session time stays exact."""
        self._check_open()
        start, stop = int(start_sample), int(stop_sample)
        earliest = self._pending_gaps[-1][1] if self._pending_gaps else self._next_sample
        if start < earliest or stop <= start:
            raise InputError(
                f"a gap [{start}, {stop}) overlaps samples already recorded (next: {earliest})",
                subject=str(self.path),
                remedy="Report each gap once, in order, before the samples that follow it.",
            )
        self._pending_gaps.append((start, stop))
        self._rows["gaps"].append((start, stop))

    def add_dropped_frames(self, camera: str, indices: Iterable[int]) -> None:
        """Frame indices the camera skipped (counted by the sync check)."""
        self._check_open()
        self._camera(camera)
        self._dropped[camera] += [int(i) for i in indices]

    # ------------------------------------------------------------------ flushing
    @property
    def committed(self) -> dict[str, int]:
        """Rows per dataset as of the last successful flush (what a crash would keep)."""
        return dict(self._committed)

    @property
    def stances(self) -> list[dict[str, Any]]:
        return list(self._stances)

    def flush(self) -> None:
        """Write every buffered row and push it to disk."""
        self._check_open()
        self._guarded(self._flush_all)

    def _maybe_flush(self) -> None:
        due = _clock() - self._last_flush >= self.flush_interval_s
        if due or self._analog_buffered >= self._flush_samples:
            self.flush()

    def _flush_all(self) -> None:
        if self._analog_buffer:
            self._append("daq/analog", np.concatenate(self._analog_buffer))
            self._analog_buffer, self._analog_buffered = [], 0
        for name in self.cameras:
            self._write_frames(name)
            if self._markers[name]:
                rows = self._markers[name]
                g = f"cameras/{name}/markers"
                self._append(f"{g}/frame_index", np.concatenate([r[0] for r in rows]))
                self._append(f"{g}/xy", np.concatenate([r[1] for r in rows]))
                self._append(f"{g}/quality", np.concatenate([r[2] for r in rows]))
                self._markers[name] = []
            if self._dropped[name]:
                dropped = np.array(self._dropped[name], "i8")
                self._append(f"cameras/{name}/dropped_frames", dropped)
                self._dropped[name] = []
        tables = (
            ("marks", "session/marks", MARK_DTYPE),
            ("steps", "session/protocol_steps", STEP_DTYPE),
            ("gaps", "daq/gaps", "i8"),
        )
        for key, path, dtype in tables:
            if self._rows[key]:
                self._append(path, np.array(self._rows[key], dtype=dtype))
                self._rows[key] = []
        if self._rows["journal"]:
            self._append("live/stance_journal", np.concatenate(self._rows["journal"]))
            self._rows["journal"] = []
        self._file.flush()
        _release_written_pages(self._fd)
        self._committed = dict(self._length)
        self._last_flush = _clock()

    def _write_chunks(self, camera: str) -> None:
        """The camera's finished frame chunks into its frame dataset: one resize, then each
        chunk as it is (no HDF5 filter runs; the dataset declares the codec's filter)."""
        chunks = self._chunks[camera]
        if not chunks:
            return
        path = f"cameras/{camera}/" + ("frames_jpeg" if camera in self._jpeg_padding else "frames")
        ds = self._datasets[path]
        n = self._length[path]
        ds.resize(n + len(chunks), axis=0)
        self._length[path] = n + len(chunks)  # the rows exist now (trimmed on failure)
        tail = (0,) * (ds.ndim - 1)
        write = ds.id.write_direct_chunk
        for i, chunk in enumerate(chunks):
            write((n + i, *tail), chunk)
        self._chunks[camera] = []

    def _write_frames(self, camera: str) -> None:
        """Every frame given so far, then its per-frame rows (which make it count as recorded)."""
        self._write_chunks(camera)
        rows = self._frame_rows[camera]
        if not rows:
            return
        meta = np.array(rows, dtype="f8")
        g = f"cameras/{camera}"
        self._append(f"{g}/frame_index", meta[:, 0].astype("i8"))
        self._append(f"{g}/session_time", meta[:, 1])
        self._append(f"{g}/camera_time", meta[:, 2])
        self._append(f"{g}/host_time", meta[:, 3])
        self._frame_rows[camera] = []
        jpeg = self._jpeg_rows[camera]
        if jpeg:
            self._append(f"{g}/jpeg_length", np.array([r[0] for r in jpeg], "i4"))
            self._append(f"{g}/jpeg_quality", np.array([r[1] for r in jpeg], "u1"))
            self._jpeg_rows[camera] = []

    def _append(self, path: str, rows: np.ndarray) -> None:
        ds = self._datasets[path]
        n = self._length[path]
        ds.resize(n + len(rows), axis=0)
        self._length[path] = n + len(rows)
        ds[n:] = rows

    # ------------------------------------------------------------------ errors and closing
    def _guarded(self, action, *args) -> None:
        try:
            action(*args)
        except (OSError, RuntimeError) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        at_s = self._committed.get("daq/analog", 0) / self.daq_rate_hz
        if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "space" in str(exc).lower():
            problem = f"the disk is full, so the recording stopped at {at_s:.1f} s"
        else:
            problem = f"writing failed ({exc}), so the recording stopped at {at_s:.1f} s"
        note = f"{problem}; the file holds the data up to the last flush"
        self._failure = SessionWriteError(
            problem,
            subject=str(self.path),
            remedy="The file is valid and holds everything recorded up to that moment;"
            " free disk space (or check the drive) before recording again.",
        )
        self._shut_down("aborted", note)
        raise self._failure from exc

    def _shut_down(self, state: str, note: str) -> None:
        """Cut datasets back to the last flush, close, and mark the state in normal mode."""
        # Best effort: if the drive refuses even this, `midstance repair` trims the rest.
        with contextlib.suppress(Exception):
            for name, length in self._committed.items():
                ds = self._datasets[name]
                if ds.shape[0] != length:
                    ds.resize(length, axis=0)
            self._file.flush()
        with contextlib.suppress(Exception):
            self._file.close()
        self._closed = True
        self._lock.release()
        try:
            with h5py.File(self.path, "r+") as f:
                f.attrs["recording_state"] = state
                f.attrs["recording_note"] = note
                f.attrs["stopped_utc"] = schema.utc_now()
        except OSError:
            pass  # the file stays marked 'recording'; `midstance repair` finishes it

    def close(self, state: str = "complete", note: str = "") -> None:
        """Flush, close, mark ``complete`` (or ``aborted``) and store live stances as rev_0001."""
        if self._closed:
            return
        if state not in ("complete", "aborted"):
            raise InputError(f"cannot close a recording as {state!r}", subject=str(self.path))
        self.flush()
        self._file.close()
        self._closed = True
        self._lock.release()
        try:
            with h5py.File(self.path, "r+") as f:
                f.attrs["recording_state"] = state
                f.attrs["recording_note"] = note
                f.attrs["stopped_utc"] = schema.utc_now()
        except OSError as exc:
            raise SessionWriteError(
                f"the recording is on disk but could not be marked {state} ({exc})",
                subject=str(self.path),
                remedy="Run `midstance repair` on the file once the drive is available.",
            ) from exc
        if self._stances:
            from data.revisions import add_analysis_revision

            add_analysis_revision(
                self.path,
                settings=self.live_settings,
                stances=self._stances,
                note="stances found live during recording",
            )

    def abort(self, note: str) -> None:
        """Stop recording, keep everything written, and mark the file ``aborted``."""
        self.close("aborted", note)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc is None:
            self.close()
        else:
            self.close("aborted", f"recording stopped by an error: {exc}")

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise InputError("the session file is already closed", subject=str(self.path))

    def _camera(self, name: str) -> CameraSpec:
        try:
            return self.cameras[name]
        except KeyError:
            raise InputError(
                f"camera {name!r} was not declared when the recording started",
                subject=str(self.path),
                remedy=f"Use one of: {', '.join(self.cameras) or '(no cameras)'}.",
            ) from None


def _file_descriptor(file: h5py.File) -> int | None:
    """The OS file descriptor under HDF5's default (sec2) driver; None for any other driver."""
    try:
        return int(file.id.get_vfd_handle())
    except (ValueError, TypeError, RuntimeError, OSError):
        return None


def _release_written_pages(fd: int | None) -> None:
    """Start writing the file's dirty pages to disk and drop its clean ones from the page cache.

    Why (issue #5): a recording writes ~150 MB/s that nobody reads back. Left in the page cache,
    after a few GB the kernel's cost of each further write grew from ~60 to ~700 µs per 170 kB
    frame chunk (system time in the recorder's write, measured on this 2-core machine: 40,000
    chunks, sys time per chunk by blocks of 4000), enough on its own to make the recorder hold
    the cameras back. Dropping the written pages after every flush keeps it at ~85 µs. A reader
    following the file reads from disk instead of the cache. Not available on Windows, where the
    call is skipped."""
    if fd is None or _FADVISE is None:
        return
    with contextlib.suppress(OSError):
        _FADVISE(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _fixed_text(text: str, limit: int, what: str) -> bytes:
    raw = str(text).encode("utf-8")
    if len(raw) > limit:
        raise InputError(
            f"the {what} text is {len(raw)} bytes long; at most {limit} fit",
            subject=what,
            remedy="Shorten it.",
        )
    return raw


def _plain_attrs(group: h5py.Group, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    unknown = set(given) - set(defaults)
    if unknown:
        raise InputError(
            f"unknown fields {sorted(unknown)}",
            subject=f"/{group.name.strip('/')}",
            remedy=f"Use only {', '.join(defaults)}.",
        )
    for key, default in defaults.items():
        value = given.get(key)
        if value is None:
            value = default
        group.attrs[key] = float(value) if isinstance(default, float) else str(value)


def _write_devices(group: h5py.Group, devices: Mapping[str, Any]) -> None:
    """Hardware configuration (JSON), plate and camera calibration arrays, sync mode and check."""
    unknown = set(devices) - {"config", "sync", "plates", "cameras"}
    if unknown:
        raise InputError(
            f"unknown device record keys {sorted(unknown)}",
            subject="session devices",
            remedy="Use config, sync, plates and cameras (see data/SCHEMA.md).",
        )
    group.attrs["config_json"] = schema.to_json(devices.get("config", {}))
    sync = devices.get("sync", {})
    group.attrs["sync_mode"] = str(sync.get("mode", ""))
    group.attrs["sync_verification_json"] = schema.to_json(sync.get("verification", {}))
    plates = group.create_group("plates")
    for plate in devices.get("plates", []):
        _write_calibration(plates.create_group(str(plate["name"])), plate, PLATE_ARRAY_UNITS)
    cameras = group.create_group("cameras")
    for name, calibration in devices.get("cameras", {}).items():
        _write_calibration(cameras.create_group(str(name)), calibration, CAMERA_ARRAY_UNITS)


PLATE_TEXT_ATTRS = ("type", "belt")
PLATE_NUMBER_ATTRS = ("z_surface_m",)


def _write_calibration(group: h5py.Group, values: Mapping[str, Any], units: Mapping[str, str]):
    """Numeric arrays become datasets with units; everything stays in ``config_json`` too."""
    group.attrs["config_json"] = schema.to_json(dict(values))
    if units is PLATE_ARRAY_UNITS:
        for key in PLATE_TEXT_ATTRS:
            group.attrs[key] = str(values.get(key, ""))
        for key in PLATE_NUMBER_ATTRS:
            group.attrs[key] = float(values.get(key, math.nan))
        group.attrs["channels"] = schema.string_array([str(c) for c in values.get("channels", [])])
    for key, unit in units.items():
        if values.get(key) is not None:
            ds = group.create_dataset(key, data=np.asarray(values[key], dtype="f8"))
            ds.attrs["units"] = unit


def store_protocol_run(
    path: str | Path, run: Mapping[str, Any], calibration: Mapping[str, Any] | None
) -> None:
    """Put a procedure run (``protocols.runner.Runner.record()``: every step result, attempt and
    event) and the calibration snapshot it ran under into a closed session file."""
    try:
        with h5py.File(path, "r+") as f:
            f["session"].attrs["protocol_run_json"] = schema.to_json(dict(run))
            f["session"].attrs["calibration_json"] = schema.to_json(dict(calibration or {}))
    except OSError as exc:
        raise InputError(
            f"cannot store the procedure's step results ({exc})",
            subject=str(path),
            remedy="Check that the file is closed and writable.",
        ) from exc
