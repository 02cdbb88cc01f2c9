"""Where Midstance keeps the user's files: sessions, the calibration log, logs and settings.

``MIDSTANCE_DATA_DIR`` overrides the platform default (tests point it at a temporary folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    """The user's Midstance data folder (created on first use)."""
    override = os.environ.get("MIDSTANCE_DATA_DIR")
    if override:
        root = Path(override)
    elif sys.platform == "win32":
        root = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "Midstance"
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Application Support" / "Midstance"
    else:
        root = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "midstance"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sessions_dir() -> Path:
    path = user_data_dir() / "sessions"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = user_data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
