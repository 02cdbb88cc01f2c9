"""The frozen program's entry point: the same ``app.cli.main`` that ``pip install`` puts behind
``midstance``, so every subcommand behaves the same in the bundle as in a development install.

The Windows windowed launcher (``midstance-gui.exe``) is built from this same file; with no console
attached, Python sets ``sys.stdout``/``sys.stderr`` to ``None``, so they are pointed at the
user's log file instead of failing on the first ``print``.
"""

from __future__ import annotations

import sys


def _attach_missing_streams() -> None:
    """Give a windowed launcher somewhere to write: the log folder of the user's data folder."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    from data.paths import logs_dir

    stream = open(logs_dir() / "midstance-gui-output.log", "a", encoding="utf-8")  # noqa: SIM115
    sys.stdout = sys.stdout or stream
    sys.stderr = sys.stderr or stream


if __name__ == "__main__":
    import multiprocessing

    # a worker process of the frozen program (marker tracking, app/marker_worker.py) starts here
    # and must run the worker, not the command line
    multiprocessing.freeze_support()
    _attach_missing_streams()
    from app.cli import main

    sys.exit(main())
