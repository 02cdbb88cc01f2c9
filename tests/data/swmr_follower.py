"""A reader process for the SWMR test: prints what it sees each time it is asked on stdin."""

from __future__ import annotations

import sys

from data import open_session


def main(path: str) -> None:
    with open_session(path) as session:
        for _ in sys.stdin:
            session.refresh()
            print(session.analog.n_samples, session.camera("sagittal").n_frames, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
