"""Everything that imports PySide6 or pyqtgraph, and nothing else does."""

from app.qt.qt_workarounds import guard_bool_refcounts

guard_bool_refcounts()  # a Qt binding defect must not abort a session (see qt_workarounds)
