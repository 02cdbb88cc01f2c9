"""The session file: HDF5 schema, streaming writer, lazy reader, C3D/CSV import and export,
session library and calibration log."""
