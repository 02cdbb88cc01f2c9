"""Broken C3D files, written with ezc3d from a real treadmill recording (Fukuchi 2017): each is
read into plates or refused with a MidstanceError naming the file — never a traceback, never a
force computed from a plate that is not fully described. Cases already in tests/data (TYPE 7
plate, a static trial without analog data — zero-length analog, which ezc3d cannot write —, a
file that is not C3D) are not repeated."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import MidstanceError
from data.c3d_import import read_c3d_forces

ezc3d = pytest.importorskip("ezc3d")
pytestmark = pytest.mark.real_data
SOURCE = "fukuchi2017/RBDS001runT35.c3d"


def _set(c3d, group: str, name: str, value) -> None:
    c3d["parameters"][group][name]["value"] = value


def _drop(c3d, group: str, name: str) -> None:
    del c3d["parameters"][group][name]


BREAKAGES = {
    "no FORCE_PLATFORM group at all": lambda c: c["parameters"].__delitem__("FORCE_PLATFORM"),
    "USED = 0": lambda c: _set(c, "FORCE_PLATFORM", "USED", np.array([0])),
    "USED says 2 plates, one described": lambda c: _set(c, "FORCE_PLATFORM", "USED", np.array([2])),
    "TYPE 4 without CAL_MATRIX": lambda c: _drop(c, "FORCE_PLATFORM", "CAL_MATRIX"),
    "CAL_MATRIX of the wrong size": lambda c: _set(
        c, "FORCE_PLATFORM", "CAL_MATRIX", np.ones((3, 3, 1))
    ),
    "no CORNERS": lambda c: _drop(c, "FORCE_PLATFORM", "CORNERS"),
    "CHANNEL beyond the analog channels": lambda c: _set(
        c, "FORCE_PLATFORM", "CHANNEL", np.array([[90], [91], [92], [93], [94], [95]])
    ),
    "CHANNEL zero (C3D channels count from 1)": lambda c: _set(
        c, "FORCE_PLATFORM", "CHANNEL", np.zeros((6, 1), int)
    ),
    "ANALOG RATE zero": lambda c: _set(c, "ANALOG", "RATE", np.array([0.0])),
    "TYPE 6 (not supported)": lambda c: _set(c, "FORCE_PLATFORM", "TYPE", np.array([6])),
}  # fmt: skip


@pytest.fixture(scope="module")
def source(real_data):
    return real_data / SOURCE


@pytest.mark.parametrize("breakage", list(BREAKAGES), ids=list(BREAKAGES))
def test_broken_plate_description_is_refused_or_left_out_naming_the_file(
    source, tmp_path, breakage
):
    c3d = ezc3d.c3d(str(source))
    BREAKAGES[breakage](c3d)
    path = tmp_path / "broken.c3d"
    try:
        c3d.write(str(path))
    except Exception:  # ezc3d itself refuses to write this: nothing to read
        pytest.skip(f"ezc3d cannot write a file with {breakage}")
    try:
        imported = read_c3d_forces(path)
    except MidstanceError as exc:
        assert str(path) in exc.sentence(), exc.sentence()
        return
    # accepted: every plate it kept is fully usable, and the rest is listed, not guessed
    assert imported.plates or imported.unsupported
    for wrench in imported.wrenches().values():
        assert np.isfinite(wrench).all()
    assert imported.rate_hz > 0


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.9])
def test_truncated_c3d_is_refused_naming_the_file(source, tmp_path, fraction):
    data = source.read_bytes()
    path = tmp_path / "cut.c3d"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MidstanceError) as caught:
        read_c3d_forces(path)
    assert str(path) in caught.value.sentence()


def test_plate_corners_all_zero_is_refused_naming_the_file(source, tmp_path):
    c3d = ezc3d.c3d(str(source))
    _set(c3d, "FORCE_PLATFORM", "CORNERS", np.zeros((3, 4, 1)))
    path = tmp_path / "no-corners.c3d"
    c3d.write(str(path))
    with pytest.raises(MidstanceError) as caught:
        read_c3d_forces(path)
    assert str(path) in caught.value.sentence()
