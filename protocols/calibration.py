"""Procedures and the calibration log: log a technician step's result, answer a calibration check.

A session controller's ``LabActions`` uses these two so that a technician procedure updates the
log and a clinical procedure's ``calibration-current`` check reads the same staleness rules as the
devices panel and ``midstance calibration``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from data.calibration_log import CalibrationEntry, CalibrationLog, StalenessRule
from protocols.actions import CheckState
from protocols.runner import StepResult


def log_step_result(log: CalibrationLog, result: StepResult) -> CalibrationEntry | None:
    """Append a finished technician step to the log; other steps are not calibrations (None)."""
    if not result.calibration_kind:
        return None
    return log.record(
        kind=result.calibration_kind,
        device=result.device,
        operator=result.operator,
        passed=bool(result.passed),
        values={**result.values, "flags": list(result.flags)},
        settings=result.settings,
        note=result.note,
        time_utc=datetime.fromisoformat(result.finished_utc),
    )


def calibration_check(
    log: CalibrationLog,
    kinds: Iterable[str],
    now: datetime | None = None,
    rules: Mapping[str, StalenessRule] | None = None,
    expected: Iterable[tuple[str, str]] | None = None,
) -> CheckState:
    """The ``calibration-current`` condition: none of ``kinds`` is stale at ``now``."""
    wanted = set(kinds)
    pairs = None if expected is None else [p for p in expected if p[0] in wanted]
    stale = [s for s in log.stale_items(now, rules, pairs) if s.kind in wanted]
    if not stale:
        return CheckState(True, f"current: {', '.join(sorted(wanted))}")
    detail = "; ".join(f"{s.kind} on {s.device}: {s.reason}" for s in stale)
    return CheckState(False, f"not current: {detail}", tuple(s.to_dict() for s in stale))
