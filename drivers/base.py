"""The contract every device implements: force DAQ, cameras, the simulated lab, replay.

A device is opened with its configuration, says what it delivers (:meth:`Device.describe`), is
started, is read into a caller's preallocated buffer (:meth:`Device.read` returns a
:class:`Chunk`: first index, count, timestamps, drops), stopped and closed. The lifecycle is
enforced here, once, so drivers only implement the ``_open``/``_start``/``_read``/``_stop``/
``_close`` steps. Whether a device can be used at all is asked with :meth:`Device.probe`, which
never raises: a missing SDK, driver or device is a :class:`Health`, not a crash.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from analysis.errors import MidstanceError


class StreamKind(enum.StrEnum):
    ANALOG = "analog"  # one item = one sample of every channel, shape (n_channels,)
    FRAMES = "frames"  # one item = one image, shape (height, width)


class DeviceState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    RUNNING = "running"
    FAULTED = "faulted"


class HealthStatus(enum.StrEnum):
    OK = "ok"
    SIMULATED = "simulated"
    SDK_MISSING = "sdk-missing"  # the Python package (nidaqmx, pypylon) is not installed
    DRIVER_MISSING = "driver-missing"  # the package is there, the vendor runtime/driver is not
    ABSENT = "absent"  # the runtime works but the configured device is not connected
    MISCONFIGURED = "misconfigured"  # the device is there but the settings cannot work
    ERROR = "error"  # anything else, with the real reason


@dataclass(frozen=True)
class Health:
    """Whether a device can be used, and if not, why and what to do (shown in the devices panel)."""

    status: HealthStatus
    reason: str = ""
    remedy: str = ""

    @property
    def available(self) -> bool:
        return self.status in (HealthStatus.OK, HealthStatus.SIMULATED)


@dataclass(frozen=True)
class StreamDescription:
    """What a device delivers; stored verbatim in the session file (bluesky's ``describe``)."""

    device: str  # configured name, e.g. "force" or "sagittal"
    kind: StreamKind
    source: str  # e.g. "simulated", "nidaqmx Dev1", "basler 40012345"
    dtype: str  # numpy dtype string of one value, e.g. "float64" or "uint8"
    shape: tuple[int, ...]  # shape of one item: (n_channels,) or (height, width)
    rate_hz: float  # nominal sample or frame rate
    channel_names: tuple[str, ...] = ()  # analog: one per channel
    units: tuple[str, ...] = ()  # analog: one per channel; frames: ("DN",)
    settings: Mapping[str, Any] = field(default_factory=dict)  # full configuration snapshot

    def empty_buffer(self, n_items: int) -> np.ndarray:
        """A preallocated buffer for ``n_items`` items, the form :meth:`Device.read` fills."""
        return np.empty((n_items, *self.shape), dtype=self.dtype)


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one :meth:`Device.read` delivered into the caller's buffer ``out[:count]``.

    Indices count items since :meth:`Device.start` on the device's own counter (sample index for a
    DAQ, frame counter for a camera). ``indices`` is given when the items are not consecutive
    (a camera that skipped frames); otherwise item ``i`` has index ``first_index + i``.
    """

    count: int
    first_index: int
    host_time_s: float  # time.monotonic() when the chunk was received
    indices: np.ndarray | None = None  # int64, per item, when not consecutive
    device_time_s: np.ndarray | None = None  # float64, per item, on the device clock; None if none
    dropped: int = 0  # items the device reports lost since the previous chunk

    def item_indices(self) -> np.ndarray:
        if self.indices is not None:
            return self.indices[: self.count]
        return np.arange(self.first_index, self.first_index + self.count, dtype=np.int64)


class DeviceError(MidstanceError):
    """A device failed; ``device`` names it. The GUI shows the sentence, the CLI exits non-zero."""

    exit_code = 3

    def __init__(self, device: str, problem: str, remedy: str = "") -> None:
        self.device = device
        super().__init__(problem, subject=f"device '{device}'", remedy=remedy)


class DeviceUnavailable(DeviceError):
    """The device cannot be opened (SDK, driver or hardware missing, or settings impossible)."""

    def __init__(self, device: str, health: Health) -> None:
        self.health = health
        super().__init__(device, health.reason, health.remedy)


class DeviceLost(DeviceError):
    """The device went away while running (unplugged, powered off, driver reset)."""


class LifecycleError(DeviceError):
    """A call out of order (read before start, start twice); a programming error, not the user's."""


class Device(abc.ABC):
    """Base class enforcing the lifecycle ``closed → open → running → open → closed``.

    Subclasses set ``kind`` and implement the underscored steps. ``read`` may be called from one
    producer thread while ``stop`` is called from another; ``stop`` must make a blocked ``_read``
    return promptly.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.settings: dict[str, Any] = dict(settings or {})
        self._state = DeviceState.CLOSED
        self._lock = threading.RLock()
        self._description: StreamDescription | None = None

    # -- what drivers implement -------------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        """Say whether this device could be opened with these settings. Never raises."""

    @abc.abstractmethod
    def _open(self) -> StreamDescription:
        """Connect and configure; return the description of what will be delivered."""

    @abc.abstractmethod
    def _start(self) -> None: ...

    @abc.abstractmethod
    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        """Fill ``out[:count]``; block until at least one item or ``timeout_s`` (then count 0)."""

    @abc.abstractmethod
    def _stop(self) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    # -- the enforced lifecycle -------------------------------------------------------------

    @property
    def state(self) -> DeviceState:
        return self._state

    def health(self) -> Health:
        """Current availability of this device (probe while closed, live state otherwise)."""
        if self._state is DeviceState.FAULTED:
            return Health(HealthStatus.ERROR, "the device failed while running", "Reconnect it.")
        return type(self).probe(self.name, self.settings)

    def open(self) -> StreamDescription:
        with self._lock:
            self._require(DeviceState.CLOSED, "open")
            health = type(self).probe(self.name, self.settings)
            if not health.available:
                raise DeviceUnavailable(self.name, health)
            self._description = self._open()
            self._state = DeviceState.OPEN
            return self._description

    def describe(self) -> StreamDescription:
        if self._description is None:
            raise LifecycleError(self.name, "describe() needs an open device")
        return self._description

    def start(self) -> None:
        with self._lock:
            self._require(DeviceState.OPEN, "start")
            self._start()
            self._state = DeviceState.RUNNING

    def read(self, out: np.ndarray, timeout_s: float = 1.0) -> Chunk:
        """Read up to ``len(out)`` items into ``out``; see :class:`Chunk`."""
        if self._state is not DeviceState.RUNNING:
            raise LifecycleError(self.name, f"read() while {self._state.value}")
        description = self.describe()
        if out.shape[1:] != description.shape or out.dtype != np.dtype(description.dtype):
            raise LifecycleError(
                self.name,
                f"read() buffer is {out.dtype}{out.shape[1:]}, the device delivers "
                f"{description.dtype}{description.shape}",
            )
        try:
            return self._read(out, timeout_s)
        except DeviceError:
            self._state = DeviceState.FAULTED
            raise

    def stop(self) -> None:
        with self._lock:
            if self._state is DeviceState.RUNNING:
                try:
                    self._stop()
                finally:
                    self._state = DeviceState.OPEN
            elif self._state is DeviceState.FAULTED:
                # A faulted device is stopped on a best-effort basis; its fault was already raised.
                with contextlib.suppress(Exception):
                    self._stop()

    def close(self) -> None:
        with self._lock:
            if self._state is DeviceState.CLOSED:
                return
            if self._state is DeviceState.RUNNING:
                self.stop()
            try:
                self._close()
            finally:
                self._state = DeviceState.CLOSED

    def __enter__(self) -> Device:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self, state: DeviceState, action: str) -> None:
        if self._state is not state:
            raise LifecycleError(self.name, f"{action}() while {self._state.value}")


def monotonic() -> float:
    """The host clock every chunk is stamped with."""
    return time.monotonic()
