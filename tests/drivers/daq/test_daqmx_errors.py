"""NI-DAQmx error codes become device states and typed errors a technician can act on."""

from __future__ import annotations

import pytest
from nidaqmx.error_codes import DAQmxErrors
from nidaqmx.errors import DaqError

from drivers.base import DeviceError, DeviceLost, HealthStatus
from drivers.daq.daqmx_errors import DEVICE_GONE_CODES, device_error, health_from_daq_error


def test_device_not_found_code_is_absent_with_the_ni_max_remedy():
    error = DaqError("Device identifier is invalid.", DAQmxErrors.INVALID_DEVICE_ID)
    health = health_from_daq_error("Dev3", error)
    assert health.status is HealthStatus.ABSENT
    assert "'Dev3'" in health.reason and "-200220" in health.reason
    assert "NI MAX" in health.remedy


@pytest.mark.parametrize("code", sorted(DEVICE_GONE_CODES))
def test_codes_of_a_vanished_device_are_device_lost(code):
    lost = device_error("force", DaqError("gone", code), "acquiring")
    assert isinstance(lost, DeviceLost)
    assert f"code {code}" in lost.problem
    assert "Reconnect the DAQ" in lost.remedy


def test_the_gone_codes_are_ni_codes_with_these_meanings():
    assert {DAQmxErrors(c).name for c in DEVICE_GONE_CODES} >= {
        "DEVICE_REMOVED",
        "DEV_CANNOT_BE_ACCESSED",
        "PAL_TRANSFER_ABORTED",
    }


def test_other_errors_keep_nis_first_line_and_code():
    error = DaqError(
        "Requested value is not a supported value for this property.\nProperty: "
        "DAQmx_AI_Max\nRequested Value: 20.0",
        DAQmxErrors.INVALID_ATTRIBUTE_VALUE,
    )
    refused = device_error("force", error, "the analog input configuration")
    assert type(refused) is DeviceError
    assert refused.problem.startswith(
        "NI-DAQmx refused the analog input configuration: Requested value is not a supported"
    )
    assert f"(code {DAQmxErrors.INVALID_ATTRIBUTE_VALUE.value})" in refused.problem
    assert "device 'force'" in refused.sentence()
