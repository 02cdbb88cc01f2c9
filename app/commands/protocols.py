"""``midstance protocols``: list the procedure library, show one procedure, or check a file."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "protocols",
        help="list the lab procedures, show one, or check a procedure file",
        description="Procedures come from the built-in library and then the user's folder "
        "(<user data folder>/protocols). 'show NAME' prints a procedure's steps; "
        "'check FILE' validates a procedure file and names the line, step and field at fault; "
        "'run NAME --simulate' runs a procedure on the simulated lab (or --config FILE).",
    )
    parser.add_argument(
        "action", nargs="?", choices=("list", "show", "check", "run"), default="list"
    )
    parser.add_argument("target", nargs="?", help="procedure name (show) or .toml file (check)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    from app.commands.run_protocol import add_arguments

    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from analysis.errors import InputError
    from protocols.loader import find_procedure, library_folders, load_procedure, scan_library

    if args.action in ("show", "check", "run") and not args.target:
        what = "a .toml file" if args.action == "check" else "a procedure name"
        raise InputError(f"needs {what}", subject=f"protocols {args.action}")
    if args.action == "run":
        from app.commands.run_protocol import run as run_procedure

        return run_procedure(args)
    if args.action == "check":
        procedure = load_procedure(args.target)
        print(
            f"{args.target}: valid procedure '{procedure.name}' {procedure.version}, "
            f"{len(procedure.steps)} steps"
        )
        return 0
    if args.action == "show":
        procedure = find_procedure(args.target)
        if args.json:
            print(json.dumps(_procedure_dict(procedure), indent=2))
        else:
            print(_describe(procedure))
        return 0
    found, problems = scan_library()
    if args.json:
        print(
            json.dumps(
                {
                    "folders": [str(f) for f in library_folders()],
                    "procedures": [
                        {
                            **p.identity(),
                            "title": p.title,
                            "audience": p.audience,
                            "steps": len(p.steps),
                        }
                        for p in found.values()
                    ],
                    "problems": [vars(p) for p in problems],
                },
                indent=2,
            )
        )
        return 0
    width = max((len(name) for name in found), default=10)
    for name, procedure in sorted(found.items()):
        print(f"{name:<{width}}  {procedure.version:<5} {procedure.audience:<10} {procedure.title}")
    print(f"\nfolders: {', '.join(str(f) for f in library_folders())}")
    for problem in problems:
        print(f"not loaded: {problem.problem}")
    return 1 if problems else 0


def _procedure_dict(procedure: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        **procedure.identity(),
        "title": procedure.title,
        "audience": procedure.audience,
        "description": procedure.description,
        "steps": [asdict(step) for step in procedure.steps],
    }


def _describe(procedure: Any) -> str:
    lines = [
        f"{procedure.title} ({procedure.name} {procedure.version}, {procedure.audience})",
        f"source: {procedure.source}",
        procedure.description,
        "",
    ]
    for number, step in enumerate(procedure.steps, start=1):
        optional = " (optional)" if step.optional else ""
        lines.append(f"{number:>2}. [{step.kind}] {step.title}{optional}")
        detail = _step_detail(step)
        if detail:
            lines.append(f"      {detail}")
    return "\n".join(lines)


def _step_detail(step: Any) -> str:
    if step.kind == "setup":
        parts = []
        if step.speed_m_s is not None:
            parts.append(f"speed {step.speed_m_s:g} m/s")
        if step.speed_from:
            offset = f" {step.speed_offset_m_s:+g} m/s" if step.speed_offset_m_s else ""
            parts.append(f"speed = {step.speed_from}{offset}")
        if step.incline_percent is not None:
            parts.append(f"incline {step.incline_percent:g} %")
        if step.cameras:
            parts.append(f"cameras {', '.join(step.cameras)}")
        return "; ".join(parts)
    if step.kind == "acquisition":
        amount = (
            f"{step.duration_s:g} s"
            if step.duration_s is not None
            else f"{step.steps_per_side} steps per side"
        )
        parts = [step.purpose, amount]
        if step.min_duration_s:
            parts.append(f"at least {step.min_duration_s:g} s")
        if step.side:
            parts.append(f"side {step.side}")
        if step.device:
            parts.append(f"device {step.device}")
        if step.placements:
            parts.append(f"{len(step.placements)} placements")
        if step.parameters:
            parts.append(", ".join(f"{k} = {v:g}" for k, v in step.parameters.items()))
        return "; ".join(parts)
    if step.kind == "check":
        override = "; may be overridden with a reason" if step.may_override else ""
        return f"{step.condition}: {', '.join(step.kinds)}{override}"
    if step.kind == "entry":
        described = []
        for f in step.fields:
            if f.type == "number":
                text = f"{f.name} [{f.min:g}–{f.max:g} {f.unit}]"
            elif f.type == "choice":
                text = f"{f.name} ({'/'.join(f.choices)})"
            else:
                text = f.name
            if not f.required:
                text += " optional"
            rules = []
            if f.flag_below is not None:
                rules.append(f"< {f.flag_below:g}")
            if f.flag_above is not None:
                rules.append(f"> {f.flag_above:g}")
            if f.flag_values:
                rules.append(" or ".join(f.flag_values))
            if rules:
                text += f" (flag {f.flag} if {' or '.join(rules)})"
            described.append(text)
        for rule in step.compare:
            text = f"flag {rule.flag} if |{rule.a} − {rule.b}| > {rule.max_difference:g}"
            described.append(f"{text}: {rule.why}" if rule.why else text)
        return "\n      ".join(described)
    if step.kind == "comparison":
        return f"longest of {', '.join(step.segments)}; windows {step.window_s:g} s"
    if step.kind == "mark":
        return f"mark '{step.label}'"
    return ""
