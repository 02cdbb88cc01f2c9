"""NI-DAQmx failures translated into what a technician can act on.

NI-DAQmx reports everything as a ``DaqError`` with a numeric code and a long message. The
driver turns the handful of codes that mean "the device is not there" or "the device went
away" into :class:`~drivers.base.Health` states and :class:`~drivers.base.DeviceLost`, and
keeps NI's own message (with its code) for everything else, because it names the property and
the value that the hardware refused.
"""

from __future__ import annotations

from drivers.base import DeviceError, DeviceLost, Health, HealthStatus

# DAQmxErrors codes (nidaqmx.error_codes) that mean the device is no longer reachable.
DEVICE_GONE_CODES = frozenset(
    {
        -200045,  # DEVICE_REMOVED
        -201003,  # DEV_CANNOT_BE_ACCESSED (USB unplugged, chassis powered off)
        -50405,  # PAL_TRANSFER_ABORTED (the transfer died with the device)
        -88705,  # DRIVER_DEVICE_GUID_NOT_FOUND_ROUTING
        -88709,  # RUNTIME_ABORTED_ROUTING
        -89130,  # DEV_ABSENT_OR_UNAVAILABLE_ROUTING
    }
)
INVALID_DEVICE_ID = -200220  # the name is not a device NI MAX knows
PHYSICAL_CHAN_DOES_NOT_EXIST = -200170
SAMPLES_NO_LONGER_AVAILABLE = -200279  # the buffer overwrote samples before they were read

INSTALL_RUNTIME = (
    "Install the NI-DAQmx runtime from ni.com (on Linux: python -m nidaqmx installdriver), "
    "then restart Midstance."
)
CHECK_NI_MAX = (
    "Open NI MAX, check the device is listed under Devices and Interfaces and passes Self-Test, "
    "and set daq.device to the name shown there (e.g. Dev1)."
)
RECONNECT = (
    "Reconnect the DAQ (USB cable, chassis power), check it in NI MAX, then start a new "
    "recording; the samples recorded so far are kept."
)


def error_code(exc: BaseException) -> int | None:
    """The NI-DAQmx status code of a ``DaqError`` (or None for anything else)."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, int) else None


def first_line(exc: BaseException) -> str:
    """NI's message without its task-name and status-code trailer (shown separately)."""
    text = str(exc).strip()
    return text.split("\n", 1)[0].strip() or type(exc).__name__


def health_from_daq_error(device: str, exc: BaseException) -> Health:
    """What ``probe`` reports when NI-DAQmx refused a question about the device."""
    code = error_code(exc)
    if code == INVALID_DEVICE_ID or code in DEVICE_GONE_CODES:
        return Health(
            HealthStatus.ABSENT,
            f"NI-DAQmx does not find the device '{device}' (code {code})",
            CHECK_NI_MAX,
        )
    return Health(
        HealthStatus.ERROR,
        f"NI-DAQmx error {code} on '{device}': {first_line(exc)}",
        "Check the device in NI MAX (Self-Test, Reset Device) and the [daq] settings.",
    )


def device_error(name: str, exc: BaseException, doing: str) -> DeviceError:
    """A running or configuring failure as a typed device error naming what was being done."""
    code = error_code(exc)
    if code in DEVICE_GONE_CODES:
        return DeviceLost(
            name, f"the DAQ stopped responding while {doing} (NI-DAQmx code {code})", RECONNECT
        )
    if code == INVALID_DEVICE_ID:
        return DeviceError(name, f"NI-DAQmx does not find the device (code {code})", CHECK_NI_MAX)
    return DeviceError(
        name,
        f"NI-DAQmx refused {doing}: {first_line(exc)} (code {code})",
        "Check the [daq] settings against the device's specifications in NI MAX.",
    )
