"""The window's commands from the command line."""

from __future__ import annotations

import pytest

from app.cli import main

pytestmark = pytest.mark.gui


def test_plain_midstance_opens_the_window_and_says_why_not_without_a_display(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    code = main([])
    err = capsys.readouterr().err
    assert code != 0
    assert "midstance gui: there is no display" in err and "midstance screenshot" in err


def test_gui_and_screenshot_are_listed_with_their_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "gui" in out and "screenshot" in out
    with pytest.raises(SystemExit):
        main(["gui", "--help"])
    out = capsys.readouterr().out
    assert "--config FILE" in out and "--preset NAME" in out
