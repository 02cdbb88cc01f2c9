"""Basler cameras through pypylon (imported only inside these functions).

Grabs with ``GrabStrategy_OneByOne`` so that no frame is ever replaced by a newer one, copies each
image straight from pylon's buffer into the caller's array, and accounts for every frame the
camera numbered: a jump in the frame counter (chunk frame ID, else the stream's BlockID) or a
failed buffer is reported as ``dropped`` with explicit indices, never skipped silently. Tested
through pylon's own camera emulator (``PYLON_CAMEMU``), which runs this exact code path.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from drivers.base import (
    Chunk,
    Device,
    DeviceError,
    DeviceLost,
    DeviceUnavailable,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
    monotonic,
)
from drivers.camera.basler_config import (
    AppliedConfig,
    BaslerSettings,
    NodeWriter,
    apply_settings,
    parse_basler_settings,
)
from drivers.camera.frame_counter import (
    GIGE_BLOCK_ID_ORIGIN,
    GIGE_BLOCK_ID_PERIOD,
    USB_BLOCK_ID_ORIGIN,
    CounterWentBackwards,
    FrameCounter,
)
from drivers.camera.settings import CameraSettingError

INVALID_BLOCK_ID = 2**64 - 1
RETRIEVE_SLICE_S = 0.05  # longest wait inside pylon, so that stop() is honoured promptly
INSTALL_REMEDY = (
    "Install it with: pip install 'midstance[basler]' (the wheel includes the pylon runtime)."
)
ABSENT_REMEDY = (
    "Connect the camera (check the cable and power; for GigE, the network adapter's address and "
    "jumbo frames), close pylon Viewer, or correct 'serial'."
)


def _pylon() -> Any:
    from pypylon import pylon

    return pylon


def _genicam() -> Any:
    from pypylon import genicam

    return genicam


def list_cameras() -> list[dict[str, str]]:
    """Serial, model and transport of every Basler camera pylon sees (for the devices panel)."""
    pylon = _pylon()
    return [
        {
            "serial": info.GetSerialNumber(),
            "model": info.GetModelName(),
            "device_class": info.GetDeviceClass(),
        }
        for info in pylon.TlFactory.GetInstance().EnumerateDevices()
    ]


def _release(camera: Any) -> None:
    """Close the camera and free pylon's device object, whatever state it is in."""
    genicam = _genicam()
    with contextlib.suppress(genicam.GenericException):
        camera.Close()
    with contextlib.suppress(genicam.GenericException):
        camera.DestroyDevice()


class BaslerCamera(Device):
    """One Basler camera, opened by serial; delivers Mono8 frames (see ``docs/cameras.md``)."""

    kind: ClassVar[str] = "basler"

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._camera: Any = None
        self._parsed: BaslerSettings | None = None
        self._applied: AppliedConfig | None = None
        self._device_class = ""  # pylon's transport name, e.g. "BaslerGigE", "BaslerUsb"
        self._counter = FrameCounter()
        self._stopping = threading.Event()
        self._grab_lock = threading.Lock()
        self._failed_buffers = 0
        self.statistics: dict[str, int] = {}

    # -- availability -----------------------------------------------------------------------

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        try:
            parsed = parse_basler_settings(name, settings)
        except CameraSettingError as exc:
            return exc.health()
        try:
            cameras = list_cameras()
        except ImportError:
            return Health(HealthStatus.SDK_MISSING, "pypylon is not installed", INSTALL_REMEDY)
        except Exception as exc:  # the runtime itself failed: a broken or missing pylon install
            return Health(
                HealthStatus.DRIVER_MISSING,
                f"the pylon runtime could not list cameras ({exc})",
                "Reinstall pypylon, or the pylon Camera Software Suite.",
            )
        match = next((c for c in cameras if c["serial"] == parsed.serial), None)
        if match is None:
            found = ", ".join(f"{c['serial']} ({c['model']})" for c in cameras) or "none"
            return Health(
                HealthStatus.ABSENT,
                f"no Basler camera with serial {parsed.serial}; cameras found: {found}",
                ABSENT_REMEDY,
            )
        return Health(HealthStatus.OK, f"Basler {match['model']} {parsed.serial}")

    # -- lifecycle steps --------------------------------------------------------------------

    def _open(self) -> StreamDescription:
        pylon, genicam = _pylon(), _genicam()
        parsed = parse_basler_settings(self.name, self.settings)
        info = pylon.DeviceInfo()
        info.SetSerialNumber(parsed.serial)
        try:
            camera = pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateFirstDevice(info))
            camera.Open()
        except genicam.GenericException as exc:
            raise DeviceUnavailable(
                self.name,
                Health(
                    HealthStatus.ERROR,
                    f"Basler camera {parsed.serial} could not be opened ({exc})",
                    "Close any other program using it (pylon Viewer) and try again.",
                ),
            ) from None
        device_info = camera.GetDeviceInfo()
        try:
            applied = apply_settings(
                NodeWriter(self.name, camera.GetNodeMap()), parsed, model=device_info.GetModelName()
            )
            camera.MaxNumBuffer.SetValue(parsed.buffers)
        except CameraSettingError as exc:
            _release(camera)
            raise DeviceUnavailable(self.name, exc.health()) from None
        except genicam.GenericException as exc:
            _release(camera)
            raise DeviceUnavailable(
                self.name,
                Health(
                    HealthStatus.MISCONFIGURED,
                    f"Basler camera {parsed.serial} refused its configuration ({exc})",
                    "Check the camera's settings in docs/cameras.md against its manual.",
                ),
            ) from None
        self._camera, self._parsed, self._applied = camera, parsed, applied
        self._device_class = device_info.GetDeviceClass()
        origin = self._new_counter().origin
        return StreamDescription(
            device=self.name,
            kind=StreamKind.FRAMES,
            source=f"basler {parsed.serial} ({device_info.GetModelName()})",
            dtype="uint8",
            shape=(applied.height, applied.width),
            rate_hz=parsed.rate_hz,
            units=("DN",),
            settings={
                **self.settings,
                **parsed.to_dict(),
                "applied": applied.to_dict(),
                "device_class": self._device_class,
                "frame_counter_origin": -1 if origin is None else origin,  # -1: first received
                "pixel_format": "Mono8",
            },
        )

    def _start(self) -> None:
        pylon = _pylon()
        self._counter = self._new_counter()
        self._failed_buffers = 0
        self._stopping.clear()
        self._camera.StartGrabbing(pylon.GrabStrategy_OneByOne)

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        deadline = monotonic() + timeout_s
        count = 0
        dropped = 0
        indices = np.empty(len(out), dtype=np.int64)
        device_times = np.full(len(out), math.nan)
        while count < len(out):
            wait_s = min(RETRIEVE_SLICE_S, max(0.0, deadline - monotonic())) if count == 0 else 0.0
            result = self._retrieve(wait_s)
            if result is None:
                if count or self._stopping.is_set() or monotonic() >= deadline:
                    break
                continue
            try:
                dropped += self._take(result, out, count, indices, device_times)
                if result.GrabSucceeded():
                    count += 1
            finally:
                result.Release()
        host_time = monotonic()
        if count == 0:
            return Chunk(
                count=0,
                first_index=self._counter.last_index + 1,
                host_time_s=host_time,
                dropped=dropped,
            )
        consecutive = bool(np.all(np.diff(indices[:count]) == 1))
        return Chunk(
            count=count,
            first_index=int(indices[0]),
            host_time_s=host_time,
            indices=None if consecutive else indices[:count].copy(),
            device_time_s=device_times[:count].copy(),
            dropped=dropped,
        )

    def _stop(self) -> None:
        self._stopping.set()
        with self._grab_lock:
            with contextlib.suppress(_genicam().GenericException):
                self.statistics = self._stream_statistics()
            self._camera.StopGrabbing()

    def _close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            _release(camera)

    # -- software trigger (trigger = "software", e.g. the emulator) ---------------------------

    def execute_software_trigger(self, timeout_s: float = 1.0) -> None:
        """Expose one frame now; only with ``trigger = "software"`` while running."""
        if self._parsed is None or self._parsed.trigger != "software" or self._camera is None:
            raise DeviceError(
                self.name, 'a software trigger needs trigger = "software" and an open camera'
            )
        pylon = _pylon()
        self._camera.WaitForFrameTriggerReady(
            max(1, int(timeout_s * 1000)), pylon.TimeoutHandling_ThrowException
        )
        self._camera.ExecuteSoftwareTrigger()

    # -- internals ----------------------------------------------------------------------------

    def _new_counter(self) -> FrameCounter:
        """Block IDs have a documented start (and GigE's wrap); chunk counters start anywhere."""
        if self._applied.frame_counter_source != "BlockID":
            return FrameCounter()
        if self._device_class == "BaslerGigE":
            return FrameCounter(period=GIGE_BLOCK_ID_PERIOD, origin=GIGE_BLOCK_ID_ORIGIN)
        return FrameCounter(origin=USB_BLOCK_ID_ORIGIN)

    def _retrieve(self, wait_s: float) -> Any | None:
        """One grab result, or None when none arrived in ``wait_s``; a removed camera raises."""
        pylon, genicam = _pylon(), _genicam()
        with self._grab_lock:
            if self._stopping.is_set():
                return None
            try:
                if not self._camera.IsGrabbing():
                    raise self._lost("the camera stopped grabbing on its own")
                result = self._camera.RetrieveResult(
                    int(wait_s * 1000), pylon.TimeoutHandling_Return
                )
            except genicam.GenericException as exc:
                raise self._lost(f"grabbing failed ({exc})") from None
        return result if result is not None and result.IsValid() else None

    def _lost(self, problem: str) -> DeviceError:
        camera = self._camera
        removed = not camera.IsPylonDeviceAttached() or camera.IsCameraDeviceRemoved()
        last = self._counter.last_index
        recorded = (
            f"frames up to index {last} were delivered" if last >= 0 else "no frame was delivered"
        )
        if removed:
            return DeviceLost(
                self.name,
                f"the camera was disconnected while grabbing; {recorded}",
                "Check the cable and power, then reconnect the camera and start a new recording.",
            )
        return DeviceError(
            self.name, f"{problem}; {recorded}", "Stop, check the camera, start again."
        )

    def _take(
        self,
        result: Any,
        out: np.ndarray,
        slot: int,
        indices: np.ndarray,
        device_times: np.ndarray,
    ) -> int:
        """Copy one result into ``out[slot]``; return the frames it shows as lost."""
        raw = self._raw_counter(result)
        if not result.GrabSucceeded():
            self._failed_buffers += 1
            if raw is None:  # no usable number: the next frame's counter jump will show the loss
                return 0
            return self._observe(raw).gap + 1
        step = self._observe(raw) if raw is not None else self._counter.assume_next()
        height, width = out.shape[1:]
        if (result.Height, result.Width) != (height, width):
            raise DeviceError(
                self.name,
                f"the camera sent a {result.Width}×{result.Height} image, "
                f"{width}×{height} was configured",
                "Do not change the camera's settings in another program while recording.",
            )
        with result.GetArrayZeroCopy() as image:
            out[slot] = image
        indices[slot] = step.index
        device_times[slot] = self._timestamp_s(result)
        return step.gap

    def _observe(self, raw: int) -> Any:
        try:
            return self._counter.observe(raw)
        except CounterWentBackwards as exc:
            raise DeviceError(
                self.name,
                f"{exc}: the camera restarted its frame numbering (reset or power loss)",
                "Stop and start the recording again; check the camera's power.",
            ) from None

    def _raw_counter(self, result: Any) -> int | None:
        source = self._applied.frame_counter_source
        if source.startswith("chunk "):
            if not result.GrabSucceeded():
                return None  # a failed buffer's chunks cannot be trusted; the next jump counts it
            node = result.ChunkDataNodeMap.GetNode("Chunk" + source.removeprefix("chunk "))
            return int(node.GetValue()) if node is not None and node.IsReadable() else None
        block_id = int(result.BlockID)
        if block_id == INVALID_BLOCK_ID or (self._counter.period is not None and block_id == 0):
            return None  # pylon: UINT64_MAX is invalid; GigE: 0 means "not supported"
        return block_id

    def _timestamp_s(self, result: Any) -> float:
        ticks = 0
        if self._applied.timestamp_source == "chunk Timestamp":
            node = result.ChunkDataNodeMap.GetNode("ChunkTimestamp")
            if node is not None and node.IsReadable():
                ticks = int(node.GetValue())
        else:
            ticks = int(result.TimeStamp)
        # A zero timestamp means the camera has none (e.g. the emulator): NaN, not a fake time.
        return ticks / self._applied.timestamp_tick_hz if ticks else math.nan

    def _stream_statistics(self) -> dict[str, int]:
        """The stream grabber's own counts (where the transport has them), kept with the session."""
        nodemap = self._camera.GetStreamGrabberNodeMap()
        stats = {
            "failed_buffers_seen": self._failed_buffers,
            "counter_gaps": self._counter.total_gap,
        }
        for name in (
            "Statistic_Total_Buffer_Count",
            "Statistic_Failed_Buffer_Count",
            "Statistic_Buffer_Underrun_Count",
        ):
            node = nodemap.GetNode(name)
            if node is not None and node.IsValid() and node.IsReadable():
                stats[name] = int(node.GetValue())
        return stats
