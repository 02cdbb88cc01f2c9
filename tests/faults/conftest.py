"""Fixtures of the fault tests: the fault-injecting simulated lab (``fault_lab.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load(name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fault_lab():
    """The helper module: ``sim_config(...)``, ``FaultPlan``, ``RATE_HZ``, ``FPS``."""
    return _load("fault_lab")


@pytest.fixture
def session_path(tmp_path):
    return tmp_path / "fault.midstance.h5"
