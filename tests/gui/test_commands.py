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


def test_screenshot_takes_the_window_size_and_names_a_bad_one(capsys):
    from app.commands.screenshot import window_size

    assert window_size("1200x750") == (1200, 750) and window_size("1280X720") == (1280, 720)
    with pytest.raises(SystemExit):
        main(["screenshot", "--out", "shots", "--size", "1200by750"])
    err = capsys.readouterr().err
    assert "'1200by750' is not WIDTHxHEIGHT, e.g. 1200x750" in err
    with pytest.raises(SystemExit):
        main(["screenshot", "--help"])
    assert "--size WxH" in capsys.readouterr().out
