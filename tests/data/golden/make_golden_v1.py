"""Make ``session_v1.midstance.h5``: a small format-version-1 session kept to prove old files read.

Run from the project root: ``python tests/data/golden/make_golden_v1.py``. Do NOT re-run it after
the format changes: the point of the file is that it was written by version 1. Values follow
simple formulas that ``tests/data/test_golden_and_bad_input.py`` recomputes independently:
analog[i, c] = 0.001 * i + c volts; frame k is 20 + k everywhere with a 4x4 square of 200 at
(k, k); stance i has contact_s = 0.3 * i and valr_N_s = 50000 + 1000 * i.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from data.revisions import add_analysis_revision  # noqa: E402
from data.session_writer import CameraSpec, SessionWriter  # noqa: E402
from data.video_codecs import CodecChoice  # noqa: E402


def frame(k: int) -> np.ndarray:
    image = np.full((24, 32), 20 + k, np.uint8)
    image[k : k + 4, k : k + 4] = 200
    return image


def main() -> None:
    path = HERE / "session_v1.midstance.h5"
    path.unlink(missing_ok=True)
    cameras = [
        CameraSpec(
            "sagittal", 24, 32, 100.0, "sagittal", CodecChoice("lossless"), ("hip", "ankle")
        ),
        CameraSpec("posterior", 24, 32, 100.0, "posterior", CodecChoice("jpeg", 90)),
    ]
    plate = {
        "name": "belt", "type": "six-channel", "channels": ["Fx", "Fy", "Fz", "Mx", "My", "Mz"],
        "matrix": (np.eye(6) * 500).tolist(), "offsets_V": [0.0] * 6, "z_surface_m": 0.045,
        "origin_m": [0, 0, -0.045], "rotation": np.eye(3).tolist(),
        "corners_m": [[0.8, 0.25, 0], [-0.8, 0.25, 0], [-0.8, -0.25, 0], [0.8, -0.25, 0]],
    }  # fmt: skip
    n = 500
    analog = 0.001 * np.arange(n)[:, None] + np.arange(7)[None, :]
    with SessionWriter(
        path, channel_names=[*plate["channels"], "sync.led"], daq_rate_hz=1000.0,
        cameras=cameras, subject={"subject_id": "GOLD-1", "body_mass_kg": 70.0},
        session={"protocol_name": "golden", "protocol_version": "1"},
        devices={"plates": [plate], "sync": {"mode": "hardware"}},
    ) as writer:  # fmt: skip
        writer.append_analog(analog)
        for k in range(20):
            for cam in ("sagittal", "posterior"):
                writer.append_frame(cam, frame(k), frame_index=k, session_time_s=k / 100.0)
            writer.append_markers("sagittal", k, [[k, 2 * k], [k, 3 * k]], [1.0, 1.0])
        writer.add_mark(0.25, "golden mark")
    add_analysis_revision(
        path, settings={"midstance": "M1"}, note="golden",
        stances=[{"index": i, "side": "LR"[i % 2], "contact_s": 0.3 * i,
                  "valr_N_s": 50000.0 + 1000 * i, "flags": ()} for i in range(3)],
    )  # fmt: skip
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
