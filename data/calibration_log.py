"""The calibration log: every calibration and check, when, by whom, on which device, and the result.

Stored as an append-only JSON-lines file (``calibration-log.jsonl`` in the user's data folder).
Why not HDF5: an entry is a few hundred bytes written a few times a day; appending one line with
one ``write`` + ``fsync`` never rewrites earlier entries, so a crash or power cut can damage at
most the line being written, whereas an HDF5 file interrupted mid-write can lose its whole
structure. A damaged line is skipped and counted (:attr:`CalibrationLog.damaged_lines`), never
fatal, and the next append starts on a fresh line. The file stays readable with any text editor,
which matters in an audit.

Staleness rules (which entry makes a calibration current, and for how long) are data
(:data:`DEFAULT_RULES`, overridable by ``calibration-rules.toml`` in the user's data folder).
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analysis.errors import InputError
from analysis.provenance import software_version

LOG_FILENAME = "calibration-log.jsonl"
RULES_FILENAME = "calibration-rules.toml"
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,63}$")

# What each kind of entry means; the value trended by default for ``--trend KIND``.
KINDS: dict[str, str] = {
    "warm-up": "plate warm-up: offset drift over the warm-up record",
    "zero": "plate zero: unloaded offsets with the belt stopped",
    "noise-floor": "unloaded noise with the belt running vs the stance threshold",
    "known-mass": "known masses at the centre and quadrants vs m·g",
    "cop-pointer": "COP at marked positions vs the marks",
    "camera-intrinsics": "lens intrinsics and distortion (checkerboard)",
    "lens-change": "a lens was changed or refocused (invalidates intrinsics)",
    "scale-plane": "scale / plane calibration of a camera view",
    "sync-verification": "LED or tap: video event − DAQ event, mean ± SD",
}
DEFAULT_TREND_VALUE: dict[str, str] = {
    "warm-up": "max_abs_drift_V_per_s",
    "zero": "max_abs_offset_V",
    "noise-floor": "sd_N",
    "known-mass": "max_abs_error_percent",
    "cop-pointer": "rms_error_m",
    "camera-intrinsics": "rms_reprojection_px",
    "scale-plane": "max_error_m",
    "sync-verification": "mean_s",
}


class CalibrationLogError(InputError):
    """The calibration log or its rules cannot be used as given."""


@dataclass(frozen=True)
class CalibrationEntry:
    time_utc: datetime
    operator: str
    device: str
    kind: str
    passed: bool
    values: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    software_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_utc": self.time_utc.astimezone(UTC).isoformat(),
            "operator": self.operator,
            "device": self.device,
            "kind": self.kind,
            "passed": self.passed,
            "values": self.values,
            "settings": self.settings,
            "note": self.note,
            "software_version": self.software_version,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CalibrationEntry:
        time = datetime.fromisoformat(str(raw["time_utc"]))
        if time.tzinfo is None:
            raise ValueError("time without a time zone")
        return cls(
            time_utc=time.astimezone(UTC),
            operator=str(raw["operator"]),
            device=str(raw["device"]),
            kind=str(raw["kind"]),
            passed=bool(raw["passed"]),
            values=dict(raw.get("values") or {}),
            settings=dict(raw.get("settings") or {}),
            note=str(raw.get("note", "")),
            software_version=str(raw.get("software_version", "")),
        )


@dataclass(frozen=True)
class StalenessRule:
    """When the latest passing entry of ``kind`` stops being current.

    ``within``: "day" (the same calendar day as now) or "week" (the same ISO week);
    ``max_age_days``: older than this many days; ``invalidated_by``: kinds whose later entry on
    the same device makes it stale (a lens change invalidates intrinsics).
    """

    kind: str
    within: str | None = None
    max_age_days: float | None = None
    invalidated_by: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.within:
            parts.append(f"must be from this {self.within}")
        if self.max_age_days is not None:
            parts.append(f"at most {self.max_age_days:g} days old")
        if self.invalidated_by:
            parts.append(f"newer than the last {', '.join(self.invalidated_by)}")
        return "; ".join(parts)


DEFAULT_RULES: dict[str, StalenessRule] = {
    "zero": StalenessRule("zero", within="day"),
    "noise-floor": StalenessRule("noise-floor", within="day"),
    "sync-verification": StalenessRule("sync-verification", within="week"),
    "camera-intrinsics": StalenessRule("camera-intrinsics", invalidated_by=("lens-change",)),
    "scale-plane": StalenessRule("scale-plane", invalidated_by=("lens-change",)),
    "known-mass": StalenessRule("known-mass", max_age_days=30),
    "cop-pointer": StalenessRule("cop-pointer", max_age_days=30),
}


@dataclass(frozen=True)
class StaleItem:
    kind: str
    device: str
    reason: str
    last_passed_utc: datetime | None

    def to_dict(self) -> dict[str, Any]:
        last = self.last_passed_utc.isoformat() if self.last_passed_utc else None
        return {"kind": self.kind, "device": self.device, "reason": self.reason, "last": last}


@dataclass(frozen=True)
class TrendSeries:
    kind: str
    value: str
    device: str | None
    times_utc: tuple[datetime, ...]
    values: tuple[float, ...]
    passed: tuple[bool, ...]
    devices: tuple[str, ...]


def parse_rules(raw: Mapping[str, Any], source: str = "<rules>") -> dict[str, StalenessRule]:
    """Validate ``[rules.KIND]`` tables (keys ``within``, ``max_age_days``, ``invalidated_by``)."""
    rules = dict(DEFAULT_RULES)
    tables = raw.get("rules", {})
    unknown = set(raw) - {"rules"}
    if unknown or not isinstance(tables, dict):
        raise CalibrationLogError(
            f"expected only [rules.KIND] tables, found {sorted(unknown) or 'rules = ...'}",
            subject=source,
        )
    for kind, table in tables.items():
        where = f"{source}: rules.{kind}"
        if not KIND_PATTERN.match(kind):
            raise CalibrationLogError(
                "is not a valid kind name (lower-case, digits, -)", subject=where
            )
        if not isinstance(table, dict):
            raise CalibrationLogError("must be a table", subject=where)
        extra = set(table) - {"within", "max_age_days", "invalidated_by"}
        if extra:
            raise CalibrationLogError(
                f"unknown key {sorted(extra)[0]!r}",
                subject=where,
                remedy="Use within, max_age_days or invalidated_by.",
            )
        within = table.get("within")
        if within is not None and within not in ("day", "week"):
            raise CalibrationLogError(
                f"within = {within!r} is not allowed", subject=where, remedy='Use "day" or "week".'
            )
        age = table.get("max_age_days")
        if age is not None and (
            isinstance(age, bool)
            or not isinstance(age, int | float)
            or not math.isfinite(age)
            or age <= 0
        ):
            raise CalibrationLogError(
                f"max_age_days = {age!r} must be a positive number", subject=where
            )
        invalid = table.get("invalidated_by", [])
        if not isinstance(invalid, list) or not all(isinstance(k, str) for k in invalid):
            raise CalibrationLogError("invalidated_by must be a list of kinds", subject=where)
        if within is None and age is None and not invalid:
            raise CalibrationLogError(
                "has no condition",
                subject=where,
                remedy="Give within, max_age_days or invalidated_by.",
            )
        rules[kind] = StalenessRule(
            kind, within, None if age is None else float(age), tuple(invalid)
        )
    return rules


def load_rules(path: str | Path | None = None) -> dict[str, StalenessRule]:
    """The staleness rules: defaults, overridden by the user's ``calibration-rules.toml``."""
    if path is None:
        from data.paths import user_data_dir

        path = user_data_dir() / RULES_FILENAME
        if not path.exists():
            return dict(DEFAULT_RULES)
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationLogError("file not found", subject=str(path)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CalibrationLogError(
            f"cannot be read: {exc}", subject=str(path), remedy="Fix the line named."
        ) from None
    return parse_rules(raw, source=str(path))


def _plain(value: Any, where: str) -> Any:
    """JSON-safe copy: numpy scalars/arrays to lists, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist(), where)
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise CalibrationLogError(f"cannot store a {type(value).__name__}", subject=where)


def _local_day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class CalibrationLog:
    """The append-only log file; read in full on each query (it is small: a few entries a day)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from data.paths import user_data_dir

            path = user_data_dir() / LOG_FILENAME
        self.path = Path(path)
        self.damaged_lines: list[int] = []

    def record(
        self,
        kind: str,
        device: str,
        operator: str,
        passed: bool,
        *,
        values: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        note: str = "",
        time_utc: datetime | None = None,
    ) -> CalibrationEntry:
        """Validate and append one entry; returns it as stored."""
        if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
            raise CalibrationLogError(
                f"kind {kind!r} is not valid",
                subject="calibration entry",
                remedy="Use e.g. 'zero'.",
            )
        for name, text in (("operator", operator), ("device", device)):
            if not isinstance(text, str) or not text.strip():
                raise CalibrationLogError(
                    f"{name} is missing",
                    subject=f"calibration entry '{kind}'",
                    remedy=f"Give the {name}'s name: every calibration must be attributable.",
                )
        time = time_utc or datetime.now(UTC)
        if time.tzinfo is None:
            raise CalibrationLogError(
                "time has no time zone", subject=f"calibration entry '{kind}'", remedy="Use UTC."
            )
        entry = CalibrationEntry(
            time_utc=time.astimezone(UTC),
            operator=operator.strip(),
            device=device.strip(),
            kind=kind,
            passed=bool(passed),
            values=_plain(dict(values or {}), "values"),
            settings=_plain(dict(settings or {}), "settings"),
            note=note,
            software_version=software_version(),
        )
        self._append_line(json.dumps(entry.to_dict(), allow_nan=False, sort_keys=True))
        return entry

    def _append_line(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.path, "ab") as handle:
                # A crash mid-write leaves a partial last line; start a fresh one after it.
                needs_newline = handle.tell() > 0 and not self._ends_with_newline()
                data = (("\n" if needs_newline else "") + line + "\n").encode("utf-8")
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise CalibrationLogError(
                f"cannot be written ({exc.strerror or exc})",
                subject=str(self.path),
                remedy="Check the disk and the folder's permissions; the entry was NOT saved.",
            ) from None

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def entries(self, kind: str | None = None, device: str | None = None) -> list[CalibrationEntry]:
        """Every readable entry in time order; damaged lines are counted in ``damaged_lines``."""
        self.damaged_lines = []
        if not self.path.exists():
            return []
        try:
            raw_lines = self.path.read_bytes().split(b"\n")
        except OSError as exc:
            raise CalibrationLogError(f"cannot be read ({exc})", subject=str(self.path)) from None
        found = []
        for number, raw in enumerate(raw_lines, start=1):
            if not raw.strip():
                continue
            try:
                entry = CalibrationEntry.from_dict(json.loads(raw.decode("utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError):
                self.damaged_lines.append(number)
                continue
            if (kind is None or entry.kind == kind) and (device is None or entry.device == device):
                found.append(entry)
        found.sort(key=lambda e: e.time_utc)
        return found

    def latest(self, kind: str, device: str, passed_only: bool = False) -> CalibrationEntry | None:
        matching = [e for e in self.entries(kind, device) if e.passed or not passed_only]
        return matching[-1] if matching else None

    def stale_items(
        self,
        now: datetime | None = None,
        rules: Mapping[str, StalenessRule] | None = None,
        expected: Iterable[tuple[str, str]] | None = None,
    ) -> list[StaleItem]:
        """Every (kind, device) whose calibration is not current at ``now``.

        ``expected`` lists the (kind, device) pairs the lab needs (e.g. from its configuration);
        by default every ruled kind on every device it has been recorded for, and a kind never
        recorded on any device is reported with device "*". "Today" and "this week" are taken in
        ``now``'s time zone (pass a local aware time; default: the computer's local time).
        """
        now = now or datetime.now().astimezone()
        if now.tzinfo is None:
            raise CalibrationLogError("now has no time zone", subject="stale_items")
        rules = dict(rules) if rules is not None else load_rules()
        entries = self.entries()
        if expected is None:
            pairs = sorted({(e.kind, e.device) for e in entries if e.kind in rules})
            seen = {k for k, _ in pairs}
            pairs += [(kind, "*") for kind in sorted(rules) if kind not in seen]
        else:
            pairs = list(expected)
        stale = []
        for kind, device in pairs:
            rule = rules.get(kind)
            if rule is None:
                continue
            reason = self._why_stale(rule, device, entries, now)
            if reason:
                last = [e for e in entries if e.kind == kind and e.device == device and e.passed]
                stale.append(StaleItem(kind, device, reason, last[-1].time_utc if last else None))
        return stale

    @staticmethod
    def _why_stale(
        rule: StalenessRule, device: str, entries: list[CalibrationEntry], now: datetime
    ) -> str:
        mine = [
            e for e in entries if e.kind == rule.kind and e.device == device and e.time_utc <= now
        ]
        if not mine:
            return "never recorded"
        if not mine[-1].passed:
            return f"the last {rule.kind} check failed ({mine[-1].time_utc:%Y-%m-%d %H:%M} UTC)"
        last = mine[-1].time_utc.astimezone(now.tzinfo)
        if rule.within == "day" and last < _local_day_start(now):
            return f"not done today (last {last:%Y-%m-%d})"
        if rule.within == "week":
            week_start = _local_day_start(now) - timedelta(days=now.weekday())
            if last < week_start:
                return f"not done this week (last {last:%Y-%m-%d})"
        if rule.max_age_days is not None and now - last > timedelta(days=rule.max_age_days):
            return f"older than {rule.max_age_days:g} days (last {last:%Y-%m-%d})"
        for later_kind in rule.invalidated_by:
            newer = [
                e
                for e in entries
                if e.kind == later_kind and e.device == device and last < e.time_utc <= now
            ]
            if newer:
                return f"older than the {later_kind} on {newer[-1].time_utc:%Y-%m-%d}"
        return ""

    def current_calibration(
        self, now: datetime | None = None, rules: Mapping[str, StalenessRule] | None = None
    ) -> dict[str, Any]:
        """A plain-dict snapshot to store in each session file: the latest entry of every
        (kind, device), the latest passing one, and what is stale at ``now``.

        Never raises for a broken rules file or log: recording a session must not fail over
        them; the problem is stated in the snapshot (``problems``) instead.
        """
        now = now or datetime.now().astimezone()
        problems: list[str] = []
        try:
            entries = [e for e in self.entries() if e.time_utc <= now]
        except CalibrationLogError as exc:
            entries, problems = [], [exc.sentence()]
        damaged = list(self.damaged_lines)
        try:
            stale = [s.to_dict() for s in self.stale_items(now, rules)] if not problems else []
        except CalibrationLogError as exc:
            stale, problems = [], [exc.sentence()]
        latest: dict[str, dict[str, Any]] = {}
        for entry in entries:
            key = f"{entry.kind}/{entry.device}"
            slot = latest.setdefault(key, {})
            slot["latest"] = entry.to_dict()
            if entry.passed:
                slot["latest_passed"] = entry.to_dict()
        return {
            "log_file": str(self.path),
            "taken_at_utc": now.astimezone(UTC).isoformat(),
            "entries": latest,
            "stale": stale,
            "damaged_lines": damaged,
            "problems": problems,
        }

    def trend(self, kind: str, value: str | None = None, device: str | None = None) -> TrendSeries:
        """The time series of one numeric value of one kind of check (for the technician)."""
        key = value or DEFAULT_TREND_VALUE.get(kind)
        if not key:
            raise CalibrationLogError(
                f"kind '{kind}' has no default value to trend",
                subject="trend",
                remedy="Name the value with --value.",
            )
        points = []
        for entry in self.entries(kind, device):
            number = entry.values.get(key)
            if isinstance(number, int | float) and not isinstance(number, bool):
                points.append((entry.time_utc, float(number), entry.passed, entry.device))
        return TrendSeries(
            kind=kind,
            value=key,
            device=device,
            times_utc=tuple(p[0] for p in points),
            values=tuple(p[1] for p in points),
            passed=tuple(p[2] for p in points),
            devices=tuple(p[3] for p in points),
        )
