"""Static loads on the simulated plates, and plate faults for the technician checks to catch.

A technician's known-mass and COP-pointer checks put a still, vertical load on the plate while the
runner stands off the belt. :class:`StaticLoad` is such a load during an interval of session time:
a vertical force at a lab position on the belt surface (a mass m gives m·g; a pointer the force
pressed). :func:`static_wrenches` turns the loads into each plate's lab wrench about its origin, so
``SimulatedLab.analog`` renders them through the same path as running (the plate's inverse
calibration, its offsets, force/moment noise and belt vibration): the real calibration path is
exercised, not bypassed.

:func:`faulty_plates` makes the *configured* plates wrong the way a lab's can be (a gain error on
the matrix's Fz row, an origin a few mm off) while the simulator's true plates stay right — what
``midstance protocols run --inject-gain-error / --inject-origin-bias-mm`` configures.

:func:`clear_plate` readies the running simulator for such a still record (the runner off the
belt and the load on the plate, open-ended) and :func:`restore_plate` ends it once the record has
ended: a record that starts late (at pace "fast" session time runs on while a thread waits) still
sees the load alone, never the runner back on the belt.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.plate_checks import STANDARD_GRAVITY_M_S2
from drivers.sim.plates import wrench_about_origin

POINTER_FORCE_N = 300.0  # a technician leaning on the pointer: well above the 50 N COP threshold
MAX_STATIC_FORCE_N = 20000.0


@dataclass(frozen=True)
class StaticLoad:
    """A vertical force ``force_N`` at lab ``(x_m, y_m)`` on the belt surface during session time
    [``start_s``, ``stop_s``). ``label`` says what it is (e.g. "centre 25 kg")."""

    start_s: float
    stop_s: float
    force_N: float
    x_m: float
    y_m: float
    label: str = ""

    def __post_init__(self) -> None:
        for name in ("start_s", "stop_s", "force_N", "x_m", "y_m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{name} must be a number, not {value!r}", subject="StaticLoad")
            if not math.isfinite(value):
                raise InputError(f"{name} is {value!r}", subject="StaticLoad")
            object.__setattr__(self, name, float(value))
        if not 0 <= self.start_s < self.stop_s:
            raise InputError(
                f"[{self.start_s:g}, {self.stop_s:g}] is not an interval of session time",
                subject="StaticLoad",
                remedy="Give 0 <= start_s < stop_s, in seconds.",
            )
        if not 0 < self.force_N <= MAX_STATIC_FORCE_N:
            raise InputError(
                f"force {self.force_N:g} N is outside 0–{MAX_STATIC_FORCE_N:g} N",
                subject="StaticLoad",
            )

    @classmethod
    def of_mass(
        cls, mass_kg: float, position_m: Sequence[float], start_s: float, stop_s: float, label=""
    ) -> StaticLoad:
        """A known mass: m·g (standard gravity, as the known-mass check assumes by default)."""
        x, y = (float(v) for v in position_m[:2])
        return cls(start_s, stop_s, float(mass_kg) * STANDARD_GRAVITY_M_S2, x, y, label)

    @classmethod
    def of_pointer(
        cls,
        position_m: Sequence[float],
        start_s: float,
        stop_s: float,
        force_N: float = POINTER_FORCE_N,
        label: str = "",
    ) -> StaticLoad:
        x, y = (float(v) for v in position_m[:2])
        return cls(start_s, stop_s, force_N, x, y, label)

    @classmethod
    def coerce(cls, value: StaticLoad | Mapping[str, Any]) -> StaticLoad:
        """A load from itself or from its ``to_dict`` table (e.g. a stored lab description)."""
        if isinstance(value, StaticLoad):
            return value
        if not isinstance(value, Mapping):
            raise InputError(f"{value!r} is not a static load table", subject="static_loads")
        try:
            return cls(**dict(value))
        except TypeError as exc:
            raise InputError(str(exc), subject="static_loads") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plate_under(x_m: float, y_m: float, plates: Sequence[Mapping[str, Any]]) -> str:
    """The name of the plate whose working surface holds (x, y); an InputError if none does."""
    for plate in plates:
        corners = np.asarray(plate["corners_m"], dtype=float)
        lo, hi = corners[:, :2].min(axis=0), corners[:, :2].max(axis=0)
        if lo[0] <= x_m <= hi[0] and lo[1] <= y_m <= hi[1]:
            return str(plate["name"])
    raise InputError(
        f"({x_m:g}, {y_m:g}) m is on no plate",
        subject="static load position",
        remedy="Place the load on a plate's working surface (lab frame: x forward, y left).",
    )


def static_wrenches(
    loads: Sequence[StaticLoad], t: np.ndarray, plates: Sequence[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """Plate name → (len(t), 6) lab wrench about the plate origin of the loads active at ``t``
    (plates that carry none are left out)."""
    out: dict[str, np.ndarray] = {}
    for load in loads:
        active = (t >= load.start_s) & (t < load.stop_s)
        if not active.any():
            continue
        name = plate_under(load.x_m, load.y_m, plates)
        plate = next(p for p in plates if p["name"] == name)
        force = np.zeros((len(t), 3))
        force[active, 2] = load.force_N
        cop = np.tile([load.x_m, load.y_m, 0.0], (len(t), 1))
        wrench = wrench_about_origin(force, cop, np.zeros(len(t)), np.asarray(plate["origin_m"]))
        out[name] = out[name] + wrench if name in out else wrench
    return out


def faulty_plates(
    plates: Sequence[Mapping[str, Any]],
    *,
    gain_error: float = 0.0,
    origin_bias_m: Sequence[float] = (0.0, 0.0),
) -> list[dict[str, Any]]:
    """Copies of ``[[plates]]`` tables as a lab might have them wrong: the Fz row of the matrix
    scaled by (1 + ``gain_error``) (0.03: Fz reads 3 % high) and the origin moved by
    ``origin_bias_m`` (x, y) in the lab frame (measured COPs move by the same amount)."""
    if not (math.isfinite(gain_error) and -0.5 < gain_error < 0.5):
        raise InputError(f"{gain_error!r} is outside -0.5–0.5", subject="injected gain error")
    bias = [float(v) for v in origin_bias_m]
    if len(bias) != 2 or not all(math.isfinite(v) and abs(v) <= 0.1 for v in bias):
        raise InputError(
            f"{origin_bias_m!r} is not an (x, y) bias within ±0.1 m", subject="injected origin bias"
        )
    out = []
    for plate in plates:
        wrong = copy.deepcopy(dict(plate))
        matrix = np.asarray(wrong["matrix"], dtype=float)
        matrix[2] *= 1.0 + gain_error
        wrong["matrix"] = matrix.tolist()
        origin = [float(v) for v in wrong["origin_m"]]
        wrong["origin_m"] = [origin[0] + bias[0], origin[1] + bias[1], origin[2]]
        out.append(wrong)
    return out


def place_load(lab: Any, load: StaticLoad) -> StaticLoad:
    """Put ``load`` on a running :class:`~drivers.sim.lab.SimulatedLab` (refused off the plates).

    Like ``SessionController.step_off_belt``: the simulator reads ``setup.static_loads`` for every
    block it renders after this assignment, so place a load ahead of the newest DAQ sample."""
    plate_under(load.x_m, load.y_m, lab.plate_configs())
    lab.setup = lab.setup.replace(static_loads=(*lab.setup.static_loads, load))
    return load


def lift_load(lab: Any, load: StaticLoad, at_s: float) -> None:
    """End ``load`` at session time ``at_s`` (if it was to last longer): taken off the plate."""
    kept = []
    for current in lab.setup.static_loads:
        if current != load or at_s >= current.stop_s:
            kept.append(current)
        elif at_s > current.start_s:
            kept.append(StaticLoad(**{**current.to_dict(), "stop_s": float(at_s)}))
    lab.setup = lab.setup.replace(static_loads=tuple(kept))


@dataclass(frozen=True)
class PlateStaging:
    """A still record's plate on the simulated lab: the runner off the belt over session time
    [``start_s``, ``stop_s``) and ``load`` (None for an unloaded record: zero, noise floor) on the
    plate over the same interval."""

    start_s: float
    stop_s: float
    load: StaticLoad | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "off_belt_s": [self.start_s, self.stop_s],
            "static_load": self.load.to_dict() if self.load is not None else None,
        }


def clear_plate(
    lab: Any, start_s: float, make_load: Callable[[float, float], StaticLoad] | None = None
) -> PlateStaging:
    """From session time ``start_s`` the runner stands off the belt and ``make_load(start, stop)``
    (if given) is on the plate, both until the end of the lab's session: open-ended, because when
    the record will start is not known here. End them with :func:`restore_plate` after the
    record. One assignment of ``lab.setup``, so the DAQ renders both changes or neither; place
    them ahead of the newest DAQ sample (see :func:`place_load`). A load off the plates is
    refused and nothing changes."""
    stop_s = max(float(lab.duration_s), float(start_s)) + 1.0
    load = make_load(float(start_s), stop_s) if make_load is not None else None
    setup = lab.setup
    loads = setup.static_loads
    if load is not None:
        plate_under(load.x_m, load.y_m, lab.plate_configs())
        loads = (*loads, load)
    off_belt = (*setup.off_belt_s, (float(start_s), stop_s))
    lab.setup = setup.replace(off_belt_s=off_belt, static_loads=loads)
    return PlateStaging(float(start_s), stop_s, load)


def restore_plate(lab: Any, staging: PlateStaging, at_s: float) -> PlateStaging | None:
    """End ``staging`` at session time ``at_s``: the load lifted and the runner back on the belt.
    Returns the staging as it then stood (its interval ending at ``at_s``), or None if it ended
    before it began (then it is taken out altogether)."""
    at_s = float(at_s)
    start, stop = staging.start_s, staging.stop_s
    ended = None
    if at_s > start:
        ended = PlateStaging(start, min(stop, at_s), None)
        if staging.load is not None:
            load = dataclasses.replace(staging.load, stop_s=min(staging.load.stop_s, at_s))
            ended = dataclasses.replace(ended, load=load)
    setup = lab.setup
    off_belt = [pair for pair in setup.off_belt_s if pair != (start, stop)]
    loads = [load for load in setup.static_loads if load != staging.load]
    if ended is not None:
        off_belt.append((ended.start_s, ended.stop_s))
        if ended.load is not None:
            loads.append(ended.load)
    lab.setup = setup.replace(off_belt_s=tuple(off_belt), static_loads=tuple(loads))
    return ended
