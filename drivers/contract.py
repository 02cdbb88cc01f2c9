"""A self-test any device must pass: open, describe, start, read every item exactly once, stop.

Used by the tests of every driver (simulated, Basler through the pylon emulator, NI-DAQmx through a
fake interpreter, replay) and by technicians to check a configured device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import MidstanceError
from drivers.base import Device, DeviceState, LifecycleError, StreamKind


class ContractViolation(MidstanceError):
    """The device broke the driver contract (a driver bug, not a user error)."""


@dataclass(frozen=True)
class ContractReport:
    items: int
    indices: np.ndarray  # every index delivered, in order
    dropped: int  # what the device reported as dropped
    host_times: np.ndarray  # one host time per chunk
    data: np.ndarray  # the items delivered (for comparison with ground truth)


def exercise_device(
    device: Device, n_items: int, *, chunk_items: int = 64, timeout_s: float = 5.0
) -> ContractReport:
    """Run ``device`` through its whole lifecycle and read ``n_items`` items.

    Checks the lifecycle is enforced, the description is consistent, indices increase strictly,
    and reads stop promptly. Returns what was delivered so a test can compare it with the truth.
    """

    def violated(problem: str) -> ContractViolation:
        return ContractViolation(problem, subject=f"device '{device.name}'")

    if device.state is not DeviceState.CLOSED:
        raise violated("a new device must start closed")
    description = device.open()
    try:
        if device.describe() != description:
            raise violated("describe() differs from what open() returned")
        if (
            description.kind is StreamKind.ANALOG
            and len(description.channel_names) != (description.shape[0])
        ):
            raise violated("analog devices name every channel")
        if description.kind is StreamKind.ANALOG and len(description.units) != description.shape[0]:
            raise violated("analog devices give a unit for every channel")
        if description.rate_hz <= 0:
            raise violated("the rate must be positive")
        buffer = description.empty_buffer(chunk_items)
        try:
            device.read(buffer)
        except LifecycleError:
            pass
        else:
            raise violated("read() before start() must raise LifecycleError")
        device.start()
        out = description.empty_buffer(n_items)
        indices: list[np.ndarray] = []
        host_times: list[float] = []
        dropped = 0
        filled = 0
        empty_reads = 0
        while filled < n_items:
            chunk = device.read(buffer[: min(chunk_items, n_items - filled)], timeout_s)
            if chunk.count == 0:
                empty_reads += 1
                if empty_reads > 2:
                    raise violated(f"no data for {empty_reads} reads of {timeout_s} s")
                continue
            out[filled : filled + chunk.count] = buffer[: chunk.count]
            indices.append(chunk.item_indices())
            host_times.append(chunk.host_time_s)
            dropped += chunk.dropped
            filled += chunk.count
        device.stop()
        if device.state is not DeviceState.OPEN:
            raise violated("stop() must leave the device open")
    finally:
        device.close()
    all_indices = np.concatenate(indices)
    if np.any(np.diff(all_indices) <= 0):
        raise violated("item indices must increase strictly")
    return ContractReport(
        items=filled,
        indices=all_indices,
        dropped=dropped,
        host_times=np.asarray(host_times),
        data=out,
    )
