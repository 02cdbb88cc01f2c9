"""Old files stay readable (golden version-1 file); bad files give one clear InputError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from app.cli import main as cli_main
from data import open_session

GOLDEN = Path(__file__).resolve().parent / "golden" / "session_v1.midstance.h5"


def test_golden_version_1_file_reads_back():
    assert GOLDEN.stat().st_size < 200_000
    with open_session(GOLDEN) as s:
        assert s.format_version == 1 and s.recording_state == "complete"
        assert s.subject["subject_id"] == "GOLD-1"
        expected = 0.001 * np.arange(500)[:, None] + np.arange(7)[None, :]
        np.testing.assert_array_equal(s.analog.read(), expected)
        sag = s.camera("sagittal")
        image = np.full((24, 32), 20 + 7, np.uint8)
        image[7:11, 7:11] = 200
        np.testing.assert_array_equal(sag.frame(7), image)
        assert np.abs(s.camera("posterior").frame(7).astype(int) - image).mean() < 3
        np.testing.assert_array_equal(sag.markers["xy"][5], [[5, 10], [5, 15]])
        assert s.marks() == [{"time_s": 0.25, "label": "golden mark"}]
        rows = s.analysis().stances()
        assert [r["valr_N_s"] for r in rows] == [50000.0, 51000.0, 52000.0]
        assert s.analysis().settings == {"midstance": "M1"}


def test_inspect_command_on_the_golden_file(capsys):
    assert cli_main(["inspect", str(GOLDEN)]) == 0
    out = capsys.readouterr().out
    assert "GOLD-1" in out and "20 frames" in out and "rev_0001: 3 stances" in out
    assert cli_main(["inspect", str(GOLDEN), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["daq"]["samples"] == 500 and info["daq"]["seconds"] == 0.5
    assert info["cameras"]["posterior"]["codec"] == "jpeg"
    assert info["analysis"][0]["stances"] == 3 and info["format_version"] == 1


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "copy.midstance.h5"
    shutil.copy(GOLDEN, target)
    return target


def _error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        open_session(path)
    assert str(path) in caught.value.sentence()
    return caught.value.sentence()


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.midstance.h5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "notes.midstance.h5"
    path.write_text("subject P01, felt fine\n")
    assert "not an HDF5 file" in _error(path)


def test_hdf5_of_another_kind(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    assert "not a Midstance session" in _error(path)


def test_newer_format_version(tmp_path):
    path = _copy(tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 2
    assert "format version 2" in _error(path) and "Update Midstance" in _error(path)


def test_truncated_file(tmp_path):
    path = _copy(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "damaged or truncated" in _error(path)


@pytest.mark.parametrize(
    ("remove", "named"),
    [("daq", "/daq"), ("session/marks", "/session/marks"),
     ("cameras/posterior/frames_jpeg", "/cameras/posterior/frames_jpeg"),
     ("@session_id", "/@session_id")],
)  # fmt: skip
def test_missing_parts(tmp_path, remove, named):
    path = _copy(tmp_path)
    with h5py.File(path, "r+") as f:
        if remove.startswith("@"):
            del f.attrs[remove[1:]]
        else:
            del f[remove]
    message = _error(path)
    assert "lacks" in message and named in message


def test_bad_file_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "bad.midstance.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert cli_main(["inspect", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_give_input_error_not_a_crash(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "blob.midstance.h5"
    path.write_bytes(blob)
    with pytest.raises(InputError):
        open_session(path)
