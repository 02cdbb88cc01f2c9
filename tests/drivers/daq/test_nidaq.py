"""The NI-DAQmx driver through the real nidaqmx Task code on a fake interpreter (conftest.py)."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
from nidaqmx.constants import (
    AcquisitionType,
    CountDirection,
    Edge,
    EveryNSamplesEventType,
    FrequencyUnits,
    Level,
    LineGrouping,
    OverwriteMode,
    TerminalConfiguration,
    VoltageUnits,
)
from nidaqmx.errors import DaqNotFoundError

from drivers.base import DeviceError, DeviceLost, DeviceState, DeviceUnavailable, HealthStatus
from drivers.contract import exercise_device
from drivers.daq.nidaq import Gap, NidaqDaq
from drivers.registry import driver_class

pytestmark = pytest.mark.vendor_sim

CHANNELS = (
    "belt.Fx",
    "belt.Fy",
    "belt.Fz",
    "belt.Mx",
    "belt.My",
    "belt.Mz",
    "exposure.sagittal",
    "belt_speed",
)


def expected(indices: np.ndarray, n_channels: int = len(CHANNELS)) -> np.ndarray:
    """The fake device's sample i of channel c (conftest.sample_values), as (samples, channels)."""
    return np.arange(n_channels, dtype=np.float64)[None, :] + indices[:, None] * 1e-4


def test_registry_resolves_the_kind():
    assert driver_class("nidaqmx") is NidaqDaq


def test_configures_channels_clock_buffer_and_event_exactly(fake_daqmx, force_settings):
    device = NidaqDaq("force", force_settings)
    description = device.open()
    try:
        ai = fake_daqmx.task("force-ai")
        created = fake_daqmx.called("create_ai_voltage_chan")
        # In channel order; DAQmx names each after its physical channel (our names have dots).
        assert [(c[1], c[2]) for c in created] == [
            *((f"Dev1/ai{i}", "") for i in range(6)),
            ("Dev1/ai8", ""),
            ("Dev1/ai9", ""),
        ]
        diff, rse = TerminalConfiguration.DIFF.value, TerminalConfiguration.RSE.value
        assert [c[3] for c in created] == [diff] * 6 + [rse, diff]
        assert [(c[4], c[5]) for c in created] == [(-5.0, 5.0)] * 7 + [(0.0, 10.0)]
        assert {c[6] for c in created} == {VoltageUnits.VOLTS.value}
        assert {c[0] for c in created} == {ai.handle}

        assert ai.timing == {
            "rate": 2000.0,
            "source": "",  # the device's own sample clock
            "active_edge": Edge.RISING.value,
            "sample_mode": AcquisitionType.CONTINUOUS.value,
            "samps_per_chan": 4000,
        }
        assert ai.buffer_samples == 4000
        assert ai.overwrite == OverwriteMode.OVERWRITE_UNREAD_SAMPLES.value
        (event,) = fake_daqmx.called("register_every_n_samples_event")
        assert event == (ai.handle, EveryNSamplesEventType.ACQUIRED_INTO_BUFFER.value, 100, 0)

        assert description.channel_names == CHANNELS
        assert description.units == ("V",) * 8
        assert description.shape == (8,)
        assert description.rate_hz == 2000.0
        assert description.source == "nidaqmx Dev1 (PCIe-6363)"
        resolved = description.settings["resolved"]
        assert resolved["sample_rate_hz"] == 2000.0
        assert resolved["buffer_samples"] == 4000
        assert resolved["nidaqmx_driver"] == "24.5.0"
    finally:
        device.close()


def test_camera_trigger_is_a_pulse_train_armed_on_the_ai_start_trigger(fake_daqmx, force_settings):
    device = NidaqDaq("force", force_settings)
    description = device.open()
    co = fake_daqmx.task("force-camera-trigger")
    (pulse,) = fake_daqmx.called("create_co_pulse_chan_freq")
    assert pulse == (
        co.handle,
        "Dev1/ctr0",
        "camera_trigger",
        FrequencyUnits.HZ.value,
        Level.LOW.value,
        0.0,
        250.0,
        0.25,
    )
    assert co.channels[0]["pulse_terminal"] == "/Dev1/PFI12"
    assert co.implicit_timing == {"sample_mode": AcquisitionType.CONTINUOUS.value}
    assert co.start_trigger == {"source": "/Dev1/ai/StartTrigger", "edge": Edge.RISING.value}
    trigger = description.settings["resolved"]["camera_trigger"]
    assert trigger["samples_per_frame"] == 8
    assert trigger["frequency_hz"] == 250.0
    assert trigger["duty_cycle"] == 0.25

    (led,) = fake_daqmx.called("create_do_chan")
    assert led[1:] == ("Dev1/port0/line0", "sync_led", LineGrouping.CHAN_PER_LINE.value)

    device.start()
    assert fake_daqmx.start_order == ["force-camera-trigger", "force-ai"]  # armed first
    device.stop()
    stops = [fake_daqmx.tasks[args[0]].name for args in fake_daqmx.called("stop_task")]
    assert stops[:2] == ["force-camera-trigger", "force-ai"]  # no frame after the last sample
    device.close()
    assert all(task.cleared for task in fake_daqmx.tasks.values())


def test_every_sample_arrives_once_in_order(fake_daqmx, force_settings):
    # 250-sample reads against 100-sample blocks: pieces of blocks cross read boundaries.
    report = exercise_device(NidaqDaq("force", force_settings), 6000, chunk_items=250)
    np.testing.assert_array_equal(report.indices, np.arange(6000))
    np.testing.assert_array_equal(report.data, expected(np.arange(6000)))
    assert report.dropped == 0
    reads = fake_daqmx.called("read_analog_f64")
    assert {r[2] for r in reads} == {100}  # always whole every-N blocks, from the callback


def test_overwritten_samples_are_reported_as_a_gap_with_their_exact_range(
    fake_daqmx, force_settings
):
    # The host stalls at sample 1000 while the device acquires 4600 more into a 4000-sample
    # buffer; the driver resumes at the newest half of the buffer: 5600 - 2000 = 3600.
    fake_daqmx.stall_at = (1000, 4500)
    device = NidaqDaq("force", force_settings)
    report = exercise_device(device, 3000, chunk_items=250)
    delivered = np.concatenate([np.arange(1000), np.arange(3600, 5600)])
    np.testing.assert_array_equal(report.indices, delivered)
    np.testing.assert_array_equal(report.data, expected(delivered))
    assert report.dropped == 2600
    assert device.gaps == (Gap(first_index=1000, count=2600),)
    assert device.gaps[0].end_index == 3600
    # The skip used DAQmx's own read position: relative to the first sample, offset 3600.
    positions = [r[1] for r in fake_daqmx.called("read_analog_f64")]
    assert positions[:11] == [*range(0, 1000, 100), 3600]


def test_device_removed_mid_trial_is_device_lost_after_the_samples_before_it(
    fake_daqmx, force_settings
):
    fake_daqmx.remove_at = 1500
    device = NidaqDaq("force", force_settings)
    description = device.open()
    device.start()
    buffer = description.empty_buffer(300)
    indices = []
    with pytest.raises(DeviceLost) as lost:
        for _ in range(100):
            chunk = device.read(buffer, timeout_s=5.0)
            np.testing.assert_array_equal(buffer[: chunk.count], expected(chunk.item_indices()))
            indices.append(chunk.item_indices())
    np.testing.assert_array_equal(np.concatenate(indices), np.arange(1500))
    assert device.state is DeviceState.FAULTED
    assert "Reconnect the DAQ" in lost.value.sentence()
    assert "-201003" in lost.value.problem
    assert device.health().status is HealthStatus.ERROR
    device.close()  # the tasks of a vanished device still get released
    assert device.state is DeviceState.CLOSED
    assert len(fake_daqmx.called("clear_task")) == 3


def test_a_stopped_task_found_while_waiting_is_device_lost(fake_daqmx, force_settings):
    """If the event stops coming, the read's timeout asks DAQmx why (is_task_done)."""
    device = NidaqDaq("force", force_settings)
    description = device.open()
    device.start()
    buffer = description.empty_buffer(100)
    assert device.read(buffer, timeout_s=5.0).count == 100
    fake_daqmx.task("force-ai").halt.set()  # the hardware goes silent
    fake_daqmx.removed = True
    with pytest.raises(DeviceLost):
        for _ in range(200):
            device.read(buffer, timeout_s=0.05)
    assert device.state is DeviceState.FAULTED
    device.close()
    assert device.state is DeviceState.CLOSED


def test_sync_pattern_is_clocked_by_the_force_sample_clock(fake_daqmx, force_settings):
    device = NidaqDaq("force", force_settings)
    device.open()
    try:
        with pytest.raises(DeviceError, match="acquisition running"):
            device.emit_sync_pattern([0.01])
        device.start()
        pattern = device.emit_sync_pattern([0.01, 0.02, 0.005])
        assert pattern.level_samples == (20, 40, 10)
        assert pattern.level_durations_s == (0.01, 0.02, 0.005)
        led = fake_daqmx.task("force-sync-led")
        assert led.timing == {
            "rate": 2000.0,
            "source": "/Dev1/ai/SampleClock",
            "active_edge": Edge.RISING.value,
            "sample_mode": AcquisitionType.FINITE.value,
            "samps_per_chan": 71,
        }
        (written,) = led.written
        np.testing.assert_array_equal(
            written, np.r_[np.ones(20), np.zeros(40), np.ones(10), np.zeros(1)].astype(bool)
        )
        assert fake_daqmx.start_order[-1] == "force-sync-led"
        with pytest.raises(Exception, match="shorter than one sample"):
            device.emit_sync_pattern([0.0001])
    finally:
        device.close()


def test_sync_pattern_without_a_configured_line_says_what_to_add(fake_daqmx, force_settings):
    del force_settings["sync_led"]
    device = NidaqDaq("force", force_settings)
    device.open()
    device.start()
    with pytest.raises(DeviceError, match=r"\[daq.sync_led\]"):
        device.emit_sync_pattern([0.01])
    device.close()


def test_probe_ok_names_the_product(fake_daqmx, force_settings):
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.OK
    assert health.reason == "Dev1: PCIe-6363"


def test_runtime_missing_is_driver_missing_not_a_crash(monkeypatch, force_settings):
    def no_runtime(*args, **kwargs):
        raise DaqNotFoundError(
            "Could not find an installation of NI-DAQmx. Please ensure that NI-DAQmx is "
            "installed on this machine or contact National Instruments for support."
        )

    monkeypatch.setattr("nidaqmx.utils._select_interpreter", no_runtime)
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.DRIVER_MISSING
    assert "runtime is not installed" in health.reason
    assert "Install the NI-DAQmx runtime" in health.remedy
    with pytest.raises(DeviceUnavailable) as refused:
        NidaqDaq("force", force_settings).open()
    assert refused.value.health == health
    assert "device 'force'" in refused.value.sentence()


def test_python_package_missing_is_sdk_missing(monkeypatch, force_settings):
    monkeypatch.setitem(sys.modules, "nidaqmx", None)  # import nidaqmx now raises ImportError
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.SDK_MISSING
    assert "pip install nidaqmx" in health.remedy


def test_absent_device_lists_what_ni_max_has(fake_daqmx, force_settings):
    force_settings["device"] = "Dev7"
    force_settings["channels"][7]["physical"] = "ai9"
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.ABSENT
    assert "'Dev7'" in health.reason and "Dev1" in health.reason
    assert "NI MAX" in health.remedy


def test_a_channel_the_device_lacks_is_named_with_its_key(fake_daqmx, force_settings):
    force_settings["channels"][2]["physical"] = "ai40"
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.MISCONFIGURED
    assert health.reason.startswith("daq.channels[2].physical: 'Dev1/ai40' does not exist")
    assert "Dev1/ai0 … Dev1/ai31 (32)" in health.remedy


def test_a_rate_pair_that_is_not_an_integer_multiple_is_refused_with_valid_pairs(
    fake_daqmx, force_settings
):
    force_settings["rate_hz"] = 1000
    force_settings["buffer_samples"] = 2000
    force_settings["samples_per_event"] = 50
    force_settings["camera_trigger"]["frame_rate_hz"] = 240
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.MISCONFIGURED
    assert "daq.camera_trigger.frame_rate_hz" in health.reason
    assert "not an integer multiple" in health.reason
    assert "1200 Hz with 240 fps" in health.remedy
    assert "1000 Hz with 250 fps" in health.remedy
    with pytest.raises(DeviceUnavailable, match="1200 Hz with 240 fps"):
        NidaqDaq("force", force_settings).open()
    assert fake_daqmx.called("create_task") == []  # refused before touching the device


def test_a_sample_clock_the_device_coerces_is_refused(fake_daqmx, force_settings):
    fake_daqmx.rate_coercion = {2000.0: 2000.2}
    device = NidaqDaq("force", force_settings)
    with pytest.raises(DeviceError, match=r"2000\.2 Hz, not the configured 2000 Hz"):
        device.open()
    assert device.state is DeviceState.CLOSED
    assert all(task.cleared for task in fake_daqmx.tasks.values())


def test_a_slow_reader_loses_nothing_while_the_daqmx_buffer_holds_the_backlog(
    fake_daqmx, force_settings
):
    """Host ring full (4000 samples) and DAQmx buffer full (4000 more): the callback stops
    taking blocks, the samples wait in the NI buffer, and all arrive once read() resumes."""
    device = NidaqDaq("force", force_settings)
    description = device.open()
    device.start()
    assert fake_daqmx.reader_behind.wait(timeout=30)  # the fake hardware had to wait for us
    ai = fake_daqmx.task("force-ai")
    assert ai.acquired - ai.read_position == 4000  # a full DAQmx buffer behind a full ring
    buffer = description.empty_buffer(1000)
    indices = []
    while sum(map(len, indices)) < 12000:
        chunk = device.read(buffer, timeout_s=5.0)
        assert chunk.dropped == 0
        np.testing.assert_array_equal(buffer[: chunk.count], expected(chunk.item_indices()))
        indices.append(chunk.item_indices())
    device.close()
    np.testing.assert_array_equal(np.concatenate(indices)[:12000], np.arange(12000))
    assert device.gaps == ()


def test_a_second_start_counts_from_zero_again(fake_daqmx, force_settings):
    device = NidaqDaq("force", force_settings)
    description = device.open()
    buffer = description.empty_buffer(500)
    for _ in range(2):
        device.start()
        chunk = device.read(buffer, timeout_s=5.0)
        assert chunk.first_index == 0
        np.testing.assert_array_equal(buffer[: chunk.count], expected(chunk.item_indices()))
        device.stop()
    device.close()
    assert fake_daqmx.start_order.count("force-ai") == 2


def test_the_callback_allocates_no_block_sized_arrays(fake_daqmx, force_settings):
    """Each event: read into the scratch array, transpose into a ring slot, publish. The peak
    memory traced over 30 events stays far below one block (100 samples x 8 channels x 8 B)."""
    fake_daqmx.block_period_s = 3600.0  # the fake hardware stays silent; the test fires events
    device = NidaqDaq("force", force_settings)
    description = device.open()
    device.start()
    ai = fake_daqmx.task("force-ai")

    def event() -> None:
        with fake_daqmx.lock:
            ai.acquired += 100
        assert ai.callback(ai.handle, 1, 100, None) == 0

    for _ in range(3):
        event()  # first calls fill caches (enum lookups, attribute tables)
    block_bytes = 100 * 8 * 8
    fake_daqmx.recording = False  # the fake's call log would grow a list under the measurement
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(30):
            event()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"peak traced during 30 callbacks: {peak - baseline} B (one block = {block_bytes} B)")
    assert peak - baseline < block_bytes / 2
    out = description.empty_buffer(3300)
    chunk = device.read(out, timeout_s=5.0)
    assert (chunk.first_index, chunk.count) == (0, 3300)
    np.testing.assert_array_equal(out, expected(np.arange(3300)))
    device.close()


def test_exposure_edges_are_counted_on_the_force_sample_clock_and_survive_a_gap(
    fake_daqmx, force_settings
):
    """A counter counts the camera's exposure-active edges, latched on every force sample;
    after overwritten samples the counts resume at the same sample as the analog channels."""
    force_settings["edge_counters"] = [
        {"name": "exposure.sagittal.edges", "counter": "ctr1", "terminal": "PFI0"}
    ]
    fake_daqmx.stall_at = (1000, 4500)
    device = NidaqDaq("force", force_settings)
    report = exercise_device(device, 3000, chunk_items=250)

    edges = fake_daqmx.task("force-edges-0")
    (channel,) = fake_daqmx.called("create_ci_count_edges_chan")
    assert channel == (
        edges.handle,
        "Dev1/ctr1",
        "",
        Edge.RISING.value,
        0,
        CountDirection.COUNT_UP.value,
    )
    assert edges.channels[0]["edges_terminal"] == "/Dev1/PFI0"
    assert edges.timing == {
        "rate": 2000.0,
        "source": "/Dev1/ai/SampleClock",
        "active_edge": Edge.RISING.value,
        "sample_mode": AcquisitionType.CONTINUOUS.value,
        "samps_per_chan": 4000,
    }
    assert edges.buffer_samples == 4000
    assert edges.overwrite == OverwriteMode.OVERWRITE_UNREAD_SAMPLES.value
    assert fake_daqmx.start_order == ["force-camera-trigger", "force-edges-0", "force-ai"]

    delivered = np.concatenate([np.arange(1000), np.arange(3600, 5600)])
    np.testing.assert_array_equal(report.indices, delivered)
    np.testing.assert_array_equal(report.data[:, :8], expected(delivered))
    np.testing.assert_array_equal(report.data[:, 8], delivered // 8 + 1)  # conftest.edge_counts
    assert device.gaps == (Gap(first_index=1000, count=2600),)
    assert [r[1] for r in fake_daqmx.called("read_counter_u32_ex")][:11] == [
        *range(0, 1000, 100),
        3600,
    ]


def test_edge_counter_columns_are_described(fake_daqmx, force_settings):
    force_settings["edge_counters"] = [
        {"name": "exposure.sagittal.edges", "counter": "ctr1", "terminal": "/Dev1/PFI0"},
        {"name": "exposure.posterior.edges", "counter": "ctr2", "terminal": "PFI1"},
    ]
    device = NidaqDaq("force", force_settings)
    description = device.open()
    device.close()
    assert description.channel_names[-3:] == (
        "belt_speed",
        "exposure.sagittal.edges",
        "exposure.posterior.edges",
    )
    assert description.units[-3:] == ("V", "count", "count")
    assert description.shape == (10,)


def test_an_edge_counter_the_device_lacks_is_named(fake_daqmx, force_settings):
    force_settings["edge_counters"] = [{"name": "e", "counter": "ctr7", "terminal": "PFI0"}]
    health = NidaqDaq.probe("force", force_settings)
    assert health.status is HealthStatus.MISCONFIGURED
    assert health.reason.startswith("daq.edge_counters[0].counter: 'Dev1/ctr7' does not exist")
