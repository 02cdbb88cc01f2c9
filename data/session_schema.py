"""The session file's fixed names, version, units and sign conventions (documented in SCHEMA.md).

Also turns a list of result records (dicts or dataclasses with ``to_dict()``) into an HDF5
compound table and back, because stance tables and per-side summaries are built from whatever
fields the analysis produces: the dtype is derived from the values, units from the field names.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import h5py
import numpy as np

from analysis.errors import InputError

FORMAT_NAME = "midstance-session"
FORMAT_VERSION = 1
FILE_SUFFIX = ".midstance.h5"

RECORDING_STATES = ("recording", "complete", "aborted", "repaired")

# Stored as root attributes of every file: the conventions behind every number in it.
SIGN_CONVENTIONS: dict[str, str] = {
    "units": "SI: N, N*m, m, s, V; angles in degrees where the name ends in _deg",
    "lab_frame": (
        "origin at the centre of the treadmill walking surface (belt top); x anterior (running"
        " direction, opposite to belt travel), y left, z up"
    ),
    "session_time": "seconds from the first DAQ sample: t = sample_index / daq_rate_hz",
    "force_sign": "ground reaction force acting on the runner",
    "hip_ankle_sign": "d = x_ankle - x_hip; positive = ankle ahead of the hip",
    "fppa_sign": "frontal-plane projection angle positive = valgus, for both legs",
    "pelvic_drop_sign": "positive = pelvis drops on the side opposite the stance leg",
}

# Units by field-name ending, longest ending first (the project's naming convention).
_UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_N_s", "N/s"),
    ("_BW_s", "BW/s"),
    ("_Ns", "N*s"),
    ("_Nm", "N*m"),
    ("_m_s", "m/s"),
    ("_kg", "kg"),
    ("_deg", "deg"),
    ("_pct", "%"),
    ("_percent", "%"),
    ("_hz", "Hz"),
    ("_Hz", "Hz"),
    ("_BW", "BW"),
    ("_px", "px"),
    ("_N", "N"),
    ("_m", "m"),
    ("_s", "s"),
    ("_V", "V"),
)
_DIMENSIONLESS_NAMES = {
    "index", "side", "plate", "flags", "label", "kind", "step", "n", "count", "n_stances",
    "loading_rate_reference", "name", "quality", "frame_index",
}  # fmt: skip
UNSPECIFIED_UNIT = "unspecified"


def unit_for_field(name: str) -> str:
    """The unit a field's name states (``valr_N_s`` → ``N/s``); '1' for counts and labels."""
    for suffix, unit in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    if name in _DIMENSIONLESS_NAMES or name.startswith(("n_", "is_", "has_")):
        return "1"
    for suffix in ("_mean", "_sd", "_median", "_min", "_max", "_cv"):
        if name.endswith(suffix):
            return "%" if suffix == "_cv" else unit_for_field(name[: -len(suffix)])
    return UNSPECIFIED_UNIT


def as_plain_dict(record: Any) -> dict[str, Any]:
    """A record as a dict: dicts as they are, objects through ``to_dict()``."""
    if isinstance(record, Mapping):
        return dict(record)
    to_dict = getattr(record, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    raise InputError(
        f"a table row of type {type(record).__name__} is not a dict, dataclass or result",
        subject="session table",
        remedy="Pass dicts, dataclasses or results with to_dict().",
    )


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _field_kind(name: str, values: list[Any]) -> str:
    """'list' (of strings), 'str', 'bool', 'int', 'float' or 'json' for one column."""
    present = [v for v in values if v is not None]
    if not present:
        return "float"
    if all(_is_text_list(v) for v in present):
        return "list"
    if all(isinstance(v, str) for v in present):
        return "str"
    if all(isinstance(v, bool | np.bool_) for v in present):
        return "bool" if len(present) == len(values) else "float"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present):
        return "int" if len(present) == len(values) else "float"
    if all(isinstance(v, int | float | np.number) for v in present):
        return "float"
    return "json"


def _text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "list":
        for item in value:
            if "," in item:
                raise InputError(
                    f"the list item {item!r} contains a comma",
                    subject="session table",
                    remedy="Use flag names without commas.",
                )
        return ",".join(value)
    if kind == "json":
        return json.dumps(value, default=_json_default)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def records_to_table(records: Iterable[Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Rows → (structured array, attrs with ``units``, ``list_fields``, ``json_fields``).

    None becomes NaN in float columns and '' in text columns; lists of strings (flags) become
    one comma-separated fixed-length string.
    """
    rows = [as_plain_dict(r) for r in records]
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    fields, columns = [], {}
    kinds: dict[str, str] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        kind = kinds[name] = _field_kind(name, values)
        if kind == "float":
            column = np.array([math.nan if v is None else float(v) for v in values], "f8")
        elif kind == "int":
            column = np.array(values, dtype="i8")
        elif kind == "bool":
            column = np.array(values, dtype="?")
        else:
            texts = [_text(kind, v).encode("utf-8") for v in values]
            width = max([1, *(len(t) for t in texts)])
            column = np.array(texts, dtype=f"S{width}")
        fields.append((name, column.dtype))
        columns[name] = column
    table = np.zeros(len(rows), dtype=np.dtype(fields)) if fields else np.zeros(0, "f8")
    for name, column in columns.items():
        table[name] = column
    attrs = {
        "units": string_array([unit_for_field(n) for n in names]),
        "list_fields": json.dumps([n for n in names if kinds[n] == "list"]),
        "json_fields": json.dumps([n for n in names if kinds[n] == "json"]),
    }
    return table, attrs


def table_to_records(table: np.ndarray, attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inverse of :func:`records_to_table` (NaN stays NaN: pandas-friendly)."""
    if table.dtype.names is None:
        return []
    list_fields = set(json.loads(_attr_text(attrs.get("list_fields", "[]"))))
    json_fields = set(json.loads(_attr_text(attrs.get("json_fields", "[]"))))
    out = []
    for row in table:
        record: dict[str, Any] = {}
        for name in table.dtype.names:
            value = row[name]
            if isinstance(value, bytes):
                text = value.decode("utf-8")
                if name in list_fields:
                    record[name] = tuple(text.split(",")) if text else ()
                elif name in json_fields:
                    record[name] = json.loads(text) if text else None
                else:
                    record[name] = text
            else:
                record[name] = value.item()
        out.append(record)
    return out


def _attr_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def to_json(value: Any) -> str:
    """Plain data (dicts, lists, numpy arrays) as a JSON string attribute."""
    return json.dumps(value, default=_json_default, sort_keys=True)


def from_json(value: Any) -> Any:
    return json.loads(_attr_text(value)) if value not in (None, "") else None


def string_array(values: Sequence[str]) -> np.ndarray:
    """Strings as an HDF5 variable-length UTF-8 array attribute."""
    return np.array(list(values), dtype=h5py.string_dtype())


def revision_name(number: int) -> str:
    return f"rev_{number:04d}"


def utc_now() -> str:
    """The current time as UTC ISO-8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def parse_stance_journal(raw: np.ndarray) -> list[dict[str, Any]]:
    """Stance rows from the live journal (UTF-8 JSON lines); an unfinished last line is dropped."""
    text = np.asarray(raw, dtype="u1").tobytes().rstrip(b"\0").decode("utf-8", errors="replace")
    rows = []
    for line in text.split("\n")[:-1]:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows
