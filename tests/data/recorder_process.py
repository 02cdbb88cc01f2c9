"""A recording process for the crash test: records through the real writer until it is killed.

Row i of the analog stream holds the value i in every channel and frame k is filled with k % 256,
so the test can check every row that survived. After each explicit flush it prints the rows
committed so far, which is what a crash must not lose.
"""

from __future__ import annotations

import sys

import numpy as np

from data.session_writer import CameraSpec, SessionWriter
from data.video_codecs import CodecChoice


def main(path: str) -> None:
    cameras = [
        CameraSpec("sagittal", 32, 48, 250.0, "sagittal", CodecChoice("lossless"), ("hip",)),
        CameraSpec("posterior", 32, 48, 250.0, "posterior", CodecChoice("jpeg")),
    ]
    writer = SessionWriter(
        path, channel_names=("a", "b", "c"), daq_rate_hz=1000.0, cameras=cameras,
        live_settings={"source": "crash test"}, flush_interval_s=0.5,
    )  # fmt: skip
    sample, frame = 0, 0
    while True:  # until SIGKILL
        writer.append_analog(np.arange(sample, sample + 40, dtype=float)[:, None].repeat(3, 1))
        sample += 40
        for cam in ("sagittal", "posterior"):
            image = np.full((32, 48), frame % 256, np.uint8)
            writer.append_frame(cam, image, frame_index=frame, session_time_s=frame / 250.0)
        writer.append_markers("sagittal", frame, [[frame, 1.0]], [1.0])
        frame += 1
        if frame % 25 == 0:
            writer.append_stance({"index": frame // 25, "contact_s": frame / 250.0})
            writer.flush()
            done = writer.committed
            print(done["daq/analog"], done["cameras/posterior/session_time"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
