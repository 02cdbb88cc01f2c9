"""Procedure files: the shipped library loads, broken files give errors naming line/step/field,
random input never escapes as anything but ProtocolError, and the user folder is searched."""

from __future__ import annotations

import copy
import re
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.loader import (
    BUILTIN_LIBRARY,
    find_procedure,
    load_procedure,
    parse_procedure,
    parse_procedure_text,
    scan_library,
)
from protocols.model import STEP_KINDS, ProtocolError

SHIPPED = sorted(p.stem for p in BUILTIN_LIBRARY.glob("*.toml"))

HEAD = """[procedure]
name = "mini"
title = "Mini"
version = "1"
description = "d"
audience = "clinician"
"""
ENTRY = """
[[steps]]
id = "runner"
kind = "entry"
title = "Runner"
[[steps.fields]]
name = "speed_m_s"
label = "Speed"
unit = "m/s"
min = 1
max = 6
"""


def test_the_shipped_library_is_exactly_the_eight_procedures():
    found, problems = scan_library()
    assert problems == []
    assert (
        sorted(found)
        == SHIPPED
        == [
            "camera-intrinsics",
            "cop-pointer-check",
            "known-mass-check",
            "plate-zero",
            "running-assessment",
            "scale-plane",
            "sync-verification",
            "three-part-screen",
        ]
    )
    for procedure in found.values():
        assert procedure.sha256 and procedure.version == "1.0"
        assert procedure.source.endswith(f"{procedure.name}.toml")


def test_running_assessment_defaults_follow_the_brief():
    procedure = find_procedure("running-assessment")
    acclimatisation = procedure.step("acclimatisation")
    assert acclimatisation.duration_s >= 360 and acclimatisation.min_duration_s == 360
    assert procedure.step("downhill-setup").incline_percent < 0
    assert procedure.step("downhill").optional
    assert procedure.step("fatigue").window_s == 60
    known_mass = find_procedure("known-mass-check").step("known-mass")
    assert len(known_mass.placements) >= 8
    assert min(p.mass_kg for p in known_mass.placements) * 9.80665 >= 200


BROKEN = [
    ("bad TOML", HEAD + "[[steps]\n", r"is not valid TOML: .*line 7, column 8"),
    ("no procedure table", ENTRY, r"\[procedure\]: is missing"),
    ("unknown top key", HEAD + ENTRY + "\n[extra]\n", r"extra: is not a top-level key"),
    (
        "bad audience",
        HEAD.replace("clinician", "patient") + ENTRY,
        r"\[procedure\]: audience: 'patient' is not allowed",
    ),
    (
        "bad name",
        HEAD.replace('"mini"', '"Mini Test"') + ENTRY,
        r"name: 'Mini Test' is not a valid",
    ),
    ("no steps", HEAD, r"steps: must be a non-empty list"),
    (
        "unknown kind",
        HEAD + '[[steps]]\nid = "a"\nkind = "dance"\ntitle = "t"\n',
        r"line 8: step 1 'a': kind: 'dance' is not allowed",
    ),
    (
        "typo key",
        HEAD + ENTRY.replace("min = 1", "minimum = 1"),
        r"line 9: step 1 'runner': fields\[0\]: minimum: is not a field key",
    ),
    (
        "number without range",
        HEAD + ENTRY.replace("max = 6\n", ""),
        r"step 1 'runner': fields\[0\]: max: is missing",
    ),
    (
        "range upside down",
        HEAD + ENTRY.replace("max = 6", "max = 0.5"),
        r"fields\[0\]: max: must be above min",
    ),
    (
        "duplicate id",
        HEAD + ENTRY + ENTRY.replace("speed_m_s", "x"),
        r"step 2 'runner': id: 'runner' is used by an earlier step",
    ),
    (
        "speed from nowhere",
        HEAD + '[[steps]]\nid = "s"\nkind = "setup"\ntitle = "t"\n'
        'speed_from = "runner.speed_m_s"\n',
        r"step 1 's': speed_from: 'runner' is not an earlier",
    ),
    (
        "speed from a wrong unit",
        HEAD
        + ENTRY.replace('"m/s"', '"km/h"')
        + '[[steps]]\nid = "s"\nkind = "setup"\ntitle = "t"\nspeed_from = "runner.speed_m_s"\n',
        r"step 2 's': speed_from: 'runner.speed_m_s' is not a number field in m/s",
    ),
    (
        "speed out of range",
        HEAD + '[[steps]]\nid = "s"\nkind = "setup"\ntitle = "t"\nspeed_m_s = 40\n',
        r"step 1 's': speed_m_s: 40 is outside 0 to 10 m/s",
    ),
    (
        "incline as text",
        HEAD + '[[steps]]\nid = "s"\nkind = "setup"\ntitle = "t"\nincline_percent = "-5"\n',
        r"incline_percent: must be a finite number in %",
    ),
    (
        "setup that sets nothing",
        HEAD + '[[steps]]\nid = "s"\nkind = "setup"\ntitle = "t"\n',
        r"step 1 's': sets nothing",
    ),
    (
        "both duration and steps",
        HEAD + '[[steps]]\nid = "a"\nkind = "acquisition"\ntitle = "t"\n'
        'purpose = "running"\nduration_s = 60\nsteps_per_side = 20\n',
        r"duration_s: give exactly one of duration_s and steps_per_side",
    ),
    (
        "bad purpose",
        HEAD + '[[steps]]\nid = "a"\nkind = "acquisition"\ntitle = "t"\n'
        'purpose = "jogging"\nduration_s = 60\n',
        r"purpose: 'jogging' is not allowed",
    ),
    (
        "too few masses",
        HEAD + '[[steps]]\nid = "m"\nkind = "acquisition"\ntitle = "t"\n'
        'purpose = "known-mass"\ndevice = "belt"\nduration_s = 5\nplacements = [\n'
        '{ label = "c", position_m = [0, 0], mass_kg = 25 }]\n',
        r"step 1 'm': placements: has 1 placements; at least 8",
    ),
    (
        "light mass",
        HEAD + '[[steps]]\nid = "m"\nkind = "acquisition"\ntitle = "t"\n'
        'purpose = "known-mass"\ndevice = "belt"\nduration_s = 5\nplacements = [\n'
        '{ label = "c", position_m = [0, 0], mass_kg = 10 }]\n',
        r"placements\[0\].mass_kg: 10 kg is below 200 N",
    ),
    (
        "calibration without device",
        HEAD + '[[steps]]\nid = "z"\nkind = "acquisition"\n'
        'title = "t"\npurpose = "zero"\nduration_s = 5\n',
        r"step 1 'z': device: is missing",
    ),
    (
        "unknown parameter",
        HEAD + '[[steps]]\nid = "z"\nkind = "acquisition"\ntitle = "t"\n'
        'purpose = "zero"\ndevice = "belt"\nduration_s = 5\nparameters = { tolerance = 1 }\n',
        r"tolerance: is not a 'zero' parameter key",
    ),
    (
        "squat without side",
        HEAD + '[[steps]]\nid = "q"\nkind = "acquisition"\ntitle = "t"\n'
        'purpose = "single-leg-squat"\nduration_s = 5\n',
        r"step 1 'q': side: is missing",
    ),
    (
        "check without kinds",
        HEAD + '[[steps]]\nid = "c"\nkind = "check"\ntitle = "t"\n'
        'condition = "calibration-current"\n',
        r"step 1 'c': kinds: is missing",
    ),
    (
        "optional check",
        HEAD + '[[steps]]\nid = "c"\nkind = "check"\ntitle = "t"\n'
        'condition = "calibration-current"\nkinds = ["zero"]\noptional = true\n',
        r"optional: a check cannot be optional",
    ),
    (
        "comparison of an unknown segment",
        HEAD + '[[steps]]\nid = "f"\nkind = "comparison"\n'
        'title = "t"\nsegments = ["baseline"]\nwindow_s = 60\n',
        r"segments: 'baseline' is not the segment of an earlier acquisition",
    ),
    (
        "compare fields of different units",
        HEAD
        + ENTRY.replace(
            "[[steps.fields]]",
            '[[steps.fields]]\nname = "w"\nlabel = "W"\nunit = "kg"\nmin = 1\nmax = 2\n'
            "[[steps.fields]]",
            1,
        )
        + '[[steps.compare]]\na = "w"\nb = "speed_m_s"\nmax_difference = 1\n'
        'flag = "f"\n',
        r"compare\[0\]: 'w' and 'speed_m_s' have different units",
    ),
    (
        "flag rule without a flag",
        HEAD + ENTRY.replace("max = 6", "max = 6\nflag_below = 2"),
        r"fields\[0\]: flag: is missing",
    ),
    (
        "group not optional",
        HEAD + '[[steps]]\nid = "i"\nkind = "instruction"\ntitle = "t"\ntext = "x"\ngroup = "g"\n',
        r"group: only optional steps are grouped",
    ),
    (
        "instruction without text",
        HEAD + '[[steps]]\nid = "i"\nkind = "instruction"\ntitle = "t"\n',
        r"step 1 'i': text: is missing",
    ),
    ("steps not tables", "steps = [1, 2]\n" + HEAD, r"step 1: must be a table, not int"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_procedure_files_name_the_line_step_and_field(tmp_path, text, expected):
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as error:
        load_procedure(path)
    message = error.value.sentence()
    assert message.startswith(str(path)), message
    assert re.search(expected, message), message


def test_a_missing_image_is_named_and_an_existing_one_accepted(tmp_path):
    text = HEAD + '[[steps]]\nid = "i"\nkind = "instruction"\ntitle = "t"\ntext = "x"\n'
    path = tmp_path / "p.toml"
    path.write_text(text + 'image = "images/belt.png"\n')
    with pytest.raises(ProtocolError, match=r"image: 'images/belt.png' not found"):
        load_procedure(path)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "belt.png").write_bytes(b"\x89PNG")
    assert load_procedure(path).steps[0].image == "images/belt.png"


def test_unreadable_files_are_protocol_errors(tmp_path):
    with pytest.raises(ProtocolError, match="file not found"):
        load_procedure(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ProtocolError, match="is not UTF-8 text"):
        load_procedure(binary)


def test_user_procedures_are_found_after_the_builtins(isolated_user_data):
    folder = isolated_user_data / "protocols"
    folder.mkdir(exist_ok=True)
    (folder / "mine.toml").write_text(HEAD + ENTRY)
    (folder / "clash.toml").write_text(HEAD.replace('"mini"', '"plate-zero"') + ENTRY)
    (folder / "broken.toml").write_text("[procedure\n")
    found, problems = scan_library()
    assert found["mini"].source == str(folder / "mine.toml")
    assert found["plate-zero"].source == str(BUILTIN_LIBRARY / "plate-zero.toml")
    reasons = {p.path.rsplit("/", 1)[-1]: p.problem for p in problems}
    assert "already used by" in reasons["clash.toml"]
    assert "is not valid TOML" in reasons["broken.toml"]
    assert find_procedure("mini").name == "mini"
    with pytest.raises(ProtocolError, match=r"procedure 'nothing': no procedure of that name"):
        find_procedure("nothing")


# -- property tests: nothing but ProtocolError escapes the loader ----------------------------

KEYS = [
    "procedure",
    "steps",
    "name",
    "title",
    "version",
    "description",
    "audience",
    "id",
    "kind",
    "text",
    "fields",
    "unit",
    "min",
    "max",
    "type",
    "choices",
    "purpose",
    "duration_s",
    "placements",
    "position_m",
    "mass_kg",
    "speed_from",
    "segments",
    "window_s",
    "compare",
    "a",
    "b",
    "flag",
    "kinds",
    "condition",
    "parameters",
    "optional",
    "group",
    "image",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "entry",
            "setup",
            "acquisition",
            "check",
            "running",
            "known-mass",
            "m/s",
            "runner.speed_m_s",
            "clinician",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)


VALID_HEAD = {
    "name": "r",
    "title": "R",
    "version": "1",
    "description": "d",
    "audience": "clinician",
}
STEP_KEYS = st.sampled_from(
    [
        "text",
        "fields",
        "speed_m_s",
        "speed_from",
        "incline_percent",
        "cameras",
        "purpose",
        "duration_s",
        "steps_per_side",
        "device",
        "side",
        "placements",
        "parameters",
        "condition",
        "kinds",
        "may_override",
        "compare",
        "label",
        "segments",
        "window_s",
        "segment",
        "optional",
        "group",
        "min_duration_s",
    ]
)
STEPS = st.lists(
    st.builds(
        lambda base, extra: {**base, **extra},
        st.fixed_dictionaries(
            {
                "id": st.sampled_from(["a", "b", "runner"]),
                "kind": st.sampled_from(STEP_KINDS),
                "title": st.just("t"),
            }
        ),
        st.dictionaries(STEP_KEYS, VALUES, max_size=4),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.just(VALID_HEAD), st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3)),
    st.one_of(STEPS, VALUES),
)
def test_random_structures_raise_only_protocol_errors(head, steps):
    try:
        parse_procedure({"procedure": head, "steps": steps}, source="random.toml")
    except ProtocolError as exc:
        assert exc.sentence().startswith("random.toml")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]=\"\n.#ab1 ,{}-_stepidkn'")), max_size=120))
def test_random_text_raises_only_protocol_errors(text):
    try:
        parse_procedure_text(text, source="random.toml")
    except ProtocolError as exc:
        assert exc.subject.startswith("random.toml")


def _shipped_raw():
    return {name: tomllib.loads((BUILTIN_LIBRARY / f"{name}.toml").read_text()) for name in SHIPPED}


SHIPPED_RAW = _shipped_raw()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SHIPPED),
    st.integers(0, 40),
    st.sampled_from(KEYS),
    VALUES,
)
def test_mutating_a_shipped_procedure_loads_or_raises_protocol_error(name, index, key, value):
    raw = copy.deepcopy(SHIPPED_RAW[name])
    steps = raw["steps"]
    target = steps[index % len(steps)]
    target[key] = value
    try:
        parse_procedure(raw, source=f"{name}.toml")
    except ProtocolError as exc:
        assert exc.sentence().startswith(f"{name}.toml")


def test_a_check_on_an_unknown_calibration_kind_is_refused(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(
        HEAD + '[[steps]]\nid = "c"\nkind = "check"\ntitle = "t"\n'
        'condition = "calibration-current"\nkinds = ["zeroo"]\n'
    )
    with pytest.raises(ProtocolError, match=r"line 8: step 1 'c': kinds: 'zeroo' is not allowed"):
        load_procedure(path)
