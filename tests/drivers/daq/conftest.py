"""A fake NI-DAQmx interpreter under the real ``nidaqmx`` Python code (vendor_sim tier).

``nidaqmx.Task``, the channel collections, timing, triggers, ``in_stream`` and
``AnalogMultiChannelReader`` all run for real; only the bottom layer that would call the NI C
library is replaced, by injecting :class:`FakeInterpreter` at ``nidaqmx.utils._select_interpreter``.
The fake records every call (so tests assert the exact configuration the driver makes), models a
device's channels and a continuous acquisition: a background thread "acquires" blocks at the
configured interval and fires the registered every-N-samples callback, and reads follow DAQmx's
buffer rules (overwrite mode, read position, relative-to/offset, samples no longer available).
Faults are injected at exact sample indices: a host stall long enough to overwrite samples, and
the device being unplugged. Any DAQmx function the fake does not model fails the test loudly.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

nidaqmx = pytest.importorskip("nidaqmx")
from nidaqmx import utils as nidaqmx_utils  # noqa: E402
from nidaqmx._base_interpreter import BaseEventHandler, BaseInterpreter  # noqa: E402
from nidaqmx.constants import ChannelType, ReadRelativeTo  # noqa: E402
from nidaqmx.errors import DaqError  # noqa: E402

# NI-DAQmx attribute ids the real nidaqmx code asks for (nidaqmx/task/*.py, system/*.py).
TASK_NAME, TASK_CHANNELS = 0x1276, 0x1273
SAMP_CLK_RATE = 0x1344
INPUT_BUF_SIZE = 0x186C
OVERWRITE, RELATIVE_TO, OFFSET = 0x1211, 0x190A, 0x190B
TOTAL_ACQUIRED = 0x192A
READ_NUM_CHANS = 0x217B
CHAN_TYPE = 0x187F
CO_PULSE_TERM, CO_PULSE_FREQ, CO_PULSE_DUTY = 0x18E1, 0x1178, 0x1176
CI_COUNT_EDGES_TERM = 0x18C7
DO_NUM_BOOLEANS = 0x217F
SYS_DEVICES = 0x193B
SYS_VERSION = {0x1272: 24, 0x1923: 5, 0x2F22: 0}
DEV_PRODUCT, DEV_AI, DEV_CI, DEV_CO, DEV_DO = 0x0631, 0x231E, 0x2324, 0x2325, 0x2322

# Error codes and NI's own messages for them.
SAMPLES_NO_LONGER_AVAILABLE = -200279
SAMPLES_NOT_YET_AVAILABLE = -200284
DEV_CANNOT_BE_ACCESSED = -201003
INVALID_DEVICE_ID = -200220
PHYSICAL_CHAN_DOES_NOT_EXIST = -200170


def sample_values(first: int, count: int, n_channels: int) -> np.ndarray:
    """What the fake device measures: sample i of channel c is c + i * 1e-4 volts.

    Returns (n_channels, count), the order NI-DAQmx fills (GROUP_BY_CHANNEL).
    """
    index = np.arange(first, first + count, dtype=np.float64)
    return np.arange(n_channels, dtype=np.float64)[:, None] + index[None, :] * 1e-4


EDGE_PERIOD = 8  # the fake camera's exposure edges: one every 8 samples, the first at sample 0


def edge_counts(first: int, count: int) -> np.ndarray:
    """What a fake edge counter latches at each sample: edges counted up to and including it."""
    return np.arange(first, first + count, dtype=np.int64) // EDGE_PERIOD + 1


@dataclass
class FakeDevice:
    name: str = "Dev1"
    product: str = "PCIe-6363"
    n_ai: int = 32
    n_counters: int = 4
    n_lines: int = 8

    def attribute(self, attribute: int) -> str:
        if attribute == DEV_PRODUCT:
            return self.product
        names = {
            DEV_AI: [f"{self.name}/ai{i}" for i in range(self.n_ai)],
            DEV_CI: [f"{self.name}/ctr{i}" for i in range(self.n_counters)],
            DEV_CO: [f"{self.name}/ctr{i}" for i in range(self.n_counters)],
            DEV_DO: [f"{self.name}/port0/line{i}" for i in range(self.n_lines)],
        }[attribute]
        return ", ".join(names)


@dataclass
class FakeTask:
    handle: int
    name: str
    channels: list[dict[str, Any]] = field(default_factory=list)
    kind: ChannelType | None = None
    timing: dict[str, Any] | None = None
    implicit_timing: dict[str, Any] | None = None
    start_trigger: dict[str, Any] | None = None
    buffer_samples: int = 0
    overwrite: int | None = None
    relative_to: int = ReadRelativeTo.CURRENT_READ_POSITION.value
    offset: int = 0
    read_position: int = 0
    acquired: int = 0
    every_n: int = 0
    callback: Callable[..., int] | None = None
    running: bool = False
    cleared: bool = False
    written: list[np.ndarray] = field(default_factory=list)
    thread: threading.Thread | None = None
    halt: threading.Event = field(default_factory=threading.Event)


class FakeEventHandler(BaseEventHandler):
    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeInterpreter(BaseInterpreter):
    """The NI-DAQmx C API as the real ``nidaqmx`` code calls it, for one or more fake devices."""

    def __init__(self, devices: tuple[FakeDevice, ...] = (FakeDevice(),)) -> None:
        self.devices = {d.name: d for d in devices}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.tasks: dict[int, FakeTask] = {}
        self.lock = threading.RLock()
        self.block_period_s = 0.001  # how long the fake hardware takes per every-N block
        # The fake hardware waits rather than overwrite unread samples, so a loaded test machine
        # cannot cause a gap by accident; overwrites happen only where a test injects a stall.
        self.lossless = True
        self.reader_behind = threading.Event()  # set when the fake hardware waited for a reader
        self.rate_coercion: dict[float, float] = {}  # requested -> actual sample clock
        self.stall_at: tuple[int, int] | None = None  # (sample, samples acquired silently)
        self.remove_at: int | None = None  # sample at which the device is unplugged
        self.removed = False
        self.callback_errors: list[BaseException] = []
        self.recording = True  # off while a test measures the driver's own allocations
        self.start_order: list[str] = []
        self._last_channel = ""
        self._ramp = self._index = np.empty(0)

    # -- bookkeeping ------------------------------------------------------------------------

    def _record(self, name: str, *args: Any) -> None:
        if not self.recording:
            return
        with self.lock:
            self.calls.append((name, args))

    def called(self, name: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for n, args in self.calls if n == name]

    def task(self, name: str) -> FakeTask:
        return next(t for t in self.tasks.values() if t.name == name)

    def _gone(self) -> DaqError:
        return DaqError(
            "Device cannot be accessed.\nPossible causes:\nDevice is no longer present in the "
            "system.\nDevice is not powered.",
            DEV_CANNOT_BE_ACCESSED,
        )

    # -- system and devices -----------------------------------------------------------------

    @property
    def driver_version(self) -> tuple[int, int, int]:
        return (24, 5, 0)

    def get_system_info_attribute_string(self, attribute: int) -> str:
        self._record("get_system_info_attribute_string", attribute)
        assert attribute == SYS_DEVICES
        return ", ".join(self.devices)

    def get_system_info_attribute_uint32(self, attribute: int) -> int:
        self._record("get_system_info_attribute_uint32", attribute)
        return SYS_VERSION[attribute]

    def get_device_attribute_string(self, device_name: str, attribute: int) -> str:
        self._record("get_device_attribute_string", device_name, attribute)
        if device_name not in self.devices:
            raise DaqError("Device identifier is invalid.", INVALID_DEVICE_ID)
        return self.devices[device_name].attribute(attribute)

    # -- tasks and channels -----------------------------------------------------------------

    def create_task(self, session_name: str) -> tuple[int, bool]:
        self._record("create_task", session_name)
        with self.lock:
            handle = len(self.tasks) + 1
            self.tasks[handle] = FakeTask(handle, session_name)
        return handle, True

    def get_task_attribute_string(self, task: int, attribute: int) -> str:
        self._record("get_task_attribute_string", task, attribute)
        fake = self.tasks[task]
        if attribute == TASK_NAME:
            return fake.name
        assert attribute == TASK_CHANNELS
        return ", ".join(c["name"] for c in fake.channels)

    def internal_get_last_created_chan(self) -> str:
        return self._last_channel

    def _add_channel(self, task: int, kind: ChannelType, physical: str, **config: Any) -> None:
        device, _, _ = physical.partition("/")
        if device not in self.devices:
            raise DaqError("Device identifier is invalid.", INVALID_DEVICE_ID)
        fake = self.tasks[task]
        fake.kind = kind
        fake.channels.append({"physical": physical, **config})
        fake.channels[-1]["name"] = config["name"] or physical  # DAQmx's default name
        self._last_channel = fake.channels[-1]["name"]

    def create_ai_voltage_chan(  # noqa: PLR0917 (the DAQmx C signature)
        self,
        task,
        physical_channel,
        name_to_assign_to_channel,
        terminal_config,
        min_val,
        max_val,
        units,
        custom_scale_name,
    ):
        self._record(
            "create_ai_voltage_chan",
            task,
            physical_channel,
            name_to_assign_to_channel,
            terminal_config,
            min_val,
            max_val,
            units,
            custom_scale_name,
        )
        self._add_channel(
            task,
            ChannelType.ANALOG_INPUT,
            physical_channel,
            name=name_to_assign_to_channel,
            terminal=terminal_config,
            min_val=min_val,
            max_val=max_val,
            units=units,
        )

    def create_co_pulse_chan_freq(  # noqa: PLR0917 (the DAQmx C signature)
        self,
        task,
        counter,
        name_to_assign_to_channel,
        units,
        idle_state,
        initial_delay,
        freq,
        duty_cycle,
    ):
        self._record(
            "create_co_pulse_chan_freq",
            task,
            counter,
            name_to_assign_to_channel,
            units,
            idle_state,
            initial_delay,
            freq,
            duty_cycle,
        )
        self._add_channel(
            task,
            ChannelType.COUNTER_OUTPUT,
            counter,
            name=name_to_assign_to_channel,
            units=units,
            idle_state=idle_state,
            initial_delay=initial_delay,
            freq=freq,
            duty_cycle=duty_cycle,
        )

    def create_ci_count_edges_chan(  # noqa: PLR0917 (the DAQmx C signature)
        self, task, counter, name_to_assign_to_channel, edge, initial_count, count_direction
    ):
        self._record(
            "create_ci_count_edges_chan",
            task,
            counter,
            name_to_assign_to_channel,
            edge,
            initial_count,
            count_direction,
        )
        self._add_channel(
            task,
            ChannelType.COUNTER_INPUT,
            counter,
            name=name_to_assign_to_channel,
            edge=edge,
            initial_count=initial_count,
            count_direction=count_direction,
        )

    def create_do_chan(self, task, lines, name_to_assign_to_lines, line_grouping):
        self._record("create_do_chan", task, lines, name_to_assign_to_lines, line_grouping)
        self._add_channel(
            task,
            ChannelType.DIGITAL_OUTPUT,
            lines,
            name=name_to_assign_to_lines,
            line_grouping=line_grouping,
        )

    def _channel(self, task: int, channel: str) -> dict[str, Any]:
        fake = self.tasks[task]
        names = [c["name"] for c in fake.channels]
        return fake.channels[names.index(channel)] if channel else fake.channels[0]

    def get_chan_attribute_int32(self, task: int, channel: str, attribute: int) -> int:
        self._record("get_chan_attribute_int32", task, channel, attribute)
        assert attribute == CHAN_TYPE
        kind = self.tasks[task].kind
        assert kind is not None
        return kind.value

    def set_chan_attribute_string(self, task: int, channel: str, attribute: int, value: str):
        self._record("set_chan_attribute_string", task, channel, attribute, value)
        key = {CO_PULSE_TERM: "pulse_terminal", CI_COUNT_EDGES_TERM: "edges_terminal"}[attribute]
        self._channel(task, channel)[key] = value

    def get_chan_attribute_double(self, task: int, channel: str, attribute: int) -> float:
        self._record("get_chan_attribute_double", task, channel, attribute)
        key = {CO_PULSE_FREQ: "freq", CO_PULSE_DUTY: "duty_cycle"}[attribute]
        return self._channel(task, channel)[key]

    # -- timing and triggers ----------------------------------------------------------------

    def cfg_samp_clk_timing(  # noqa: PLR0917 (the DAQmx C signature)
        self, task, rate, source, active_edge, sample_mode, samps_per_chan
    ):
        self._record(
            "cfg_samp_clk_timing", task, rate, source, active_edge, sample_mode, samps_per_chan
        )
        self.tasks[task].timing = {
            "rate": rate,
            "source": source,
            "active_edge": active_edge,
            "sample_mode": sample_mode,
            "samps_per_chan": samps_per_chan,
        }

    def get_timing_attribute_double(self, task: int, attribute: int) -> float:
        self._record("get_timing_attribute_double", task, attribute)
        assert attribute == SAMP_CLK_RATE
        timing = self.tasks[task].timing
        assert timing is not None
        return self.rate_coercion.get(timing["rate"], float(timing["rate"]))

    def cfg_implicit_timing(self, task, sample_mode, samps_per_chan):
        self._record("cfg_implicit_timing", task, sample_mode, samps_per_chan)
        self.tasks[task].implicit_timing = {"sample_mode": sample_mode}

    def cfg_dig_edge_start_trig(self, task, trigger_source, trigger_edge):
        self._record("cfg_dig_edge_start_trig", task, trigger_source, trigger_edge)
        self.tasks[task].start_trigger = {"source": trigger_source, "edge": trigger_edge}

    # -- buffer and read attributes ---------------------------------------------------------

    def set_buffer_attribute_uint32(self, task: int, attribute: int, value: int) -> None:
        self._record("set_buffer_attribute_uint32", task, attribute, value)
        assert attribute == INPUT_BUF_SIZE
        self.tasks[task].buffer_samples = value

    def get_buffer_attribute_uint32(self, task: int, attribute: int) -> int:
        self._record("get_buffer_attribute_uint32", task, attribute)
        assert attribute == INPUT_BUF_SIZE
        return self.tasks[task].buffer_samples

    def set_read_attribute_int32(self, task: int, attribute: int, value: int) -> None:
        self._record("set_read_attribute_int32", task, attribute, value)
        with self.lock:
            fake = self.tasks[task]
            if attribute == OVERWRITE:
                fake.overwrite = value
            elif attribute == RELATIVE_TO:
                fake.relative_to = value
            else:
                assert attribute == OFFSET
                fake.offset = value

    def get_read_attribute_uint64(self, task: int, attribute: int) -> int:
        assert attribute == TOTAL_ACQUIRED
        with self.lock:
            if self.removed:
                raise self._gone()
            return self.tasks[task].acquired

    def get_read_attribute_uint32(self, task: int, attribute: int) -> int:
        assert attribute == READ_NUM_CHANS
        return len(self.tasks[task].channels)

    def get_write_attribute_uint32(self, task: int, attribute: int) -> int:
        assert attribute == DO_NUM_BOOLEANS
        return 1

    # -- the every-N-samples event and reads ------------------------------------------------

    def register_every_n_samples_event(  # noqa: PLR0917 (the DAQmx C signature)
        self,
        task,
        every_n_samples_event_type,
        n_samples,
        options,
        callback_function,
        callback_data,
    ):
        self._record(
            "register_every_n_samples_event",
            task,
            every_n_samples_event_type,
            n_samples,
            options,
        )
        fake = self.tasks[task]
        fake.every_n = n_samples
        fake.callback = callback_function
        return FakeEventHandler()

    def _read_start(self, fake: FakeTask, count: int) -> int:
        """Where a read of ``count`` samples starts, by DAQmx's buffer rules (overwrite mode)."""
        if self.removed:
            raise self._gone()
        if fake.relative_to == ReadRelativeTo.FIRST_SAMPLE.value:
            start = fake.offset
        else:
            start = fake.read_position + fake.offset
        if start < fake.acquired - fake.buffer_samples:
            raise DaqError(
                "Attempted to read samples that are no longer available. The requested "
                "sample was previously available, but has since been overwritten.",
                SAMPLES_NO_LONGER_AVAILABLE,
            )
        if start + count > fake.acquired:
            raise DaqError(
                "Some or all of the samples requested have not yet been acquired.",
                SAMPLES_NOT_YET_AVAILABLE,
            )
        fake.read_position = start + count
        return start

    def read_analog_f64(self, task, num_samps_per_chan, timeout, fill_mode, read_array):
        with self.lock:
            start = self._read_start(self.tasks[task], num_samps_per_chan)
            self._fill(read_array[:, :num_samps_per_chan], start)
            self._record("read_analog_f64", task, start, num_samps_per_chan)
        return read_array, num_samps_per_chan

    def read_counter_u32_ex(self, task, num_samps_per_chan, timeout, fill_mode, read_array):
        with self.lock:
            start = self._read_start(self.tasks[task], num_samps_per_chan)
            read_array[:num_samps_per_chan] = edge_counts(start, num_samps_per_chan)
            self._record("read_counter_u32_ex", task, start, num_samps_per_chan, timeout)
        return read_array, num_samps_per_chan

    def _fill(self, out: np.ndarray, start: int) -> None:
        """sample_values() computed in place, so the fake hardware allocates nothing per read
        (the driver's own allocations can then be measured)."""
        count = out.shape[1]
        if len(self._ramp) < count:
            self._ramp = np.arange(count, dtype=np.float64)
            self._index = np.empty(count, dtype=np.float64)
        index = self._index[:count]
        np.add(self._ramp[:count], start, out=index)
        np.multiply(index, 1e-4, out=index)
        for channel, row in enumerate(out):
            np.add(index, float(channel), out=row)

    def write_digital_lines(  # noqa: PLR0917 (the DAQmx C signature)
        self, task, num_samps_per_chan, auto_start, timeout, data_layout, write_array
    ):
        self._record("write_digital_lines", task, num_samps_per_chan, auto_start)
        self.tasks[task].written.append(np.array(write_array, copy=True))
        return num_samps_per_chan

    # -- task control and the acquisition thread --------------------------------------------

    def start_task(self, task: int) -> None:
        self._record("start_task", task)
        fake = self.tasks[task]
        if self.removed:
            raise self._gone()
        fake.running = True
        self.start_order.append(fake.name)
        if fake.kind in (ChannelType.ANALOG_INPUT, ChannelType.COUNTER_INPUT):
            fake.acquired = fake.read_position = 0  # a new acquisition starts at sample 0
        if fake.kind is ChannelType.ANALOG_INPUT:
            fake.halt.clear()
            fake.thread = threading.Thread(target=self._acquire, args=(fake,), daemon=True)
            fake.thread.start()

    def _acquire(self, fake: FakeTask) -> None:
        """The fake hardware: acquire a block, fire the event, repeat until stopped."""
        assert fake.every_n > 0 and fake.callback is not None
        while not fake.halt.wait(self.block_period_s):
            with self.lock:
                if self.remove_at is not None and fake.acquired >= self.remove_at:
                    self.removed = True  # unplugged: nothing more is acquired or readable
                elif self.stall_at is not None and fake.acquired >= self.stall_at[0]:
                    fake.acquired += self.stall_at[1] + fake.every_n  # no events meanwhile
                    self.stall_at = None
                elif (
                    self.lossless
                    and fake.acquired + fake.every_n - fake.read_position > fake.buffer_samples
                ):
                    self.reader_behind.set()  # wait for the reader (the event still fires)
                else:
                    fake.acquired += fake.every_n
                for clocked in self.tasks.values():  # tasks on the AI sample clock follow it
                    if clocked.running and clocked.kind is ChannelType.COUNTER_INPUT:
                        clocked.acquired = fake.acquired
            try:
                fake.callback(fake.handle, 1, fake.every_n, None)
            except BaseException as exc:  # a callback must never raise into the driver
                self.callback_errors.append(exc)
            if self.removed:
                return

    def _halt(self, fake: FakeTask) -> None:
        fake.running = False
        fake.halt.set()
        if fake.thread is not None and fake.thread is not threading.current_thread():
            fake.thread.join(timeout=10)
            assert not fake.thread.is_alive(), "the fake acquisition thread did not stop"

    def stop_task(self, task: int) -> None:
        self._record("stop_task", task)
        fake = self.tasks[task]
        self._halt(fake)
        if self.removed:
            raise self._gone()

    def clear_task(self, task: int) -> None:
        self._record("clear_task", task)
        fake = self.tasks[task]
        self._halt(fake)
        fake.cleared = True
        if self.removed:
            raise self._gone()

    def is_task_done(self, task: int) -> bool:
        self._record("is_task_done", task)
        if self.removed:
            raise self._gone()
        fake = self.tasks[task]
        return fake.kind is ChannelType.DIGITAL_OUTPUT or not fake.running


def _unexpected(name: str) -> Callable[..., Any]:
    def call(self: FakeInterpreter, *args: Any) -> Any:
        raise AssertionError(f"the driver called DAQmx {name}{args}, which the fake does not model")

    call.__name__ = name
    return call


# Every other DAQmx function fails the test loudly if the driver ever calls it.
for _name in sorted(BaseInterpreter.__abstractmethods__):
    if _name not in vars(FakeInterpreter):
        setattr(FakeInterpreter, _name, _unexpected(_name))
abc.update_abstractmethods(FakeInterpreter)


@pytest.fixture
def fake_daqmx(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInterpreter]:
    """The fake interpreter, injected under every ``nidaqmx`` object the driver creates."""
    fake = FakeInterpreter()
    monkeypatch.setattr(nidaqmx_utils, "_select_interpreter", lambda *args, **kwargs: fake)
    yield fake
    for task in fake.tasks.values():
        task.halt.set()
    assert not fake.callback_errors, fake.callback_errors


@pytest.fixture
def force_settings() -> dict[str, Any]:
    """A ``[daq]`` table as in docs/ni-daqmx.md: six plate channels, witness, belt speed."""
    names = ["belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz"]
    channels: list[dict[str, Any]] = [
        {"name": n, "physical": f"ai{i}"} for i, n in enumerate(names)
    ]
    channels.append({"name": "exposure.sagittal", "physical": "ai8", "terminal": "rse"})
    channels.append({"name": "belt_speed", "physical": "Dev1/ai9", "range_V": [0, 10]})
    return {
        "name": "force",
        "kind": "nidaqmx",
        "rate_hz": 2000,
        "device": "Dev1",
        "terminal": "differential",
        "range_V": 5,
        "samples_per_event": 100,
        "buffer_samples": 4000,
        "channels": channels,
        "camera_trigger": {
            "counter": "ctr0",
            "terminal": "PFI12",
            "frame_rate_hz": 250,
            "duty_cycle": 0.25,
        },
        "sync_led": {"line": "port0/line0"},
    }
