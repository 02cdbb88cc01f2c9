"""Opening a session file lazily: metadata at once, samples, frames and tables on demand.

``open_session`` also opens files that are still being recorded (SWMR: call ``refresh()`` to see
new data) and files left behind by a crash (they read as incomplete; ``midstance repair`` closes
them). Anything that is not a readable Midstance session gives one :class:`InputError` that
names the file and the problem.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401  (registers the Blosc filter the frames use)
import numpy as np

from analysis.errors import InputError
from data import session_schema as schema
from data.video_codecs import decode_jpeg

# What every version-1 file has; checked on opening so a damaged file gives one clear error.
REQUIRED_OBJECTS = (
    "subject", "session", "session/marks", "session/protocol_steps", "devices", "daq",
    "daq/analog", "daq/gaps", "cameras", "live", "live/stance_journal",
)  # fmt: skip
REQUIRED_ROOT_ATTRS = ("format_version", "session_id", "created_utc", "software_version",
                       "recording_state")  # fmt: skip
CAMERA_OBJECTS = ("frame_index", "session_time", "camera_time", "host_time", "dropped_frames",
                  "markers/xy", "markers/quality", "markers/frame_index")  # fmt: skip


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _attrs(obj: h5py.HLObject) -> dict[str, Any]:
    out = {}
    for key, raw in obj.attrs.items():
        value = raw
        if isinstance(raw, bytes):
            value = raw.decode("utf-8")
        elif isinstance(raw, np.generic):
            value = raw.item()
        out[key] = value
    return out


def open_h5(path: Path, mode: str = "r") -> h5py.File:
    """Open HDF5 read-only; fall back to SWMR reading for files being (or left) recorded."""
    if not path.exists():
        raise InputError("the file does not exist", subject=str(path), remedy="Check the path.")
    if not path.is_file():
        raise InputError("this is not a file", subject=str(path), remedy="Give a session file.")
    try:
        return h5py.File(path, mode)
    except OSError as first:
        if "already open for write" in str(first) or "SWMR" in str(first):
            try:
                return h5py.File(path, "r", swmr=True)
            except OSError:
                pass
        if not h5py.is_hdf5(path):
            problem = "this is not an HDF5 file"
        else:
            problem = f"the HDF5 file is damaged or truncated ({first})"
        raise InputError(
            problem,
            subject=str(path),
            remedy="Open a Midstance session file (*.midstance.h5).",
        ) from first


class AnalogData:
    """The raw DAQ stream in volts: read any sample range without loading the rest."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self._ds = ds
        self.rate_hz = float(ds.attrs["rate_hz"])
        self.start_index = int(ds.attrs["start_index"])
        self.channel_names = tuple(_text(c) for c in ds.attrs["channel_names"])
        self.units = _text(ds.attrs["units"])

    @property
    def n_samples(self) -> int:
        return int(self._ds.shape[0])

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [start, stop) as float64 volts, shape (n, n_channels)."""
        return self._ds[start:stop]

    def window(self, start_s: float, stop_s: float) -> np.ndarray:
        """Samples between two session times (seconds)."""
        first = max(0, math.floor(start_s * self.rate_hz) - self.start_index)
        last = max(first, math.ceil(stop_s * self.rate_hz) - self.start_index)
        return self._ds[first:last]

    def channel(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        try:
            column = self.channel_names.index(name)
        except ValueError:
            raise InputError(
                f"no DAQ channel named {name!r}",
                subject=self._ds.file.filename,
                remedy=f"Channels: {', '.join(self.channel_names)}.",
            ) from None
        return self._ds[start:stop, column]


class CameraRecording:
    """One camera's frames and per-frame times; frames are decoded only when asked for."""

    def __init__(self, group: h5py.Group) -> None:
        self._g = group
        self.name = group.name.rsplit("/", 1)[-1]
        attrs = _attrs(group)
        self.codec = attrs["codec"]
        self.rate_hz = float(attrs["rate_hz"])
        self.height, self.width = int(attrs["height"]), int(attrs["width"])
        self.view = attrs.get("view", "")

    @property
    def h5_group(self) -> h5py.Group:
        """The camera's HDF5 group, for anything this API does not cover."""
        return self._g

    @property
    def n_frames(self) -> int:
        frames = self._g["frames_jpeg" if self.codec == "jpeg" else "frames"]
        return min(frames.shape[0], self._g["session_time"].shape[0])

    def frame(self, k: int) -> np.ndarray:
        """Frame row ``k`` (not the camera's frame counter) as (height, width) uint8."""
        if not -self.n_frames <= k < self.n_frames:
            raise IndexError(f"frame {k} outside 0..{self.n_frames - 1} of camera {self.name}")
        if self.codec == "jpeg":
            length = int(self._g["jpeg_length"][k])
            try:
                image = decode_jpeg(self._g["frames_jpeg"][k, :length])
            except InputError as exc:
                raise self._damaged_frame(k, exc.problem) from None
            if image.shape != (self.height, self.width):
                raise self._damaged_frame(
                    k,
                    f"the JPEG decodes to {image.shape[1]}x{image.shape[0]} pixels, not the"
                    f" camera's {self.width}x{self.height}",
                )
            return image
        return self._g["frames"][k]

    def _damaged_frame(self, k: int, problem: str) -> InputError:
        return InputError(
            f"camera {self.name!r}, frame row {k}: {problem}",
            subject=self._g.file.filename,
            remedy="The frame is damaged; use a backup copy of the file (other frames may read).",
        )

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) as (n, height, width) uint8."""
        if self.codec == "jpeg":
            return np.stack([self.frame(k) for k in range(start, min(stop, self.n_frames))])
        return self._g["frames"][start:stop]

    def _column(self, name: str) -> np.ndarray:
        return self._g[name][: self.n_frames]

    @property
    def frame_index(self) -> np.ndarray:
        return self._column("frame_index")

    @property
    def session_time(self) -> np.ndarray:
        return self._column("session_time")

    @property
    def camera_time(self) -> np.ndarray:
        return self._column("camera_time")

    @property
    def host_time(self) -> np.ndarray:
        return self._column("host_time")

    @property
    def dropped_frames(self) -> np.ndarray:
        return self._g["dropped_frames"][:]

    @property
    def markers(self) -> dict[str, Any]:
        """labels, units, xy (n, n_markers, 2), quality (n, n_markers), frame_index, settings."""
        m = self._g["markers"]
        return {
            "labels": tuple(_text(v) for v in m.attrs["labels"]),
            "units": _text(m["xy"].attrs["units"]),
            "xy": m["xy"][:],
            "quality": m["quality"][:],
            "frame_index": m["frame_index"][:],
            "settings": schema.from_json(m.attrs["settings_json"]),
            "software_version": _text(m.attrs["software_version"]),
        }


class AnalysisRevision:
    """One stored analysis: its settings and provenance, and its tables read on demand."""

    def __init__(self, group: h5py.Group) -> None:
        self._g = group
        self.name = group.name.rsplit("/", 1)[-1]
        attrs = _attrs(group)
        self.settings = schema.from_json(attrs["settings_json"])
        self.software_version = attrs["software_version"]
        self.created_utc = attrs["created_utc"]
        self.parent = attrs["parent"]
        self.note = attrs["note"]

    def _table(self, name: str) -> list[dict[str, Any]]:
        ds = self._g[name]
        return schema.table_to_records(ds[()], ds.attrs)

    def stances(self) -> list[dict[str, Any]]:
        """One dict per stance (NaN where a value does not apply; flags as a tuple)."""
        return self._table("stances")

    def stance_array(self) -> np.ndarray:
        """The stance table as a numpy structured array (text fields as bytes)."""
        return self._g["stances"][()]

    def table_units(self, name: str = "stances") -> dict[str, str]:
        ds = self._g[name]
        if ds.dtype.names is None:
            return {}
        return dict(zip(ds.dtype.names, (_text(u) for u in ds.attrs["units"]), strict=True))

    def summaries(self) -> list[dict[str, Any]]:
        return self._table("summaries")

    def events(self) -> list[dict[str, Any]]:
        return self._table("events")

    @property
    def force_plates(self) -> tuple[str, ...]:
        return tuple(self._g["forces"])

    def forces(self, plate: str, start: int = 0, stop: int | None = None) -> dict[str, Any]:
        """Derived force, moment (about ``moment_about_m``), COP and free moment for one plate."""
        g = self._g["forces"][plate]
        out: dict[str, Any] = {k: g[k][start:stop] for k in ("force", "moment", "cop")}
        out["free_moment"] = g["free_moment"][start:stop]
        out["start_index"] = int(g.attrs["start_index"])
        out["moment_about_m"] = np.asarray(g.attrs["moment_about_m"], dtype=float)
        return out


class Session:
    """A session file opened lazily. Use as a context manager, or call ``close()``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = open_h5(self.path)
        try:
            self._check()
        except Exception:
            self._f.close()
            raise
        attrs = _attrs(self._f)
        self.format_version = _format_version(attrs["format_version"], str(self.path))
        self.session_id = attrs["session_id"]
        self.created_utc = attrs["created_utc"]
        self.software_version = attrs["software_version"]
        self.conventions = {
            k.removeprefix("convention_"): v
            for k, v in attrs.items()
            if k.startswith("convention_")
        }

    def _check(self) -> None:
        f, where = self._f, str(self.path)
        kind = f.attrs.get("format")
        if kind is None or _text(kind) != schema.FORMAT_NAME:
            raise InputError(
                "this HDF5 file is not a Midstance session (no 'format' = "
                f"'{schema.FORMAT_NAME}' attribute)",
                subject=where,
                remedy="Open a file recorded by Midstance.",
            )
        version = _format_version(f.attrs.get("format_version", 0), where)
        if version > schema.FORMAT_VERSION:
            raise InputError(
                f"the session uses format version {version}, newer than this Midstance reads"
                f" (up to {schema.FORMAT_VERSION})",
                subject=where,
                remedy="Update Midstance to open it.",
            )
        missing = [f"/{name}" for name in REQUIRED_OBJECTS if name not in f]
        missing += [f"/@{name}" for name in REQUIRED_ROOT_ATTRS if name not in f.attrs]
        for camera in f.get("cameras", ()):
            g = f["cameras"][camera]
            frames = "frames_jpeg" if g.attrs.get("codec") == "jpeg" else "frames"
            missing += [f"{g.name}/{n}" for n in (frames, *CAMERA_OBJECTS) if n not in g]
        if missing:
            raise InputError(
                f"the session file lacks {', '.join(missing)}",
                subject=where,
                remedy="The file is damaged; use a backup copy.",
            )

    # -- metadata
    @property
    def recording_state(self) -> str:
        return _text(self._f.attrs["recording_state"])

    @property
    def recording_note(self) -> str:
        return _text(self._f.attrs.get("recording_note", ""))

    @property
    def being_recorded(self) -> bool:
        """True while a live recording process still writes this file (not after a crash)."""
        from data.recording_lock import is_being_recorded

        return self.recording_state == "recording" and is_being_recorded(self.path)

    @property
    def is_complete(self) -> bool:
        """False while recording, and for crashed files until repaired."""
        return self.recording_state in ("complete", "repaired", "aborted")

    @property
    def subject(self) -> dict[str, Any]:
        return _attrs(self._f["subject"])

    @property
    def session_info(self) -> dict[str, Any]:
        return _attrs(self._f["session"])

    @property
    def devices(self) -> dict[str, Any]:
        """Hardware configuration, plate and camera calibration, sync mode and its check."""
        g = self._f["devices"]
        return {
            "config": schema.from_json(g.attrs["config_json"]),
            "sync": {
                "mode": _text(g.attrs["sync_mode"]),
                "verification": schema.from_json(g.attrs["sync_verification_json"]),
            },
            "plates": [_calibration(g["plates"][name]) for name in g["plates"]],
            "cameras": {name: _calibration(g["cameras"][name]) for name in g["cameras"]},
        }

    # -- raw streams
    @property
    def analog(self) -> AnalogData:
        return AnalogData(self._f["daq/analog"])

    @property
    def gaps(self) -> np.ndarray:
        """(n, 2) DAQ sample ranges [start, stop) that are missing."""
        gaps = self._dataset("daq/gaps")[()]
        if gaps.ndim != 2 or gaps.shape[1] != 2 or not np.issubdtype(gaps.dtype, np.integer):
            raise InputError(
                f"/daq/gaps holds {gaps.dtype} of shape {gaps.shape}, not (n, 2) sample ranges",
                subject=str(self.path),
                remedy="The file is damaged; use a backup copy.",
            )
        return gaps

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self._f["cameras"])

    def camera(self, name: str) -> CameraRecording:
        if name not in self._f["cameras"]:
            raise InputError(
                f"no camera named {name!r}",
                subject=str(self.path),
                remedy=f"Cameras: {', '.join(self.camera_names) or '(none)'}.",
            )
        return CameraRecording(self._f["cameras"][name])

    def marks(self) -> list[dict[str, Any]]:
        return self._fixed_rows("session/marks")

    def protocol_steps(self) -> list[dict[str, Any]]:
        return self._fixed_rows("session/protocol_steps")

    def _dataset(self, name: str) -> h5py.Dataset:
        """The dataset at ``name``, or an error naming the file when something else is there."""
        obj = self._f[name]
        if not isinstance(obj, h5py.Dataset):
            raise InputError(
                f"/{name} is a {type(obj).__name__.lower()}, not a dataset",
                subject=str(self.path),
                remedy="The file is damaged; use a backup copy.",
            )
        return obj

    def _fixed_rows(self, name: str) -> list[dict[str, Any]]:
        """A table of named fields as one dict per row (text decoded)."""
        table = self._dataset(name)[()]
        if table.dtype.names is None or table.ndim != 1:
            raise InputError(
                f"/{name} holds {table.dtype} of shape {table.shape}, not a table of named fields",
                subject=str(self.path),
                remedy="The file is damaged; use a backup copy.",
            )
        return [
            {
                n: _text(row[n]) if isinstance(row[n], bytes) else row[n].item()
                for n in table.dtype.names
            }
            for row in table
        ]

    def live_stances(self) -> list[dict[str, Any]]:
        """Stance rows journaled during recording (what a crashed file still has)."""
        return schema.parse_stance_journal(self._f["live/stance_journal"][()])

    # -- analysis revisions
    @property
    def revisions(self) -> tuple[str, ...]:
        return tuple(sorted(self._f["analysis"])) if "analysis" in self._f else ()

    def analysis(self, revision: str | None = None) -> AnalysisRevision:
        """A stored analysis (the latest when no name is given)."""
        names = self.revisions
        if not names:
            raise InputError(
                "the session has no stored analysis",
                subject=str(self.path),
                remedy="Analyse it first (this adds /analysis/rev_0001).",
            )
        name = revision or names[-1]
        if name not in names:
            raise InputError(
                f"no analysis revision {name!r}",
                subject=str(self.path),
                remedy=f"Revisions: {', '.join(names)}.",
            )
        return AnalysisRevision(self._f["analysis"][name])

    # -- life cycle
    def refresh(self) -> None:
        """See data appended since opening (files being recorded, opened with SWMR)."""
        if self._f.swmr_mode:

            def visit(_name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    obj.refresh()

            self._f.visititems(visit)

    @property
    def h5(self) -> h5py.File:
        """The open h5py file, for anything this API does not cover."""
        return self._f

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _calibration(group: h5py.Group) -> dict[str, Any]:
    out = schema.from_json(group.attrs["config_json"]) or {}
    for key, ds in group.items():  # the arrays, as stored
        out[key] = ds[()]
    return out


def _format_version(raw: Any, where: str) -> int:
    """The format_version attribute as a whole number (a number, or text of one)."""
    value = raw.item() if isinstance(raw, np.generic) else raw
    text = _text(value).strip() if isinstance(value, (bytes, str)) else None
    if text is not None and text.lstrip("+").isdigit():
        return int(text)
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and float(value).is_integer()
    ):
        return int(value)
    raise InputError(
        f"the format_version attribute is {value!r}, not a whole number",
        subject=where,
        remedy="The file is damaged or was not written by Midstance; use a backup copy.",
    )


def open_session(path: str | Path) -> Session:
    """Open a session file lazily (well under a second, whatever its size)."""
    return Session(path)
