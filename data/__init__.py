"""The session file: HDF5 schema, streaming writer, lazy reader, C3D/CSV import and export,
session library and calibration log.

``from data import open_session`` is the analyst's entry point; it is loaded on first use so
that importing a light module such as ``data.paths`` does not pull in h5py.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Session", "open_session"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from data import session_reader

        return getattr(session_reader, name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")
