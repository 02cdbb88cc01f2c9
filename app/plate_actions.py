"""The session controller's plate actions: zeroing, offsets from a procedure, and sending the
simulated runner off the belt. A mixin of :class:`app.session_controller.SessionController` (it
uses the controller's streams, set-up, live force analysis, lock and waits)."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np

from app.live_views import zeroed_plates
from app.pipeline import DAQ_RING_SECONDS
from app.session_types import ControllerError


class PlateActions:
    """Zero the plates, apply offsets, send the simulated runner off the belt."""

    def zero_plates(self, seconds: float = 1.0, start_s: float | None = None) -> dict:
        """Unloaded offsets and noise floor from ``seconds`` of data; refuses a load.

        ``start_s``: the session time the unloaded interval starts (e.g. from
        :meth:`step_off_belt`); by default the newest sample, i.e. the next ``seconds``. Taking the
        interval by session time, not "whatever arrives next", keeps zeroing right when the DAQ
        runs ahead of the caller (pace "fast")."""
        self.require("connected", "zero the plates")
        if not 0.2 <= seconds <= DAQ_RING_SECONDS / 2:
            raise ControllerError(
                f"{seconds:g} s cannot be used for zeroing",
                subject="zeroing duration",
                remedy="Use between 0.2 s and 10 s.",
            )
        stream = self.daq_stream
        rate = stream.rate_hz
        need = round(seconds * rate)
        if start_s is None:
            start_s = max(0.0, stream.latest_session_time_s) if stream.items else 0.0
        end_s = start_s + need / rate
        if not self._wait(
            lambda: stream.latest_session_time_s >= end_s - 0.5 / rate or stream.fault,
            5 + 3 * seconds,
        ):
            raise ControllerError(
                "the DAQ delivered no data for zeroing",
                subject=f"device '{stream.name}'",
                remedy="Check the DAQ (status panel) and try again.",
            )
        if stream.fault is not None:
            raise ControllerError(
                stream.fault.message, subject=f"device '{stream.name}'", remedy=stream.fault.remedy
            )
        batch = stream.ring.latest_reader(stream.ring.capacity).latest()
        inside = (batch.session_time_s >= start_s - 0.5 / rate) & (
            batch.session_time_s < end_s - 0.5 / rate
        )
        if np.count_nonzero(inside) < need:
            raise ControllerError(
                f"the {seconds:g} s from {start_s:.2f} s were no longer in the DAQ's buffer",
                subject="zeroing",
                remedy="Zero again (right after the runner steps off).",
            )
        volts = batch.data[inside].copy()
        new_plates, result = zeroed_plates(
            volts,
            stream.description.channel_names,
            self.setup.plates,
            rate,
            self.setup.force.threshold_off_N,
        )
        self._use_plates(new_plates, result)
        return result

    def apply_plate_offsets(self, plate: str, offsets_V: Sequence[float]) -> dict:
        """Use offsets V0 computed elsewhere (a procedure's zero step) for one plate."""
        self.require("connected", "change the plate offsets")
        names = [p.name for p in self.setup.plates]
        if plate not in names:
            raise ControllerError(
                f"no plate named '{plate}'",
                subject="plate offsets",
                remedy=f"Use one of: {', '.join(names)}.",
            )
        new_plates = [
            p.with_offsets(np.asarray(offsets_V, dtype=float)) if p.name == plate else p
            for p in self.setup.plates
        ]
        result = {"plates": {plate: {"offsets_V": [float(v) for v in offsets_V]}}}
        self._use_plates(new_plates, result)
        return result

    def _use_plates(self, new_plates: list, result: dict) -> None:
        """New plate offsets: restart the force analysis with them (earlier stances stay)."""
        with self._lock:
            if self.state != "connected":
                raise ControllerError("the session changed state while zeroing", subject="session")
            self.setup.plates = new_plates
            self._switch_force_plates(new_plates)
            self._zeroed_at = time.monotonic()
            self._zeroing = result
        self._notify("status", {"zeroed": True})

    def _switch_force_plates(self, plates: list) -> None:
        """The live force analysis goes on with ``plates`` from the next DAQ sample on.

        Not a new analysis thread: the replaced one ended only on an empty read, so with the DAQ
        delivering it ran on beside its successor, and once it ended its lossless reader stayed
        on the DAQ ring, which stopped the DAQ for good one ring (20 s) later (issue #9). Its
        analyser restarts at that sample and takes the plates then."""
        newest = self.daq_stream.latest_session_time_s
        rate = self.daq_stream.rate_hz
        next_sample = round(newest * rate) + 1 if math.isfinite(newest) else 0
        self.force.plates = list(plates)
        self.force.restart_at(next_sample)

    def step_off_belt(self, seconds: float, lead_s: float = 0.25) -> tuple[float, float]:
        """Simulated lab: the runner stands off the belt (no plate load) for ``seconds`` from
        ``lead_s`` after the newest DAQ sample; returns that session-time interval. Used so
        zeroing can succeed in the simulator; on hardware the operator asks the runner."""
        self._require_streams()
        lab = self.shared.get("sim.lab")
        if lab is None:
            raise ControllerError(
                "only the simulated runner can be sent off the belt",
                subject="session",
                remedy="Ask the runner to step onto the side rails.",
            )
        if not (math.isfinite(seconds) and seconds > 0):
            raise ControllerError(f"{seconds!r} s is not a duration", subject="off-belt interval")
        now = max(0.0, self.daq_stream.latest_session_time_s)
        interval = (now + lead_s, now + lead_s + float(seconds))
        # the simulator reads off_belt_s for every block it renders after this assignment
        lab.setup = dataclasses.replace(lab.setup, off_belt_s=(*lab.setup.off_belt_s, interval))
        return interval
