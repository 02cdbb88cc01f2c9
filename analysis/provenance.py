"""What produced a number: the software version, stored with every derived result."""

from __future__ import annotations

from functools import cache
from importlib import metadata


@cache
def software_version() -> str:
    """The installed Midstance version (``0+unknown`` when run from an uninstalled tree)."""
    try:
        return metadata.version("midstance")
    except metadata.PackageNotFoundError:
        return "0+unknown"
