"""Result records → HDF5 compound tables → records, for any mix of field types."""

from __future__ import annotations

import math
from dataclasses import dataclass

import h5py
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from data.session_schema import records_to_table, table_to_records, unit_for_field

FLAG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
COLUMNS = {
    "contact_s": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    "index": st.integers(-(2**40), 2**40),
    "side": st.sampled_from(["L", "R", "Ü"]),
    "flags": st.lists(FLAG, max_size=3).map(tuple),
    "ok": st.booleans(),
}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries(COLUMNS), min_size=1, max_size=6))
def test_tables_round_trip_through_hdf5(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("tables") / "t.h5"
    table, attrs = records_to_table(rows)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("t", data=table)
        ds.attrs.update(attrs)
    with h5py.File(path, "r") as f:
        back = table_to_records(f["t"][()], f["t"].attrs)
    for got, want in zip(back, rows, strict=True):
        for key, value in want.items():
            if value is None:
                assert math.isnan(got[key])
            else:
                assert got[key] == value, key


def test_units_follow_the_field_names():
    assert unit_for_field("valr_N_s") == "N/s"
    assert unit_for_field("braking_impulse_Ns") == "N*s"
    assert unit_for_field("hip_ankle_midstance_m") == "m"
    assert unit_for_field("fppa_peak_deg_sd") == "deg"
    assert unit_for_field("index") == "1"
    assert unit_for_field("mystery") == "unspecified"


def test_dataclass_rows_and_bad_rows():
    @dataclass
    class Row:
        index: int
        peak_vertical_N: float | None

    table, _ = records_to_table([Row(0, 1500.0), Row(1, None)])
    assert table["index"].tolist() == [0, 1] and math.isnan(table["peak_vertical_N"][1])
    with pytest.raises(InputError, match="not a dict"):
        records_to_table([3.5])
    with pytest.raises(InputError, match="comma"):
        records_to_table([{"flags": ("a,b",)}])
