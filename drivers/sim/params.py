"""What the simulated lab renders: the runner (:class:`RunnerParams`) and the lab
(:class:`LabSetup`).

Both are frozen dataclasses so that a simulated session is fully described by (runner, setup, seed,
duration) and can be stored next to every number derived from it. Values are targets: the ground
truth (``SimulatedLab.truth``) is measured on the rendered model, so it is exact even where a
target cannot be met exactly (e.g. a loading rate that the stance shape cannot reach).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis.errors import InputError
from drivers.sim.static_loads import StaticLoad

FOOT_STRIKES = ("rearfoot", "midfoot", "forefoot")
TREADMILLS = ("single-belt", "split-belt")
SYNC_MODES = ("hardware", "software")
SIDES = ("L", "R")


def _check_range(
    owner: str, name: str, value: float, bounds: tuple[float, float], unit: str
) -> None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"must be a number, not {value!r}", subject=f"{owner}.{name}")
    if not lo <= value <= hi:
        raise InputError(
            f"{value:g} {unit} is outside the simulated range {lo:g}–{hi:g} {unit}",
            subject=f"{owner}.{name}",
            remedy=f"Choose a value between {lo:g} and {hi:g}.",
        )


def _check_choice(owner: str, name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise InputError(
            f"'{value}' is not allowed",
            subject=f"{owner}.{name}",
            remedy=f"Use one of: {', '.join(options)}.",
        )


def _check_pair(owner: str, name: str, value: tuple[float, float], lo: float, hi: float) -> None:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InputError(f"must be a (left, right) pair, not {value!r}", subject=f"{owner}.{name}")
    for side, v in zip(SIDES, value, strict=True):
        _check_range(owner, f"{name}[{side}]", v, (lo, hi), "deg")


@dataclass(frozen=True)
class RunnerParams:
    """The runner. Distances in m, angles in degrees, per-side pairs are (left, right)."""

    body_mass_kg: float = 70.0
    leg_length_m: float = 0.92  # greater-trochanter height when standing
    speed_m_s: float = 3.3  # belt speed
    incline_deg: float = 0.0  # treadmill incline; uphill needs net propulsive impulse
    cadence_spm: float = 170.0  # steps per minute (both feet)
    contact_time_s: float = 0.25
    foot_strike: str = "rearfoot"  # rearfoot (impact peak), midfoot or forefoot
    loading_rate_bw_s: float = 70.0  # target VALR (BW/s) by the SCIENCE.md §4 method of the strike
    peak_braking_bw: float = 0.35  # peak braking (posterior) GRF
    braking_fraction: float = 0.45  # braking → propulsion transition, fraction of stance
    hip_ankle_contact_m: float = 0.28  # d = x_ankle − x_hip at initial contact (lab frame)
    hip_ankle_midstance_m: float = -0.02  # d at midstance (peak knee flexion)
    knee_flexion_contact_deg: float = 15.0
    stance_pelvis_drop_m: float = 0.03  # how far the pelvis sinks from contact to midstance
    fppa_deg: tuple[float, float] = (
        4.0,
        4.0,
    )  # frontal-plane projection angle at midstance, +valgus
    pelvic_drop_deg: tuple[float, float] = (3.0, 3.0)  # contralateral drop in stance of L / R
    step_width_m: float = 0.08  # between the feet's lines; negative = crossing the midline
    asymmetry: float = 0.0  # +0.1: left contact time and loading rate 5 % up, right 5 % down
    variability: float = 0.03  # stride-to-stride CV of step time, contact time, loading rate
    angle_sd_deg: float = 1.0  # stride-to-stride SD of FPPA and pelvic drop
    distance_sd_m: float = 0.01  # stride-to-stride SD of hip–ankle distances
    fatigue_per_min: float = (
        0.0  # fractional drift per minute of loading rate, FPPA, drop, overstride
    )
    trunk_lean_deg: float = 8.0

    def __post_init__(self) -> None:
        own = "RunnerParams"
        for name in ("fppa_deg", "pelvic_drop_deg"):  # TOML gives lists; keep the value hashable
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_range(own, "body_mass_kg", self.body_mass_kg, (20, 200), "kg")
        _check_range(own, "leg_length_m", self.leg_length_m, (0.6, 1.2), "m")
        _check_range(own, "speed_m_s", self.speed_m_s, (1.5, 7.0), "m/s")
        _check_range(own, "incline_deg", self.incline_deg, (-10, 15), "deg")
        _check_range(own, "cadence_spm", self.cadence_spm, (120, 220), "steps/min")
        step_s = 60.0 / self.cadence_spm
        _check_range(own, "contact_time_s", self.contact_time_s, (0.12, 0.8 * step_s), "s")
        _check_choice(own, "foot_strike", self.foot_strike, FOOT_STRIKES)
        _check_range(own, "loading_rate_bw_s", self.loading_rate_bw_s, (10, 200), "BW/s")
        _check_range(own, "peak_braking_bw", self.peak_braking_bw, (0.05, 1.0), "BW")
        _check_range(own, "braking_fraction", self.braking_fraction, (0.3, 0.65), "")
        _check_range(own, "hip_ankle_contact_m", self.hip_ankle_contact_m, (0.0, 0.6), "m")
        _check_range(own, "hip_ankle_midstance_m", self.hip_ankle_midstance_m, (-0.2, 0.25), "m")
        if self.hip_ankle_midstance_m >= self.hip_ankle_contact_m:
            raise InputError(
                "the ankle must move backward relative to the hip during stance",
                subject="RunnerParams.hip_ankle_midstance_m",
                remedy="Make it smaller than hip_ankle_contact_m.",
            )
        _check_range(own, "knee_flexion_contact_deg", self.knee_flexion_contact_deg, (2, 35), "deg")
        _check_range(own, "stance_pelvis_drop_m", self.stance_pelvis_drop_m, (0.0, 0.1), "m")
        _check_pair(own, "fppa_deg", self.fppa_deg, -15, 30)
        _check_pair(own, "pelvic_drop_deg", self.pelvic_drop_deg, -5, 15)
        _check_range(own, "step_width_m", self.step_width_m, (-0.1, 0.3), "m")
        _check_range(own, "asymmetry", self.asymmetry, (-0.4, 0.4), "")
        _check_range(own, "variability", self.variability, (0.0, 0.15), "")
        _check_range(own, "angle_sd_deg", self.angle_sd_deg, (0.0, 5.0), "deg")
        _check_range(own, "distance_sd_m", self.distance_sd_m, (0.0, 0.05), "m")
        _check_range(own, "fatigue_per_min", self.fatigue_per_min, (-0.1, 0.1), "/min")
        _check_range(own, "trunk_lean_deg", self.trunk_lean_deg, (-10, 30), "deg")

    @property
    def body_weight_N(self) -> float:
        return self.body_mass_kg * 9.80665

    @property
    def step_time_s(self) -> float:
        return 60.0 / self.cadence_spm

    def replace(self, **changes: Any) -> RunnerParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LabSetup:
    """The lab: treadmill, DAQ, cameras, synchronisation and every imperfection simulated."""

    treadmill: str = "single-belt"  # one plate under both feet, or one plate per belt
    daq_rate_hz: float = 2000.0
    n_analog_channels: int = 16
    frame_rate_hz: float = 250.0  # both cameras
    image_width: int = 640
    image_height: int = 480
    sync_mode: str = "hardware"  # DAQ-triggered frames, or free-running camera clocks
    trigger_delay_s: float = 20e-6  # hardware sync: trigger → exposure start
    exposure_s: float = 0.001  # exposure-witness pulse width (geometry is rendered at its start)
    camera_clock_offset_s: float = 0.0137  # software sync: session time when a camera clock reads 0
    camera_drift_ppm: float = 30.0  # camera clock runs fast by this much (both modes)
    # camera name → frame indices exposed but never delivered
    dropped_frames: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    # hardware sync: camera name → trigger pulses the camera ignored (never exposed: no witness
    # edge, no frame, and its frame counter does not count them, as a real camera's does not)
    missed_triggers: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    drop_probability: float = 0.0  # each frame independently
    force_noise_N: float = 1.5  # white noise SD on each force channel (N)
    moment_noise_Nm: float = 0.3  # white noise SD on each moment channel (N·m)
    belt_vibration_N: float = 3.0  # amplitude of the belt/roller vibration on Fz (N)
    belt_vibration_hz: float = 38.0
    voltage_noise_V: float = 0.002  # on the witness, belt-speed, LED and spare channels
    marker_occlusion_probability: float = 0.0  # each marker in each frame
    stray_reflections_per_frame: float = 0.0  # mean number of stray bright spots per frame
    blur_sigma_px: float = 0.6  # optical blur of the markers (Gaussian SD)
    image_noise_dn: float = 2.0  # image noise SD (grey levels)
    led_period_s: float = 0.8  # mean interval of the sync LED flashes (jittered ±20 %)
    led_on_s: float = 0.04
    # session-time intervals [start, stop) with the runner off the belt (feet on the side rails,
    # e.g. while the plates are zeroed): no load on any plate, noise and vibration remain; the
    # video is unchanged (only the plates are unloaded)
    off_belt_s: tuple[tuple[float, float], ...] = ()
    # still, vertical loads on the plates during intervals of session time (a known mass, a COP
    # pointer: drivers/sim/static_loads.py), added to whatever else is on the plate
    static_loads: tuple[StaticLoad, ...] = ()

    def __post_init__(self) -> None:
        own = "LabSetup"
        try:
            intervals = tuple((float(a), float(b)) for a, b in self.off_belt_s)
        except (TypeError, ValueError):
            raise InputError(
                f"must be a list of [start, stop] pairs, not {self.off_belt_s!r}",
                subject="LabSetup.off_belt_s",
            ) from None
        for a, b in intervals:
            if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
                raise InputError(
                    f"[{a:g}, {b:g}] is not an interval of session time",
                    subject="LabSetup.off_belt_s",
                    remedy="Give [start, stop] with 0 <= start < stop, in seconds.",
                )
        object.__setattr__(self, "off_belt_s", intervals)
        if isinstance(self.static_loads, Mapping | str | bytes):
            raise InputError("must be a list of loads", subject="LabSetup.static_loads")
        loads = tuple(StaticLoad.coerce(load) for load in self.static_loads)
        object.__setattr__(self, "static_loads", loads)
        _check_choice(own, "treadmill", self.treadmill, TREADMILLS)
        _check_choice(own, "sync_mode", self.sync_mode, SYNC_MODES)
        _check_range(own, "daq_rate_hz", self.daq_rate_hz, (500, 10000), "Hz")
        _check_range(own, "frame_rate_hz", self.frame_rate_hz, (100, 500), "fps")
        if self.sync_mode == "hardware":
            ratio = self.daq_rate_hz / self.frame_rate_hz
            if abs(ratio - round(ratio)) > 1e-9:
                raise InputError(
                    f"the DAQ rate {self.daq_rate_hz:g} Hz is not an integer multiple of the "
                    f"frame rate {self.frame_rate_hz:g} fps, which hardware sync requires",
                    subject="LabSetup.frame_rate_hz",
                    remedy="Choose e.g. 2000 Hz with 250 fps, or 2000 Hz with 500 fps.",
                )
        needed = 6 * (2 if self.treadmill == "split-belt" else 1) + 4
        if not isinstance(self.n_analog_channels, int) or self.n_analog_channels < needed:
            raise InputError(
                f"{self.n_analog_channels!r} channels cannot hold the {needed} the "
                f"{self.treadmill} lab needs",
                subject="LabSetup.n_analog_channels",
                remedy=f"Use at least {needed}.",
            )
        _check_range(own, "image_width", self.image_width, (160, 2048), "px")
        _check_range(own, "image_height", self.image_height, (120, 2048), "px")
        _check_range(own, "trigger_delay_s", self.trigger_delay_s, (0, 0.01), "s")
        _check_range(own, "exposure_s", self.exposure_s, (1e-5, 0.8 / self.frame_rate_hz), "s")
        _check_range(own, "camera_clock_offset_s", self.camera_clock_offset_s, (0, 10), "s")
        _check_range(own, "camera_drift_ppm", self.camera_drift_ppm, (-500, 500), "ppm")
        _check_range(own, "drop_probability", self.drop_probability, (0, 0.5), "")
        for name in ("force_noise_N", "moment_noise_Nm", "belt_vibration_N", "voltage_noise_V"):
            _check_range(own, name, getattr(self, name), (0, 100), "")
        _check_range(own, "belt_vibration_hz", self.belt_vibration_hz, (1, 500), "Hz")
        _check_range(
            own, "marker_occlusion_probability", self.marker_occlusion_probability, (0, 0.9), ""
        )
        _check_range(
            own, "stray_reflections_per_frame", self.stray_reflections_per_frame, (0, 10), ""
        )
        _check_range(own, "blur_sigma_px", self.blur_sigma_px, (0, 3), "px")
        _check_range(own, "image_noise_dn", self.image_noise_dn, (0, 20), "DN")
        _check_range(own, "led_period_s", self.led_period_s, (0.2, 60), "s")
        _check_range(own, "led_on_s", self.led_on_s, (0.005, 0.5 * self.led_period_s), "s")
        for what in ("dropped_frames", "missed_triggers"):
            for camera, indices in dict(getattr(self, what)).items():
                if camera not in ("sagittal", "posterior"):
                    raise InputError(
                        f"unknown camera '{camera}'",
                        subject=f"LabSetup.{what}",
                        remedy="Use sagittal or posterior.",
                    )
                if any(not isinstance(k, int) or k < 0 for k in indices):
                    raise InputError(
                        "frame indices must be non-negative integers",
                        subject=f"LabSetup.{what}[{camera}]",
                    )
        if dict(self.missed_triggers) and self.sync_mode != "hardware":
            raise InputError(
                "missed triggers need hardware sync (a free-running camera has no trigger)",
                subject="LabSetup.missed_triggers",
                remedy='Set sync_mode = "hardware" or remove missed_triggers.',
            )

    @property
    def plate_names(self) -> tuple[str, ...]:
        return ("left", "right") if self.treadmill == "split-belt" else ("belt",)

    def replace(self, **changes: Any) -> LabSetup:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dropped_frames"] = {k: list(v) for k, v in dict(self.dropped_frames).items()}
        data["missed_triggers"] = {k: list(v) for k, v in dict(self.missed_triggers).items()}
        data["off_belt_s"] = [list(pair) for pair in self.off_belt_s]
        data["static_loads"] = [load.to_dict() for load in self.static_loads]
        return data


def noise_free(setup: LabSetup) -> LabSetup:
    """The same lab with every random imperfection switched off (for exact comparisons)."""
    return setup.replace(
        force_noise_N=0.0,
        moment_noise_Nm=0.0,
        belt_vibration_N=0.0,
        voltage_noise_V=0.0,
        image_noise_dn=0.0,
        marker_occlusion_probability=0.0,
        stray_reflections_per_frame=0.0,
        drop_probability=0.0,
        dropped_frames={},
        missed_triggers={},
    )


PRESETS: dict[str, RunnerParams] = {
    "healthy": RunnerParams(),
    "overstrider": RunnerParams(
        hip_ankle_contact_m=0.40,
        hip_ankle_midstance_m=0.10,
        knee_flexion_contact_deg=6.0,
        loading_rate_bw_s=95.0,
        peak_braking_bw=0.55,
        braking_fraction=0.5,
        contact_time_s=0.27,
        cadence_spm=160.0,
        trunk_lean_deg=3.0,
    ),
    "valgus-left": RunnerParams(fppa_deg=(14.0, 4.0), pelvic_drop_deg=(8.0, 3.0)),
    "forefoot": RunnerParams(
        foot_strike="forefoot",
        loading_rate_bw_s=36.0,
        hip_ankle_contact_m=0.22,
        hip_ankle_midstance_m=-0.04,
        contact_time_s=0.22,
        cadence_spm=178.0,
        knee_flexion_contact_deg=18.0,
    ),
    "crossover": RunnerParams(step_width_m=-0.03, fppa_deg=(7.0, 7.0)),
}


def preset(name: str) -> RunnerParams:
    """A named runner; an unknown name is an :class:`InputError` listing the names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown preset '{name}'",
            subject="simulated lab",
            remedy=f"Use one of: {', '.join(PRESETS)}.",
        ) from None
