"""``midstance calibration``: the calibration log, what is stale, and trends of check results."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "calibration",
        help="list the calibration log and what is stale; plot a check's trend",
        description="Lists every calibration and check in the log (user data folder) and which "
        "calibrations are stale under the staleness rules (calibration-rules.toml in the user "
        "data folder overrides the defaults). --trend KIND --out PNG plots one value over time.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--last", type=int, default=20, help="how many entries to list (20)")
    parser.add_argument("--trend", metavar="KIND", help="plot this kind's results over time")
    parser.add_argument("--value", help="which value to trend (default: the kind's main one)")
    parser.add_argument("--device", help="only this device")
    parser.add_argument("--out", metavar="PNG", help="where to write the trend plot")
    parser.add_argument(
        "--lens-change",
        metavar="CAMERA",
        help="record that CAMERA's lens was changed or refocused (needs --operator)",
    )
    parser.add_argument("--operator", help="who did it (for --lens-change)")
    return parser


def run(args: argparse.Namespace) -> int:
    from analysis.errors import InputError
    from data.calibration_log import CalibrationLog

    if args.last < 1:
        raise InputError(f"must be at least 1, not {args.last}", subject="calibration --last")
    log = CalibrationLog()
    if args.lens_change:
        entry = log.record(
            "lens-change",
            args.lens_change,
            args.operator or "",
            passed=True,
            note="recorded from the command line",
        )
        print(
            f"recorded lens change on {entry.device} by {entry.operator} "
            f"at {entry.time_utc:%Y-%m-%d %H:%M} UTC"
        )
        return 0
    if args.trend:
        if not args.out:
            raise InputError("needs --out FILE.png", subject="calibration --trend")
        series = log.trend(args.trend, args.value, args.device)
        if not series.values:
            raise InputError(
                f"the log has no '{series.value}' values for '{args.trend}'",
                subject=str(log.path),
                remedy="Run that check first, or name another value with --value.",
            )
        write_trend_png(series, args.out)
        print(f"wrote {args.out}: {len(series.values)} points of {series.kind} {series.value}")
        return 0
    entries = log.entries(device=args.device)
    stale = log.stale_items()
    if args.json:
        print(
            json.dumps(
                {
                    "log_file": str(log.path),
                    "entries": [e.to_dict() for e in entries[-args.last :]],
                    "stale": [s.to_dict() for s in stale],
                    "damaged_lines": log.damaged_lines,
                },
                indent=2,
            )
        )
        return 0
    print(f"calibration log: {log.path} ({len(entries)} entries)")
    for entry in entries[-args.last :]:
        verdict = "pass" if entry.passed else "FAIL"
        print(
            f"  {entry.time_utc:%Y-%m-%d %H:%M} UTC  {entry.kind:<18} {entry.device:<10} "
            f"{verdict:<4}  {entry.operator}"
        )
    if log.damaged_lines:
        lines = ", ".join(str(n) for n in log.damaged_lines)
        print(f"damaged lines skipped (a write was interrupted): {lines}")
    print("stale:" if stale else "nothing is stale")
    for item in stale:
        print(f"  {item.kind:<18} {item.device:<10} {item.reason}")
    return 0


def write_trend_png(series, path: str) -> None:
    """One value of one check over time; failed checks drawn as red crosses."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from analysis.errors import InputError

    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.add_subplot()
    times = list(series.times_utc)
    axes.plot(times, series.values, "-", color="0.6", linewidth=1)
    good = [(t, v) for t, v, p in zip(times, series.values, series.passed, strict=True) if p]
    bad = [(t, v) for t, v, p in zip(times, series.values, series.passed, strict=True) if not p]
    if good:
        axes.plot(*zip(*good, strict=True), "o", color="tab:green", label="pass")
    if bad:
        axes.plot(*zip(*bad, strict=True), "x", color="tab:red", markersize=9, label="fail")
    device = f" on {series.device}" if series.device else ""
    axes.set_title(f"{series.kind}{device}: {series.value}")
    axes.set_xlabel("date (UTC)")
    axes.set_ylabel(series.value)
    axes.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise InputError(f"cannot be written ({exc.strerror or exc})", subject=path) from None
