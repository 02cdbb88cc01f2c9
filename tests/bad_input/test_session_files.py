"""Damaged session files beyond tests/data (missing parts, truncation, newer versions, random
bytes are there): objects of the wrong type or shape, corrupt JPEG rows, NaN/Inf in the data.
Every user path — open, read samples, frames, markers, marks, the stored analysis, and the
``midstance inspect`` command — either works or raises a MidstanceError naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.errors import MidstanceError
from app.cli import main as cli_main
from data import open_session

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden" / "session_v1.midstance.h5"


def _replace(f: h5py.File, name: str, data) -> None:
    attrs = dict(f[name].attrs)
    del f[name]
    f.create_dataset(name, data=data)
    f[name].attrs.update(attrs)


def _jpeg_noise(f):
    rows = f["cameras/posterior/frames_jpeg"]
    rows[:] = np.random.default_rng(0).integers(0, 256, rows.shape, dtype=np.uint8)


DAMAGE = {
    "analog as text": lambda f: _replace(f, "daq/analog", np.full((500, 7), b"1.0", "S3")),
    "analog one-dimensional": lambda f: _replace(f, "daq/analog", np.zeros(500)),
    "analog with the wrong channel count": lambda f: _replace(f, "daq/analog", np.zeros((500, 3))),
    "analog with NaN rows not listed as gaps": lambda f: f["daq/analog"].__setitem__(
        slice(100, 200), np.nan
    ),
    "analog with Inf": lambda f: f["daq/analog"].__setitem__(slice(10, 12), np.inf),
    "gaps of the wrong shape": lambda f: _replace(f, "daq/gaps", np.array([1, 2, 3])),
    "frames as float": lambda f: _replace(f, "cameras/sagittal/frames", np.zeros((20, 24, 32))),
    "frames two-dimensional": lambda f: _replace(f, "cameras/sagittal/frames", np.zeros((20, 24))),
    "fewer frame indices than frames": lambda f: _replace(
        f, "cameras/sagittal/frame_index", np.arange(19)
    ),
    "session times with NaN": lambda f: f["cameras/sagittal/session_time"].__setitem__(
        slice(3, 6), np.nan
    ),
    "JPEG lengths past the row": lambda f: f["cameras/posterior/jpeg_length"].__setitem__(
        slice(None), 10**6
    ),
    "JPEG rows of noise": _jpeg_noise,
    "markers of the wrong shape": lambda f: _replace(
        f, "cameras/sagittal/markers/xy", np.zeros((20, 2))
    ),
    "stances table as plain numbers": lambda f: _replace(
        f, "analysis/rev_0001/stances", np.arange(3.0)
    ),
    "marks of the wrong type": lambda f: _replace(f, "session/marks", np.arange(4)),
    "format version as text": lambda f: f.attrs.__setitem__("format_version", "one"),
    "a group where a dataset belongs": lambda f: (
        f.__delitem__("daq/gaps"),
        f.create_group("daq/gaps"),
    ),
}  # fmt: skip


def _user_paths(path: Path) -> None:
    with open_session(path) as s:
        s.analog.read()
        _ = s.gaps
        for name in s.camera_names:
            camera = s.camera(name)
            if camera.n_frames:
                camera.frame(0)
                camera.frame(camera.n_frames - 1)
            _ = camera.session_time
            _ = camera.markers
        s.marks()
        s.analysis().stances()


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_session_is_read_or_refused_naming_the_file(tmp_path, damage, capsys):
    path = tmp_path / "damaged.midstance.h5"
    shutil.copy(GOLDEN, path)
    with h5py.File(path, "r+") as f:
        DAMAGE[damage](f)
    try:
        _user_paths(path)
    except MidstanceError as exc:
        assert str(path) in exc.sentence(), exc.sentence()
    code = cli_main(["inspect", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code:
        assert str(path) in err
