"""The lifecycle every device inherits from drivers.base, on a minimal counting device."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.base import (
    Chunk,
    Device,
    DeviceLost,
    DeviceState,
    DeviceUnavailable,
    Health,
    HealthStatus,
    LifecycleError,
    StreamDescription,
    StreamKind,
    monotonic,
)
from drivers.contract import ContractViolation, exercise_device


class CountingDaq(Device):
    """Delivers sample i of channel c as i * 10 + c; can be told to fail or to be absent."""

    kind = "test.counting"

    @classmethod
    def probe(cls, name, settings):
        if settings.get("absent"):
            return Health(HealthStatus.ABSENT, "no device Dev9", "Plug it in.")
        return Health(HealthStatus.SIMULATED)

    def _open(self):
        self.next_index = 0
        return StreamDescription(
            device=self.name,
            kind=StreamKind.ANALOG,
            source="test",
            dtype="float64",
            shape=(2,),
            rate_hz=1000.0,
            channel_names=("a", "b"),
            units=("V", "V"),
        )

    def _start(self):
        self.started = True

    def _read(self, out, timeout_s):
        if self.settings.get("lose_at") is not None and self.next_index >= self.settings["lose_at"]:
            raise DeviceLost(self.name, "unplugged", "Reconnect the USB cable.")
        n = len(out)
        idx = np.arange(self.next_index, self.next_index + n)
        out[:, 0] = idx * 10
        out[:, 1] = idx * 10 + 1
        chunk = Chunk(count=n, first_index=self.next_index, host_time_s=monotonic())
        self.next_index += n
        return chunk

    def _stop(self):
        self.started = False

    def _close(self):
        pass


def test_contract_reads_every_item_once_in_order():
    report = exercise_device(CountingDaq("force"), 1000, chunk_items=64)
    assert report.items == 1000
    np.testing.assert_array_equal(report.indices, np.arange(1000))
    np.testing.assert_array_equal(report.data[:, 1], np.arange(1000) * 10 + 1)


def test_lifecycle_is_enforced():
    dev = CountingDaq("force")
    with pytest.raises(LifecycleError, match="start\\(\\) while closed"):
        dev.start()
    dev.open()
    with pytest.raises(LifecycleError, match="open\\(\\) while open"):
        dev.open()
    dev.start()
    with pytest.raises(LifecycleError, match="buffer is float32"):
        dev.read(np.empty((4, 2), dtype=np.float32))
    with pytest.raises(LifecycleError, match="buffer is float64\\(3,\\)"):
        dev.read(np.empty((4, 3)))
    dev.close()
    assert dev.state is DeviceState.CLOSED
    dev.close()  # closing twice is harmless


def test_absent_device_is_a_health_not_a_crash():
    dev = CountingDaq("force", {"absent": True})
    health = dev.health()
    assert not health.available and health.status is HealthStatus.ABSENT
    with pytest.raises(DeviceUnavailable) as err:
        dev.open()
    assert err.value.sentence() == "device 'force': no device Dev9. Plug it in."


def test_lost_device_faults_and_still_closes():
    dev = CountingDaq("force", {"lose_at": 8})
    dev.open()
    dev.start()
    buf = dev.describe().empty_buffer(8)
    assert dev.read(buf).count == 8
    with pytest.raises(DeviceLost, match="Reconnect the USB cable"):
        dev.read(buf)
    assert dev.state is DeviceState.FAULTED
    assert dev.health().status is HealthStatus.ERROR
    dev.close()
    assert dev.state is DeviceState.CLOSED


def test_contract_catches_a_driver_that_repeats_indices():
    class Repeating(CountingDaq):
        def _read(self, out, timeout_s):
            chunk = super()._read(out, timeout_s)
            return Chunk(count=chunk.count, first_index=0, host_time_s=chunk.host_time_s)

    with pytest.raises(ContractViolation, match="indices must increase"):
        exercise_device(Repeating("force"), 200, chunk_items=64)
