"""The simulated lab behind the driver contract: ``SimulatedDaq`` (kind ``sim.daq``) and
``SimulatedCamera`` (kind ``sim.camera``).

The devices of one session share one :class:`SimulatedLab` and one clock through the ``shared``
mapping the registry passes (``shared["sim.lab"]``, ``shared["sim.clock"]``), so the DAQ and both
cameras show the same runner on the same timeline. Session zero is the DAQ's start (or a camera's
start when it runs before or without the DAQ in software sync); in hardware sync the cameras are
triggered by the DAQ and deliver nothing before it starts.
``pace = "realtime"`` delivers an item once its time has passed on the host's monotonic clock;
``pace = "fast"`` delivers as fast as the caller reads.

Settings (the device's own table, merged over ``shared["sim.settings"]``, which the session puts
there from the configuration's ``[simulation]``, ``[lab] treadmill`` and ``[sync] mode``):
``preset``, ``seed``, ``duration_s``, ``treadmill``, ``sync_mode``, ``pace``, ``rate_hz`` (the
DAQ's sample rate or the camera's frame rate), ``view`` (cameras; default: the device name), and
optional ``runner`` / ``setup`` tables overriding :class:`RunnerParams` / :class:`LabSetup` fields.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, ClassVar

import numpy as np

from analysis.errors import MidstanceError
from drivers.base import (
    Chunk,
    Device,
    DeviceError,
    DeviceLost,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
    monotonic,
)
from drivers.sim.lab import SimulatedLab
from drivers.sim.params import LabSetup, preset

LAB_KEY = "sim.lab"
CLOCK_KEY = "sim.clock"
SETTINGS_KEY = "sim.settings"
PACES = ("realtime", "fast")
DEFAULT_DURATION_S = 600.0
_WAIT_STEP_S = 0.05
ANALOG_BLOCK_S = 0.1  # the simulated DAQ renders this much at once and hands out slices


class SimClock:
    """Session zero on the host's monotonic clock, shared by the devices of one simulated lab."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.origin: float | None = None
        self.daq_started = threading.Event()

    def start(self, now: float, *, session_zero: bool = False) -> float:
        """Set session zero if none is set yet, or always when the DAQ starts (its first sample
        is session zero, also when a session is restarted)."""
        with self._lock:
            if self.origin is None or session_zero:
                self.origin = now
            return self.origin

    def elapsed(self, now: float) -> float:
        return -1.0 if self.origin is None else now - self.origin


def lab_settings(settings: Mapping[str, Any], shared: Mapping[str, Any]) -> dict[str, Any]:
    """The device's settings over the session-wide simulation settings."""
    merged = dict(shared.get(SETTINGS_KEY, {}))
    merged.update(settings)
    return merged


def build_lab(settings: Mapping[str, Any]) -> SimulatedLab:
    """A :class:`SimulatedLab` from device/simulation settings (raises ``InputError``)."""
    runner = preset(str(settings.get("preset", "healthy")))
    if settings.get("runner"):
        runner = runner.replace(**dict(settings["runner"]))
    setup_fields = dict(settings.get("setup", {}))
    for key in ("treadmill", "sync_mode", "daq_rate_hz", "frame_rate_hz"):
        if key in settings:
            setup_fields[key] = settings[key]
    setup = LabSetup(**setup_fields)
    return SimulatedLab(
        runner,
        setup,
        seed=int(settings.get("seed", 1)),
        duration_s=float(settings.get("duration_s", DEFAULT_DURATION_S)),
    )


class _SimulatedDevice(Device):
    """What the simulated DAQ and cameras share: the lab, the clock, pacing and stopping."""

    uses_shared_resources: ClassVar[bool] = True
    rate_key: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | None = None,
        shared: MutableMapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name, settings)
        self.shared: MutableMapping[str, Any] = shared if shared is not None else {}
        self.shared.setdefault(CLOCK_KEY, SimClock())
        if "rate_hz" in self.settings and LAB_KEY not in self.shared:
            sim = self.shared.setdefault(SETTINGS_KEY, {})
            sim[self.rate_key] = self.settings["rate_hz"]
        self._stopping = threading.Event()
        self.lab: SimulatedLab | None = None
        self.pace = str(self.settings.get("pace", "realtime"))

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        pace = settings.get("pace", "realtime")
        if pace not in PACES:
            return Health(
                HealthStatus.MISCONFIGURED,
                f"pace '{pace}' is not allowed",
                f"Use one of: {', '.join(PACES)}.",
            )
        name_of_preset = str(settings.get("preset", "healthy"))
        try:
            preset(name_of_preset)
        except MidstanceError as exc:
            return Health(HealthStatus.MISCONFIGURED, exc.problem, exc.remedy)
        return Health(HealthStatus.SIMULATED, "simulated lab")

    def _lab(self) -> SimulatedLab:
        lab = self.shared.get(LAB_KEY)
        if lab is None:
            try:
                lab = build_lab(lab_settings(self.settings, self.shared))
            except MidstanceError as exc:
                raise DeviceError(
                    self.name, f"the simulated lab cannot be built: {exc.sentence()}"
                ) from None
            self.shared[LAB_KEY] = lab
        return lab

    @property
    def clock(self) -> SimClock:
        return self.shared[CLOCK_KEY]

    def _start(self) -> None:
        self._stopping.clear()
        self.clock.start(monotonic())

    def _stop(self) -> None:
        self._stopping.set()

    def _close(self) -> None:
        self.lab = None

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if stop() was called meanwhile."""
        return not self._stopping.wait(max(0.0, min(seconds, _WAIT_STEP_S)))

    def _ended(self, what: str) -> DeviceLost:
        assert self.lab is not None
        return DeviceLost(
            self.name,
            f"the simulated session ended after {self.lab.duration_s:g} s of {what}",
            "Start a new session, or set a longer duration_s in [simulation].",
        )


class SimulatedDaq(_SimulatedDevice):
    """Raw voltages of every analog channel of the simulated lab, sample by sample."""

    kind: ClassVar[str] = "sim.daq"
    rate_key: ClassVar[str] = "daq_rate_hz"

    def _open(self) -> StreamDescription:
        self.lab = self._lab()
        rate = float(self.settings.get("rate_hz", self.lab.setup.daq_rate_hz))
        if abs(rate - self.lab.setup.daq_rate_hz) > 1e-9:
            raise DeviceError(
                self.name,
                f"rate_hz {rate:g} differs from the shared lab's {self.lab.setup.daq_rate_hz:g} Hz",
                "Configure one DAQ rate for the simulated lab.",
            )
        names = self.lab.channel_names
        return StreamDescription(
            device=self.name,
            kind=StreamKind.ANALOG,
            source="simulated",
            dtype="float64",
            shape=(len(names),),
            rate_hz=self.lab.setup.daq_rate_hz,
            channel_names=names,
            units=("V",) * len(names),
            settings={"pace": self.pace, "lab": self.lab.to_dict()},
        )

    def _start(self) -> None:
        self._stopping.clear()
        self.next_index = 0
        self._rendered: tuple[object, int, np.ndarray] | None = None
        self.clock.start(monotonic(), session_zero=True)
        self.clock.daq_started.set()

    def _stop(self) -> None:
        super()._stop()
        self.clock.daq_started.clear()

    def _available(self) -> int:
        assert self.lab is not None
        if self.pace == "fast":
            return self.lab.n_samples
        elapsed = self.clock.elapsed(monotonic())
        return min(self.lab.n_samples, int(elapsed * self.lab.setup.daq_rate_hz))

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        lab = self.lab
        assert lab is not None
        if self.next_index >= lab.n_samples:
            raise self._ended("samples")
        deadline = monotonic() + timeout_s
        # Like the NI driver (every-N-samples blocks), deliver whole blocks of len(out) samples:
        # returning each sample as it "arrives" would cost a read per sample at 2 kHz.
        wanted = min(self.next_index + len(out), lab.n_samples)
        while (available := self._available()) < wanted:
            now = monotonic()
            wait = wanted / lab.setup.daq_rate_hz - self.clock.elapsed(now)
            if now >= deadline or not self._wait(min(wait, deadline - now)):
                if available > self.next_index:
                    break  # the timeout came first: hand over what is there
                return Chunk(count=0, first_index=self.next_index, host_time_s=monotonic())
        count = min(len(out), available - self.next_index)
        out[:count] = self._analog(self.next_index, count)
        chunk = Chunk(count=count, first_index=self.next_index, host_time_s=monotonic())
        self.next_index += count
        return chunk

    def _analog(self, start: int, count: int) -> np.ndarray:
        """Volts of ``start`` … ``start + count − 1`` from a block rendered ahead: rendering has a
        fixed cost per call (~0.35 ms), which 10 ms reads would pay 100 times a second. A block
        rendered before the lab's set-up changed (runner sent off the belt, a load placed) is
        rendered again, so the samples are exactly those rendered on demand."""
        lab = self.lab
        assert lab is not None
        rendered = self._rendered
        if (
            rendered is None
            or rendered[0] is not lab.setup
            or start < rendered[1]
            or start + count > rendered[1] + len(rendered[2])
        ):
            block = round(ANALOG_BLOCK_S * lab.setup.daq_rate_hz)
            n = min(max(count, block), lab.n_samples - start)
            rendered = self._rendered = (lab.setup, start, lab.analog(start, n))
        offset = start - rendered[1]
        return rendered[2][offset : offset + count]


class SimulatedCamera(_SimulatedDevice):
    """Mono8 frames of one simulated view; indices are frame counters, dropped frames skipped.

    The counter counts exposures: a missed trigger (``LabSetup.missed_triggers``) leaves no
    gap in it, so every later frame's counter is one less than its pulse index (only the
    exposure witness shows it), as with a real camera."""

    kind: ClassVar[str] = "sim.camera"
    rate_key: ClassVar[str] = "frame_rate_hz"

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        view = settings.get("view", name)
        if view not in ("sagittal", "posterior"):
            return Health(
                HealthStatus.MISCONFIGURED,
                f"view '{view}' is not simulated",
                "Use view = sagittal or posterior.",
            )
        return super().probe(name, settings)

    def _open(self) -> StreamDescription:
        self.lab = self._lab()
        self.view = str(self.settings.get("view", self.name))
        rate = float(self.settings.get("rate_hz", self.lab.setup.frame_rate_hz))
        if abs(rate - self.lab.setup.frame_rate_hz) > 1e-9:
            raise DeviceError(
                self.name,
                f"rate_hz {rate:g} differs from the shared lab's "
                f"{self.lab.setup.frame_rate_hz:g} fps",
                "Give both simulated cameras the same frame rate.",
            )
        camera = self.lab.cameras[self.view]
        width, height = camera.size
        self._dropped = np.zeros(self.lab.n_frames(self.view), dtype=bool)
        self._dropped[self.lab.dropped_frames(self.view)] = True
        self._missed = np.zeros(self.lab.n_frames(self.view), dtype=bool)
        self._missed[self.lab.missed_triggers(self.view)] = True
        self._absent = self._dropped | self._missed
        return StreamDescription(
            device=self.name,
            kind=StreamKind.FRAMES,
            source=f"simulated {self.view} camera",
            dtype="uint8",
            shape=(height, width),
            rate_hz=self.lab.setup.frame_rate_hz,
            units=("DN",),
            settings={"pace": self.pace, "view": self.view, "camera": camera.to_dict()},
        )

    def _start(self) -> None:
        super()._start()
        self.next_frame = 0
        self._pending_dropped = 0

    def _exposed(self) -> int:
        """Frames whose exposure has ended (all of them in fast pace)."""
        lab = self.lab
        assert lab is not None
        n = lab.n_frames(self.view)
        if lab.setup.sync_mode == "hardware" and not self.clock.daq_started.is_set():
            return 0  # triggered by the DAQ: nothing before it starts
        if self.pace == "fast":
            return n
        elapsed = self.clock.elapsed(monotonic())
        first = float(lab.frame_time(self.view, 0))
        period = float(lab.frame_time(self.view, 1)) - first
        done = int(np.floor((elapsed - first - lab.setup.exposure_s) / period)) + 1
        return int(np.clip(done, 0, n))

    def _until_next(self, now: float) -> float:
        """Seconds until the next frame's exposure ends (a poll interval before the trigger)."""
        lab = self.lab
        assert lab is not None
        if self.pace == "fast" or self.clock.origin is None:
            return _WAIT_STEP_S
        if lab.setup.sync_mode == "hardware" and not self.clock.daq_started.is_set():
            return _WAIT_STEP_S
        end = float(lab.frame_time(self.view, self.next_frame)) + lab.setup.exposure_s
        return max(end - self.clock.elapsed(now), 1e-4)

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        lab = self.lab
        assert lab is not None
        n = lab.n_frames(self.view)
        deadline = monotonic() + timeout_s
        while True:
            if self.next_frame >= n:
                raise self._ended("frames")
            exposed = self._exposed()
            candidates = np.arange(self.next_frame, exposed)
            kept = candidates[~self._absent[candidates]][: len(out)]
            if len(kept):
                break
            # nothing new, or everything exposed so far was dropped: counted with the next chunk
            self._pending_dropped += int(np.count_nonzero(self._dropped[candidates]))
            self.next_frame = max(self.next_frame, exposed)
            now = monotonic()
            if now >= deadline or not self._wait(min(deadline - now, self._until_next(now))):
                return Chunk(count=0, first_index=self.next_frame, host_time_s=monotonic())
        last = int(kept[-1])
        dropped = self._pending_dropped + int(
            np.count_nonzero(self._dropped[self.next_frame : last + 1])
        )
        self._pending_dropped = 0
        lab.render_into(self.view, kept, out)
        times = lab.camera_time(lab.frame_time(self.view, kept))
        counters = lab.frame_counters(self.view, kept)
        consecutive = counters[-1] - counters[0] == len(counters) - 1
        chunk = Chunk(
            count=len(kept),
            first_index=int(counters[0]),
            host_time_s=monotonic(),
            indices=None if consecutive else counters,
            device_time_s=np.asarray(times, dtype=np.float64),
            dropped=dropped,
        )
        self.next_frame = last + 1
        return chunk
