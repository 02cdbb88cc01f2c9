"""The streaming force analysis, in this thread or in a worker process.

Why a process: the force analysis is on the critical path of every live stance result (the
issue-#5 delay after toe-off), and its ~5 ms of CPU per stance is many short numpy and scipy
calls. In the process that also acquires, records and draws the window, each of those calls
can wait for the interpreter lock behind the recorder, the camera producers and the window;
measured under the full load, 57 / 81 ms (p50 / p95) from toe-off to the force record against
35 / 39 ms of data the analysis waits for. In a worker process it runs under its own lock and
the operating system gives it a core as soon as a block arrives; the ``analyse-<daq>`` thread
only sends each block of volts down a pipe and waits (without the lock) for the records. The
video metrics of each stance (:mod:`app.stance_video`) are computed there too, from the
labelled marker pixels of its video window, for the same reason.

Both engines run the same :class:`analysis.streaming_force.StreamingForceAnalyser` on the same
blocks in the same order, so their records are identical (a test compares them). Which one a
session uses is a deployment choice, as for marker tracking
(``SessionController(analysis_processes=...)``). Starting workers: :mod:`app.worker_processes`.
A worker that dies or fails ends only the force analysis (the consumer error says why);
acquisition and recording go on, and the file keeps every sample for a re-analysis.
"""

from __future__ import annotations

import pickle
import struct
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np

from analysis.errors import MidstanceError
from analysis.force_metrics import StanceRecord
from analysis.force_settings import ForceSettings
from analysis.forceplate import PlateConfig
from analysis.streaming_force import StreamingForceAnalyser
from app.stance_video import StanceVideoRequest
from app.worker_processes import WorkerLink

# requests: one opcode byte, then the body weight (NaN: unknown) and, for a push, the volts;
# or the video opcode and a pickled StanceVideoRequest
_PUSH, _FINISH, _RESTART, _VIDEO = b"p", b"f", b"r", b"v"
_WEIGHT = struct.Struct("<d")


class ForceWorkerError(MidstanceError):
    """The force analysis worker died, stopped answering or failed (live stances stop)."""


class ForceEngine(Protocol):
    """One streaming force analyser at a time, fed blocks of volts in order."""

    def restart(self, body_weight_N: float | None) -> None:
        """Begin a new analyser (the next sample pushed is its first)."""
        ...

    def push(self, volts: np.ndarray, body_weight_N: float | None) -> list[StanceRecord]:
        """A (samples, channels) block of volts; the stances it completed."""
        ...

    def finish(self) -> list[StanceRecord]:
        """The analyser's last stance(s), at the end of its stream."""
        ...

    def video(self, request: StanceVideoRequest) -> tuple[dict[str, Any], list[str]]:
        """A stance's video metrics and flags (:meth:`StanceVideoRequest.compute`)."""
        ...

    def close(self) -> None:
        """Free what the engine holds (idempotent)."""
        ...


class _AnalyserSpec:
    """What a new analyser is built from (sent to the worker once)."""

    def __init__(
        self,
        plates: Sequence[PlateConfig],
        rate_hz: float,
        settings: ForceSettings,
        channel_names: Sequence[str],
    ) -> None:
        self.plates = list(plates)
        self.rate_hz = float(rate_hz)
        self.settings = settings
        self.channel_names = list(channel_names)

    def new(self, body_weight_N: float | None) -> StreamingForceAnalyser:
        return StreamingForceAnalyser(
            self.plates,
            self.rate_hz,
            self.settings,
            channel_names=self.channel_names,
            body_weight_N=body_weight_N,
        )


class InlineForceEngine:
    """The analysis in the calling thread."""

    def __init__(
        self,
        plates: Sequence[PlateConfig],
        rate_hz: float,
        settings: ForceSettings,
        channel_names: Sequence[str],
    ) -> None:
        self._spec = _AnalyserSpec(plates, rate_hz, settings, channel_names)
        self._analyser: StreamingForceAnalyser | None = None

    def restart(self, body_weight_N: float | None) -> None:
        self._analyser = self._spec.new(body_weight_N)

    def push(self, volts: np.ndarray, body_weight_N: float | None) -> list[StanceRecord]:
        analyser = self._started()
        analyser.body_weight_N = body_weight_N
        return analyser.push(volts)

    def finish(self) -> list[StanceRecord]:
        return self._started().finish()

    def video(self, request: StanceVideoRequest) -> tuple[dict[str, Any], list[str]]:
        return request.compute()

    def close(self) -> None:
        self._analyser = None

    def _started(self) -> StreamingForceAnalyser:
        if self._analyser is None:
            raise RuntimeError("restart() the engine before pushing samples")
        return self._analyser


class ProcessForceEngine:
    """The analysis in a worker process: volts down a pipe, pickled records back."""

    def __init__(
        self,
        daq: str,
        plates: Sequence[PlateConfig],
        rate_hz: float,
        settings: ForceSettings,
        channel_names: Sequence[str],
    ) -> None:
        self.daq = daq
        self.n_channels = len(channel_names)
        self._link: WorkerLink | None = WorkerLink(
            serve,
            (_AnalyserSpec(plates, rate_hz, settings, channel_names),),
            {},
            name=f"analyse-{daq}",
            error=self._error,
        )

    @property
    def pid(self) -> int | None:
        return self._link.pid if self._link is not None else None

    def restart(self, body_weight_N: float | None) -> None:
        self._ask(_RESTART + _weight_bytes(body_weight_N), "a restart")

    def push(self, volts: np.ndarray, body_weight_N: float | None) -> list[StanceRecord]:
        block = np.ascontiguousarray(volts, dtype="<f8")
        if block.ndim != 2 or block.shape[1] != self.n_channels:
            raise ValueError(f"a block of shape {block.shape}; expected (n, {self.n_channels})")
        reply = self._ask(_PUSH + _weight_bytes(body_weight_N) + block.tobytes(), "analysis")
        return pickle.loads(reply)

    def finish(self) -> list[StanceRecord]:
        return pickle.loads(self._ask(_FINISH, "the last stance"))

    def video(self, request: StanceVideoRequest) -> tuple[dict[str, Any], list[str]]:
        message = _VIDEO + pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(self._ask(message, "video metrics"))

    def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def _ask(self, request: bytes, what: str) -> bytes:
        link = self._link
        if link is None:
            raise self._error("was closed")
        link.send(request, what)
        return link.expect(None, None, what)

    def _error(self, what: str) -> ForceWorkerError:
        return ForceWorkerError(
            f"the force analysis process {what}",
            subject=f"DAQ '{self.daq}' force analysis",
            remedy="Acquisition and recording go on without live stances; reconnect to restart "
            "the analysis, and re-analyse the saved session for its stances.",
        )


def _weight_bytes(body_weight_N: float | None) -> bytes:
    return _WEIGHT.pack(np.nan if body_weight_N is None else float(body_weight_N))


def serve(conn: Connection, spec: _AnalyserSpec) -> None:
    """The worker process: answer each request (see the opcodes above) until an empty one."""
    analyser: StreamingForceAnalyser | None = None
    width = 8 * len(spec.channel_names)
    conn.send_bytes(b"ready")
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent went away
        if not message:
            return
        op = message[:1]
        try:
            if op == _VIDEO:
                result = pickle.loads(message[1:]).compute()
                conn.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
                continue
            if op == _FINISH:
                records = analyser.finish() if analyser is not None else []
                conn.send_bytes(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
                continue
            (weight,) = _WEIGHT.unpack_from(message, 1)
            body_weight_N = None if np.isnan(weight) else weight
            if op == _RESTART:
                analyser = spec.new(body_weight_N)
                conn.send_bytes(b"")
                continue
            if op != _PUSH or analyser is None:
                raise RuntimeError(f"request {op!r} out of order")
            data = message[1 + _WEIGHT.size :]
            volts = np.frombuffer(data, dtype="<f8").reshape(len(data) // width, -1)
            analyser.body_weight_N = body_weight_N
            records = analyser.push(volts)
            conn.send_bytes(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:  # the analyser's state is unknown now: report and end
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            conn.send_bytes(b"error:" + detail.encode())
            return
