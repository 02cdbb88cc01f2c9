"""The installer's platform files agree with the bundle and with the app: names, the session file
suffix, Basler's USB vendor id, and the files each script refers to. These run in the normal suite
(no build); the bundle itself is tested in test_bundle.py (opt-in)."""

from __future__ import annotations

import configparser
import fnmatch
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.cli import COMMANDS
from data.library import new_session_path
from data.session_schema import FILE_SUFFIX

BASLER_USB_VENDOR_ID = "2676"


DESKTOP_FILES = ("midstance.desktop", "midstance-open.desktop")
MIME_NAMESPACE = "{http://www.freedesktop.org/standards/shared-mime-info}"


def desktop_entry(installer_dir: Path, name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(installer_dir / "linux" / name, encoding="utf-8")
    return parser["Desktop Entry"]


def launcher_subcommands(installer_dir: Path) -> dict[str, str]:
    """The ``midstance`` subcommand each desktop entry and Windows shortcut runs."""
    found = {name: desktop_entry(installer_dir, name)["Exec"].split()[1] for name in DESKTOP_FILES}
    for line in iss_section(installer_dir, "Icons") + iss_section(installer_dir, "Run"):
        match = re.search(r'Filename: "\{app\}\\\{#GuiExe\}"; Parameters: "(\w+)"', line)
        if match:
            found[line.split(";")[0]] = match.group(1)
    (command,) = [
        line for line in iss_section(installer_dir, "Registry") if "open\\command" in line
    ]
    match = re.search(r'ValueData: """\{app\}\\\{#GuiExe\}"" (\S+) ""%1"""', command)
    assert match is not None, command
    found["file association"] = match.group(1)
    return found


def spec_executable_names(installer_dir: Path) -> set[str]:
    spec = (installer_dir / "midstance.spec").read_text(encoding="utf-8")
    return set(re.findall(r'EXE\(.*?name="([^"]+)"', spec, flags=re.S))


def iss_defines(installer_dir: Path) -> dict[str, str]:
    text = (installer_dir / "windows" / "midstance.iss").read_text(encoding="utf-8")
    return dict(re.findall(r'^#define (\w+) "([^"]*)"', text, flags=re.M))


def iss_section(installer_dir: Path, name: str) -> list[str]:
    text = (installer_dir / "windows" / "midstance.iss").read_text(encoding="utf-8")
    body = text.split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]
    return [line for line in body.splitlines() if line.strip() and not line.startswith(";")]


def test_desktop_entries_launch_the_bundled_program(installer_dir):
    mime = ET.parse(installer_dir / "linux" / "midstance-session.xml").getroot()
    declared = [node.get("type") for node in mime.iter(f"{MIME_NAMESPACE}mime-type")]
    for name in DESKTOP_FILES:
        entry = desktop_entry(installer_dir, name)
        assert entry["Type"] == "Application"
        assert entry["Exec"].split()[0] == "midstance" == entry["TryExec"]
        assert entry["Terminal"] == "false"
        assert (installer_dir / "icons" / f"{entry['Icon']}.svg").is_file()
        for key in ("Categories", "MimeType"):
            assert entry.get(key, ";").endswith(";"), f"{name}: {key} is a list; end it with ';'"
    assert "midstance" in spec_executable_names(installer_dir)
    # Only the hidden "open" entry takes files, so the menu entry never gets an empty argument.
    opener = desktop_entry(installer_dir, "midstance-open.desktop")
    assert opener["Exec"].split()[2:] == ["%f"] and opener["NoDisplay"] == "true"
    assert opener["MimeType"].rstrip(";").split(";") == declared
    assert "MimeType" not in desktop_entry(installer_dir, "midstance.desktop")


def test_every_launcher_runs_a_command_the_cli_has(installer_dir):
    used = launcher_subcommands(installer_dir)
    assert set(used.values()) == {"gui", "open"}
    missing = sorted({command for command in used.values() if command not in COMMANDS})
    if missing:
        pytest.skip(f"the launchers call {missing}, which have not landed in app.cli yet")
    assert set(used.values()) <= set(COMMANDS)


def test_session_mime_glob_matches_the_files_the_library_writes(installer_dir, tmp_path):
    mime = ET.parse(installer_dir / "linux" / "midstance-session.xml").getroot()
    (glob,) = [node.get("pattern") for node in mime.iter(f"{MIME_NAMESPACE}glob")]
    assert glob == f"*{FILE_SUFFIX}"
    session = new_session_path("S01", "running-assessment", root=tmp_path)
    assert fnmatch.fnmatch(session.name, glob)
    assert not fnmatch.fnmatch("trial.h5", glob)  # other HDF5 files keep their own program


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_desktop_entry_passes_desktop_file_validate(installer_dir):
    done = subprocess.run(
        ["desktop-file-validate", *(str(installer_dir / "linux" / n) for n in DESKTOP_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_udev_rule_grants_access_to_basler_usb_devices_only(installer_dir):
    lines = [
        line
        for line in (installer_dir / "linux" / "69-midstance-usb3vision.rules")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1
    pairs = re.findall(r'([A-Z]+(?:\{\w+\})?)\s*(==|\+=|=)\s*"([^"]*)"', lines[0])
    assert ", ".join(f'{key}{op}"{value}"' for key, op, value in pairs) == lines[0]
    matches = {key: value for key, op, value in pairs if op == "=="}
    assert matches == {"SUBSYSTEM": "usb", "ATTR{idVendor}": BASLER_USB_VENDOR_ID}
    assignments = {key: value for key, op, value in pairs if op != "=="}
    assert assignments["MODE"] == "0664"  # not world-writable
    assert assignments["TAG"] == "uaccess"


def test_inno_setup_script_matches_the_bundle_and_the_app(installer_dir, build_module):
    defines = iss_defines(installer_dir)
    windows = installer_dir / "windows"
    bundle = (windows / defines["BundleDir"].replace("\\", "/")).resolve()
    assert bundle == build_module.ROOT / "dist" / build_module.BUNDLE_NAME
    assert {defines["GuiExe"], defines["CliExe"]} == {
        f"{name}.exe" for name in spec_executable_names(installer_dir)
    }
    setup = dict(line.split("=", 1) for line in iss_section(installer_dir, "Setup"))
    for key in ("SetupIconFile", "InfoAfterFile"):
        assert (windows / setup[key]).is_file(), f"{key}={setup[key]} is missing"
    assert setup["ArchitecturesAllowed"] == setup["ArchitecturesInstallIn64BitMode"]
    assert setup["ChangesAssociations"] == "yes"
    # The association: Windows sees *.midstance.h5 as ".h5", so Midstance is offered, not forced.
    assert FILE_SUFFIX.endswith(defines["SessionExt"])
    registry = iss_section(installer_dir, "Registry")
    assert any("OpenWithProgids" in line for line in registry)
    assert not any(f'Subkey: "Software\\Classes\\{defines["SessionExt"]}";' in r for r in registry)


def test_icons_are_square_pngs_and_a_windows_ico_with_large_sizes(installer_dir):
    png = (installer_dir / "icons" / "midstance.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (256, 256)
    ico = (installer_dir / "windows" / "midstance.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1)
    sizes = {ico[6 + 16 * i] or 256 for i in range(count)}  # a width byte of 0 means 256
    assert {16, 32, 48, 256} <= sizes


def test_build_report_groups_space_by_owning_package(build_module, tmp_path):
    contents = tmp_path / "midstance" / "_internal"
    files = {
        "cv2/cv2.abi3.so": 100,
        "opencv_python_headless.libs/libavcodec.so": 50,
        "scipy/linalg/_flapack.so": 5,
        "scipy.libs/libopenblas.so": 30,
        "libpython3.11.so.1.0": 7,
    }
    for name, size in files.items():
        (contents / name).parent.mkdir(parents=True, exist_ok=True)
        (contents / name).write_bytes(b"x" * size)
    (tmp_path / "midstance" / "midstance").write_bytes(b"x" * 3)
    assert build_module.space_by_component(tmp_path / "midstance") == [
        ("cv2", 100),
        ("opencv_python_headless", 50),
        ("scipy", 35),
        ("libpython3.11.so.1.0", 7),
    ]
    assert build_module.folder_bytes(tmp_path / "midstance") == 195


def test_bundle_keeps_every_hdf5_filter_the_session_writer_uses(installer_dir):
    import ast

    import hdf5plugin

    from data.video_codecs import blosc_lossless_filter, blosc_padding_filter

    spec = (installer_dir / "midstance.spec").read_text(encoding="utf-8")
    kept = ast.literal_eval(re.search(r"^HDF5_FILTERS_KEPT = (.+)$", spec, flags=re.M).group(1))
    name_of = {filter_id: name for name, filter_id in hdf5plugin.FILTERS.items()}
    used = {
        name_of[codec()["compression"]] for codec in (blosc_lossless_filter, blosc_padding_filter)
    }
    assert used == {"blosc"}
    assert used <= set(kept)
