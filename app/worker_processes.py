"""How the live analysis starts its worker processes (marker tracking, force analysis).

One multiprocessing context for all of them: ``forkserver`` on Linux (a clean server process,
started once, forks each worker in milliseconds; never a fork of this multi-threaded process),
``spawn`` elsewhere. The server preloads the worker modules, so a worker starts with numpy,
scipy and OpenCV already imported. The preload list is read when the server starts, which is
why it is one list here rather than one per worker module.

As with any use of Python's multiprocessing, a worker imports the main module: a script that
opens a real-time session must do so under ``if __name__ == "__main__":`` (the ``midstance``
command, the frozen program and pytest do), or pass
``SessionController(analysis_processes=False)``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from analysis.errors import MidstanceError

PRELOADED_MODULES = ["app.marker_worker", "app.force_worker"]
START_TIMEOUT_S = 60.0  # a cold interpreter importing numpy, scipy and OpenCV on a loaded machine
STOP_TIMEOUT_S = 2.0
POLL_S = 0.5  # how often a wait for a worker's answer checks that it is still alive

MAIN_MODULE_HINT = (
    " (in a script, put the code that opens the session under "
    '`if __name__ == "__main__":`, as Python\'s multiprocessing requires)'
)


def context():
    """The multiprocessing context every worker is started from."""
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOADED_MODULES)
    return ctx


class WorkerLink:
    """A started worker process and its end of the pipe.

    The protocol every worker follows: it sends ``b"ready"`` once set up, answers each request
    with one message (``b"error:<text>"`` when it failed, then ends), and ends on an empty
    message or when the pipe closes. ``error(what)`` builds the caller's typed error (it says
    which device's analysis stopped, and what to do)."""

    def __init__(
        self,
        target: Callable[..., None],
        args: tuple,
        kwargs: dict[str, Any],
        *,
        name: str,
        error: Callable[[str], MidstanceError],
    ) -> None:
        self._error = error
        self.process = None
        self.conn: Connection | None = None
        try:
            ctx = context()
            ours, theirs = ctx.Pipe(duplex=True)
            self.process = ctx.Process(
                target=target, args=(theirs, *args), kwargs=kwargs, name=name, daemon=True
            )
            self.process.start()
            theirs.close()
            self.conn = ours
            self.expect(b"ready", START_TIMEOUT_S, "start")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def send(self, message: bytes, what: str) -> None:
        if self.conn is None:
            raise self._error("was closed")
        try:
            self.conn.send_bytes(message)
        except OSError as exc:
            raise self.ended(what, exc) from exc

    def expect(self, expected: bytes | None, timeout_s: float | None, what: str) -> bytes:
        """The worker's next message: ``expected`` (if given) or a result; raise on an error."""
        conn = self.conn
        if conn is None:
            raise self._error("was closed")
        waited = 0.0
        while not conn.poll(POLL_S):
            waited += POLL_S
            if self.process is None or not self.process.is_alive():
                raise self.ended(what)
            if timeout_s is not None and waited >= timeout_s:
                raise self._error(f"did not answer within {timeout_s:.0f} s during {what}")
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise self.ended(what, exc) from exc
        if message.startswith(b"error:"):
            raise self._error("failed: " + message[6:].decode(errors="replace"))
        if expected is not None and message != expected:
            raise self._error(f"sent {message[:40]!r} instead of {expected!r}")
        return message

    def ended(self, what: str, exc: Exception | None = None) -> MidstanceError:
        """The worker is gone (or its pipe is): say how, and what to do."""
        process = self.process
        if process is not None and process.pid is not None:
            process.join(STOP_TIMEOUT_S)  # a pipe closes as the process dies: let it finish
        code = None if process is None else process.exitcode
        how = f"exit code {code}" if code is not None else f"pipe error: {exc}"
        hint = MAIN_MODULE_HINT if what == "start" else ""
        return self._error(f"ended unexpectedly ({how}) during {what}{hint}")

    def close(self) -> None:
        """Ask the worker to end, then join it (terminate, then kill one that does not end)."""
        conn, self.conn = self.conn, None
        process, self.process = self.process, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send_bytes(b"")
            conn.close()
        if process is not None and process.pid is not None:  # started
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(STOP_TIMEOUT_S)
