"""Hardware configuration files (drivers/config.py): whatever a person or a tool writes into the
TOML, loading it gives a valid LabConfig or a ConfigError naming the file — never a traceback.
Fixed bad files are in tests/drivers/test_config.py; these are generated."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.config import ConfigError, LabConfig, load_config, parse_config, simulated_config

SOURCE = "lab.toml"
SECTIONS = ["lab", "sync", "daq", "cameras", "plates", "simulation"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(tree, list) and tree:
        for i, v in enumerate(tree):
            yield from _leaves(v, (*path, i))
    else:
        yield path


BASE = simulated_config().to_dict()
LEAVES = [p for p in _leaves(BASE) if p]


def _accepts_or_names_the_file(raw) -> None:
    try:
        config = parse_config(raw, source=SOURCE)
    except ConfigError as exc:
        assert SOURCE in exc.sentence()
    else:
        assert isinstance(config, LabConfig)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=6), values, max_size=5))
def test_random_structures_give_config_errors_only(raw):
    _accepts_or_names_the_file(raw)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(LEAVES), values)
def test_any_value_in_any_field_of_a_valid_file(path, value):
    raw = copy.deepcopy(BASE)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _accepts_or_names_the_file(raw)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_file_content(tmp_path, content):
    path = tmp_path / SOURCE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in exc.sentence()


def test_a_folder_given_as_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(tmp_path) in caught.value.sentence()
