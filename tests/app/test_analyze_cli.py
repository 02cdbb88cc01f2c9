"""``midstance analyze``: one JSON document (or a table) from a C3D or GRF text file."""

from __future__ import annotations

import json

import pytest

from app.cli import main

STANCE_KEYS = {
    "plate",
    "side",
    "contact_s",
    "toe_off_s",
    "peak_vertical_N",
    "impact_peak_N",
    "loading_rate_reference",
    "valr_N_s",
    "vilr_N_s",
    "valr_BW_s",
    "vilr_BW_s",
    "midstance_peak_vgrf_s",
    "midstance_ap_s",
    "midstance_half_s",
    "cop_midstance_m",
    "flags",
}


def _json(capsys, *argv):
    code = main(["analyze", *map(str, argv), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


@pytest.mark.real_data
def test_treadmill_c3d_json(real_data, capsys):
    doc = _json(capsys, real_data / "fukuchi2017/RBDS001runT35.c3d")
    assert doc["body_weight_N"] == pytest.approx(62.0 * 9.81)
    assert "RBDSinfo.txt" in doc["body_weight_source"]
    assert doc["settings"]["threshold_on_N"] == 50.0 and doc["settings"]["cutoff_hz"] == 50.0
    assert len(doc["stances"]) == 85
    for stance in doc["stances"]:
        assert stance.keys() >= STANCE_KEYS
        assert stance["valr_BW_s"] == pytest.approx(stance["valr_N_s"] / doc["body_weight_N"])
        assert stance["contact_s"] < stance["midstance_peak_vgrf_s"] < stance["toe_off_s"]
    sides = [s["side"] for s in doc["stances"]]
    assert sides.count("L") > 35 and sides.count("R") > 35
    assert doc["summary"]["L"]["n_stances"] > 20 and doc["summary"]["R"]["n_stances"] > 20
    assert any("VILR" in note for note in doc["notes"])


@pytest.mark.real_data
def test_options_change_settings_and_body_weight(real_data, capsys):
    doc = _json(
        capsys,
        real_data / "fukuchi2017/RBDS001runT25forces.txt",
        "--body-mass",
        "70",
        "--threshold-on",
        "60",
        "--threshold-off",
        "30",
        "--cutoff",
        "40",
    )
    assert doc["body_weight_N"] == pytest.approx(70 * 9.81)
    assert doc["body_weight_source"] == "--body-mass"
    s = doc["settings"]
    assert (s["threshold_on_N"], s["threshold_off_N"], s["cutoff_hz"]) == (60.0, 30.0, 40.0)
    assert doc["stances"] and doc["mode"] == "running stances"


@pytest.mark.real_data
def test_overground_c3d_reports_per_plate_contacts_without_body_weight(real_data, capsys):
    doc = _json(capsys, real_data / "opensim-core/walking2.c3d")
    assert doc["mode"].startswith("per-plate contacts")
    assert doc["body_weight_N"] is None
    assert [s["plate"] for s in doc["stances"]] == ["plate2", "plate1"]  # in time order
    # the first hump of a walking step is the active peak, not an impact peak
    assert doc["stances"][1]["loading_rate_reference"] == "stance_13pct"
    assert all(s["valr_BW_s"] is None and s["side"] is None for s in doc["stances"])


@pytest.mark.real_data
def test_table_output(real_data, capsys):
    assert main(["analyze", str(real_data / "pyorerun/Running_0002.c3d")]) == 0
    out = capsys.readouterr().out
    assert "VALR BW/s" in out and "plate1" in out and "TYPE 3 (Kistler" in out


def test_unknown_file_type_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "trial.xyz"
    path.write_text("nothing", encoding="utf-8")
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unsupported file type '.xyz'" in err and ".c3d" in err


def test_missing_file_and_bad_mass(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "none.c3d")]) == 2
    assert "file not found" in capsys.readouterr().err
    text = tmp_path / "RBDS001x.txt"
    text.write_text("Time Fx Fy Fz COPx COPy COPz Ty\n" + "1 0 0 0 0 0 0 0\n" * 20, "utf-8")
    assert main(["analyze", str(text), "--body-mass", "-3"]) == 2
    assert "--body-mass" in capsys.readouterr().err


def test_session_file_from_the_simulated_lab(tmp_path, capsys):
    from data.session_writer import SessionWriter
    from drivers.sim import LabSetup, SimulatedLab, preset

    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=2, duration_s=4.0)
    path = tmp_path / "run.midstance.h5"
    with SessionWriter(
        path,
        channel_names=lab.channel_names,
        daq_rate_hz=lab.setup.daq_rate_hz,
        subject={"subject_id": "T1", "body_mass_kg": lab.truth.body_weight_N / 9.81},
        devices={"plates": lab.plate_configs(), "cameras": {}, "sync": {"mode": "hardware"}},
    ) as writer:
        for start in range(0, lab.n_samples, 500):
            writer.append_analog(lab.analog(start, min(500, lab.n_samples - start)))
    doc = _json(capsys, path)
    assert doc["body_weight_N"] == pytest.approx(lab.truth.body_weight_N, rel=1e-6)
    assert "subject" in doc["body_weight_source"]
    truth = [t for t in lab.truth.stances if t.contact_s > 0.05 and t.toe_off_s < 3.95]
    assert len(doc["stances"]) == len(truth)
    for stance, t in zip(doc["stances"], truth, strict=True):
        assert abs(stance["contact_s"] - t.contact_s) < 1.0 / 2000
        assert stance["side"] == t.side
