"""``midstance``: the command line. One module per subcommand in :mod:`app.commands`.

Errors a person can act on (:class:`~analysis.errors.MidstanceError`) are printed as one sentence
and mapped to an exit code; anything unexpected is written with its traceback to the log file in
the user's data folder and reported in one line that names that file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from analysis.errors import MidstanceError
from analysis.provenance import software_version

# The subcommands, in the order ``midstance --help`` lists them. Add a line when one lands.
COMMANDS: tuple[str, ...] = (
    "version",
    "calibrate",
    "inspect",
    "repair",
    "export",
    "sessions",
    "protocols",
    "calibration",
    "analyze",
    "simulate",
    "record",
    "sync-check",
    "report",
    "compare",
    "open",
    "gui",
    "screenshot",
)

EXIT_INTERNAL_ERROR = 70
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midstance",
        description="Midstance: running-injury assessment on an instrumented treadmill.",
    )
    parser.add_argument("--version", action="version", version=f"midstance {software_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"app.commands.{name.replace('-', '_')}")
        command_parser = module.add_parser(sub)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):  # plain `midstance` opens the live window
        args = parser.parse_args(["gui"])
    try:
        return int(args.run(args) or 0)
    except MidstanceError as exc:
        print(f"midstance: {exc.sentence()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("midstance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        words = argv if argv is not None else sys.argv[1:]
        log_path = log_exception(f"midstance {' '.join(words)}")
        print(
            f"midstance: an internal error stopped the command; details were written to {log_path}."
            " Please send that file to your Midstance support contact.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def log_exception(context: str) -> str:
    """Append the current exception with its traceback to the user's log file; return its path."""
    from data.paths import logs_dir

    path = logs_dir() / "midstance.log"
    logger = logging.getLogger("midstance.crash")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        logger.exception("unexpected error in %s", context)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return str(path)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
