"""Smoke check of a built bundle: the frozen ``midstance`` starts, reports its version and optional
components, and records (or, without ``record``, simulates) a short session into a folder.

Run by ``installer/build.py --smoke`` and by ``tests/installer/test_bundle.py``; it uses nothing
but the standard library so it can run beside any bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

COMMAND_TIMEOUT_S = 600
# Subcommands the check uses only when the bundle has them (the window's offscreen screenshots).
OPTIONAL_STEPS = ("screenshot",)


class SmokeFailure(RuntimeError):
    """The bundle did not do what the smoke check asked; the message holds its output."""


@dataclass
class SmokeResult:
    version_line: str
    version: str
    components: dict[str, bool]
    commands: list[str]
    session_file: str | None = None
    session_bytes: int = 0
    preview_files: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    stances_in_file: int = 0
    stances_with_fppa: int = 0  # live video metrics: computed in the analysis worker processes
    daq_refusal: str = ""
    camera_refusal: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def executable(bundle_dir: Path) -> Path:
    """The console executable inside a one-folder bundle."""
    name = "midstance.exe" if sys.platform == "win32" else "midstance"
    return Path(bundle_dir) / name


def bundle_environment(data_dir: Path) -> dict[str, str]:
    """The environment the bundle runs in: offscreen Qt, its own user data folder."""
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["MIDSTANCE_DATA_DIR"] = str(data_dir)
    env["MPLCONFIGDIR"] = str(Path(data_dir) / "matplotlib")
    # Nothing from a development checkout may leak into the frozen program.
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def run_bundle(
    bundle_dir: Path, args: list[str], env: dict[str, str], cwd: Path
) -> tuple[str, float]:
    """Run one command of the bundle; its stdout and the seconds it took. Fails on non-zero exit."""
    command = [str(executable(bundle_dir)), *args]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SmokeFailure(
            f"`{' '.join(command)}` exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done.stdout, seconds


# The NI-DAQmx + Basler example of docs/ni-daqmx.md, trimmed to what a probe needs: the NI DAQ is
# probed first, so the refusal is about NI-DAQmx.
DAQ_CONFIG = """
[sync]
mode = "hardware"

[daq]
name = "force"
kind = "nidaqmx"
rate_hz = 2000
device = "Dev1"

[[daq.channels]]
name = "belt.Fz"
physical = "ai2"

[daq.camera_trigger]
counter = "ctr0"
terminal = "PFI12"
frame_rate_hz = 250

[[cameras]]
name = "sagittal"
kind = "basler"
view = "sagittal"
rate_hz = 250
serial = "40012345"
"""
# The simulated DAQ with a Basler camera, run with pylon's camera emulator switched on: the
# refusal names the emulated camera it found instead (so the bundled pylon runtime really loads
# its transport layers), or says that pypylon is absent.
CAMERA_CONFIG = """
[sync]
mode = "software"

[daq]
name = "force"
kind = "sim.daq"
rate_hz = 2000

[[cameras]]
name = "sagittal"
kind = "basler"
view = "sagittal"
rate_hz = 100
serial = "40012345"
"""
EXIT_INTERNAL_ERROR = 70  # app.cli: an unexpected exception (a crash with a log entry)


def hardware_refusal(
    bundle_dir: Path, env: dict[str, str], cwd: Path, name: str, config_text: str
) -> str:
    """Record with a lab configuration whose hardware is not here; the error sentence.

    Whether the vendor package is bundled (and its driver or device is missing) or left out, the
    bundle must refuse with a sentence naming the device and what to do (the exit code of a
    MidstanceError), never crash.
    """
    config = Path(cwd) / f"{name}.toml"
    config.write_text(config_text, encoding="utf-8")
    command = [str(executable(bundle_dir)), "record", "--config", str(config), "--duration", "1"]
    command += ["--out", str(Path(cwd) / f"{name}.midstance.h5")]
    done = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    # Vendor runtimes may print their own lines first; the app's sentence is the last line.
    lines = done.stderr.strip().splitlines()
    sentence = lines[-1] if lines else ""
    if done.returncode in (0, EXIT_INTERNAL_ERROR) or not sentence.startswith("midstance: "):
        raise SmokeFailure(
            f"`{' '.join(command)}` without the lab's hardware exited {done.returncode}; "
            f"expected a one-sentence refusal\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return sentence


def has_command(bundle_dir: Path, name: str, env: dict[str, str], cwd: Path) -> bool:
    """Whether the bundle has subcommand ``name`` (``midstance NAME --help`` exits 0)."""
    done = subprocess.run(
        [str(executable(bundle_dir)), name, "--help"],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return done.returncode == 0


def smoke_check(bundle_dir: Path, work_dir: Path, *, duration_s: float = 3.0) -> SmokeResult:
    """Exercise the bundle in ``work_dir`` (its user data folder and outputs go there)."""
    work_dir = Path(work_dir)
    data_dir = work_dir / "user-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = bundle_environment(data_dir)
    seconds: dict[str, float] = {}

    version_line, seconds["--version"] = run_bundle(bundle_dir, ["--version"], env, work_dir)
    version_json, seconds["version"] = run_bundle(bundle_dir, ["version", "--json"], env, work_dir)
    report = json.loads(version_json)
    commands = [name for name in OPTIONAL_STEPS if has_command(bundle_dir, name, env, work_dir)]
    result = SmokeResult(
        version_line=version_line.strip(),
        version=report["version"],
        components=report["components"],
        commands=commands,
        seconds=seconds,
    )

    # A short simulated session recorded to a file in real time, as the window records: the
    # marker tracking and force analysis run in worker processes, which a frozen program must
    # be able to start (multiprocessing's forkserver or spawn re-enters the bundle's executable).
    session = work_dir / "x.midstance.h5"
    record_json, seconds["record"] = run_bundle(
        bundle_dir,
        [
            *("record", "--simulate", "--duration", f"{duration_s:g}", "--out", str(session)),
            "--json",
        ],
        env,
        work_dir,
    )
    if not session.is_file():
        raise SmokeFailure(f"`midstance record` exited 0 but wrote no file at {session}")
    recorded = json.loads(record_json)
    result.stances_in_file = int(recorded["stances_in_file"])
    result.stances_with_fppa = sum(
        int(side["fppa_midstance_deg"]["n"]) for side in recorded["summary"].values()
    )
    result.session_file = str(session)
    result.session_bytes = session.stat().st_size
    _, seconds["inspect"] = run_bundle(
        bundle_dir, ["inspect", "--json", str(session)], env, work_dir
    )

    # Lab configurations on a PC without the vendor drivers or devices: one sentence, no crash.
    result.daq_refusal = hardware_refusal(bundle_dir, env, work_dir, "daq", DAQ_CONFIG)
    emulator = {**env, "PYLON_CAMEMU": "1"}
    result.camera_refusal = hardware_refusal(
        bundle_dir, emulator, work_dir, "camera", CAMERA_CONFIG
    )

    if "screenshot" in commands:
        # The window itself, offscreen, on the simulated lab: proves the Qt plugins are bundled.
        shots = work_dir / "screenshots"
        _, seconds["screenshot"] = run_bundle(
            bundle_dir, ["screenshot", "--out", str(shots)], env, work_dir
        )
        result.screenshots = sorted(p.name for p in shots.glob("*.png"))
        if not result.screenshots:
            raise SmokeFailure(f"`midstance screenshot` exited 0 but wrote no PNG into {shots}")

    preview = work_dir / "sim-preview"
    _, seconds["simulate"] = run_bundle(
        bundle_dir,
        [
            *("simulate", "--preset", "overstrider", "--duration", f"{duration_s:g}"),
            *("--out", str(preview)),
        ],
        env,
        work_dir,
    )
    result.preview_files = sorted(p.name for p in preview.iterdir())
    if not result.preview_files:
        raise SmokeFailure(f"`midstance simulate` exited 0 but wrote nothing into {preview}")
    return result


if __name__ == "__main__":
    bundle, work = (Path(arg) for arg in sys.argv[1:3])
    print(json.dumps(smoke_check(bundle, work).to_dict(), indent=2))
