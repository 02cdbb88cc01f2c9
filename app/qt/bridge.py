"""The one QObject that carries the controller's small notifications to the GUI thread.

The controller calls its listeners on worker threads; emitting a signal of a QObject that lives
in the GUI thread queues the call there. Only small dicts cross (never frames or samples), and
background jobs (zeroing, stopping a recording) report their end the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("midstance.gui")


class ControllerBridge(QObject):
    notified = Signal(str, dict)  # kind, payload (controller listener events)
    job_done = Signal(str, object, object)  # job name, result, exception (or None)

    def post(self, kind: str, payload: dict) -> None:
        """The controller listener: called on any thread, delivered on the GUI thread."""
        self.notified.emit(kind, dict(payload))

    def run_in_background(self, name: str, work: Callable[[], Any]) -> threading.Thread:
        """Run ``work`` off the GUI thread; its result or exception arrives as ``job_done``."""

        def run() -> None:
            try:
                result = work()
            except Exception as exc:  # reported to the person by the window, never swallowed
                self.job_done.emit(name, None, exc)
            else:
                self.job_done.emit(name, result, None)

        thread = threading.Thread(target=run, name=f"gui-job-{name}", daemon=True)
        thread.start()
        return thread
