"""Guards against defects of the Qt binding that would take the lab screen down.

PySide6 6.12.0 returns ``True`` from ``SignalInstance.emit`` without taking a reference, so
every signal emitted from Python (pyqtgraph emits several per plot update) drops one reference
to ``True``; the same binding also drops references to ``None`` on the paint path (Python
overrides of C++ virtuals). On Python 3.12+ these singletons are immortal and nothing happens; on
Python 3.11 a count reaches zero after a few thousand calls and the interpreter aborts
("bool_dealloc", "none_dealloc") minutes into a session. PySide6 6.11.0 does not drop the
``True`` references (measured here); pin ``PySide6-Essentials!=6.12.0``.

:func:`guard_bool_refcounts` measures the defect on the installed binding and, only if it is
present on an interpreter where singletons are mortal, gives True, False and None a reserve of
references so large that no session can exhaust it — what Python 3.12 does for all singletons.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

RESERVE = 1 << 40  # references added once; at 10 000 emits/s this lasts 3 years
PROBE_EMITS = 16


class _Probe(QObject):
    fired = Signal(object)


def emit_drops_true_references() -> bool:
    """True if emitting a signal drops a reference to ``True`` (the PySide6 6.12.0 defect)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(PROBE_EMITS):
        probe.fired.emit(None)
    return sys.getrefcount(True) < before - PROBE_EMITS // 2


_state = {"guarded": False}


def guard_bool_refcounts() -> bool:
    """Apply the reserve if the defect is present and bools are mortal; True if applied."""
    if _state["guarded"] or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _state["guarded"]
    if not emit_drops_true_references():
        return False
    for singleton in (True, False, None):
        # ob_refcnt is the first field of every CPython object (Py_ssize_t)
        ctypes.c_ssize_t.from_address(id(singleton)).value += RESERVE
    _state["guarded"] = True
    return True
