"""The examples in docs/cameras.md are valid configurations that every camera driver accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from drivers.base import HealthStatus
from drivers.config import parse_config
from drivers.registry import probe

DOC = Path(__file__).resolve().parents[3] / "docs" / "cameras.md"
EXAMPLES = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_page_has_an_example_per_camera_kind():
    kinds = {cam["kind"] for text in EXAMPLES for cam in tomllib.loads(text)["cameras"]}
    assert kinds == {"basler", "opencv", "video-file"}


@pytest.mark.parametrize("text", EXAMPLES)
def test_each_example_parses_and_its_settings_are_accepted(text, monkeypatch):
    monkeypatch.delenv("PYLON_CAMEMU", raising=False)
    raw = tomllib.loads(text)
    raw["daq"] = {"name": "force", "kind": "sim.daq", "rate_hz": 3000}  # a multiple of each rate
    config = parse_config(raw, source="docs/cameras.md")
    for camera in config.cameras:
        health = probe(camera.kind, camera.name, camera.settings)
        # No such device on the test machine, but nothing in the example is misconfigured.
        assert health.status in (HealthStatus.ABSENT, HealthStatus.SDK_MISSING), health
