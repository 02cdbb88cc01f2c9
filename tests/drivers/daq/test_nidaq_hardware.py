"""On a real NI DAQ (opt in with --hardware): the driver contract on the device.

Set MIDSTANCE_NIDAQ_DEVICE to the NI MAX name (default Dev1). Skipped when the NI runtime or the
device is absent; a device that is present but fails is a failure. Analog inputs ai0 and ai1 are
read single-ended; nothing needs to be wired for the contract itself.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from drivers.base import HealthStatus
from drivers.contract import exercise_device
from drivers.daq.nidaq import NidaqDaq

pytestmark = pytest.mark.hardware


@pytest.fixture
def real_device_settings() -> dict:
    device = os.environ.get("MIDSTANCE_NIDAQ_DEVICE", "Dev1")
    settings = {
        "name": "force",
        "kind": "nidaqmx",
        "rate_hz": 2000,
        "device": device,
        "terminal": "rse",
        "channels": [{"name": "a", "physical": "ai0"}, {"name": "b", "physical": "ai1"}],
    }
    health = NidaqDaq.probe("force", settings)
    if health.status in (HealthStatus.SDK_MISSING, HealthStatus.DRIVER_MISSING):
        pytest.skip(f"NI-DAQmx not installed: {health.reason}")
    if health.status is HealthStatus.ABSENT:
        pytest.skip(f"no NI device: {health.reason}")
    assert health.available, f"{health.reason} {health.remedy}"
    return settings


def test_two_seconds_arrive_complete_on_the_device(real_device_settings):
    report = exercise_device(NidaqDaq("force", real_device_settings), 4000, chunk_items=200)
    np.testing.assert_array_equal(report.indices, np.arange(4000))
    assert report.dropped == 0
    assert np.all(np.isfinite(report.data))
    assert np.all(np.abs(report.data) <= 10.5)  # inside the ±10 V default range
