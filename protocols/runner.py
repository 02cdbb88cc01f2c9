"""The Qt-free runner: an explicit state machine that walks a procedure, driven by events.

States and the events each accepts are the table :data:`TRANSITIONS`; any other event is a
:class:`~protocols.model.ProtocolError` that names the state, so the GUI and the CLI cannot drive
a procedure into an undefined place. The runner calls the lab only through
:class:`~protocols.actions.LabActions` and never blocks: an acquisition is started, and its end
arrives later as :meth:`Runner.acquisition_finished`.

Interactive steps (instruction, set-up, acquisition, entry) wait for the operator; a set-up is
applied only when the operator confirms (``next``), so the belt never starts by itself. Checks,
marks and comparisons run as soon as they are reached. Every finished step produces a
:class:`StepResult`, handed to ``LabActions.record_result``; going back keeps earlier attempts
(``attempts``) — nothing recorded is ever dropped.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analysis.errors import MidstanceError
from analysis.provenance import software_version
from protocols.actions import AcquisitionRequest, AcquisitionResult, LabActions
from protocols.evaluation import evaluate
from protocols.model import CALIBRATION_PURPOSES, Procedure, ProtocolError, Step


class State(enum.StrEnum):
    NOT_STARTED = "not-started"
    WAITING = "waiting"  # at an interactive step, waiting for the operator
    ACQUIRING = "acquiring"  # a recording runs; waiting for acquisition_finished
    BLOCKED = "blocked"  # a check does not hold; retry, override (if allowed) or abort
    COMPLETED = "completed"
    ABORTED = "aborted"


class Event(enum.StrEnum):
    BEGIN = "begin"
    NEXT = "next"  # confirm: read instruction / apply set-up / start acquisition
    SUBMIT = "submit"  # values of a manual entry
    SKIP = "skip"  # an optional step (and the rest of its group)
    BACK = "back"  # to the previous interactive step, to redo it
    STOP = "stop"  # end the running acquisition early
    FINISHED = "finished"  # the lab reports the acquisition's end
    RETRY = "retry"  # re-evaluate a blocked check
    OVERRIDE = "override"  # continue past a blocked check, with a reason (if allowed)
    ABORT = "abort"


TRANSITIONS: dict[State, dict[Event, tuple[State, ...]]] = {
    State.NOT_STARTED: {
        Event.BEGIN: (State.WAITING, State.BLOCKED, State.COMPLETED),
        Event.ABORT: (State.ABORTED,),
    },
    State.WAITING: {
        Event.NEXT: (State.WAITING, State.ACQUIRING, State.BLOCKED, State.COMPLETED),
        Event.SUBMIT: (State.WAITING, State.BLOCKED, State.COMPLETED),
        Event.SKIP: (State.WAITING, State.BLOCKED, State.COMPLETED),
        Event.BACK: (State.WAITING,),
        Event.ABORT: (State.ABORTED,),
    },
    State.ACQUIRING: {
        Event.STOP: (State.ACQUIRING,),
        Event.FINISHED: (State.WAITING, State.BLOCKED, State.COMPLETED),
        Event.ABORT: (State.ABORTED,),
    },
    State.BLOCKED: {
        Event.RETRY: (State.BLOCKED, State.WAITING, State.COMPLETED),
        Event.OVERRIDE: (State.WAITING, State.BLOCKED, State.COMPLETED),
        Event.BACK: (State.WAITING,),
        Event.ABORT: (State.ABORTED,),
    },
    State.COMPLETED: {},
    State.ABORTED: {},
}


@dataclass(frozen=True)
class StepResult:
    """What one step produced; stored in the session (and the calibration log for checks)."""

    step_id: str
    kind: str
    status: str  # "done", "skipped", "overridden", "abandoned"
    values: dict[str, Any]
    passed: bool | None
    flags: tuple[str, ...]
    settings: dict[str, Any]
    started_utc: str
    finished_utc: str
    attempt: int
    calibration_kind: str = ""  # set for technician checks: the calibration log's kind
    device: str = ""
    operator: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class _Progress:
    index: int = -1
    started_utc: str = ""
    placement: int = 0
    acquired: list[AcquisitionResult] = field(default_factory=list)


class Runner:
    """Walks one procedure for one operator; ``state`` and ``current_step`` say where it is."""

    def __init__(
        self,
        procedure: Procedure,
        actions: LabActions,
        operator: str = "",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.procedure = procedure
        self.actions = actions
        self.operator = operator
        self._clock = clock or (lambda: datetime.now(UTC))
        self.state = State.NOT_STARTED
        self.results: dict[str, StepResult] = {}  # latest result of each step
        self.attempts: list[StepResult] = []  # every result ever produced, in order
        self.segments: dict[str, AcquisitionResult] = {}
        self.events: list[dict[str, Any]] = []
        self.check_detail = ""
        self.abort_reason = ""
        self._progress = _Progress()

    # -- where we are ----------------------------------------------------------------------
    @property
    def current_step(self) -> Step | None:
        index = self._progress.index
        return self.procedure.steps[index] if 0 <= index < len(self.procedure.steps) else None

    @property
    def current_placement(self) -> int:
        return self._progress.placement

    def allowed_events(self) -> tuple[Event, ...]:
        """The events valid now (what the GUI enables and the CLI offers)."""
        allowed = []
        step = self.current_step
        for event in TRANSITIONS[self.state]:
            if event is Event.SUBMIT and (step is None or step.kind != "entry"):
                continue
            if event is Event.NEXT and step is not None and step.kind == "entry":
                continue
            if event is Event.SKIP and (step is None or not step.optional):
                continue
            if event is Event.OVERRIDE and (step is None or not step.may_override):
                continue
            if event is Event.BACK and self._previous_interactive() is None:
                continue
            allowed.append(event)
        return tuple(allowed)

    def snapshot(self) -> dict[str, Any]:
        """A plain view of the run for display."""
        step = self.current_step
        return {
            "procedure": self.procedure.identity(),
            "state": str(self.state),
            "step_index": self._progress.index,
            "step_id": step.id if step else "",
            "step_kind": step.kind if step else "",
            "step_title": step.title if step else "",
            "placement": self._progress.placement,
            "placement_label": (
                step.placements[self._progress.placement].label
                if step and step.placements and self._progress.placement < len(step.placements)
                else ""
            ),
            "allowed": [str(e) for e in self.allowed_events()],
            "check_detail": self.check_detail,
        }

    def record(self) -> dict[str, Any]:
        """The whole run as plain data: procedure identity, results, every attempt and event."""
        return {
            "procedure": self.procedure.identity(),
            "operator": self.operator,
            "state": str(self.state),
            "abort_reason": self.abort_reason,
            "software_version": software_version(),
            "results": {k: r.to_dict() for k, r in self.results.items()},
            "attempts": [r.to_dict() for r in self.attempts],
            "events": list(self.events),
        }

    # -- events ----------------------------------------------------------------------------
    def begin(self) -> None:
        self._accept(Event.BEGIN)
        self._enter(0)

    def next(self) -> None:
        """Confirm the current interactive step (for an entry use :meth:`submit`)."""
        self._accept(Event.NEXT)
        step = self._step()
        if step.kind == "instruction":
            self._finish(step, {}, None, ())
        elif step.kind == "setup":
            self._apply_setup(step)
        elif step.kind == "acquisition":
            self._start_acquisition(step)

    def submit(self, values: Mapping[str, Any]) -> None:
        """Complete an entry with typed values; a bad value raises and leaves the step open."""
        self._check_allowed(Event.SUBMIT)
        step = self._step()
        clean, flags = validate_entry(step, values)
        self._log(Event.SUBMIT)
        self.actions.store_entry(step.id, clean)
        self._finish(step, clean, None, flags)

    def skip(self) -> None:
        self._accept(Event.SKIP)
        step = self._step()
        index = self._progress.index
        while True:
            skipped = self.procedure.steps[index]
            self._store(skipped, "skipped", {}, None, ())
            index += 1
            if not (
                step.group
                and index < len(self.procedure.steps)
                and self.procedure.steps[index].group == step.group
            ):
                break
        self._enter(index)

    def back(self) -> None:
        """Re-open the previous interactive step. Placements already recorded in the current
        step are kept as an ``abandoned`` attempt (what was recorded stays accounted for)."""
        self._accept(Event.BACK)
        target = self._previous_interactive() or 0
        step = self._step()
        if self._progress.acquired:
            values = {
                "placements_recorded": len(self._progress.acquired),
                "duration_s": float(sum(r.duration_s for r in self._progress.acquired)),
            }
            self._store(step, "abandoned", values, None, ("abandoned",))
        self._enter(target)

    def stop(self) -> None:
        """Ask the lab to end the acquisition early; its result still arrives as finished."""
        self._accept(Event.STOP)
        self.actions.stop_acquisition()

    def acquisition_finished(self, result: AcquisitionResult) -> None:
        self._accept(Event.FINISHED)
        step = self._step()
        progress = self._progress
        progress.acquired.append(result)
        if progress.placement + 1 < len(step.placements):
            progress.placement += 1
            self.state = State.WAITING
            return
        if step.segment:
            self.segments[step.segment] = result
        try:
            outcome = evaluate(step, progress.acquired)
        except MidstanceError as exc:
            # The recording cannot support the check (e.g. no COP under a light push): that is
            # a failed check, recorded with the reason; the operator may go back and repeat it.
            values = {"error": exc.sentence(), "duration_s": float(result.duration_s)}
            self._finish(step, values, False, ("evaluation_failed",))
            return
        settings = {**step.settings(), "parameters": outcome.parameters}
        self._finish(step, outcome.values, outcome.passed, outcome.flags, settings=settings)

    def retry(self) -> None:
        self._accept(Event.RETRY)
        self._run_check(self._step())

    def override(self, reason: str) -> None:
        self._check_allowed(Event.OVERRIDE)
        if not (reason or "").strip():
            raise self._refuse(Event.OVERRIDE, "give the reason for continuing past the check")
        self._log(Event.OVERRIDE)
        step = self._step()
        values = {"detail": self.check_detail}
        self._finish(step, values, False, ("overridden",), status="overridden", note=reason.strip())

    def abort(self, reason: str = "") -> None:
        self._accept(Event.ABORT)
        if self.state is State.ACQUIRING:
            self.actions.stop_acquisition()
        self.abort_reason = reason
        self.state = State.ABORTED

    # -- internals -------------------------------------------------------------------------
    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat()

    def _step(self) -> Step:
        step = self.current_step
        assert step is not None  # guaranteed by the state table: WAITING/ACQUIRING/BLOCKED
        return step

    def _refuse(self, event: Event, why: str) -> ProtocolError:
        return ProtocolError(
            f"'{event}' is not possible now: {why}",
            subject=f"procedure '{self.procedure.name}' ({self.state})",
            remedy=f"Possible now: {', '.join(self.allowed_events()) or 'nothing (finished)'}.",
        )

    def _accept(self, event: Event) -> None:
        self._check_allowed(event)
        self._log(event)

    def _check_allowed(self, event: Event) -> None:
        if event not in TRANSITIONS[self.state]:
            raise self._refuse(event, f"the run is {self.state}")
        if event not in self.allowed_events():
            raise self._refuse(event, self._why_not(event, self.current_step))

    def _log(self, event: Event) -> None:
        step = self.current_step
        self.events.append(
            {
                "time_utc": self._now(),
                "event": str(event),
                "state": str(self.state),
                "step_id": step.id if step else "",
            }
        )

    @staticmethod
    def _why_not(event: Event, step: Step | None) -> str:
        """Why an event the state table accepts is not valid at this step."""
        name = f"step '{step.id}'" if step else "this step"
        reasons = {
            Event.NEXT: "an entry step is completed with submit(values)",
            Event.SUBMIT: f"{name} is a {step.kind if step else 'step'}, not an entry",
            Event.SKIP: f"{name} is not optional",
            Event.OVERRIDE: f"{name} may not be overridden",
            Event.BACK: "there is no earlier step to go back to",
        }
        return reasons.get(event, "not at this step")

    def _previous_interactive(self) -> int | None:
        if self.state not in (State.WAITING, State.BLOCKED):
            return None
        for index in range(self._progress.index - 1, -1, -1):
            if self.procedure.steps[index].interactive:
                return index
        return None

    def _enter(self, index: int) -> None:
        """Arrive at step ``index``; run automatic steps until one needs the operator."""
        steps = self.procedure.steps
        while index < len(steps):
            self._progress = _Progress(index=index, started_utc=self._now())
            step = steps[index]
            if step.interactive:
                self.state = State.WAITING
                return
            if step.kind == "check":
                self._run_check(step)
                return
            if step.kind == "mark":
                self.actions.store_mark(step.id, step.label)
                self._store(step, "done", {"label": step.label}, None, ())
            elif step.kind == "comparison":
                values, passed, flags = self._comparison_windows(step)
                self._store(step, "done", values, passed, flags)
            index += 1
        self._progress = _Progress(index=len(steps))
        self.state = State.COMPLETED

    def _run_check(self, step: Step) -> None:
        state = self.actions.check_state(step.condition, step.kinds)
        self.check_detail = state.detail
        if state.ok:
            values = {"detail": state.detail, "items": [dict(i) for i in state.items]}
            self._finish(step, values, True, ())
        else:
            self.state = State.BLOCKED

    def _apply_setup(self, step: Step) -> None:
        speed = step.speed_m_s
        if step.speed_from:
            entry_id, _, name = step.speed_from.partition(".")
            typed = self.results[entry_id].values[name]
            speed = float(typed) + step.speed_offset_m_s
            if not 0.0 <= speed <= 10.0:
                raise ProtocolError(
                    f"the resulting speed {speed:.2f} m/s is outside 0 to 10 m/s",
                    subject=f"step '{step.id}'",
                    remedy=f"Go back and correct '{step.speed_from}'.",
                )
        if speed is not None or step.incline_percent is not None:
            self.actions.set_treadmill(speed, step.incline_percent)
        if step.cameras:
            self.actions.select_cameras(step.cameras)
        values = {
            "speed_m_s": speed,
            "incline_percent": step.incline_percent,
            "cameras": list(step.cameras),
        }
        self._finish(step, values, None, ())

    def _start_acquisition(self, step: Step) -> None:
        placement = step.placements[self._progress.placement] if step.placements else None
        request = AcquisitionRequest(
            step_id=step.id,
            purpose=step.purpose,
            duration_s=step.duration_s,
            steps_per_side=step.steps_per_side,
            segment=step.segment,
            side=step.side,
            device=step.device,
            cameras=step.cameras,
            placement=placement,
            placement_index=self._progress.placement,
        )
        self.actions.start_acquisition(request)
        self.state = State.ACQUIRING

    def _comparison_windows(self, step: Step) -> tuple[dict[str, Any], bool | None, tuple]:
        """The longest recorded eligible segment and its first and last windows (session time);
        the comparison itself is computed by the analysis from the session file."""
        recorded = {
            name: r
            for name, r in self.segments.items()
            if name in step.segments and r.start_s is not None and r.end_s is not None
        }
        if not recorded:
            return {"segment": None, "window_s": step.window_s}, False, ("no_segment_recorded",)
        name = max(recorded, key=lambda n: recorded[n].end_s - recorded[n].start_s)
        start, end = recorded[name].start_s, recorded[name].end_s
        window = step.window_s
        values = {
            "segment": name,
            "segment_duration_s": end - start,
            "window_s": window,
            "first_window_s": [start, min(start + window, end)],
            "last_window_s": [max(end - window, start), end],
            "candidates": {n: r.end_s - r.start_s for n, r in recorded.items()},
        }
        if end - start < 2 * window or not math.isfinite(end - start):
            return values, False, ("segment_shorter_than_two_windows",)
        return values, True, ()

    def _finish(
        self,
        step: Step,
        values: dict[str, Any],
        passed: bool | None,
        flags: tuple[str, ...],
        *,
        settings: dict[str, Any] | None = None,
        status: str = "done",
        note: str = "",
    ) -> None:
        self._store(step, status, values, passed, flags, settings=settings, note=note)
        self._enter(self._progress.index + 1)

    def _store(
        self,
        step: Step,
        status: str,
        values: dict[str, Any],
        passed: bool | None,
        flags: tuple[str, ...],
        *,
        settings: dict[str, Any] | None = None,
        note: str = "",
    ) -> None:
        finished = self._now()
        attempt = 1 + sum(1 for r in self.attempts if r.step_id == step.id)
        is_calibration = step.kind == "acquisition" and step.purpose in CALIBRATION_PURPOSES
        result = StepResult(
            step_id=step.id,
            kind=step.kind,
            status=status,
            values=values,
            passed=passed,
            flags=tuple(flags),
            settings=settings if settings is not None else step.settings(),
            started_utc=self._progress.started_utc or finished,
            finished_utc=finished,
            attempt=attempt,
            calibration_kind=step.purpose if is_calibration and status == "done" else "",
            device=step.device,
            operator=self.operator,
            note=note,
        )
        self.results[step.id] = result
        self.attempts.append(result)
        self.actions.record_result(result)
        if step.kind == "acquisition" and step.purpose == "zero" and status == "done" and passed:
            self.actions.zero_plate(step.device, tuple(values["offsets_V"]))


def validate_entry(step: Step, values: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Check typed values against the step's fields; return the clean values and raised flags."""
    if not isinstance(values, Mapping):
        raise ProtocolError("values must be a mapping of field name to value", subject=step.id)
    known = {f.name for f in step.fields}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ProtocolError(
            f"'{unknown[0]}' is not a field of this entry",
            subject=f"step '{step.id}'",
            remedy=f"Fields: {', '.join(sorted(known))}.",
        )
    clean: dict[str, Any] = {}
    flags: list[str] = []
    for entry in step.fields:
        subject = f"step '{step.id}': {entry.label} ({entry.name})"
        value = values.get(entry.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if entry.required:
                raise ProtocolError("is required", subject=subject, remedy="Enter a value.")
            clean[entry.name] = None
            continue
        if entry.type == "number":
            try:
                number = float(value) if not isinstance(value, bool) else math.nan
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise ProtocolError(f"{value!r} is not a number", subject=subject)
            if not entry.min <= number <= entry.max:
                raise ProtocolError(
                    f"{number:g} {entry.unit} is outside {entry.min:g}–{entry.max:g} {entry.unit}",
                    subject=subject,
                    remedy="Check the reading and the unit.",
                )
            clean[entry.name] = number
            if (entry.flag_below is not None and number < entry.flag_below) or (
                entry.flag_above is not None and number > entry.flag_above
            ):
                flags.append(entry.flag)
        elif entry.type == "choice":
            if value not in entry.choices:
                raise ProtocolError(
                    f"{value!r} is not one of the options",
                    subject=subject,
                    remedy=f"Use one of: {', '.join(entry.choices)}.",
                )
            clean[entry.name] = value
            if value in entry.flag_values:
                flags.append(entry.flag)
        else:
            clean[entry.name] = str(value).strip()
    for rule in step.compare:
        a, b = clean.get(rule.a), clean.get(rule.b)
        if a is not None and b is not None and abs(a - b) > rule.max_difference:
            flags.append(rule.flag)
    return clean, tuple(dict.fromkeys(flags))
