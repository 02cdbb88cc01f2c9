"""Reading procedure files: TOML → validated :class:`~protocols.model.Procedure`, and the library.

Every problem is a :class:`~protocols.model.ProtocolError` naming the file, the line where one is
known (TOML syntax errors, and the line of the step's ``id``), the step (index and id) and the
field. Nothing else escapes: a lab's own file cannot crash the program.

The library is the built-in folder ``protocols/library`` followed by the user's folder
``user_data_dir()/protocols``; a user file may not reuse a built-in name (it would change what a
clinician thinks they are running), so such a file is reported as a problem and ignored.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from analysis.plate_checks import (
    MIN_KNOWN_MASS_LOAD_N,
    MIN_KNOWN_MASS_PLACEMENTS,
    STANDARD_GRAVITY_M_S2,
)
from data.calibration_log import KINDS as CALIBRATION_KINDS
from protocols.model import (
    CALIBRATION_PURPOSES,
    CAMERA_VIEWS,
    CONDITIONS,
    FIELD_TYPES,
    PURPOSES,
    SIDES,
    STEP_KINDS,
    Comparison,
    EntryField,
    Placement,
    Procedure,
    ProtocolError,
    Step,
)

BUILTIN_LIBRARY = Path(__file__).resolve().parent / "library"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
AUDIENCES = ("clinician", "technician")
SPEED_RANGE_M_S = (0.0, 10.0)
INCLINE_RANGE_PERCENT = (-25.0, 25.0)
MAX_DURATION_S = 4 * 3600.0

COMMON_KEYS = ("id", "kind", "title", "text", "image", "optional", "group")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "instruction": (),
    "setup": ("speed_m_s", "speed_from", "speed_offset_m_s", "incline_percent", "cameras"),
    "acquisition": (
        "purpose",
        "duration_s",
        "min_duration_s",
        "steps_per_side",
        "segment",
        "side",
        "device",
        "placements",
        "parameters",
        "cameras",
    ),
    "check": ("condition", "kinds", "may_override"),
    "entry": ("fields", "compare"),
    "mark": ("label",),
    "comparison": ("segments", "window_s"),
}
FIELD_KEYS = (
    "name",
    "label",
    "type",
    "unit",
    "min",
    "max",
    "choices",
    "required",
    "flag_below",
    "flag_above",
    "flag_values",
    "flag",
    "help",
)
# Parameters each purpose understands (evaluation thresholds); anything else is a typo.
PURPOSE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "running": (),
    "single-leg-squat": ("target_knee_flexion_deg", "knee_flexion_tolerance_deg"),
    "warm-up": ("max_drift_N_per_min",),
    "zero": ("max_offset_force_N",),
    "noise-floor": ("threshold_N", "min_threshold_to_sd"),
    "known-mass": ("tolerance_percent", "gravity_m_s2"),
    "cop-pointer": ("tolerance_m", "cop_threshold_N"),
    "camera-intrinsics": ("max_rms_px", "min_images"),
    "scale-plane": ("max_error_m",),
    "sync-verification": ("min_repetitions",),
}


@dataclass(frozen=True)
class LibraryProblem:
    """A procedure file the library could not use, and why (listed, never fatal)."""

    path: str
    problem: str


def load_procedure(path: str | Path) -> Procedure:
    """Read and validate one procedure file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProtocolError(
            "file not found", subject=str(path), remedy="Check the path or the procedure's name."
        ) from None
    except OSError as exc:
        raise ProtocolError(f"cannot be read ({exc.strerror or exc})", subject=str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"is not UTF-8 text (byte {exc.start})", subject=str(path), remedy="Save it as UTF-8."
        ) from None
    procedure = parse_procedure_text(text, source=str(path), base_dir=path.parent)
    return procedure


def parse_procedure_text(
    text: str, source: str = "<text>", base_dir: Path | None = None
) -> Procedure:
    """Parse TOML text; syntax errors name the line and column (tomllib gives them)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(
            f"is not valid TOML: {exc}", subject=source, remedy="Fix the line named."
        ) from None
    procedure = parse_procedure(raw, source=source, text=text, base_dir=base_dir)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Procedure(**{**procedure.__dict__, "sha256": digest})


def parse_procedure(
    raw: Mapping[str, Any],
    source: str = "<procedure>",
    text: str = "",
    base_dir: Path | None = None,
) -> Procedure:
    """Validate an already-parsed procedure mapping."""
    return _Validator(source, text, base_dir).procedure(raw)


class _Validator:
    def __init__(self, source: str, text: str, base_dir: Path | None) -> None:
        self.source = source
        self.text = text
        self.base_dir = base_dir
        self.where = ""

    # -- reporting -------------------------------------------------------------------------
    def _line_of_step(self, step_id: Any) -> int | None:
        if not isinstance(step_id, str) or not self.text:
            return None
        pattern = re.compile(r"^\s*id\s*=\s*[\"']" + re.escape(step_id) + r"[\"']", re.M)
        match = pattern.search(self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def fail(self, key: str, problem: str, remedy: str = "") -> NoReturn:
        subject = self.source
        if self.where:
            subject = f"{subject}: {self.where}"
        if key:
            subject = f"{subject}: {key}"
        raise ProtocolError(problem, subject=subject, remedy=remedy)

    # -- typed getters ---------------------------------------------------------------------
    def known(self, table: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(str(key), f"is not a {what} key", f"Known keys: {', '.join(allowed)}.")

    def table(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, not {type(value).__name__}")
        return value

    def string(self, table: Mapping[str, Any], key: str, required: bool = False) -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def name(self, table: Mapping[str, Any], key: str, required: bool = True) -> str:
        value = self.string(table, key, required=required)
        if value and not NAME_PATTERN.match(value):
            self.fail(
                key,
                f"{value!r} is not a valid name",
                "Use lower-case letters, digits, '-' and '_' (at most 64).",
            )
        return value

    def boolean(self, table: Mapping[str, Any], key: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}")
        return value

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        bounds: tuple[float, float] | None = None,
        required: bool = False,
        unit: str = "",
    ) -> float | None:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a finite number{' in ' + unit if unit else ''}, not {value!r}")
        if bounds and not bounds[0] <= value <= bounds[1]:
            self.fail(key, f"{value:g} is outside {bounds[0]:g} to {bounds[1]:g} {unit}".rstrip())
        return float(value)

    def strings(self, table: Mapping[str, Any], key: str, options: tuple[str, ...] = ()) -> tuple:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of strings, not {value!r}")
        for v in value:
            if options and v not in options:
                self.fail(key, f"'{v}' is not allowed", f"Use any of: {', '.join(options)}.")
        if len(set(value)) != len(value):
            self.fail(key, "lists a value twice")
        return tuple(value)

    def choice(self, table: Mapping[str, Any], key: str, options: tuple[str, ...]) -> str:
        value = table.get(key)
        if value is None:
            self.fail(key, "is missing", f"Use one of: {', '.join(options)}.")
        if value not in options:
            self.fail(key, f"{value!r} is not allowed", f"Use one of: {', '.join(options)}.")
        return str(value)

    # -- the procedure ---------------------------------------------------------------------
    def procedure(self, raw: Mapping[str, Any]) -> Procedure:
        if not isinstance(raw, Mapping):
            self.fail("", "is not a table of settings")
        self.known(raw, ("procedure", "steps"), "top-level")
        head = self.table(raw.get("procedure"), "[procedure]") if "procedure" in raw else None
        if head is None:
            self.fail("[procedure]", "is missing", "Start the file with a [procedure] table.")
        self.where = "[procedure]"
        self.known(head, ("name", "title", "version", "description", "audience"), "[procedure]")
        name = self.name(head, "name")
        title = self.string(head, "title", required=True)
        version = self.string(head, "version", required=True)
        description = self.string(head, "description", required=True)
        audience = self.choice(head, "audience", AUDIENCES)
        self.where = ""
        raw_steps = raw.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            self.fail("steps", "must be a non-empty list of [[steps]] tables")
        steps: list[Step] = []
        for index, raw_step in enumerate(raw_steps):
            step_id = raw_step.get("id") if isinstance(raw_step, dict) else None
            line = self._line_of_step(step_id)
            label = f"step {index + 1}"
            if isinstance(step_id, str):
                label += f" '{step_id}'"
            if line:
                label = f"line {line}: {label}"
            self.where = label
            steps.append(self.step(raw_step, steps))
        self.where = ""
        self.cross_checks(steps)
        return Procedure(name, title, version, description, audience, tuple(steps), self.source)

    def step(self, raw: Any, earlier: list[Step]) -> Step:
        raw = self.table(raw, "")
        kind = self.choice(raw, "kind", STEP_KINDS)
        self.known(raw, COMMON_KEYS + KIND_KEYS[kind], f"'{kind}' step")
        step_id = self.name(raw, "id")
        if any(s.id == step_id for s in earlier):
            self.fail(
                "id", f"'{step_id}' is used by an earlier step", "Give every step its own id."
            )
        common: dict[str, Any] = {
            "id": step_id,
            "kind": kind,
            "title": self.string(raw, "title", required=True),
            "text": self.string(raw, "text", required=kind == "instruction"),
            "image": self.image(raw),
            "optional": self.boolean(raw, "optional"),
            "group": self.name(raw, "group", required=False),
        }
        if common["group"] and not common["optional"]:
            self.fail("group", "only optional steps are grouped (a group is skipped together)")
        if kind == "check" and common["optional"]:
            self.fail("optional", "a check cannot be optional; use may_override instead")
        return Step(**common, **getattr(self, f"_{kind}")(raw, earlier))

    def image(self, raw: Mapping[str, Any]) -> str:
        image = self.string(raw, "image")
        if image and self.base_dir is not None:
            path = (self.base_dir / image).resolve()
            if not path.is_file():
                self.fail("image", f"'{image}' not found next to the procedure file ({path})")
        return image

    def _instruction(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        return {}

    def _setup(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        speed = self.number(raw, "speed_m_s", SPEED_RANGE_M_S, unit="m/s")
        speed_from = self.string(raw, "speed_from")
        if speed is not None and speed_from:
            self.fail("speed_from", "give speed_m_s or speed_from, not both")
        if speed_from:
            self.speed_source(speed_from, earlier)
        offset = self.number(raw, "speed_offset_m_s", (-5.0, 5.0), unit="m/s")
        if offset is not None and not speed_from:
            self.fail("speed_offset_m_s", "only applies with speed_from")
        incline = self.number(raw, "incline_percent", INCLINE_RANGE_PERCENT, unit="%")
        cameras = self.strings(raw, "cameras", CAMERA_VIEWS)
        if speed is None and not speed_from and incline is None and not cameras:
            self.fail("", "sets nothing", "Give speed_m_s or speed_from, incline_percent, cameras.")
        return {
            "speed_m_s": speed,
            "speed_from": speed_from,
            "speed_offset_m_s": offset or 0.0,
            "incline_percent": incline,
            "cameras": cameras,
        }

    def speed_source(self, reference: str, earlier: list[Step]) -> None:
        step_id, _, field_name = reference.partition(".")
        source = next((s for s in earlier if s.id == step_id and s.kind == "entry"), None)
        if source is None:
            self.fail(
                "speed_from", f"'{step_id}' is not an earlier entry step", "Use 'step_id.field'."
            )
        entry = next((f for f in source.fields if f.name == field_name), None)
        if entry is None or entry.type != "number" or entry.unit != "m/s":
            self.fail("speed_from", f"'{reference}' is not a number field in m/s of '{step_id}'")
        if source.optional or not entry.required:
            self.fail("speed_from", f"'{reference}' may be left empty; make it required")

    def _acquisition(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        purpose = self.choice(raw, "purpose", PURPOSES)
        duration = self.number(raw, "duration_s", (0.1, MAX_DURATION_S), unit="s")
        steps_per_side = raw.get("steps_per_side")
        if steps_per_side is not None and (
            isinstance(steps_per_side, bool)
            or not isinstance(steps_per_side, int)
            or not 1 <= steps_per_side <= 10000
        ):
            self.fail(
                "steps_per_side", f"must be a whole number 1 to 10000, not {steps_per_side!r}"
            )
        if (duration is None) == (steps_per_side is None):
            self.fail("duration_s", "give exactly one of duration_s and steps_per_side")
        minimum = self.number(raw, "min_duration_s", (0.1, MAX_DURATION_S), unit="s")
        if minimum is not None and (duration is None or minimum > duration):
            self.fail("min_duration_s", "must come with duration_s and not exceed it")
        device = self.name(raw, "device", required=purpose in CALIBRATION_PURPOSES)
        side = raw.get("side", "")
        if side not in ("", *SIDES):
            self.fail("side", f"{side!r} is not allowed", 'Use "L" or "R".')
        if purpose == "single-leg-squat" and not side:
            self.fail("side", "is missing", "A single-leg squat is filmed one side at a time.")
        parameters = self.table(raw.get("parameters", {}), "parameters")
        self.known(parameters, PURPOSE_PARAMETERS[purpose], f"'{purpose}' parameter")
        values = {k: self.number(parameters, k, required=True) for k in parameters}
        placements = self.placements(raw.get("placements"), purpose)
        return {
            "purpose": purpose,
            "duration_s": duration,
            "min_duration_s": minimum,
            "steps_per_side": steps_per_side,
            "segment": self.name(raw, "segment", required=False),
            "side": side,
            "device": device,
            "placements": placements,
            "parameters": values,
            "cameras": self.strings(raw, "cameras", CAMERA_VIEWS),
        }

    def placements(self, raw: Any, purpose: str) -> tuple[Placement, ...]:
        wants = purpose in ("known-mass", "cop-pointer")
        if raw is None:
            if wants:
                self.fail(
                    "placements", "is missing", "List [[steps.placements]] label, position_m."
                )
            return ()
        if not wants:
            self.fail(
                "placements", f"only known-mass and cop-pointer use placements, not {purpose}"
            )
        if not isinstance(raw, list) or not raw:
            self.fail("placements", "must be a non-empty list of tables")
        found = []
        for i, raw_item in enumerate(raw):
            key = f"placements[{i}]"
            item = self.table(raw_item, key)
            self.known(item, ("label", "position_m", "mass_kg"), "placement")
            label = self.string(item, "label", required=True)
            position = item.get("position_m")
            if (
                not isinstance(position, list)
                or len(position) != 2
                or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in position
                )
            ):
                self.fail(f"{key}.position_m", f"must be [x, y] in metres, not {position!r}")
            mass = self.number(item, "mass_kg", (0.0, 1000.0), unit="kg")
            if purpose == "known-mass":
                if mass is None:
                    self.fail(f"{key}.mass_kg", "is missing")
                if mass * STANDARD_GRAVITY_M_S2 < MIN_KNOWN_MASS_LOAD_N:
                    self.fail(
                        f"{key}.mass_kg",
                        f"{mass:g} kg is below {MIN_KNOWN_MASS_LOAD_N:g} N",
                        "Use at least 20.4 kg (SCIENCE §7).",
                    )
            found.append(Placement(label, (float(position[0]), float(position[1])), mass))
        if purpose == "known-mass" and len(found) < MIN_KNOWN_MASS_PLACEMENTS:
            self.fail(
                "placements",
                f"has {len(found)} placements; at least {MIN_KNOWN_MASS_PLACEMENTS} are needed",
                "Load the centre and each quadrant (SCIENCE §7).",
            )
        if len({p.label for p in found}) != len(found):
            self.fail("placements", "two placements share a label")
        return tuple(found)

    def _check(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        condition = self.choice(raw, "condition", CONDITIONS)
        kinds = self.strings(raw, "kinds", tuple(CALIBRATION_KINDS))
        if not kinds:
            self.fail("kinds", "is missing", 'List the calibration kinds, e.g. ["zero"].')
        return {
            "condition": condition,
            "kinds": kinds,
            "may_override": self.boolean(raw, "may_override"),
        }

    def _entry(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        raw_fields = raw.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            self.fail("fields", "must be a non-empty list of [[steps.fields]] tables")
        fields = [self.entry_field(item, f"fields[{i}]") for i, item in enumerate(raw_fields)]
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            self.fail("fields", "two fields share a name")
        raw_compare = raw.get("compare", [])
        if not isinstance(raw_compare, list):
            self.fail("compare", "must be a list of [[steps.compare]] tables")
        compare = []
        numeric = {f.name: f for f in fields if f.type == "number"}
        for i, raw_item in enumerate(raw_compare):
            key = f"compare[{i}]"
            item = self.table(raw_item, key)
            self.known(item, ("a", "b", "max_difference", "flag", "why"), "compare")
            a = self.string(item, "a", required=True)
            b = self.string(item, "b", required=True)
            for ref in (a, b):
                if ref not in numeric:
                    self.fail(key, f"'{ref}' is not a number field of this step")
            if numeric[a].unit != numeric[b].unit:
                self.fail(key, f"'{a}' and '{b}' have different units")
            limit = self.number(item, "max_difference", (0.0, 1e9), required=True)
            compare.append(
                Comparison(a, b, limit, self.name(item, "flag"), self.string(item, "why"))
            )
        return {"fields": tuple(fields), "compare": tuple(compare)}

    def entry_field(self, raw: Any, key: str) -> EntryField:
        raw = self.table(raw, key)
        outer = self.where
        self.where = f"{outer}: {key}" if outer else key
        try:
            self.known(raw, FIELD_KEYS, "field")
            kind = self.choice(raw, "type", FIELD_TYPES) if "type" in raw else "number"
            name = self.name(raw, "name")
            label = self.string(raw, "label", required=True)
            unit = self.string(raw, "unit", required=kind == "number")
            low = self.number(raw, "min", required=kind == "number")
            high = self.number(raw, "max", required=kind == "number")
            if low is not None and high is not None and low >= high:
                self.fail("max", f"must be above min ({low:g})")
            choices = self.strings(raw, "choices")
            if kind == "choice" and len(choices) < 2:
                self.fail("choices", "a choice needs at least two options")
            if kind != "choice" and choices:
                self.fail("choices", "only choice fields have choices")
            if kind != "number" and (low is not None or high is not None):
                self.fail("min", "only number fields have a range")
            flag_below = self.number(raw, "flag_below")
            flag_above = self.number(raw, "flag_above")
            flag_values = self.strings(raw, "flag_values", choices)
            if kind != "number" and (flag_below is not None or flag_above is not None):
                self.fail("flag_below", "only number fields have flag_below/flag_above")
            if kind != "choice" and flag_values:
                self.fail("flag_values", "only choice fields have flag_values")
            flag = self.name(raw, "flag", required=False)
            has_rule = flag_below is not None or flag_above is not None or bool(flag_values)
            if has_rule and not flag:
                self.fail("flag", "is missing", "Name the flag the rule raises.")
            return EntryField(
                name=name,
                label=label,
                type=kind,
                unit=unit,
                min=low,
                max=high,
                choices=choices,
                required=self.boolean({"required": raw.get("required", True)}, "required"),
                flag_below=flag_below,
                flag_above=flag_above,
                flag_values=flag_values,
                flag=flag,
                help=self.string(raw, "help"),
            )
        finally:
            self.where = outer

    def _mark(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        return {"label": self.name(raw, "label")}

    def _comparison(self, raw: Mapping[str, Any], earlier: list[Step]) -> dict[str, Any]:
        segments = self.strings(raw, "segments")
        if not segments:
            self.fail("segments", "is missing", "List the segments the comparison may use.")
        known = {s.segment for s in earlier if s.kind == "acquisition" and s.segment}
        for segment in segments:
            if segment not in known:
                self.fail("segments", f"'{segment}' is not the segment of an earlier acquisition")
        window = self.number(raw, "window_s", (1.0, 3600.0), required=True, unit="s")
        return {"segments": segments, "window_s": window}

    def cross_checks(self, steps: list[Step]) -> None:
        segments = [s.segment for s in steps if s.segment]
        duplicated = {s for s in segments if segments.count(s) > 1}
        if duplicated:
            self.fail("segment", f"'{sorted(duplicated)[0]}' is recorded by two steps")
        groups = [s.group for s in steps]
        for group in {g for g in groups if g}:
            first = groups.index(group)
            last = len(groups) - 1 - groups[::-1].index(group)
            if any(g != group for g in groups[first : last + 1]):
                self.fail("group", f"the steps of group '{group}' must be consecutive")


def library_folders() -> list[Path]:
    """The built-in library, then the user's folder (created on first use)."""
    from data.paths import user_data_dir

    user = user_data_dir() / "protocols"
    user.mkdir(parents=True, exist_ok=True)
    return [BUILTIN_LIBRARY, user]


def scan_library() -> tuple[dict[str, Procedure], list[LibraryProblem]]:
    """Every usable procedure by name, and the files that could not be used."""
    found: dict[str, Procedure] = {}
    problems: list[LibraryProblem] = []
    for folder in library_folders():
        for path in sorted(folder.glob("*.toml")):
            try:
                procedure = load_procedure(path)
            except ProtocolError as exc:
                problems.append(LibraryProblem(str(path), exc.sentence()))
                continue
            if procedure.name in found:
                problems.append(
                    LibraryProblem(
                        str(path),
                        f"ignored: the name '{procedure.name}' is already used by "
                        f"{found[procedure.name].source}; rename the procedure",
                    )
                )
                continue
            found[procedure.name] = procedure
    return found, problems


def find_procedure(name_or_path: str) -> Procedure:
    """A procedure by library name, or by path to a ``.toml`` file."""
    if name_or_path.endswith(".toml"):
        return load_procedure(name_or_path)
    found, problems = scan_library()
    if name_or_path in found:
        return found[name_or_path]
    hint = f" ({len(problems)} file(s) in the library could not be read)" if problems else ""
    raise ProtocolError(
        f"no procedure of that name{hint}",
        subject=f"procedure '{name_or_path}'",
        remedy=f"Known: {', '.join(sorted(found)) or 'none'}. Run 'midstance protocols'.",
    )
