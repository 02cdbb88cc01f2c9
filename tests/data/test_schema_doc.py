"""data/SCHEMA.md matches the file: every object and attribute written is documented, every
documented one is written (in a complete session), and documented units match the file's."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

SCHEMA_MD = Path(__file__).resolve().parents[2] / "data" / "SCHEMA.md"
ROW = re.compile(r"^\| `([^`]+)` \| (group|dataset|attribute) \|[^|]*\|([^|]*)\|")
PLACEHOLDERS = {"<camera>": "[^/@]+", "<plate>": "[^/@]+", "<NNNN>": r"\d{4}"}


def documented() -> dict[str, tuple[str, str]]:
    """path pattern → (kind, units) for every row of the layout tables."""
    rows = {}
    for line in SCHEMA_MD.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3).strip())
    return rows


def pattern(path: str) -> re.Pattern:
    text = re.escape(path)
    for placeholder, regex in PLACEHOLDERS.items():
        text = text.replace(re.escape(placeholder), regex)
    return re.compile(f"^{text}$")


def written(path: Path) -> dict[str, tuple[str, object]]:
    """Every group, dataset and attribute in the file: path → (kind, units attribute)."""
    found: dict[str, tuple[str, object]] = {}

    def add(name: str, obj) -> None:
        where = "/" + name if name else ""
        kind = "dataset" if isinstance(obj, h5py.Dataset) else "group"
        if name:
            found[where] = (kind, obj.attrs.get("units"))
        for attr in obj.attrs:
            if attr != "units" or kind == "group":
                found[f"{where or '/'}@{attr}"] = ("attribute", None)

    with h5py.File(path, "r") as f:
        add("", f)
        f.visititems(add)
    return found


@pytest.fixture
def complete_file(session_file):
    return written(session_file[0])


def test_every_written_object_is_documented(complete_file):
    docs = {p: pattern(p) for p in documented()}
    undocumented = [
        path for path in complete_file if not any(rx.match(path) for rx in docs.values())
    ]
    assert undocumented == []


def test_every_documented_object_is_written(complete_file):
    docs = documented()
    assert len(docs) > 100
    never = [p for p in docs if not any(pattern(p).match(path) for path in complete_file)]
    assert never == []


def test_kinds_and_units_match_the_document(complete_file):
    docs = documented()
    mismatches = []
    for doc_path, (kind, doc_units) in docs.items():
        rx = pattern(doc_path)
        for path, (file_kind, file_units) in complete_file.items():
            if not rx.match(path):
                continue
            if file_kind != kind:
                mismatches.append(f"{path}: {file_kind}, documented as {kind}")
            simple = (
                kind == "dataset" and doc_units and not re.search(r",| or |per field", doc_units)
            )
            if simple and isinstance(file_units, str):
                stored = file_units.split(" (")[0].replace("*", "·")
                if stored != doc_units:
                    mismatches.append(f"{path}: units {file_units!r}, documented {doc_units!r}")
    assert mismatches == []


def test_the_plain_h5py_snippet_in_the_schema_runs(session_file, synth):
    """The 'reading it without Midstance' example works as printed, on a real file."""
    text = SCHEMA_MD.read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    example_path = re.search(r'h5py\.File\("([^"]+)"', code).group(1)
    namespace: dict = {}
    for camera in ("sagittal", "posterior"):  # lossless and jpeg branches
        exec(code.replace(example_path, str(session_file[0])).replace('"cameras/sagittal"',
             f'"cameras/{camera}"'), namespace)  # fmt: skip
        assert namespace["frame"].shape == (synth.HEIGHT, synth.WIDTH)
        assert np.abs(namespace["frame"].astype(int) - synth.frame_image(10)).mean() < 2
    assert namespace["names"] == list(synth.CHANNELS)
    assert namespace["units"]["valr_N_s"] == "N/s"
