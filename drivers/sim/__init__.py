"""The simulated lab: a runner on an instrumented treadmill with ground truth.

The batch API (docs/architecture.md, "The simulated lab API")::

    from drivers.sim import RunnerParams, LabSetup, SimulatedLab, preset, PRESETS

    lab = SimulatedLab(preset("overstrider"), LabSetup(), seed=1, duration_s=30)

The streaming devices (``drivers.sim.devices``) are imported on demand by the driver registry.
"""

from drivers.sim.cameras import CameraModel
from drivers.sim.lab import SimulatedLab
from drivers.sim.params import PRESETS, LabSetup, RunnerParams, noise_free, preset
from drivers.sim.truth import FrameTruth, LabTruth, StanceTruth

__all__ = [
    "PRESETS",
    "CameraModel",
    "FrameTruth",
    "LabSetup",
    "LabTruth",
    "RunnerParams",
    "SimulatedLab",
    "StanceTruth",
    "noise_free",
    "preset",
]
