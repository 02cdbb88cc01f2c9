"""The release check: build the PyInstaller bundle from this checkout, run it offscreen, record a
short simulated session with it and read the file back here with h5py.

Opt-in: a build takes 3-4 minutes per flavour on the 2-core development machine (measured figures
in docs/installing.md), too long for every CI run. Run it with

    MIDSTANCE_BUNDLE_TEST=1 .venv/bin/python -m pytest tests/installer/test_bundle.py

(``MIDSTANCE_BUNDLE_TEST=full`` or ``=without-vendor-sdks`` builds only that flavour).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from analysis.provenance import software_version
from app.cli import COMMANDS

SELECTED = os.environ.get("MIDSTANCE_BUNDLE_TEST", "")
FLAVOURS = {"full": False, "without-vendor-sdks": True}  # name -> without_vendor_sdks
MIB = 1024 * 1024
# Regression guards, ~15 % above the sizes measured on Linux x86_64 (docs/installing.md).
SIZE_BUDGET_MIB = {"full": 650, "without-vendor-sdks": 600}
DURATION_S = 3.0

pytestmark = pytest.mark.skipif(
    not SELECTED,
    reason="builds the PyInstaller bundle (3-4 min each); opt in with MIDSTANCE_BUNDLE_TEST=1",
)


def selected_flavours() -> list[str]:
    return list(FLAVOURS) if SELECTED in ("1", "all") else [SELECTED]


@pytest.mark.parametrize("flavour", selected_flavours() if SELECTED else list(FLAVOURS))
def test_bundle_builds_starts_offscreen_records_and_reports_its_version(
    flavour, build_module, smoke_module, tmp_path
):
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.fail('PyInstaller is missing: pip install -e ".[bundle]"')
    without_vendor_sdks = FLAVOURS[flavour]
    record = build_module.build(
        tmp_path / "dist", tmp_path / "work", without_vendor_sdks=without_vendor_sdks
    )
    bundle = Path(record["bundle"])
    result = smoke_module.smoke_check(bundle, tmp_path / "smoke", duration_s=DURATION_S)
    record["smoke"] = result.to_dict()
    build_module.print_record(record)  # the figures docs/installing.md records (pytest -s)

    # The version, as the development install reports it (from the bundled package metadata).
    assert result.version_line == f"midstance {software_version()}"
    assert result.version == software_version() != "0+unknown"
    # Optional vendor components: present in the full bundle, reported absent without them.
    assert result.components == {
        "nidaqmx": not without_vendor_sdks,
        "pypylon": not without_vendor_sdks,
    }
    # Lab configurations on this PC (no NI driver, no camera): refused in one sentence that shows
    # whether the bundled vendor package really loads (nidaqmx reaches the driver lookup, the pylon
    # runtime loads its transport layers and finds the emulated camera) or is absent.
    if without_vendor_sdks:
        assert "(nidaqmx) is not installed" in result.daq_refusal
        assert "pypylon is not installed" in result.camera_refusal
    else:
        assert "NI-DAQmx driver/runtime is not installed" in result.daq_refusal
        assert "cameras found: 0815-0000 (Emulation)" in result.camera_refusal

    # It recorded in real time, as the window does: the frozen program started its marker
    # tracking and force analysis worker processes, and they delivered stances with video metrics.
    assert result.stances_in_file >= 4
    assert result.stances_with_fppa >= 2

    # The session the bundle recorded, read here by the development h5py (an independent reader).
    with h5py.File(result.session_file, "r") as session:
        assert session.attrs["software_version"] == software_version()
        assert session.attrs["recording_state"] == "complete"
        analog = session["daq/analog"]
        volts = analog[:]
        rate = float(analog.attrs["rate_hz"])
        # How exactly `record --duration` counts is the recorder's business (2.65-3.6 s of 3 s
        # were measured today, in development and bundle alike); the bundle must record about it.
        assert 0.8 * DURATION_S * rate <= volts.shape[0] <= 1.5 * DURATION_S * rate
        assert volts.shape[1] == len(analog.attrs["channel_names"])
        assert np.isfinite(volts).all()
        # The frames went through the one HDF5 filter the bundle keeps (Blosc) and decode here.
        frames = session["cameras/sagittal/frames"]
        plist = frames.id.get_create_plist()
        filter_ids = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
        assert hdf5plugin.BLOSC_ID in filter_ids
        assert frames.shape[1:] == (480, 640)
        assert frames.shape[0] == session["cameras/sagittal/session_time"].shape[0] > 0
        assert frames[frames.shape[0] // 2].std() > 1.0  # a rendered runner, not an empty frame
    assert {"truth.json", "contact_sheet.png", "forces.png"} <= set(result.preview_files)
    if "screenshot" in COMMANDS:  # the window, rendered offscreen by the bundle
        assert result.commands == ["screenshot"] and result.screenshots

    # Lean: what the spec leaves out is really out.
    names = [path.name for path in bundle.rglob("*")]
    for left_out in ("WebEngine", "Qt6Quick", "Qt6Qml", "Qt63D", "Qt6Multimedia", "Qt6Pdf"):
        assert not [n for n in names if left_out in n], f"{left_out} is in the bundle"
    assert not [n for n in names if n.startswith("libh5") and not n.startswith("libh5blosc.")]
    assert not [n for n in names if "DataProcessing" in n or n.startswith("libPylonVTool")]
    contents = bundle / "_internal"
    vendor_files = {sdk for sdk in ("nidaqmx", "pypylon") if list(contents.glob(f"{sdk}*"))}
    assert vendor_files == (set() if without_vendor_sdks else {"nidaqmx", "pypylon"})
    if not without_vendor_sdks:  # pylon's own libusb, which PyInstaller's hook misses
        assert list((contents / "pypylon").glob("pylon-libusb*.so"))
    assert record["bundle_bytes"] < SIZE_BUDGET_MIB[flavour] * MIB
