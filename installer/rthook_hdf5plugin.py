"""PyInstaller runtime hook: silence hdf5plugin's complaint about the filters the bundle leaves out.

The bundle ships only the HDF5 compression filters a session file can use (see
``installer/midstance.spec``, ``HDF5_FILTERS_KEPT``). hdf5plugin tries to register every filter it
was built with and logs ``Cannot initialize filter NAME: File not found`` for each missing library
at import, which would print several error lines before every command. Only that exact message is
dropped; a filter library that is present but fails to load is still reported.
"""

import logging


class _LeftOutFilterMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Cannot initialize filter ") and "File not found" in message)


logging.getLogger("hdf5plugin._utils").addFilter(_LeftOutFilterMessages())
