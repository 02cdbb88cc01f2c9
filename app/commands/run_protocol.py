"""``midstance protocols run NAME``: walk a procedure through the session controller.

Non-interactive (``--answers FILE.toml``, or stdin is not a terminal): instructions and set-ups
are accepted automatically (each acceptance is printed and kept in the run record as a runner
event), entries come from the answers file, optional steps are skipped unless the answers list
them, and a blocked check stops the run unless the answers give a reason to override it. On a
terminal without ``--answers`` the operator is asked at every step. Each acquisition is its own
session file (see :mod:`app.lab_actions`); technician results go to the calibration log.

Answers file::

    [entries.runner]            # entry step id -> field values
    speed_m_s = 3.2
    [optional]
    run = ["speed-step-1"]      # optional steps (or groups) to run; the others are skipped
    [overrides]
    calibration = "zeroed at 07:50, log on the other PC"   # blocked check -> reason
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import sys
from pathlib import Path
from typing import Any

# the simulated lab runs this much longer than all acquisitions together: at pace "fast" it also
# streams (faster than real time) while the operator reads, types and the files are closed
SIM_MARGIN_S = 600.0
SIM_FRAME_SIZE = (320, 240)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``protocols run`` (added to the ``protocols`` parser)."""
    group = parser.add_argument_group("run")
    group.add_argument("--simulate", action="store_true", help="run on the simulated lab")
    group.add_argument("--config", type=Path, metavar="FILE", help="hardware configuration")
    group.add_argument("--preset", default="healthy", help="simulated runner (default healthy)")
    group.add_argument("--seed", type=int, default=1, help="simulated lab seed")
    group.add_argument(
        "--pace", choices=("realtime", "fast"), default="realtime", help="simulated lab pace"
    )
    group.add_argument("--answers", type=Path, metavar="FILE", help="answers (TOML): see --help")
    group.add_argument(
        "--max-duration",
        type=float,
        metavar="S",
        help="cap every acquisition at S seconds (short runs; stored as duration_cap_s and "
        "flagged when below a step's minimum)",
    )
    group.add_argument(
        "--trigger-delay-ms",
        type=float,
        default=0.0,
        help="simulated lab: a camera trigger delay the configuration does not know (0-10 ms)",
    )
    group.add_argument(
        "--inject-gain-error",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="simulated lab: the configured plate matrix's Fz row is off by this fraction "
        "(0.03: Fz reads 3 %% high; the simulated plate stays right) — the known-mass check "
        "must catch it",
    )
    group.add_argument(
        "--inject-origin-bias-mm",
        type=float,
        default=0.0,
        metavar="MM",
        help="simulated lab: the configured plate origin is this far forward (+x) of the true "
        "one, so every COP is biased by it — the COP pointer check must catch it",
    )
    group.add_argument("--folder", type=Path, help="where the session files go (default library)")
    group.add_argument("--operator", default="", help="who runs the procedure")
    group.add_argument("--no-log", action="store_true", help="do not write the calibration log")


def run(args: argparse.Namespace) -> int:
    from analysis.errors import InputError
    from app.lab_actions import ControllerLabActions
    from app.session_controller import SessionController
    from data.calibration_log import CalibrationLog
    from protocols.loader import find_procedure
    from protocols.runner import Runner, State

    procedure = find_procedure(args.target)
    answers = load_answers(args.answers) if args.answers else None
    interactive = answers is None and sys.stdin.isatty()
    answers = answers or {}
    if args.max_duration is not None and not (
        math.isfinite(args.max_duration) and args.max_duration >= 0.5
    ):
        raise InputError(f"{args.max_duration} s is too short", subject="--max-duration")
    config = build_config(args, procedure)
    simulated = config.simulated
    pace = args.pace if simulated else "realtime"
    controller = SessionController(config, pace=pace)
    finished: queue.Queue = queue.Queue()
    log = None if args.no_log else CalibrationLog()
    operator = args.operator or ("simulation" if simulated else "")
    actions = ControllerLabActions(
        controller,
        procedure,
        on_finished=finished.put,
        log=log,
        max_duration_s=args.max_duration,
        folder=args.folder,
    )
    runner = Runner(procedure, actions, operator=operator)
    actions.bind(runner)
    say = (lambda text: None) if args.json else print
    try:
        controller.connect()
        runner.begin()
        walk(runner, actions, finished, answers, interactive=interactive, say=say)
    except KeyboardInterrupt:
        if runner.state not in (State.COMPLETED, State.ABORTED):
            runner.abort("interrupted by the operator")
    finally:
        files = actions.finish()
        controller.close()
    record = actions.run_record()
    if args.json:
        print(json.dumps(record, default=str, allow_nan=True))
    else:
        print(describe(runner, files))
    failed = [r for r in runner.results.values() if r.passed is False]
    return 0 if runner.state is State.COMPLETED and not failed else 1


def walk(runner, actions, finished: queue.Queue, answers: dict, *, interactive: bool, say) -> None:
    """Drive the runner to its end, like an operator following ``answers`` (or prompts)."""
    from protocols.runner import State

    run_optional = set(answers.get("optional", {}).get("run", []))
    overrides = answers.get("overrides", {})
    entries = answers.get("entries", {})
    while runner.state not in (State.COMPLETED, State.ABORTED):
        step = runner.current_step
        if runner.state is State.ACQUIRING:
            result = finished.get()
            if runner.state is State.ACQUIRING:
                runner.acquisition_finished(result)
                done = runner.results.get(step.id)
                if done is not None and done.step_id == step.id:
                    say(f"  {step.id}: {_brief(done)}")
            continue
        if runner.state is State.BLOCKED:
            say(f"[{step.id}] check not met: {runner.check_detail}")
            reason = overrides.get(step.id, "")
            if interactive and step.may_override:
                reason = input("Reason to continue anyway (empty: abort): ").strip()
            if reason and step.may_override:
                runner.override(reason)
                say(f"  overridden: {reason}")
            else:
                runner.abort(f"check '{step.id}' not met: {runner.check_detail}")
            continue
        say(f"[{step.id}] {step.title}")
        if step.optional:
            wanted = step.id in run_optional or (step.group and step.group in run_optional)
            if interactive:
                wanted = input("  Optional: run it? [y/N] ").strip().lower() == "y"
            if not wanted:
                runner.skip()
                say("  skipped (optional)")
                continue
        if step.kind == "entry":
            runner.submit(_entry_values(step, entries.get(step.id, {}), interactive))
        elif step.kind == "acquisition":
            duration = actions.duration_of(_request_of(step))
            if interactive:
                input(f"  {step.text or step.title}\n  Enter to start recording ")
            say(f"  recording {duration:g} s" if duration else "  recording")
            runner.next()
        else:
            if interactive:
                input(f"  {step.text or step.title}\n  Enter to confirm ")
            else:
                note = f"step '{step.id}' accepted automatically (non-interactive run)"
                actions.notes.append(note)
                say(f"  {note}")
            runner.next()


def _request_of(step):
    from protocols.actions import AcquisitionRequest

    return AcquisitionRequest(step_id=step.id, purpose=step.purpose, duration_s=step.duration_s)


def _entry_values(step, given: dict, interactive: bool) -> dict[str, Any]:
    from protocols.model import ProtocolError

    if not interactive:
        missing = [f.name for f in step.fields if f.required and f.name not in given]
        if missing:
            raise ProtocolError(
                f"the answers give no '{missing[0]}'",
                subject=f"step '{step.id}'",
                remedy=f"Add [entries.{step.id}] {missing[0]} = ... to the answers file.",
            )
        return dict(given)
    values = {}
    for field in step.fields:
        unit = f" [{field.unit}]" if field.unit else ""
        span = f" ({field.min:g}–{field.max:g})" if field.type == "number" else ""
        options = f" ({'/'.join(field.choices)})" if field.choices else ""
        values[field.name] = input(f"  {field.label}{unit}{span}{options}: ").strip() or None
    return values


def load_answers(path: Path) -> dict[str, Any]:
    import tomllib

    from analysis.errors import InputError

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read it ({exc})", subject=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"is not valid TOML ({exc})", subject=str(path)) from exc
    unknown = sorted(set(data) - {"entries", "optional", "overrides"})
    if unknown:
        raise InputError(
            f"has an unknown table [{unknown[0]}]",
            subject=str(path),
            remedy="Use [entries.STEP], [optional] run = [...], [overrides] STEP = 'reason'.",
        )
    return data


def build_config(args: argparse.Namespace, procedure):
    """The simulated lab long enough for every acquisition of the procedure, or a hardware one."""
    from analysis.errors import InputError
    from app.lab_actions import PLATE_PURPOSES
    from drivers.config import load_config, parse_config

    injected = args.inject_gain_error or args.inject_origin_bias_mm
    if args.config is not None and injected:
        raise InputError(
            "injects faults only into the simulated lab's configuration",
            subject="--inject-gain-error / --inject-origin-bias-mm",
            remedy="Use them with --simulate.",
        )
    if not -0.5 < args.inject_gain_error < 0.5:
        raise InputError(f"{args.inject_gain_error} is outside ±0.5", subject="--inject-gain-error")
    if not -100 <= args.inject_origin_bias_mm <= 100:
        raise InputError(
            f"{args.inject_origin_bias_mm} mm is outside ±100 mm", subject="--inject-origin-bias-mm"
        )
    if args.config is not None:
        config = load_config(args.config)
        if not config.simulated and args.pace == "fast":
            raise InputError("real devices run in real time", subject="--pace fast")
        return config
    if not args.simulate:
        raise InputError(
            "needs a lab", subject="protocols run", remedy="Give --simulate or --config FILE."
        )
    if not 0 <= args.trigger_delay_ms <= 10:
        raise InputError(
            f"{args.trigger_delay_ms} ms is outside 0–10 ms", subject="--trigger-delay-ms"
        )
    total = 0.0
    for step in procedure.steps:
        if step.kind == "acquisition":
            seconds = step.duration_s or 120.0
            if args.max_duration is not None:
                seconds = min(seconds, args.max_duration)
            total += (seconds + 2.0) * max(1, len(step.placements))
    # plate-only procedures run on a lab without cameras (rendering frames would only cost time)
    plate_only = all(
        step.kind != "acquisition" or step.purpose in PLATE_PURPOSES for step in procedure.steps
    )
    views = () if plate_only else ("sagittal", "posterior")
    width, height = SIM_FRAME_SIZE
    raw = {
        "lab": {"name": "Simulated lab", "treadmill": "single-belt"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            # the configured trigger delay is 0: an injected one is what a sync check must find
            {
                "name": view,
                "kind": "sim.camera",
                "view": view,
                "rate_hz": 250.0,
                "trigger_delay_s": 0.0,
            }
            for view in views
        ],
        "simulation": {
            "preset": args.preset,
            "seed": args.seed,
            "duration_s": total + SIM_MARGIN_S,
            "setup": {
                "image_width": width,
                "image_height": height,
                "trigger_delay_s": args.trigger_delay_ms * 1e-3,
            },
        },
    }
    if injected:
        from drivers.sim.plates import plate_layout
        from drivers.sim.static_loads import faulty_plates

        raw["plates"] = faulty_plates(  # the lab's configured plates, wrong; the simulator's right
            plate_layout(raw["lab"]["treadmill"]),
            gain_error=args.inject_gain_error,
            origin_bias_m=(args.inject_origin_bias_mm * 1e-3, 0.0),
        )
    return parse_config(raw, source="--simulate")


def _brief(result) -> str:
    verdict = {True: "passed", False: "FAILED", None: "done"}[result.passed]
    flags = f" ({', '.join(result.flags)})" if result.flags else ""
    error = result.values.get("error")
    return f"{verdict}{flags}" + (f": {error}" if error else "")


def describe(runner, files: list[Path]) -> str:
    lines = [f"{runner.procedure.name} {runner.procedure.version}: {runner.state}"]
    if runner.abort_reason:
        lines.append(f"  stopped: {runner.abort_reason}")
    for result in runner.results.values():
        lines.append(f"  {result.step_id:<24} {result.status:<10} {_brief(result)}")
    for path in files:
        lines.append(f"  file: {path}")
    return "\n".join(lines)
