"""A simulated camera that serves pre-rendered frames on the real-time trigger timeline.

Rendering the simulated runner costs far more CPU than a real camera's transfer (about 2.3 ms per
320x240 frame on the 2-core CI machine: two cameras at 250 fps would need more than a core), so
in a real-time test the renderer, not the subject of the test, would decide whether the cameras
keep up. :class:`PrerenderedCamera` is the simulated camera in every respect — same trigger
timeline, hardware-sync arming, pacing, stop, dropped frames and frame times — except that frame
``k`` shows ``loop[k mod n]``, a loop of the lab's first ``loop_frames`` frames rendered once at
open (like ``benchmarks/bench_pipeline.py``'s ``LoopedCamera``). Marker tracking re-acquires at
each loop boundary, so the live pipeline's work is real.

It is registered the way the benchmark registers its camera: :func:`factory` is passed as
``SessionController(device_factory=...)`` and builds this camera for kind ``KIND``, every other
device through the registry.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from app.session_setup import registry_factory
from drivers.sim.devices import SimulatedCamera
from drivers.sim.lab import SimulatedLab

KIND = "test.prerendered-camera"
DEFAULT_LOOP_FRAMES = 100


class _PrerenderedLab:
    """The shared simulated lab, except that frames come from the rendered loop."""

    def __init__(self, lab: SimulatedLab, view: str, loop_frames: int) -> None:
        self._lab = lab
        width, height = lab.cameras[view].size
        self.loop = np.empty((loop_frames, height, width), np.uint8)
        lab.render_into(view, np.arange(loop_frames), self.loop)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lab, name)

    def render_into(self, camera: str, ks, out: np.ndarray, **_: Any) -> None:
        ks = np.asarray(ks)
        out[: len(ks)] = self.loop[ks % len(self.loop)]


class PrerenderedCamera(SimulatedCamera):
    """``sim.camera`` with its frames rendered once (settings: those of ``sim.camera`` and
    ``loop_frames``, default 100)."""

    kind: ClassVar[str] = KIND

    def _open(self):
        description = super()._open()
        loop_frames = int(self.settings.get("loop_frames", DEFAULT_LOOP_FRAMES))
        self.lab = _PrerenderedLab(self.lab, self.view, loop_frames)
        return description


def factory(kind, name, settings, shared):
    """The registry's device factory, plus :class:`PrerenderedCamera` for kind ``KIND``."""
    if kind == KIND:
        return PrerenderedCamera(name, settings, shared)
    return registry_factory(kind, name, settings, shared)
