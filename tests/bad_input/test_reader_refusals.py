"""The edges of the readers' refusals: a C3D one part short of its header is refused while the
whole file reads, corners in a line are refused like corners all zero, a JPEG row that decodes to
the wrong frame size is refused naming camera and frame, and a format_version written as the text
of a whole number still opens (only text that is not a number is refused)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.errors import InputError
from data import open_session
from data.c3d_import import read_c3d_forces
from data.video_codecs import decode_jpeg, encode_jpeg

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden" / "session_v1.midstance.h5"
SOURCE = "fukuchi2017/RBDS001runT35.c3d"


@pytest.mark.real_data
def test_c3d_missing_its_last_bytes_is_refused_with_both_frame_counts(real_data, tmp_path):
    data = (real_data / SOURCE).read_bytes()
    whole = read_c3d_forces(real_data / SOURCE)
    assert whole.analog.shape[0] == 9000  # 4500 frames of 2 analog samples: accepted whole
    path = tmp_path / "short.c3d"
    path.write_bytes(data[: len(data) - 2048])  # 2 KiB short: the last few 560-byte frames
    with pytest.raises(InputError) as caught:
        read_c3d_forces(path)
    sentence = caught.value.sentence()
    assert str(path) in sentence and "declares 4500 frames" in sentence
    present = int(re.search(r"only (\d+) are present", sentence).group(1))
    assert 4490 <= present < 4500


@pytest.mark.real_data
def test_plate_corners_in_a_line_are_refused_naming_file_and_plate(real_data, tmp_path):
    ezc3d = pytest.importorskip("ezc3d")
    c3d = ezc3d.c3d(str(real_data / SOURCE))
    corners = np.zeros((3, 4, 1))
    corners[0, :, 0] = [0.0, 500.0, 1000.0, 1500.0]  # four corners along the file's x axis
    c3d["parameters"]["FORCE_PLATFORM"]["CORNERS"]["value"] = corners
    path = tmp_path / "flat-corners.c3d"
    c3d.write(str(path))
    with pytest.raises(InputError) as caught:
        read_c3d_forces(path)
    assert str(path) in caught.value.sentence() and "plate1" in caught.value.sentence()


def test_decode_jpeg_refuses_bytes_that_are_not_a_jpeg():
    with pytest.raises(InputError, match="cannot be decoded"):
        decode_jpeg(np.arange(300, dtype=np.uint8))


def _damaged_copy(tmp_path: Path, damage) -> Path:
    path = tmp_path / "damaged.midstance.h5"
    shutil.copy(GOLDEN, path)
    with h5py.File(path, "r+") as f:
        damage(f)
    return path


def test_jpeg_row_of_the_wrong_frame_size_is_refused_naming_camera_and_frame(tmp_path):
    def small_jpeg_in_row_3(f):
        data, _ = encode_jpeg(np.full((8, 8), 128, np.uint8), 90, 4864)
        row = np.zeros(f["cameras/posterior/frames_jpeg"].shape[1], np.uint8)
        row[: len(data)] = np.frombuffer(data, np.uint8)
        f["cameras/posterior/frames_jpeg"][3] = row
        f["cameras/posterior/jpeg_length"][3] = len(data)

    path = _damaged_copy(tmp_path, small_jpeg_in_row_3)
    with open_session(path) as session:
        camera = session.camera("posterior")
        assert camera.frame(2).shape == (24, 32)  # the undamaged rows still read
        with pytest.raises(InputError) as caught:
            camera.frame(3)
    sentence = caught.value.sentence()
    assert str(path) in sentence and "'posterior', frame row 3" in sentence
    assert "8x8" in sentence and "32x24" in sentence


def test_format_version_as_text_of_a_number_opens(tmp_path):
    path = _damaged_copy(tmp_path, lambda f: f.attrs.__setitem__("format_version", "1"))
    with open_session(path) as session:
        assert session.format_version == 1
