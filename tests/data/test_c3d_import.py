"""C3D force plates from other labs, checked against ezc3d's own platform computation."""

from __future__ import annotations

import zipfile

import ezc3d
import numpy as np
import pytest

from analysis.errors import AnalysisError, InputError
from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial
from data.c3d_import import read_c3d_forces
from data.grf_text import read_grf_text

pytestmark = pytest.mark.real_data

FILES = {
    "fukuchi2017/RBDS001runT35.c3d": ("Y", 1, 300.0),
    "pyorerun/Running_0002.c3d": ("Z", 2, 2000.0),
    "opensim-core/walking2.c3d": ("Z", 2, 2000.0),
    "kineticstoolkit/walk.c3d.zip": ("Z", 4, 2000.0),
    "omcs/exampleOverground.c3d": ("Z", 2, 2400.0),
}
LOADED_N = 100.0


@pytest.fixture
def c3d_path(real_data, tmp_path, request):
    path = real_data / request.param
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp_path)
        return tmp_path / path.stem
    return path


@pytest.mark.parametrize("c3d_path", list(FILES), indirect=True, ids=list(FILES))
def test_forces_and_cop_match_ezc3d(c3d_path, request):
    key = request.node.callspec.params["c3d_path"]
    vertical, n_plates, rate = FILES[key]
    imported = read_c3d_forces(c3d_path)
    assert imported.vertical_axis == vertical
    assert imported.rate_hz == rate
    assert len(imported.plates) == n_plates and not imported.unsupported
    reference = ezc3d.c3d(str(c3d_path), extract_forceplat_data=True)["data"]["platform"]
    to_lab = imported.lab_from_file
    wrenches, cops = imported.wrenches(), imported.cop(threshold_N=LOADED_N)
    loaded_somewhere = 0
    for index, plate in enumerate(imported.plates):
        ref = reference[index]
        assert ref["unit_position"] == "mm"
        force_ref = (to_lab @ ref["force"]).T * imported.force_sign
        cop_ref = (to_lab @ ref["center_of_pressure"]).T * imported.length_unit_m
        mine = wrenches[plate.name]
        loaded = mine[:, 2] > LOADED_N
        assert np.max(np.abs(mine[:, :3] - force_ref)) < 1.0  # N
        if loaded.any():
            loaded_somewhere += 1
            error_mm = 1000 * np.abs(cops[plate.name][loaded, :2] - cop_ref[loaded, :2])
            assert np.max(error_mm) < 1.0
            # the reaction on the person points up in the lab frame
            assert np.percentile(mine[loaded, 2], 95) > 300.0
    assert loaded_somewhere >= 1


def test_kistler_cop_needs_the_polynomial_correction(real_data):
    imported = read_c3d_forces(real_data / "pyorerun/Running_0002.c3d")
    plate = imported.plates[0]
    assert plate.type == "kistler" and plate.cop_poly is not None
    from dataclasses import replace

    plain = replace(plate, cop_poly=None)
    wrench = imported.wrenches()[plate.name]
    with_poly = plate.cop_and_free_moment(wrench, LOADED_N)[0]
    without = plain.cop_and_free_moment(wrench, LOADED_N)[0]
    shift_mm = 1000 * np.nanmax(np.abs(with_poly[:, :2] - without[:, :2]))
    assert shift_mm > 2.0  # so agreeing with ezc3d within 1 mm exercises the polynomial


def test_treadmill_file_300_hz_runs_and_says_vilr_is_poorly_resolved(real_data):
    imported = read_c3d_forces(real_data / "fukuchi2017/RBDS001runT35.c3d")
    assert imported.plates[0].belt == "both"
    results = {}
    for off in (20.0, 50.0):
        settings, notes = ForceSettings(threshold_on_N=50.0, threshold_off_N=off).adapted_to(300)
        assert settings.metrics_cutoff_hz == 100.0 and "lowered" in notes[0]
        results[off] = analyse_force_trial(
            imported.wrenches(), imported.plates, imported.rate_hz, settings, body_weight_N=608.2
        )
    low, high = results[20.0], results[50.0]
    assert len(low.stances) == len(high.stances) == 85  # the dataset's own count
    contact = np.array([s.contact_time_s for s in low.stances])
    assert 0.20 < contact.mean() < 0.27  # running at 3.5 m/s
    step = np.array([s.step_time_s for s in low.stances if s.step_time_s])
    assert 160 < 60 / step.mean() < 190  # cadence, steps/min
    assert all(s.loading_rate_reference == "stance_13pct" for s in low.stances)  # forefoot
    valr_low = np.array([s.valr_BW_s for s in low.stances])
    valr_high = np.array([s.valr_BW_s for s in high.stances])
    assert 20 < np.median(valr_low) < 90
    assert np.median(np.abs(valr_high / valr_low - 1)) < 0.05
    assert all("vilr_low_resolution" in s.flags for s in low.stances)
    assert any("VILR" in note and "300 Hz" in note for note in low.notes)
    peak = np.array([s.peak_vertical_BW for s in low.stances])
    assert 2.0 < np.median(peak) < 3.0


@pytest.mark.parametrize(
    ("name", "contacts"),
    [("opensim-core/walking2.c3d", [1, 1]), ("omcs/exampleOverground.c3d", [1, 1])],
)
def test_walking_files_give_one_contact_per_plate(real_data, name, contacts):
    imported = read_c3d_forces(real_data / name)
    assert all(p.belt == "overground" for p in imported.plates)
    for off in (20.0, 50.0):
        result = analyse_force_trial(
            imported.wrenches(),
            imported.plates,
            imported.rate_hz,
            ForceSettings(threshold_off_N=off, max_stance_s=2.0),
        )
        per_plate = [sum(s.plate == p.name for s in result.stances) for p in imported.plates]
        assert per_plate == contacts
        assert all(0.4 < s.contact_time_s < 1.0 for s in result.stances)  # walking stance
        assert all(s.side is None for s in result.stances)  # no side from force overground


def test_body_mass_from_c3d_parameters(real_data, tmp_path):
    with zipfile.ZipFile(real_data / "kineticstoolkit/walk.c3d.zip") as archive:
        archive.extractall(tmp_path)
    imported = read_c3d_forces(tmp_path / "walk.c3d")
    assert imported.body_mass_kg == pytest.approx(73.4, abs=0.01)
    assert "PROCESSING:Bodymass" in imported.body_mass_source


def test_unsupported_plate_type_is_listed_not_guessed(real_data, tmp_path):
    c3d = ezc3d.c3d(str(real_data / "opensim-core/walking2.c3d"))
    c3d["parameters"]["FORCE_PLATFORM"]["TYPE"]["value"] = np.array([2, 7])
    path = tmp_path / "type7.c3d"
    c3d.write(str(path))
    imported = read_c3d_forces(path)
    assert [p.name for p in imported.plates] == ["plate1"]
    assert imported.unsupported == ["plate2: TYPE 7 is not supported; its data are left out"]


def test_static_trial_without_analog_data_is_a_clear_error(real_data):
    with pytest.raises(AnalysisError, match="no analog samples"):
        read_c3d_forces(real_data / "fukuchi2017/RBDS001static.c3d")


def test_not_a_c3d_file(tmp_path):
    path = tmp_path / "broken.c3d"
    path.write_bytes(b"this is not a c3d file at all" * 10)
    with pytest.raises(InputError, match=r"broken\.c3d"):
        read_c3d_forces(path)
    with pytest.raises(InputError, match="file not found"):
        read_c3d_forces(tmp_path / "missing.c3d")


def test_fukuchi_text_forces(real_data):
    imported = read_grf_text(real_data / "fukuchi2017/RBDS001runT25forces.txt")
    assert imported.body_mass_kg == 62.0 and "RBDSinfo.txt" in imported.body_mass_source
    settings, _ = ForceSettings().adapted_to(imported.rate_hz)
    result = analyse_force_trial(
        imported.wrenches(), imported.plates, imported.rate_hz, settings, body_weight_N=62.0 * 9.81
    )
    assert 70 <= len(result.stances) <= 100  # 30 s at ~2.8 steps/s
    contact = np.median([s.contact_time_s for s in result.stances])
    assert 0.22 < contact < 0.32  # slower running (2.5 m/s) than the 3.5 m/s trial
    # the COP of the text file is reproduced from the rebuilt wrench
    raw = np.loadtxt(real_data / "fukuchi2017/RBDS001runT25forces.txt", skiprows=1)
    cop = imported.cop(threshold_N=LOADED_N)["treadmill"]
    loaded = raw[:, 2] > LOADED_N
    assert np.allclose(cop[loaded, 0], raw[loaded, 4] / 1000, atol=1e-9)
    assert np.allclose(cop[loaded, 1], -raw[loaded, 6] / 1000, atol=1e-9)


def test_grf_text_bad_header(tmp_path):
    path = tmp_path / "forces.txt"
    path.write_text("a b c\n1 2 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="header"):
        read_grf_text(path)
