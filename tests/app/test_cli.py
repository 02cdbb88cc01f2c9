"""The command line's own behaviour: help, version, and how errors reach the person."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from analysis.errors import InputError
from app import cli


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_version_json_reports_optional_components(capsys):
    assert cli.main(["version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] != "0+unknown"
    assert set(info["components"]) == {"nidaqmx", "pypylon"}
    assert info["components"] == {"nidaqmx": True, "pypylon": True}  # both in the test extra


def test_version_reports_a_component_that_is_installed_but_does_not_load(monkeypatch, capsys):
    """An incomplete bundle can carry a package that fails on import: that is not "present"."""
    from app.commands import version

    monkeypatch.setitem(version.IMPORT_CHECKS, "nidaqmx", "nidaqmx._no_such_module_")
    assert cli.main(["version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["components"]["nidaqmx"] is False
    assert "does not load" in info["component_problems"]["nidaqmx"]


def test_user_errors_are_one_sentence_and_an_exit_code(monkeypatch, capsys):
    def failing(args):
        raise InputError("has no force plates", subject="walk.c3d", remedy="Export the plates.")

    monkeypatch.setattr("app.commands.version.run", failing)
    assert cli.main(["version"]) == 2
    err = capsys.readouterr().err
    assert err == "midstance: walk.c3d: has no force plates. Export the plates.\n"


def test_internal_errors_go_to_the_log_not_the_screen(monkeypatch, capsys, isolated_user_data):
    def crashing(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("app.commands.version.run", crashing)
    assert cli.main(["version"]) == cli.EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err and "midstance.log" in err
    log = (isolated_user_data / "logs" / "midstance.log").read_text()
    assert "ZeroDivisionError: boom" in log and "Traceback" in log


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("midstance ")
