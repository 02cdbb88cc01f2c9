"""A realistic session from the simulated lab: written, read back identical, exported to C3D
and checked against the simulator's noise-free ground truth through ezc3d."""

from __future__ import annotations

import math

import ezc3d
import numpy as np
import pytest

from data import open_session
from data.export_c3d import export_c3d
from data.session_writer import CameraSpec, SessionWriter
from data.video_codecs import CodecChoice

sim = pytest.importorskip("drivers.sim")
N_FRAMES = 8  # rendering costs ~70 ms a frame


@pytest.fixture(scope="module")
def lab():
    return sim.SimulatedLab(sim.preset("overstrider"), sim.LabSetup(treadmill="single-belt"),
                            seed=1, duration_s=2.0)  # fmt: skip


@pytest.fixture(scope="module")
def recorded(lab, tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.midstance.h5"
    cameras = [
        CameraSpec(name, model.size[1], model.size[0], 250.0, model.view, CodecChoice("lossless"))
        for name, model in lab.cameras.items()
    ]
    devices = {
        "plates": lab.plate_configs(),
        "cameras": {
            name: {
                "K": m.K,
                "dist": m.dist,
                "R": m.R,
                "t": m.t,
                "size": list(m.size),
                "view": m.view,
            }
            for name, m in lab.cameras.items()
        },
        "sync": {"mode": "hardware"},
    }
    with SessionWriter(path, channel_names=lab.channel_names, daq_rate_hz=lab.setup.daq_rate_hz,
                       cameras=cameras, devices=devices,
                       live_settings={"source": "simulated truth"}) as writer:  # fmt: skip
        for start in range(0, lab.n_samples, 250):
            writer.append_analog(lab.analog(start, min(250, lab.n_samples - start)))
        for name in lab.cameras:
            for k in range(N_FRAMES):
                truth = lab.frame_truth(name, k)
                writer.append_frame(name, lab.frame(name, k), frame_index=k,
                                    session_time_s=truth.session_time_s,
                                    camera_time_s=truth.camera_time_s)  # fmt: skip
        for stance in lab.truth.stances:
            writer.append_stance(stance)
    return path


def test_simulated_session_reads_back_identical(lab, recorded):
    with open_session(recorded) as s:
        np.testing.assert_array_equal(s.analog.read(), lab.analog(0, lab.n_samples))
        assert s.analog.channel_names == tuple(lab.channel_names)
        for name in lab.cameras:
            cam = s.camera(name)
            assert cam.n_frames == N_FRAMES
            np.testing.assert_array_equal(cam.frame(N_FRAMES - 1), lab.frame(name, N_FRAMES - 1))
            assert cam.session_time[3] == lab.frame_truth(name, 3).session_time_s
        rows = s.analysis().stances()
        assert len(rows) == len(lab.truth.stances) > 0
        for got, truth in zip(rows, lab.truth.stances, strict=True):
            for key, value in truth.to_dict().items():
                if value is None:
                    assert isinstance(got[key], float) and math.isnan(got[key]), key
                else:
                    assert got[key] == value, key
        plate = s.devices["plates"][0]
        np.testing.assert_array_equal(plate["matrix"], lab.plate_configs()[0]["matrix"])


def test_c3d_force_and_cop_match_the_simulated_truth(lab, recorded, tmp_path):
    report = export_c3d(recorded, tmp_path / "sim.c3d")
    assert report.force_source == "raw volts"
    c3d = ezc3d.c3d(str(report.path), extract_forceplat_data=True)
    plate = c3d["data"]["platform"][0]
    n = plate["force"].shape[1]
    true_force = lab.true_forces(0, n)["belt"][:, :3]
    error = plate["force"].T - true_force
    assert np.abs(error[:, 2]).max() < 15.0  # N: sensor noise (measured 7.6 N) on a 1660 N peak
    assert np.sqrt(np.mean(error**2)) < 4.0  # measured 2 N
    loaded = true_force[:, 2] > 400.0
    cop_error = plate["center_of_pressure"].T[loaded, :2] - lab.true_cop(0, n)[loaded, :2]
    assert np.abs(cop_error).max() < 0.006  # m (measured 3.8 mm)
