"""A complete synthetic session (every group of the schema filled) for the data tests.

The force plate voltages are made from a known force through the inverse of a 6×6 calibration,
so exports can be checked against the force that went in.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from data.revisions import add_analysis_revision
from data.session_writer import CameraSpec, SessionWriter
from data.video_codecs import CodecChoice

DAQ_RATE_HZ = 1000.0
FRAME_RATE_HZ = 250.0
HEIGHT, WIDTH = 48, 64
CHANNELS = ("belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz", "sync.led")
SAGITTAL_MARKERS = ("hip", "knee", "ankle")
Z_SURFACE_M = 0.045
CALIBRATION = np.diag([500.0, 500.0, 1000.0, 300.0, 300.0, 200.0]) + 3.0 * np.eye(6, k=1)
OFFSETS_V = np.array([0.01, -0.02, 0.005, 0.0, 0.003, -0.001])
PLATE = {
    "name": "belt",
    "type": "six-channel",
    "channels": list(CHANNELS[:6]),
    "matrix": CALIBRATION.tolist(),
    "offsets_V": OFFSETS_V.tolist(),
    "z_surface_m": Z_SURFACE_M,
    "origin_m": [0.0, 0.0, -Z_SURFACE_M],
    "rotation": [[-1, 0, 0], [0, -1, 0], [0, 0, 1]],
    "corners_m": [[0.8, 0.25, 0.0], [-0.8, 0.25, 0.0], [-0.8, -0.25, 0.0], [0.8, -0.25, 0.0]],
    "belt": "both",
    "noise_floor": [0.5, 0.5, 1.0, 0.1, 0.1, 0.05],
}
CAMERA_CALIBRATION = {
    "K": [[800.0, 0, 32.0], [0, 800.0, 24.0], [0, 0, 1]],
    "dist": [0.01, 0.0, 0.0, 0.0, 0.0],
    "R": np.eye(3).tolist(),
    "t": [0.0, 0.0, 5.0],
    "homography": [[0.01, 0.0, -0.3], [0.0, -0.01, 1.2], [0.0, 0.0, 1.0]],
    "size": [WIDTH, HEIGHT],
    "view": "sagittal",
    "plane_offset_m": -0.15,
}


def plate_force(n: int) -> np.ndarray:
    """(n, 6) plate-axis Fx..Mz: half-sine stances of 0.25 s every 0.35 s, up to 1500 N."""
    t = np.arange(n) / DAQ_RATE_HZ
    phase = np.mod(t, 0.35)
    fz = np.where(phase < 0.25, 1500.0 * np.sin(np.pi * phase / 0.25), 0.0)
    fx = -0.1 * fz * np.cos(np.pi * phase / 0.25)
    cop_x = np.where(fz > 0, 0.1 - 0.4 * phase, 0.0)
    my = Z_SURFACE_M * fx - cop_x * fz  # x_cop = (z_s*Fx - My)/Fz
    return np.column_stack([fx, 0.02 * fz, fz, 0.01 * fz, my, 0.5 * np.sin(t)])


def analog_volts(n: int) -> np.ndarray:
    volts = np.linalg.solve(CALIBRATION, plate_force(n).T).T + OFFSETS_V
    led = (np.arange(n) % 500 < 5) * 5.0
    return np.column_stack([volts, led])


def frame_image(k: int) -> np.ndarray:
    """A smooth frame with a moving bright blob (compresses like a real frame)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    cx = 10 + (k * 3) % (WIDTH - 20)
    blob = 200.0 * np.exp(-((xx - cx) ** 2 + (yy - 20) ** 2) / 30.0)
    return np.clip(30 + 0.5 * xx + blob, 0, 255).astype(np.uint8)


def stance_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "index": i,
                "side": "L" if i % 2 else "R",
                "plate": "belt",
                "contact_s": 0.35 * i,
                "toe_off_s": 0.35 * i + 0.25,
                "midstance_knee_flexion_s": 0.35 * i + 0.1,
                "impact_peak_N": None if i % 3 == 0 else 1200.0 + i,
                "valr_N_s": 60000.0 + 100 * i,
                "loading_rate_reference": "stance_13pct" if i % 3 == 0 else "impact_peak",
                "peak_vertical_N": 1500.0,
                "hip_ankle_contact_m": 0.12 + 0.001 * i,
                "fppa_peak_deg": 8.5 - 0.1 * i,
                "flags": ("loading_rate_13pct",) if i % 3 == 0 else (),
            }
        )
    return rows


SUMMARIES = [
    {"side": "L", "n_stances": 3, "valr_N_s_mean": 60300.0, "valr_N_s_sd": 200.0},
    {"side": "R", "n_stances": 3, "valr_N_s_mean": 60200.0, "valr_N_s_sd": 210.0},
]
SETTINGS = {"force": {"lowpass_hz": 50.0, "contact_threshold_N": 20.0}, "midstance": "M1"}


def write_session(
    path: Path,
    *,
    seconds: float = 1.2,
    codecs: tuple[str, str] = ("lossless", "jpeg"),
    with_analysis: bool = True,
    camera_calibration: dict | None = None,
) -> dict:
    """Write a complete session; return what went in (for comparisons)."""
    n_samples = int(seconds * DAQ_RATE_HZ)
    n_frames = int(seconds * FRAME_RATE_HZ)
    cameras = [
        CameraSpec("sagittal", HEIGHT, WIDTH, FRAME_RATE_HZ, "sagittal", CodecChoice(codecs[0]),
                   SAGITTAL_MARKERS, "px", {"threshold": 180}),
        CameraSpec("posterior", HEIGHT, WIDTH, FRAME_RATE_HZ, "posterior", CodecChoice(codecs[1])),
    ]  # fmt: skip
    devices = {
        "config": {"lab": {"name": "test lab", "treadmill": "single-belt"}, "plates": [PLATE]},
        "plates": [PLATE],
        "cameras": {"sagittal": camera_calibration or CAMERA_CALIBRATION},
        "sync": {"mode": "hardware", "verification": {"led_offset_ms": 0.4, "passed": True}},
    }
    analog = analog_volts(n_samples)
    xy = np.zeros((n_frames, len(SAGITTAL_MARKERS), 2), "f4")
    with SessionWriter(
        path,
        channel_names=CHANNELS,
        daq_rate_hz=DAQ_RATE_HZ,
        cameras=cameras,
        subject={"subject_id": "P-007", "body_mass_kg": 62.0, "leg_length_m": 0.91,
                 "height_m": 1.81, "pain_side": "R", "notes": "lateral knee pain"},
        session={"protocol_name": "standard-run", "protocol_version": "1.0",
                 "operator": "tech A", "shoes": "neutral trainer"},
        devices=devices,
        live_settings=SETTINGS,
    ) as writer:  # fmt: skip
        writer.add_protocol_step(0.0, "warm-up", 2.5, 0.0)
        writer.add_protocol_step(0.6, "test", 3.5, 1.0)
        gap = (650, 660) if n_samples > 660 else None
        for start in range(0, n_samples, 100):
            block = analog[start : start + 100]
            if gap and start == 600:  # samples 650..659 never arrived: a gap inside a block
                writer.add_gap(*gap)
                block = np.concatenate([analog[600:650], analog[660:700]])
            writer.append_analog(block)
        for k in range(n_frames):
            t = k / FRAME_RATE_HZ
            for cam in ("sagittal", "posterior"):
                writer.append_frame(cam, frame_image(k), frame_index=k, session_time_s=t,
                                    camera_time_s=1000.0 + t, host_time_s=5.0e5 + t)  # fmt: skip
            xy[k] = [[20 + k % 5, 10], [22, 25], [24 + 0.5 * (k % 7), 40]]
            writer.append_markers("sagittal", k, xy[k], [1.0, 0.9, 0.8])
        writer.add_mark(0.5, "pain 3/10")
        writer.add_dropped_frames("posterior", [17])
    if with_analysis:
        forces = plate_force(n_samples)
        add_analysis_revision(
            path,
            settings=SETTINGS,
            stances=stance_rows(3),
            summaries=SUMMARIES,
            events=[{"time_s": 0.0, "kind": "contact", "side": "R", "plate": "belt"}],
            forces={"belt": {"force": forces[:, :3], "moment": forces[:, 3:],
                             "cop": np.zeros((n_samples, 3)), "free_moment": forces[:, 5],
                             "start_index": 0, "moment_about_m": PLATE["origin_m"]}},
            note="full analysis",
        )  # fmt: skip
    if gap:
        analog[gap[0] : gap[1]] = np.nan
    return {"analog": analog, "n_frames": n_frames, "xy": xy}


@pytest.fixture
def session_file(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "full.midstance.h5"
    written = write_session(path)
    return path, written


@pytest.fixture
def synth():
    """This module's constants and helpers (write_session, plate_force, …) for the tests."""
    return sys.modules[__name__]


def same_value(a: object, b: object) -> bool:
    """Equality where None (written) and NaN (read back) count as the same missing value."""
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
