"""The application: Qt-free session controller, acquisition pipeline and CLI.

The Qt window lives in :mod:`app.qt`; nothing else in the project imports PySide6 or pyqtgraph.
"""
