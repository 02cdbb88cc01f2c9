"""``midstance calibrate camera`` on the real checkerboard photos, and its errors."""

from __future__ import annotations

import json

import pytest

from app.cli import main


@pytest.mark.real_data
def test_calibrate_camera_prints_intrinsics_and_rejections(real_data, capsys):
    folder = real_data / "pose2sim" / "intrinsics_cam01"
    code = main(
        [
            "calibrate",
            "camera",
            "--images",
            str(folder),
            "--board",
            "4x7",
            "--square-mm",
            "60",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    k = result["intrinsics"]
    assert k["fx"] == pytest.approx(1681.2, rel=0.01)  # the lab's Qualisys value
    assert len(k["dist"]) == 5 and result["rms_px"] < 0.3
    rejected = [im for im in result["images"] if not im["used"]]
    assert [im["path"].rsplit("/", 1)[-1] for im in rejected] == ["cam01_02_int.jpg"]

    code = main(
        ["calibrate", "camera", "--images", str(folder), "--board", "4x7", "--square-mm", "60"]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "fx, fy" in text and "RMS reprojection error" in text
    assert "rejected  cam01_02_int.jpg: blurred" in text


def test_calibrate_camera_errors_are_one_sentence(tmp_path, capsys):
    assert (
        main(
            [
                "calibrate",
                "camera",
                "--images",
                str(tmp_path / "x"),
                "--board",
                "4x7",
                "--square-mm",
                "60",
            ]
        )
        == 2
    )
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "calibrate",
                "camera",
                "--images",
                str(tmp_path),
                "--board",
                "four",
                "--square-mm",
                "60",
            ]
        )
    assert "COLSxROWS" in capsys.readouterr().err
    assert (
        main(
            [
                "calibrate",
                "camera",
                "--images",
                str(tmp_path),
                "--board",
                "4x7",
                "--square-mm",
                "-1",
            ]
        )
        == 2
    )
    assert "--square-mm" in capsys.readouterr().err
