"""The session file: HDF5 schema, streaming writer, lazy reader, C3D/CSV import and export,
session library and calibration log."""

from data.session_reader import Session, open_session

__all__ = ["Session", "open_session"]
