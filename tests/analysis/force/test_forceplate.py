"""Plate models: the [[plates]] table, six-channel and Kistler calibration, COP and free moment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from analysis.forceplate import parse_plate
from drivers.config import ConfigError, parse_config

KISTLER = {
    "name": "kistler",
    "type": "kistler",
    "channels": [f"k{i}" for i in range(8)],
    "gains_N_per_V": [250.0] * 8,
    "a_m": 0.120,
    "b_m": 0.200,
    "az0_m": -0.040,
    "belt": "overground",
}


def _kistler_volts(force, point, *, a, b, az0, gain):
    """Sensor forces for a force ``force`` applied at ``point`` on the top surface, found by
    solving the SCIENCE §7 equations; the surface is at z = az0 in the plate's axes."""
    fx, fy, fz = force
    x, y = point
    # moments about the sensor plane centre of a force applied on the top surface
    mx, my, mz = np.cross(np.array([x, y, az0]), force)
    s12_34 = mx / b  # Mx = b(fz1 + fz2 − fz3 − fz4)
    s23_14 = my / a  # My = a(−fz1 + fz2 + fz3 − fz4)
    fz1 = (fz + s12_34 - s23_14) / 4
    fz2 = (fz + s12_34 + s23_14) / 4
    fz3 = (fz - s12_34 + s23_14) / 4
    fz4 = (fz - s12_34 - s23_14) / 4
    fx12, fx34 = (fx - mz / b) / 2, (fx + mz / b) / 2  # Mz = b(−fx12 + fx34) + a(fy14 − fy23)
    channels = [fx12, fx34, fy / 2, fy / 2, fz1, fz2, fz3, fz4]
    return np.array(channels)[None, :] / gain


def test_kistler_cop_of_a_known_point_load():
    plate = parse_plate(KISTLER)
    force = np.array([30.0, -20.0, 800.0])
    volts = _kistler_volts(force, (0.07, -0.05), a=0.120, b=0.200, az0=-0.040, gain=250.0)
    wrench = plate.lab_wrench(volts)
    assert np.allclose(wrench[0, :3], force)
    cop, free = plate.cop_and_free_moment(wrench, 20.0)
    assert cop[0, :2] == pytest.approx([0.07, -0.05], abs=1e-12)
    assert free[0] == pytest.approx(0.0, abs=1e-9)


def test_six_channel_cop_on_a_raised_surface_and_rotation(belt_plate, to_volts):
    # a point load at lab (0.3, 0.1) with a forward shear: the COP must not move with the shear
    force = np.array([150.0, 0.0, 900.0])
    point = np.array([0.3, 0.1, 0.0])  # on the belt surface (lab z = 0)
    moment = np.cross(point - belt_plate.surface_point_m, force)
    wrench = np.concatenate([force, moment])[None, :]
    volts = to_volts(belt_plate, wrench)
    cop, _ = belt_plate.cop_and_free_moment(belt_plate.lab_wrench(volts), 20.0)
    assert cop[0] == pytest.approx(point, abs=1e-12)
    # below the COP threshold: NaN, not a wild number
    cop, _ = belt_plate.cop_and_free_moment(belt_plate.lab_wrench(volts * 0.0), 20.0)
    assert np.isnan(cop).all()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"type": "eight"}, "test.type"),
        ({"channels": ["a", "b"]}, "test.channels"),
        ({"matrix": [[1, 2], [3, 4]]}, "test.matrix"),
        ({"matrix": np.zeros((6, 6)).tolist()}, "test.matrix"),
        ({"rotation": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}, "test.rotation"),
        ({"belt": "middle"}, "test.belt"),
        ({"z_surface_m": "high"}, "test.z_surface_m"),
        ({"colour": "red"}, "test.colour"),
    ],
)
def test_bad_plate_tables_name_the_key(belt_plate, change, key):
    table = {**belt_plate.to_dict(), **change}
    with pytest.raises(InputError) as caught:
        parse_plate(table, subject="test")
    assert caught.value.subject == key


def test_config_file_plate_errors_name_file_and_key():
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000},
        "plates": [{**KISTLER, "a_m": "wide"}],
    }
    with pytest.raises(ConfigError, match=r"lab\.toml: plates\[0\]\.a_m"):
        parse_config(raw, source="lab.toml")
    good = parse_config({**raw, "plates": [KISTLER]}, source="lab.toml")
    assert good.plates[0]["name"] == "kistler"


def test_rezeroing_keeps_everything_else(belt_plate):
    zeroed = belt_plate.with_offsets([0.0] * 6)
    assert np.allclose(zeroed.matrix, belt_plate.matrix)
    assert zeroed.to_dict()["offsets_V"] == [0.0] * 6
    with pytest.raises(InputError, match="offsets"):
        belt_plate.with_offsets([0.0] * 5)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["name", "type", "channels", "matrix", "offsets_V", "rotation", "belt", "a_m", "x"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.floats(allow_nan=True),
            st.text(max_size=5),
            st.lists(st.floats(allow_nan=True), max_size=8),
            st.lists(st.lists(st.integers(-2, 2), max_size=6), max_size=6),
        ),
    )
)
def test_any_malformed_plate_table_is_an_input_error(table):
    try:
        parse_plate(table, subject="fuzz")
    except InputError as exc:
        assert exc.subject.startswith("fuzz")


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cutoff_hz", "threshold_on_N", "threshold_off_N", "midstance", "bogus"]),
        st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.integers(-5, 500)),
    )
)
def test_any_malformed_settings_are_an_input_error(raw):
    from analysis.force_settings import ForceSettings

    try:
        ForceSettings.from_dict(raw)
    except InputError as exc:
        assert exc.subject.startswith("force settings")
