"""``midstance simulate``: the preview files exist, show the session, and errors are sentences."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from app.cli import main
from drivers.sim import LabSetup, SimulatedLab, preset


def test_simulate_writes_contact_sheet_force_plot_and_truth(tmp_path, capsys):
    out = tmp_path / "preview"
    code = main(
        ["simulate", "--preset", "overstrider", "--duration", "3", "--out", str(out), "--seed", "4"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("contact_sheet.png", "forces.png", "truth.json"):
        assert str(out / name) in printed
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    lab = SimulatedLab(preset("overstrider"), LabSetup(), seed=4, duration_s=3)
    assert len(truth["truth"]["stances"]) == len(lab.truth.stances) >= 6
    first = truth["truth"]["stances"][0]
    assert first["valr_N_s"] == pytest.approx(lab.truth.stances[0].valr_N_s)
    assert truth["runner"]["hip_ankle_contact_m"] == 0.40
    assert truth["setup"]["treadmill"] == "single-belt"
    assert truth["plates"][0]["rotation"] == [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]
    assert set(truth["summary_by_side"]) == {"L", "R"}
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    forces = cv2.imread(str(out / "forces.png"))
    assert sheet.shape[1] > 1200 and sheet.shape[0] > 700
    assert forces.shape[1] > 1000
    # the true-marker circles (green) and the hip–knee–ankle lines (orange) were drawn
    b, g, r = (sheet[..., i].astype(int) for i in range(3))
    assert np.count_nonzero((g > 120) & (r < 100) & (b < 100)) > 100
    assert np.count_nonzero((r > 200) & (g > 100) & (g < 170) & (b < 60)) > 100


def test_simulate_split_belt_json_output(tmp_path, capsys):
    out = tmp_path / "split"
    assert (
        main(
            [
                "simulate",
                "--duration",
                "2",
                "--out",
                str(out),
                "--treadmill",
                "split-belt",
                "--json",
            ]
        )
        == 0
    )
    paths = json.loads(capsys.readouterr().out)
    with open(paths["truth"], encoding="utf-8") as file:
        truth = json.load(file)
    assert [p["name"] for p in truth["plates"]] == ["left", "right"]
    assert {s["plate"] for s in truth["truth"]["stances"]} == {"left", "right"}


def test_simulate_errors_are_one_sentence(tmp_path, capsys):
    assert main(["simulate", "--preset", "sprinter", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'sprinter'" in err and "overstrider" in err and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["simulate", "--duration", "1", "--out", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["simulate", "--duration", "0.1", "--out", str(tmp_path / "x")]) == 2
    assert "duration_s" in capsys.readouterr().err
