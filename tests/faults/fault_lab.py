"""Fault injection for the fault tests (the ``fault_lab`` fixture): a simulated lab session whose
devices misbehave on cue.

``FaultPlan`` wraps the registry's device factory (``SessionController(device_factory=...)``) and
replaces one device's ``_read`` so that, at an exact item count, it is unplugged (``DeviceLost``,
what the Basler and NI drivers raise for a removed device) or skips samples the way the NI driver
reports a buffer overflow (the device's counter jumps, ``Chunk.dropped`` says how many). Everything
else is the real simulated lab, the real pipeline, recorder and session writer.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field

import numpy as np

from app.session_setup import registry_factory
from drivers.base import Chunk, DeviceLost
from drivers.config import parse_config

RATE_HZ = 2000.0
FPS = 250.0


def sim_config(
    duration_s: float = 8.0,
    preset: str = "healthy",
    *,
    camera_kind: str = "sim.camera",
    fps: float = FPS,
    **setup,
):
    """Two 320x240 cameras (250 fps unless ``fps``) hardware-triggered by a 2 kHz simulated DAQ;
    ``camera_kind`` another camera of the simulated lab (tests/doubles/prerendered_camera.py)."""
    setup = {"image_width": 320, "image_height": 240, **setup}
    raw = {
        "lab": {"name": "fault lab", "treadmill": "single-belt"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": RATE_HZ},
        "cameras": [
            {"name": view, "kind": camera_kind, "view": view, "rate_hz": fps}
            for view in ("sagittal", "posterior")
        ],
        "simulation": {"preset": preset, "seed": 7, "duration_s": duration_s, "setup": setup},
    }
    return parse_config(raw)


@dataclass
class FaultPlan:
    """Which device fails, how, and after how many delivered items."""

    device: str
    kind: str  # "lost" | "gap" (samples overwritten, or frames a stalled camera never sent)
    after_items: int  # counted from arm(): the recording's start
    gap_items: int = 0
    delivered: int = 0
    fired_index: int = -1  # the device's item index where the fault struck
    start_count: int = 0
    armed: threading.Event = field(default_factory=threading.Event)
    fired: threading.Event = field(default_factory=threading.Event)

    def arm(self) -> None:
        """Count ``after_items`` from now (call it once the recording has started)."""
        self.start_count = self.delivered
        self.armed.set()

    def factory(self, kind, name, settings, shared):
        device = registry_factory(kind, name, settings, shared)
        if name == self.device:
            original = device._read
            device._read = lambda out, timeout_s: self._read(device, original, out, timeout_s)
        return device

    def _read(self, device, original, out: np.ndarray, timeout_s: float) -> Chunk:
        if self.fired.is_set() and self.kind == "lost":
            raise DeviceLost(
                device.name,
                "the device stopped responding (cable pulled)",
                "Check its cable and power, then connect again.",
            )
        if not self.armed.is_set():
            chunk = original(out, timeout_s)
            self.delivered += chunk.count
            return chunk
        room = self.start_count + self.after_items - self.delivered
        if not self.fired.is_set() and room <= 0:
            self.fired_index = self.delivered  # items are numbered from 0 on these devices
            self.fired.set()
            if self.kind == "lost":
                raise DeviceLost(
                    device.name,
                    "the device stopped responding (cable pulled)",
                    "Check its cable and power, then connect again.",
                )
            skipped = 0  # "gap": read and throw away, as overwritten samples are gone
            scratch = np.empty_like(out)
            while skipped < self.gap_items:
                n = min(len(scratch), self.gap_items - skipped)
                skipped += original(scratch[:n], timeout_s).count
            chunk = original(out, timeout_s)
            self.delivered += chunk.count
            return dataclasses.replace(chunk, dropped=chunk.dropped + skipped)
        if not self.fired.is_set():
            out = out[: max(1, room)]
        chunk = original(out, timeout_s)
        self.delivered += chunk.count
        return chunk
