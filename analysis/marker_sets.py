"""Marker sets as data (``marker_sets.toml``): names, initial labelling rule, geometry checks.

A lab can move a marker or add one by editing the TOML file; the tracker only knows the rules
written there. Geometry is checked in image coordinates (x right, y down) with the view's
orientation (which way the runner faces, which image side is the runner's left), because the
constraints ("hip above knee", "heel behind toe", "left PSIS on the left") are about the body.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import InputError

DEFAULT_FILE = Path(__file__).with_name("marker_sets.toml")
CONSTRAINT_KINDS = {"above": ("upper", "lower"), "behind": ("rear", "front")}
CONSTRAINT_KINDS["left_of"] = ("left", "right")


@dataclass(frozen=True)
class ImageOrientation:
    """How the body's directions appear in one camera's image (the camera-to-lab mapping)."""

    forward_x: int = 1  # +1: the runner runs toward image right (sagittal view)
    left_x: int = -1  # -1: the runner's left is on image left (posterior camera behind the runner)

    def __post_init__(self) -> None:
        if self.forward_x not in (1, -1) or self.left_x not in (1, -1):
            raise InputError(
                "forward_x and left_x must be +1 or -1",
                subject="image orientation",
                remedy="+1 means the image's +x direction",
            )

    def to_dict(self) -> dict[str, int]:
        return {"forward_x": self.forward_x, "left_x": self.left_x}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageOrientation:
        return cls(int(data["forward_x"]), int(data["left_x"]))


@dataclass(frozen=True)
class Constraint:
    kind: str  # "above", "behind", "left_of"
    first: str  # upper / rear / left
    second: str  # lower / front / right
    initialise_only: bool = False  # usually true, not always: only to pick a frame to label

    def describe(self) -> str:
        words = {"above": "above", "behind": "behind", "left_of": "left of"}[self.kind]
        return f"{self.first} {words} {self.second}"


@dataclass(frozen=True)
class MarkerSet:
    """One camera view's markers and the rules that label them."""

    name: str
    view: str
    markers: tuple[str, ...]
    optional: tuple[str, ...]
    init_method: str
    init_groups: tuple[tuple[str, ...], ...]
    constraints: tuple[Constraint, ...]  # checked on every frame
    tolerance_px: float
    all_constraints: tuple[Constraint, ...] = ()  # including those used only to start labelling

    def index(self, name: str) -> int:
        try:
            return self.markers.index(name)
        except ValueError:
            raise InputError(
                f"no marker named {name!r}",
                subject=f"marker set {self.name!r}",
                remedy=f"known markers: {', '.join(self.markers)}",
            ) from None

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(m for m in self.markers if m not in self.optional)

    def _follow_limb_lines(self, out: np.ndarray, groups: list[list[str]]) -> None:
        """Columns split by image side put a crossed-over ankle (or knee) on the wrong leg.
        From the third level down, swap a left/right pair when the swapped pair lies closer to
        the lines extrapolated from the two markers above on each side (thigh → knee → ankle)."""
        left, right = groups
        if len(left) != len(right):
            return
        idx_l = [self.markers.index(m) for m in left]
        idx_r = [self.markers.index(m) for m in right]
        for level in range(2, len(left)):
            predicted = []
            for idx in (idx_l, idx_r):
                a, b, c = out[idx[level - 2]], out[idx[level - 1]], out[idx[level]]
                step = (b[0] - a[0]) / (b[1] - a[1]) if b[1] != a[1] else 0.0
                predicted.append(b[0] + step * (c[1] - b[1]))
            xl, xr = out[idx_l[level], 0], out[idx_r[level], 0]
            same = abs(xl - predicted[0]) + abs(xr - predicted[1])
            swapped = abs(xr - predicted[0]) + abs(xl - predicted[1])
            if swapped < same:
                out[[idx_l[level], idx_r[level]]] = out[[idx_r[level], idx_l[level]]]

    @cached_property
    def init_constraints(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.all_constraints if c.initialise_only)

    def _broken(self, constraints, xy: np.ndarray, orientation: ImageOrientation) -> bool:
        for c in constraints:
            a, b = xy[self.markers.index(c.first)], xy[self.markers.index(c.second)]
            gap = {
                "above": b[1] - a[1],
                "behind": orientation.forward_x * (b[0] - a[0]),
                "left_of": orientation.left_x * (a[0] - b[0]),
            }[c.kind]
            if gap < -self.tolerance_px:
                return True
        return False

    def violations(self, xy: np.ndarray, orientation: ImageOrientation) -> list[Constraint]:
        """The constraints broken by positions ``xy`` (n_markers, 2); NaN markers are skipped."""
        first, second, axis, sign = self._constraint_arrays
        direction = np.where(axis == 1, 1.0, 0.0)
        direction += np.where(sign == 2, orientation.forward_x, 0.0)
        direction += np.where(sign == 3, -orientation.left_x, 0.0)
        gap = (xy[second, axis] - xy[first, axis]) * direction
        return [self.constraints[i] for i in np.flatnonzero(gap < -self.tolerance_px)]

    def violated(self, xy: np.ndarray, orientation: ImageOrientation) -> np.ndarray:
        """(n_constraints,) True where positions ``xy`` break a constraint (the per-frame check:
        no Python loop, no list); NaN markers never break one."""
        first, second, axis, _ = self._constraint_arrays
        gap = (xy[second, axis] - xy[first, axis]) * self._directions(orientation)
        return gap < -self.tolerance_px

    def breaks_any(self, xy: list, orientation: ImageOrientation) -> bool:
        """``violated(xy, orientation).any()`` for positions as a list of [x, y] rows of plain
        floats (the tracker's usual frame: a handful of comparisons in Python cost less than
        the numpy calls); the same arithmetic, so the same answer to the bit."""
        tolerance = -self.tolerance_px
        for first, second, axis, direction in self._constraint_rows(orientation):
            if (xy[second][axis] - xy[first][axis]) * direction < tolerance:
                return True
        return False

    def _constraint_rows(self, orientation: ImageOrientation) -> tuple[tuple, ...]:
        cache = self._row_cache
        key = (orientation.forward_x, orientation.left_x)
        if key not in cache:
            first, second, axis, _ = self._constraint_arrays
            direction = self._directions(orientation)
            cache[key] = tuple(
                zip(first.tolist(), second.tolist(), axis.tolist(), direction.tolist(), strict=True)
            )
        return cache[key]

    @cached_property
    def _row_cache(self) -> dict[tuple[int, int], tuple[tuple, ...]]:
        return {}

    @property
    def constraint_markers(self) -> tuple[np.ndarray, np.ndarray]:
        """Marker indices (first, second) of every constraint, in :attr:`constraints` order."""
        first, second, _, _ = self._constraint_arrays
        return first, second

    def _directions(self, orientation: ImageOrientation) -> np.ndarray:
        cache = self._direction_cache
        key = (orientation.forward_x, orientation.left_x)
        if key not in cache:
            _, _, axis, sign = self._constraint_arrays
            direction = np.where(axis == 1, 1.0, 0.0)
            direction += np.where(sign == 2, orientation.forward_x, 0.0)
            direction += np.where(sign == 3, -orientation.left_x, 0.0)
            cache[key] = direction
        return cache[key]

    @cached_property
    def _direction_cache(self) -> dict[tuple[int, int], np.ndarray]:
        return {}

    @cached_property
    def _constraint_arrays(self) -> tuple[np.ndarray, ...]:
        """Index arrays for a vectorised check: (first, second, image axis, kind code)."""
        first = np.array([self.markers.index(c.first) for c in self.constraints], dtype=int)
        second = np.array([self.markers.index(c.second) for c in self.constraints], dtype=int)
        code = {"above": 1, "behind": 2, "left_of": 3}
        kind = np.array([code[c.kind] for c in self.constraints], dtype=int)
        axis = np.where(kind == 1, 1, 0)  # "above" compares image y, the others image x
        return first, second, axis, kind

    def initial_labels(
        self, xy: np.ndarray, orientation: ImageOrientation, *, allow_missing_optional: bool = True
    ) -> np.ndarray | None:
        """Label a clean frame from geometry alone; None when the frame cannot be labelled safely.

        A clean frame has exactly one blob per marker (all markers, or — if allowed — all but the
        optional ones); anything else (a stray reflection, an occlusion) waits for a later frame.
        """
        xy = np.asarray(xy, dtype=float)
        n = len(xy)
        if n == len(self.markers):
            present = set(self.markers)
        elif allow_missing_optional and n == len(self.required) and self.optional:
            present = set(self.required)
        else:
            return None
        groups = [[m for m in g if m in present] for g in self.init_groups]
        out = np.full((len(self.markers), 2), np.nan)
        if self.init_method == "rows":
            order = np.argsort(xy[:, 1], kind="stable")
            start = 0
            for group in groups:
                chosen = order[start : start + len(group)]
                start += len(group)
                along = orientation.forward_x * xy[chosen, 0]
                for name, blob in zip(group, chosen[np.argsort(along)], strict=True):
                    out[self.markers.index(name)] = xy[blob]
        else:  # columns: runner's left first
            side_coord = orientation.left_x * xy[:, 0]  # larger = more to the runner's left
            order = np.argsort(-side_coord, kind="stable")
            start = 0
            for group in groups:
                chosen = order[start : start + len(group)]
                start += len(group)
                for name, blob in zip(group, chosen[np.argsort(xy[chosen, 1])], strict=True):
                    out[self.markers.index(name)] = xy[blob]
            self._follow_limb_lines(out, groups)
        if self.violations(out, orientation) or self._broken(
            self.init_constraints, out, orientation
        ):
            return None
        return out


def _parse_set(name: str, raw: dict[str, Any], source: Path) -> MarkerSet:
    subject = f"{source} [{name}]"
    try:
        markers = tuple(str(m) for m in raw["markers"])
        optional = tuple(str(m) for m in raw.get("optional", ()))
        init = raw["initialise"]
        method = init["method"]
        if method == "rows":
            groups = tuple(tuple(g) for g in init["rows"])
        elif method == "columns":
            groups = (tuple(init["left"]), tuple(init["right"]))
        else:
            raise InputError(
                f"unknown initialise.method {method!r}",
                subject=subject,
                remedy='use "rows" or "columns"',
            )
        constraints = []
        for c in raw.get("constraints", ()):
            kind = c["kind"]
            if kind not in CONSTRAINT_KINDS:
                raise InputError(
                    f"unknown constraint kind {kind!r}",
                    subject=subject,
                    remedy=f"use one of {', '.join(CONSTRAINT_KINDS)}",
                )
            first, second = (c[key] for key in CONSTRAINT_KINDS[kind])
            when = c.get("when", "always")
            if when not in ("always", "initialise"):
                raise InputError(
                    f"unknown constraint 'when' {when!r}",
                    subject=subject,
                    remedy='use "always" (default) or "initialise"',
                )
            constraints.append(Constraint(kind, first, second, when == "initialise"))
    except KeyError as exc:
        raise InputError(
            f"missing field {exc.args[0]!r}",
            subject=subject,
            remedy="see the comments at the top of analysis/marker_sets.toml",
        ) from None
    named = [m for g in groups for m in g] + [n for c in constraints for n in (c.first, c.second)]
    unknown = sorted({m for m in [*named, *optional] if m not in markers})
    if unknown:
        raise InputError(
            f"rules name marker(s) not in the set: {', '.join(unknown)}",
            subject=subject,
            remedy="add them to `markers` or fix the spelling",
        )
    if sorted(m for g in groups for m in g) != sorted(markers):
        raise InputError(
            "the initialise groups must name every marker exactly once",
            subject=subject,
            remedy="list each marker in one row/column",
        )
    return MarkerSet(
        name=name,
        view=str(raw.get("view", name)),
        markers=markers,
        optional=optional,
        init_method=method,
        init_groups=groups,
        constraints=tuple(c for c in constraints if not c.initialise_only),
        tolerance_px=float(raw.get("tolerance_px", 0.0)),
        all_constraints=tuple(constraints),
    )


def load_marker_sets(path: Path | str | None = None) -> dict[str, MarkerSet]:
    """Read every marker set in a TOML file (default: the one shipped beside this module)."""
    source = Path(path) if path is not None else DEFAULT_FILE
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            "file not found", subject=str(source), remedy="give the path of a marker-set TOML file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"not valid TOML ({exc})", subject=str(source), remedy="fix the syntax"
        ) from None
    return {name: _parse_set(name, body, source) for name, body in raw.items()}


@cache
def _default_sets() -> dict[str, MarkerSet]:
    return load_marker_sets()


def marker_set(name: str) -> MarkerSet:
    """One of the shipped marker sets ("sagittal", "posterior")."""
    sets = _default_sets()
    if name not in sets:
        raise InputError(
            f"no marker set named {name!r}",
            subject=str(DEFAULT_FILE),
            remedy=f"use one of {', '.join(sets)}",
        )
    return sets[name]
