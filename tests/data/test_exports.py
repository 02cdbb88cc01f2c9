"""CSV and C3D exports, the C3D read back with ezc3d (an independent reader)."""

from __future__ import annotations

import csv
import json

import ezc3d
import numpy as np
import pytest

from app.cli import main as cli_main


def _read_csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_export_of_stances_and_summaries(session_file, synth, tmp_path):
    path, _ = session_file
    out = tmp_path / "export" / "P-007.csv"
    assert cli_main(["export", str(path), "--csv", str(out)]) == 0
    rows = _read_csv(out)
    want = synth.stance_rows(3)
    assert len(rows) == 3 and list(rows[0]) == list(want[0])
    assert float(rows[1]["valr_N_s"]) == want[1]["valr_N_s"]
    assert rows[0]["impact_peak_N"] == ""  # None → empty cell
    assert rows[0]["flags"] == "loading_rate_13pct" and rows[1]["flags"] == ""
    summary = _read_csv(tmp_path / "export" / "P-007_summary.csv")
    assert [r["side"] for r in summary] == ["L", "R"]
    assert float(summary[1]["valr_N_s_sd"]) == 210.0
    provenance = json.loads((tmp_path / "export" / "P-007_settings.json").read_text())
    assert provenance["settings"] == synth.SETTINGS and provenance["revision"] == "rev_0001"
    assert provenance["units"]["stances"]["valr_N_s"] == "N/s"


def _plate(c3d):
    return c3d["data"]["platform"][0]


def test_c3d_export_reads_back_with_ezc3d(session_file, synth, tmp_path, capsys):
    path, written = session_file
    out = tmp_path / "session.c3d"
    assert cli_main(["export", str(path), "--c3d", str(out)]) == 0
    assert "3 markers at 250 Hz" in capsys.readouterr().out
    c3d = ezc3d.c3d(str(out), extract_forceplat_data=True)
    assert c3d["parameters"]["POINT"]["LABELS"]["value"] == list(synth.SAGITTAL_MARKERS)
    assert c3d["header"]["points"]["frame_rate"] == 250.0
    assert c3d["header"]["analogs"]["frame_rate"] == 1000.0
    assert c3d["parameters"]["POINT"]["UNITS"]["value"] == ["m"]
    # Markers: pixels through the stored plane homography, sagittal plane at y = plane_offset_m.
    h = np.asarray(synth.CAMERA_CALIBRATION["homography"])
    xy = written["xy"].astype(float)
    projected = np.concatenate([xy, np.ones((*xy.shape[:2], 1))], axis=2) @ h.T
    plane = projected[..., :2] / projected[..., 2:]
    points = c3d["data"]["points"]
    assert points.shape[2] == 300
    np.testing.assert_allclose(points[0, :, :].T, plane[..., 0], atol=1e-6)
    np.testing.assert_allclose(points[2, :, :].T, plane[..., 1], atol=1e-6)
    np.testing.assert_allclose(points[1], synth.CAMERA_CALIBRATION["plane_offset_m"], atol=1e-7)
    # Forces: the revision's lab-frame force comes back in the lab frame.
    truth = synth.plate_force(1200)
    plate = _plate(c3d)
    np.testing.assert_allclose(plate["force"].T, truth[:, :3], rtol=1e-5, atol=1e-3)
    loaded = truth[:, 2] > 50
    phase = np.mod(np.arange(1200) / 1000.0, 0.35)
    cop = plate["center_of_pressure"].T
    np.testing.assert_allclose(cop[loaded, 0], (0.1 - 0.4 * phase)[loaded], atol=1e-5)
    np.testing.assert_allclose(cop[loaded, 1], 0.01 + 0.045 * 0.02, atol=1e-5)
    np.testing.assert_allclose(cop[loaded, 2], 0.0, atol=1e-6)
    events = c3d["parameters"]["EVENT"]
    assert events["LABELS"]["value"] == ["Foot Strike", "pain 3/10"]
    assert events["CONTEXTS"]["value"] == ["Right", "General"]
    np.testing.assert_allclose(events["TIMES"]["value"][1], [0.0, 0.5])


def test_c3d_forces_from_raw_volts_when_there_is_no_analysis(tmp_path, synth):
    path = tmp_path / "raw.midstance.h5"
    synth.write_session(path, seconds=0.7, with_analysis=False)
    from data.export_c3d import export_c3d

    report = export_c3d(path, tmp_path / "raw")
    assert report.force_source == "raw volts" and report.path.suffix == ".c3d"
    plate = _plate(ezc3d.c3d(str(report.path), extract_forceplat_data=True))
    truth = synth.plate_force(700)
    rotation = np.asarray(synth.PLATE["rotation"], float)
    np.testing.assert_allclose(plate["force"].T, truth[:, :3] @ rotation.T, rtol=1e-5, atol=1e-3)
    loaded = truth[:, 2] > 50
    phase = np.mod(np.arange(700) / 1000.0, 0.35)
    cop = plate["center_of_pressure"].T  # plate-axis COP rotated into the lab: x and y flip
    np.testing.assert_allclose(cop[loaded, 0], -(0.1 - 0.4 * phase)[loaded], atol=1e-5)
    np.testing.assert_allclose(cop[loaded, 1], -(0.01 + 0.045 * 0.02), atol=1e-5)


def test_export_without_a_target_is_a_clear_error(session_file, capsys):
    path, _ = session_file
    assert cli_main(["export", str(path)]) == 2
    assert "Give --csv or --c3d" in capsys.readouterr().err


def test_csv_export_needs_an_analysis(tmp_path, synth):
    from analysis.errors import InputError
    from data.export_csv import export_csv

    path = tmp_path / "plain.midstance.h5"
    synth.write_session(path, seconds=0.2, with_analysis=False)
    with pytest.raises(InputError, match="no stored analysis"):
        export_csv(path, tmp_path / "x.csv")


def test_c3d_markers_through_a_plane_calibration(tmp_path, synth):
    """A camera calibrated by analysis.plane_calibration: lens undistortion applies first."""
    from analysis.camera_calibration import CameraIntrinsics
    from analysis.marker_sets import ImageOrientation
    from analysis.plane_calibration import PlaneCalibration
    from data.export_c3d import export_c3d

    lens = {"fx": 60.0, "fy": 60.0, "cx": 32.0, "cy": 24.0, "dist": (-0.2, 0.05, 0, 0, 0)}
    intrinsics = CameraIntrinsics(**lens, image_size=(64, 48))
    h = np.asarray(synth.CAMERA_CALIBRATION["homography"])
    orientation = ImageOrientation()
    plane = PlaneCalibration("sagittal", h, "homography", orientation, intrinsics=intrinsics)
    path = tmp_path / "plane.midstance.h5"
    calibration = {"plane": plane.to_dict(), "plane_offset_m": 0.2}
    written = synth.write_session(
        path, seconds=0.2, with_analysis=False, camera_calibration=calibration
    )
    report = export_c3d(path, tmp_path / "plane.c3d")
    points = ezc3d.c3d(str(report.path))["data"]["points"]
    expected = plane.to_plane(written["xy"].astype(float))
    undistorted_as_is = PlaneCalibration("sagittal", h, "homography", orientation)
    assert (
        np.abs(expected - undistorted_as_is.to_plane(written["xy"])).max() > 0.002
    )  # lens matters
    np.testing.assert_allclose(points[0].T, expected[..., 0], atol=1e-6)
    np.testing.assert_allclose(points[2].T, expected[..., 1], atol=1e-6)
    np.testing.assert_allclose(points[1], 0.2, atol=1e-7)
