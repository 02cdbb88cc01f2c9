"""A recording process for the kill -9 test: the session controller records the simulated lab
(pace "fast") until it is killed. Once 3 s of session have been acquired it prints the samples
and sagittal frames the writer has committed (what a crash must not lose), then keeps recording."""

from __future__ import annotations

import sys
from pathlib import Path

from app.session_controller import SessionController

sys.path.insert(0, str(Path(__file__).parent))
from fault_lab import sim_config


def main(path: str) -> None:
    controller = SessionController(sim_config(duration_s=60.0), pace="fast")
    controller.connect()
    controller.set_subject({"id": "K-9", "body_mass_kg": 70.0})
    controller.start_recording(Path(path))
    controller.wait_for_session_time(3.0, timeout_s=300)
    done = controller.recorder.writer.committed  # the recorder flushes every 0.5 s
    print(done["daq/analog"], done["cameras/sagittal/session_time"], flush=True)
    controller.wait_for_session_time(55.0, timeout_s=600)  # until SIGKILL


if __name__ == "__main__":
    main(sys.argv[1])
