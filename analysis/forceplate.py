"""Force plates: from volts to the ground reaction on the runner in the lab frame (SCIENCE.md §7).

A plate is described by the ``[[plates]]`` table of docs/architecture.md. The analysis works on a
*lab wrench* per plate: ``[Fx Fy Fz Mx My Mz]`` in lab axes (N, N·m), the moment taken about the
plate's surface point ``S = origin + R·(0, 0, z_surface)``. Because S lies on the working surface,
the centre of pressure is ``S + (−My/Fz, Mx/Fz, 0)`` in the lab, and a linear filter applied to
the wrench commutes with everything up to the COP division.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import InputError

PLATE_TYPES = ("six-channel", "kistler")
BELTS = ("both", "left", "right", "overground")
PLATE_KEYS = (
    "name",
    "type",
    "channels",
    "matrix",
    "amplifier_gains",
    "gains_N_per_V",
    "offsets_V",
    "z_surface_m",
    "origin_m",
    "rotation",
    "corners_m",
    "belt",
    "a_m",
    "b_m",
    "az0_m",
    "cop_poly",
    "cop_poly_unit_m",
)


@dataclass(frozen=True, eq=False)
class PlateConfig:
    """One force plate: channels, calibration and where it sits in the lab."""

    name: str
    type: str
    channels: tuple[str, ...]
    offsets_V: np.ndarray
    z_surface_m: float
    origin_m: np.ndarray
    rotation: np.ndarray
    belt: str = "both"
    matrix: np.ndarray | None = None  # six-channel: 6x6, V -> N and N·m
    amplifier_gains: np.ndarray | None = None  # six-channel: V out per V bridge (default 1)
    gains_N_per_V: np.ndarray | None = None  # kistler: 8 charge-amplifier ranges
    a_m: float = 0.0
    b_m: float = 0.0
    az0_m: float = 0.0
    corners_m: np.ndarray | None = None
    cop_poly: tuple[float, ...] | None = None  # Kistler COP correction (C3D FPCOPPOLY)
    cop_poly_unit_m: float = 1.0

    @property
    def surface_point_m(self) -> np.ndarray:
        """The point on the working surface above the transducer origin, lab frame."""
        return self.origin_m + self.rotation @ np.array([0.0, 0.0, self.z_surface_m])

    @property
    def midline_y_m(self) -> float:
        """Lab y of the plate's mediolateral centre (the belt midline on a treadmill)."""
        if self.corners_m is not None:
            return float(np.mean(self.corners_m[:, 1]))
        return float(self.surface_point_m[1])

    def to_dict(self) -> dict[str, Any]:
        """The plate as plain data in the ``[[plates]]`` shape."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "channels": list(self.channels),
            "offsets_V": self.offsets_V.tolist(),
            "z_surface_m": self.z_surface_m,
            "origin_m": self.origin_m.tolist(),
            "rotation": self.rotation.tolist(),
            "belt": self.belt,
        }
        if self.type == "six-channel":
            out["matrix"] = self.matrix.tolist()
            out["amplifier_gains"] = self.amplifier_gains.tolist()
        else:
            out.update(gains_N_per_V=self.gains_N_per_V.tolist(), a_m=self.a_m, b_m=self.b_m)
            out["az0_m"] = self.az0_m
            if self.cop_poly is not None:
                out.update(cop_poly=list(self.cop_poly), cop_poly_unit_m=self.cop_poly_unit_m)
        if self.corners_m is not None:
            out["corners_m"] = self.corners_m.tolist()
        return out

    def with_offsets(self, offsets_V: Sequence[float]) -> PlateConfig:
        """The same plate re-zeroed (offsets from an unloaded recording)."""
        offsets = np.asarray(offsets_V, dtype=float)
        if offsets.shape != self.offsets_V.shape:
            raise InputError(
                f"{offsets.size} offsets for {len(self.channels)} channels",
                subject=f"plate '{self.name}': offsets_V",
            )
        raw = {**self.to_dict(), "offsets_V": offsets.tolist()}
        return parse_plate(raw, subject=f"plate '{self.name}'")

    # -- volts to forces -------------------------------------------------------------------

    def plate_wrench(self, volts: np.ndarray) -> np.ndarray:
        """``[Fx Fy Fz Mx My Mz]`` in the plate's axes, moments about the transducer origin
        (six-channel) or about the plate's top surface centre (Kistler)."""
        volts = np.asarray(volts, dtype=float)
        if volts.ndim != 2 or volts.shape[1] != len(self.channels):
            raise InputError(
                f"expected (samples, {len(self.channels)}) volts, got shape {volts.shape}",
                subject=f"plate '{self.name}'",
            )
        v = volts - self.offsets_V
        if self.type == "six-channel":
            return (self.matrix @ (v / self.amplifier_gains).T).T  # faster than v @ M.T here
        f = v * self.gains_N_per_V
        fx12, fx34, fy14, fy23, fz1, fz2, fz3, fz4 = f.T
        out = np.empty((f.shape[0], 6))
        out[:, 0] = fx12 + fx34
        out[:, 1] = fy14 + fy23
        out[:, 2] = fz1 + fz2 + fz3 + fz4
        a, b = self.a_m, self.b_m
        mx = b * (fz1 + fz2 - fz3 - fz4)
        my = a * (-fz1 + fz2 + fz3 - fz4)
        out[:, 5] = b * (-fx12 + fx34) + a * (fy14 - fy23)
        out[:, 3] = mx + out[:, 1] * self.az0_m
        out[:, 4] = my - out[:, 0] * self.az0_m
        return out

    def lab_wrench(self, volts: np.ndarray) -> np.ndarray:
        """Force and moment about the surface point S, in lab axes (see the module docstring)."""
        return self.lab_wrench_from_plate(self.plate_wrench(volts))

    def lab_wrench_from_plate(self, plate_wrench: np.ndarray) -> np.ndarray:
        w = np.asarray(plate_wrench, dtype=float)
        force = w[:, :3]
        moment = w[:, 3:].copy()
        zs = self.z_surface_m
        # M_S = M_O − r × F with r = (0, 0, zs): (Mx + zs·Fy, My − zs·Fx, Mz)
        moment[:, 0] += zs * force[:, 1]
        moment[:, 1] -= zs * force[:, 0]
        out = np.empty_like(w)
        out[:, :3] = (self.rotation @ force.T).T
        out[:, 3:] = (self.rotation @ moment.T).T
        return out

    def cop_and_free_moment(
        self, lab_wrench: np.ndarray, threshold_N: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """COP (n, 3) in the lab and free moment Tz (n,), NaN where Fz < ``threshold_N``."""
        w = np.asarray(lab_wrench, dtype=float)
        fz = w[:, 2]
        loaded = fz >= threshold_N
        safe = np.where(loaded, fz, np.nan)
        dx = -w[:, 4] / safe
        dy = w[:, 3] / safe
        if self.cop_poly is not None:
            dx, dy = self._kistler_cop_correction(dx, dy)
        s = self.surface_point_m
        cop = np.column_stack([s[0] + dx, s[1] + dy, np.where(loaded, s[2], np.nan)])
        free = w[:, 5] - dx * w[:, 1] + dy * w[:, 0]
        return cop, free

    def _kistler_cop_correction(self, dx: np.ndarray, dy: np.ndarray) -> tuple:
        """Kistler's polynomial COP correction (C3D FPCOPPOLY), applied in plate axes."""
        r = self.rotation
        px = (r[0, 0] * dx + r[1, 0] * dy) / self.cop_poly_unit_m
        py = (r[0, 1] * dx + r[1, 1] * dy) / self.cop_poly_unit_m
        p = self.cop_poly
        x_off = (p[0] * py**4 + p[1] * py**2 + p[2]) * px**3 + (
            p[3] * py**4 + p[4] * py**2 + p[5]
        ) * px
        y_off = (p[6] * px**4 + p[7] * px**2 + p[8]) * py**3 + (
            p[9] * px**4 + p[10] * px**2 + p[11]
        ) * py
        px = (px - x_off) * self.cop_poly_unit_m
        py = (py - y_off) * self.cop_poly_unit_m
        return r[0, 0] * px + r[0, 1] * py, r[1, 0] * px + r[1, 1] * py


def parse_plate(raw: Mapping[str, Any], subject: str = "plate") -> PlateConfig:
    """Validate one ``[[plates]]`` table; errors name ``subject`` and the key."""
    check = _PlateChecker(subject)
    if not isinstance(raw, Mapping):
        check.fail("", "must be a table")
    unknown = sorted(set(raw) - set(PLATE_KEYS))
    if unknown:
        check.fail(unknown[0], "is not a plate key", f"Known keys: {', '.join(PLATE_KEYS)}.")
    name = check.string(raw, "name")
    kind = check.string(raw, "type")
    if kind not in PLATE_TYPES:
        check.fail("type", f"'{kind}' is not supported", f"Use one of: {', '.join(PLATE_TYPES)}.")
    n_channels = 6 if kind == "six-channel" else 8
    channels = raw.get("channels")
    if (
        not isinstance(channels, list | tuple)
        or len(channels) != n_channels
        or not all(isinstance(c, str) and c for c in channels)
    ):
        check.fail("channels", f"must list {n_channels} DAQ channel names for a {kind} plate")
    if len(set(channels)) != len(channels):
        check.fail("channels", "names a channel twice")
    offsets = check.array(raw, "offsets_V", (n_channels,), default=np.zeros(n_channels))
    rotation = check.array(raw, "rotation", (3, 3), default=np.eye(3))
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
        check.fail(
            "rotation",
            "is not a proper rotation (orthonormal, determinant +1)",
            "Give the 3x3 matrix that maps plate axes to lab axes.",
        )
    belt = raw.get("belt", "both")
    if belt not in BELTS:
        check.fail("belt", f"'{belt}' is not allowed", f"Use one of: {', '.join(BELTS)}.")
    corners = raw.get("corners_m")
    corners_arr = check.array(raw, "corners_m", (4, 3)) if corners is not None else None
    common: dict[str, Any] = {
        "name": name,
        "type": kind,
        "channels": tuple(channels),
        "offsets_V": offsets,
        "z_surface_m": check.number(raw, "z_surface_m", default=0.0),
        "origin_m": check.array(raw, "origin_m", (3,), default=np.zeros(3)),
        "rotation": rotation,
        "belt": belt,
        "corners_m": corners_arr,
    }
    if kind == "six-channel":
        matrix = check.array(raw, "matrix", (6, 6))
        if abs(np.linalg.det(matrix)) < 1e-12:
            check.fail("matrix", "is singular", "Check the plate's calibration sheet.")
        gains = check.array(raw, "amplifier_gains", (6,), default=np.ones(6))
        if np.any(gains == 0):
            check.fail("amplifier_gains", "contains a zero gain")
        return PlateConfig(matrix=matrix, amplifier_gains=gains, **common)
    gains = check.array(raw, "gains_N_per_V", (8,))
    poly = raw.get("cop_poly")
    poly_tuple = None
    if poly is not None:
        poly_tuple = tuple(float(p) for p in check.array(raw, "cop_poly", (12,)))
    return PlateConfig(
        gains_N_per_V=gains,
        a_m=check.number(raw, "a_m"),
        b_m=check.number(raw, "b_m"),
        az0_m=check.number(raw, "az0_m"),
        cop_poly=poly_tuple,
        cop_poly_unit_m=check.number(raw, "cop_poly_unit_m", default=1.0),
        **common,
    )


def parse_plates(raw_plates: Sequence[Mapping[str, Any]], source: str = "config") -> list:
    """Validate every plate and check that names are unique."""
    plates = [parse_plate(p, subject=f"{source}: plates[{i}]") for i, p in enumerate(raw_plates)]
    names = [p.name for p in plates]
    if len(set(names)) != len(names):
        raise InputError("plate names must be unique", subject=f"{source}: plates")
    return plates


class _PlateChecker:
    def __init__(self, subject: str) -> None:
        self.subject = subject

    def fail(self, key: str, problem: str, remedy: str = "") -> None:
        where = f"{self.subject}.{key}" if key else self.subject
        raise InputError(problem, subject=where, remedy=remedy)

    def string(self, raw: Mapping[str, Any], key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, not {value!r}")
        return value

    def number(self, raw: Mapping[str, Any], key: str, default: float | None = None) -> float:
        value = raw.get(key, default)
        if value is None:
            self.fail(key, "is missing")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a finite number, not {value!r}")
        return float(value)

    def array(
        self,
        raw: Mapping[str, Any],
        key: str,
        shape: tuple[int, ...],
        default: np.ndarray | None = None,
    ) -> np.ndarray:
        value = raw.get(key)
        if value is None:
            if default is None:
                self.fail(key, "is missing")
            return np.array(default, dtype=float)
        try:
            arr = np.array(value, dtype=float)
        except (TypeError, ValueError):
            self.fail(key, f"must be numbers with shape {shape}")
        if arr.shape != shape:
            self.fail(key, f"must have shape {shape}, not {arr.shape}")
        if not np.all(np.isfinite(arr)):
            self.fail(key, "contains a non-finite value")
        arr.setflags(write=False)
        return arr
