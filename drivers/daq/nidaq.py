"""The force DAQ through NI-DAQmx: hardware-timed analog input and the camera trigger.

One analog-input task samples every configured channel continuously on the device's sample
clock; NI-DAQmx calls :meth:`NidaqDaq._on_samples` on its own thread every ``samples_per_event``
samples, which reads the block with ``AnalogMultiChannelReader.read_many_sample`` into a
preallocated (channels, samples) scratch array and copies it transposed into a preallocated
:class:`~drivers.daq.ring.BlockRing` that ``read`` drains. Nothing is allocated per block.

The camera trigger is a counter-output pulse train at the frame rate, armed on the analog
input's start trigger, so frame k is triggered at exactly sample ``k * samples_per_frame``; the
counter task starts first and waits, the analog input then starts both. The DAQmx buffer runs in
overwrite mode: when the host falls behind by more than the buffer, the oldest samples are lost,
the driver skips to the newest half of the buffer and reports the gap with its exact sample range
(:attr:`NidaqDaq.gaps`, and ``Chunk.first_index``/``Chunk.dropped``) instead of stopping the
sample clock, so session time stays ``sample index / rate`` and frames stay tied to samples.

nidaqmx is imported inside functions only: the application starts without it, and ``probe``
reports a missing package, runtime or device as a :class:`~drivers.base.Health`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import InputError
from drivers.base import (
    Chunk,
    Device,
    DeviceError,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
    monotonic,
)
from drivers.config import ConfigError
from drivers.daq.daqmx_errors import (
    CHECK_NI_MAX,
    INSTALL_RUNTIME,
    SAMPLES_NO_LONGER_AVAILABLE,
    device_error,
    error_code,
    first_line,
    health_from_daq_error,
)
from drivers.daq.ring import BlockRing
from drivers.daq.settings import EdgeCounter, NidaqSettings, parse_settings

log = logging.getLogger(__name__)

COUNTER_WAIT_S = 1.0  # how long a counter's block may trail the analog block it belongs to
RATE_TOLERANCE = 1e-9  # relative: a coerced clock would make session time wrong, so it is refused


@dataclass(frozen=True)
class Gap:
    """Samples ``first_index … first_index + count - 1`` were overwritten before being read."""

    first_index: int
    count: int

    @property
    def end_index(self) -> int:
        """The first sample delivered after the gap."""
        return self.first_index + self.count


@dataclass(frozen=True)
class SyncPattern:
    """A pulse pattern sent on the sync LED line, in samples of the force clock."""

    level_samples: tuple[int, ...]  # high, low, high, … durations in samples
    rate_hz: float

    @property
    def level_durations_s(self) -> tuple[float, ...]:
        return tuple(n / self.rate_hz for n in self.level_samples)


class NidaqDaq(Device):
    """A National Instruments DAQ read through NI-DAQmx (kind ``nidaqmx``)."""

    kind = "nidaqmx"

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._config: NidaqSettings | None = None
        self._ai: Any = None
        self._co: Any = None
        self._do: Any = None
        self._counters: list[tuple[Any, Any, np.ndarray]] = []  # (task, reader, counts)
        self._reader: Any = None
        self._ring: BlockRing | None = None
        self._scratch: np.ndarray | None = None
        self._buffer_samples = 0
        self._next_index = 0  # next sample to take from the DAQmx buffer (callback thread)
        self._delivered = 0  # next sample ``read`` will deliver
        self._running = False
        self._failed = False
        self._led_started = False  # a sync pattern was started and may still be playing
        self._product = ""
        self._gaps: list[Gap] = []

    # -- health -----------------------------------------------------------------------------

    @classmethod
    def probe(cls, name: str, settings: Mapping[str, Any]) -> Health:
        try:
            import nidaqmx  # noqa: F401
            from nidaqmx.errors import DaqError, DaqNotFoundError
            from nidaqmx.system import Device as NiDevice
            from nidaqmx.system import System
        except ImportError as exc:
            return Health(
                HealthStatus.SDK_MISSING,
                f"the NI-DAQmx Python package (nidaqmx) is not installed ({exc})",
                "Reinstall Midstance with its dependencies (pip install nidaqmx).",
            )
        try:
            config = parse_settings(settings)
        except ConfigError as exc:
            return Health(HealthStatus.MISCONFIGURED, f"{exc.subject}: {exc.problem}", exc.remedy)
        try:
            names = list(System.local().devices.device_names)
            if config.device not in names:
                listed = ", ".join(names) if names else "no devices"
                return Health(
                    HealthStatus.ABSENT,
                    f"no NI-DAQmx device named '{config.device}' (NI MAX lists: {listed})",
                    CHECK_NI_MAX,
                )
            device = NiDevice(config.device)
            product = device.product_type
            missing = _missing_terminals(config, device)
        except DaqNotFoundError as exc:
            return Health(
                HealthStatus.DRIVER_MISSING,
                f"the NI-DAQmx driver/runtime is not installed on this computer ({exc})",
                INSTALL_RUNTIME,
            )
        except DaqError as exc:
            return health_from_daq_error(config.device, exc)
        except Exception as exc:  # probe never raises: an unexpected failure is a state too
            return Health(
                HealthStatus.ERROR,
                f"NI-DAQmx could not be queried: {type(exc).__name__}: {exc}",
                INSTALL_RUNTIME,
            )
        if missing:
            key, channel, available = missing
            return Health(
                HealthStatus.MISCONFIGURED,
                f"{key}: '{channel}' does not exist on {config.device} ({product})",
                f"Available: {available}.",
            )
        return Health(HealthStatus.OK, f"{config.device}: {product}")

    # -- configuration ----------------------------------------------------------------------

    def _open(self) -> StreamDescription:
        from nidaqmx.errors import DaqError

        config = parse_settings(self.settings)  # probe already accepted it
        self._config = config
        doing = "the analog input configuration"
        try:
            self._ai = self._configure_analog_input(config)
            actual_rate = self._ai.timing.samp_clk_rate
            self._require_exact("daq.rate_hz", config.rate_hz, actual_rate, "sample rate", "Hz")
            self._buffer_samples = int(self._ai.in_stream.input_buf_size)
            for counter in config.edge_counters:
                doing = f"the edge counter '{counter.name}' configuration"
                self._configure_edge_counter(config, counter)
            trigger: dict[str, Any] = {}
            if config.camera_trigger is not None:
                doing = "the camera trigger (counter output) configuration"
                self._co, trigger = self._configure_camera_trigger(config)
            if config.sync_led_line is not None:
                doing = "the sync LED (digital output) configuration"
                self._do = self._configure_sync_led(config)
            doing = "reading the device and NI-DAQmx versions"
            versions = _versions()
            self._product = _product_type(config.device)
        except DaqError as exc:
            self._close_tasks()
            raise device_error(self.name, exc, doing) from None
        except DeviceError:
            self._close_tasks()
            raise
        n_analog = len(config.channels)
        n_channels = n_analog + len(config.edge_counters)
        block = config.samples_per_event
        if self._buffer_samples % block:
            self._close_tasks()
            raise DeviceError(
                self.name,
                f"NI-DAQmx sized the buffer to {self._buffer_samples} samples, not a multiple of "
                f"samples_per_event ({block})",
                "Set daq.buffer_samples to a multiple of daq.samples_per_event that the device "
                "accepts.",
            )
        self._ring = BlockRing(self._buffer_samples // block, block, n_channels)
        self._scratch = np.zeros((n_analog, block), dtype=np.float64)
        snapshot = {
            **dict(self.settings),
            "resolved": {
                **config.to_dict(),
                "sample_rate_hz": actual_rate,
                "buffer_samples": self._buffer_samples,
                "overwrite": "overwrite-unread-samples",
                "camera_trigger": trigger or None,
                **versions,
            },
        }
        return StreamDescription(
            device=self.name,
            kind=StreamKind.ANALOG,
            source=f"nidaqmx {config.device} ({self._product})",
            dtype="float64",
            shape=(n_channels,),
            rate_hz=actual_rate,
            channel_names=config.channel_names,
            units=("V",) * n_analog + ("count",) * len(config.edge_counters),
            settings=snapshot,
        )

    def _configure_analog_input(self, config: NidaqSettings) -> Any:
        import nidaqmx
        from nidaqmx.constants import AcquisitionType, OverwriteMode, VoltageUnits
        from nidaqmx.stream_readers import AnalogMultiChannelReader

        terminals = _terminal_configurations()
        task = nidaqmx.Task(_task_name(self.name, "ai"))
        self._ai = task  # closed by _close_tasks if anything below fails
        for channel in config.channels:
            # DAQmx names its virtual channel after the physical one: our names ("belt.Fz")
            # contain characters DAQmx names should not, and live in the description instead.
            task.ai_channels.add_ai_voltage_chan(
                channel.physical,
                "",
                terminal_config=terminals[channel.terminal],
                min_val=channel.min_V,
                max_val=channel.max_V,
                units=VoltageUnits.VOLTS,
            )
        task.timing.cfg_samp_clk_timing(
            config.rate_hz,
            sample_mode=AcquisitionType.CONTINUOUS,
            samps_per_chan=config.buffer_samples,
        )
        task.in_stream.input_buf_size = config.buffer_samples
        task.in_stream.overwrite = OverwriteMode.OVERWRITE_UNREAD_SAMPLES
        task.register_every_n_samples_acquired_into_buffer_event(
            config.samples_per_event, self._on_samples
        )
        self._reader = AnalogMultiChannelReader(task.in_stream)
        self._reader.verify_array_shape = False  # the scratch array is sized once, in _open
        return task

    def _configure_edge_counter(self, config: NidaqSettings, counter: EdgeCounter) -> None:
        """Count edges on a terminal, latched on every force sample (the AI sample clock)."""
        import nidaqmx
        from nidaqmx.constants import AcquisitionType, CountDirection, Edge, OverwriteMode
        from nidaqmx.stream_readers import CounterReader

        task = nidaqmx.Task(_task_name(self.name, f"edges-{len(self._counters)}"))
        counts = np.zeros(config.samples_per_event, dtype=np.uint32)
        self._counters.append((task, None, counts))  # closed by _close_tasks if below fails
        channel = task.ci_channels.add_ci_count_edges_chan(
            counter.counter,
            "",
            edge=Edge.RISING if counter.edge == "rising" else Edge.FALLING,
            initial_count=0,
            count_direction=CountDirection.COUNT_UP,
        )
        channel.ci_count_edges_term = counter.terminal
        task.timing.cfg_samp_clk_timing(
            config.rate_hz,
            source=config.ai_sample_clock,
            sample_mode=AcquisitionType.CONTINUOUS,
            samps_per_chan=config.buffer_samples,
        )
        task.in_stream.input_buf_size = config.buffer_samples
        task.in_stream.overwrite = OverwriteMode.OVERWRITE_UNREAD_SAMPLES
        reader = CounterReader(task.in_stream)
        reader.verify_array_shape = False
        self._counters[-1] = (task, reader, counts)

    def _configure_camera_trigger(self, config: NidaqSettings) -> tuple[Any, dict[str, Any]]:
        import nidaqmx
        from nidaqmx.constants import AcquisitionType, Edge, FrequencyUnits, Level

        trigger = config.camera_trigger
        assert trigger is not None
        task = nidaqmx.Task(_task_name(self.name, "camera-trigger"))
        self._co = task
        channel = task.co_channels.add_co_pulse_chan_freq(
            trigger.counter,
            "camera_trigger",
            units=FrequencyUnits.HZ,
            idle_state=Level.LOW,
            initial_delay=0.0,
            freq=trigger.frame_rate_hz,
            duty_cycle=trigger.duty_cycle,
        )
        channel.co_pulse_term = trigger.terminal
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.CONTINUOUS)
        task.triggers.start_trigger.cfg_dig_edge_start_trig(config.ai_start_trigger, Edge.RISING)
        frequency = channel.co_pulse_freq
        self._require_exact(
            "daq.camera_trigger.frame_rate_hz",
            trigger.frame_rate_hz,
            frequency,
            "camera trigger frequency",
            "Hz",
        )
        return task, {
            "counter": trigger.counter,
            "pulse_terminal": trigger.terminal,
            "frequency_hz": frequency,
            "duty_cycle": channel.co_pulse_duty_cyc,
            "start_trigger": config.ai_start_trigger,
            "samples_per_frame": trigger.samples_per_frame,
            "idle_state": "low",
        }

    def _configure_sync_led(self, config: NidaqSettings) -> Any:
        import nidaqmx
        from nidaqmx.constants import LineGrouping

        task = nidaqmx.Task(_task_name(self.name, "sync-led"))
        self._do = task
        task.do_channels.add_do_chan(
            config.sync_led_line, "sync_led", line_grouping=LineGrouping.CHAN_PER_LINE
        )
        return task

    def _require_exact(self, key: str, wanted: float, actual: float, what: str, unit: str) -> None:
        """NI-DAQmx silently coerces clocks to what its timebase can divide; refuse that."""
        if not math.isclose(actual, wanted, rel_tol=RATE_TOLERANCE, abs_tol=0.0):
            raise DeviceError(
                self.name,
                f"the device runs the {what} at {actual:.6g} {unit}, not the configured "
                f"{wanted:g} {unit} ({key}); session times and frame alignment would be wrong",
                f"Choose a {what} the device's timebase divides exactly "
                "(e.g. 1000, 1200, 2000 Hz).",
            )

    # -- acquisition ------------------------------------------------------------------------

    def _start(self) -> None:
        from nidaqmx.errors import DaqError

        assert self._ring is not None
        self._ring.reset()
        self._gaps = []
        self._next_index = 0
        self._delivered = 0
        self._failed = False
        self._led_started = False
        self._running = True
        try:
            if self._co is not None:
                self._co.start()  # armed: waits for the analog input's start trigger
            for task, _, _ in self._counters:
                task.start()  # waits for the analog input's sample clock
            self._ai.start()
        except DaqError as exc:
            self._running = False
            for task in (self._co, *(c[0] for c in self._counters)):
                if task is not None:
                    with contextlib.suppress(DaqError):
                        task.stop()
            raise device_error(self.name, exc, "starting the acquisition") from None

    def _on_samples(
        self, task_handle: object, event_type: int, n_samples: int, callback_data: object
    ) -> int:
        """NI-DAQmx's every-N-samples callback (driver thread). Must never raise."""
        if not self._running or self._failed:
            return 0
        try:
            self._pump()
        except BaseException as exc:
            self._failed = True
            if self._running:
                self._ring_or_fail().fail(self._as_device_error(exc))
        return 0

    def _pump(self) -> None:
        """Move every whole block the DAQmx buffer holds into the ring, while it has room."""
        ring = self._ring_or_fail()
        block = ring.block_samples
        in_stream = self._ai.in_stream
        while self._running and ring.free_blocks() > 0:
            acquired = int(in_stream.total_samp_per_chan_acquired)
            backlog = acquired - self._next_index
            if backlog < block:
                return
            resume = None
            if backlog > self._buffer_samples:
                resume = self._resume_index(acquired)
            self._take_block(ring, resume)

    def _resume_index(self, acquired: int) -> int:
        """Where to continue after samples were overwritten: the newest half of the buffer.

        Resuming at the oldest sample still there would leave the reader one block from the
        next overwrite (a cascade of gaps while the host is still slow); skipping to half the
        buffer loses a little more once and leaves half a buffer of headroom.
        """
        block = self._ring_or_fail().block_samples
        half = (self._buffer_samples // block // 2) * block
        return max(self._next_index, acquired - half)

    def _take_block(self, ring: BlockRing, resume: int | None) -> None:
        from nidaqmx.errors import DaqError

        block = ring.block_samples
        try:
            self._read_into_scratch(resume)
        except DaqError as exc:
            if error_code(exc) != SAMPLES_NO_LONGER_AVAILABLE or resume is not None:
                raise
            # Overwritten between the count and the read: skip to what is left.
            resume = self._resume_index(int(self._ai.in_stream.total_samp_per_chan_acquired))
            self._read_into_scratch(resume)
        first = self._next_index if resume is None else resume
        dropped = first - self._next_index
        if dropped:
            self._gaps.append(Gap(self._next_index, dropped))
            log.warning(
                "%s: samples %d–%d (%d) were overwritten before they could be read; increase "
                "daq.buffer_samples, reduce daq.rate_hz or close other programs",
                self.name,
                self._next_index,
                first - 1,
                dropped,
            )
        slot = ring.slot()
        n_analog = self._scratch.shape[0]
        np.copyto(slot[:, :n_analog], self._scratch.T)  # (channels, samples) -> (samples, ...)
        for column, (_, _, counts) in enumerate(self._counters, start=n_analog):
            np.copyto(slot[:, column], counts)
        ring.commit(first, block, dropped, monotonic())
        self._next_index = first + block

    def _read_into_scratch(self, resume: int | None) -> None:
        """Read one block of the analog input, then the same samples of every edge counter."""
        block = self._scratch.shape[1]
        with self._positioned(self._ai, resume):
            self._reader.read_many_sample(self._scratch, block, timeout=0.0)
        for task, reader, counts in self._counters:
            # Same clock, same buffer size: the counter's samples are there too, or arrive
            # within a DMA transfer; wait up to a second for them.
            with self._positioned(task, resume):
                reader.read_many_sample_uint32(counts, block, timeout=COUNTER_WAIT_S)

    @contextlib.contextmanager
    def _positioned(self, task: Any, resume: int | None) -> Iterator[None]:
        """Read from sample ``resume`` (after a gap) instead of the current read position."""
        if resume is None:
            yield
            return
        from nidaqmx.constants import ReadRelativeTo

        in_stream = task.in_stream
        in_stream.relative_to = ReadRelativeTo.FIRST_SAMPLE
        in_stream.offset = resume
        try:
            yield
        finally:
            in_stream.relative_to = ReadRelativeTo.CURRENT_READ_POSITION
            in_stream.offset = 0

    def _read(self, out: np.ndarray, timeout_s: float) -> Chunk:
        taken = self._ring_or_fail().take(out, timeout_s)
        if taken is None:
            if self._running:
                self._check_task_alive()
            return Chunk(count=0, first_index=self._delivered, host_time_s=monotonic())
        self._delivered = taken.first_index + taken.count
        return Chunk(
            count=taken.count,
            first_index=taken.first_index,
            host_time_s=taken.host_time_s,
            dropped=taken.dropped,
        )

    def _check_task_alive(self) -> None:
        """No block in time: ask NI-DAQmx whether the task died (e.g. device unplugged)."""
        from nidaqmx.errors import DaqError

        try:
            done = self._ai.is_task_done()
        except DaqError as exc:
            self._failed = True
            raise device_error(self.name, exc, "acquiring") from None
        if done:
            self._failed = True
            raise DeviceError(
                self.name,
                "NI-DAQmx stopped the acquisition without an error",
                "Check the device in NI MAX and start a new recording.",
            )

    def _stop(self) -> None:
        from nidaqmx.errors import DaqError

        self._running = False
        first_error: DaqError | None = None
        # The trigger stops first so that every triggered frame lies inside the force record.
        for task in (self._co, self._ai, *(c[0] for c in self._counters), self._do):
            if task is None:
                continue
            try:
                task.stop()
            except DaqError as exc:
                first_error = first_error or exc
        if self._ring is not None:
            self._ring.wake()
        if first_error is not None and not self._failed:
            raise device_error(self.name, first_error, "stopping the acquisition")

    def _close(self) -> None:
        self._running = False
        self._close_tasks()
        self._ring = None
        self._scratch = None

    def _close_tasks(self) -> None:
        """Release every task, even on a device that is gone (its errors are only logged)."""
        tasks = [self._do, self._co, *(c[0] for c in self._counters), self._ai]
        self._do = self._co = self._ai = None
        self._counters = []
        for task in tasks:
            if task is None:
                continue
            try:
                task.close()
            except Exception as exc:
                log.warning("%s: closing an NI-DAQmx task failed: %s", self.name, first_line(exc))

    # -- what the rest of the lab uses ----------------------------------------------------

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Every run of samples lost since :meth:`start`, in order."""
        return tuple(self._gaps)

    def emit_sync_pattern(self, durations_s: Sequence[float]) -> SyncPattern:
        """Drive the sync LED high, low, high, … for these durations, clocked by the force
        sample clock (hardware-timed), then leave it low.

        The LED is filmed by the cameras and looped back into an analog channel (``sync.led``),
        so comparing the edges seen in the frames with the recorded edges verifies the sync.
        """
        from nidaqmx.constants import AcquisitionType
        from nidaqmx.errors import DaqError

        config = self._config
        if self._do is None or config is None:
            raise DeviceError(
                self.name,
                "no sync LED line is configured",
                'Add [daq.sync_led] line = "port0/line0" to the hardware configuration.',
            )
        if not self._running:
            raise DeviceError(
                self.name, "the sync pattern needs the acquisition running (its sample clock)"
            )
        level_samples = _pattern_samples(durations_s, config.rate_hz)
        pattern = np.zeros(sum(level_samples) + 1, dtype=bool)  # ends low
        position = 0
        for i, n in enumerate(level_samples):
            pattern[position : position + n] = i % 2 == 0
            position += n
        try:
            if self._led_started and not self._do.is_task_done():
                raise DeviceError(
                    self.name,
                    "the previous sync pattern is still playing",
                    "Wait until it has finished before sending another.",
                )
            self._do.stop()
            self._do.timing.cfg_samp_clk_timing(
                config.rate_hz,
                source=config.ai_sample_clock,
                sample_mode=AcquisitionType.FINITE,
                samps_per_chan=len(pattern),
            )
            self._do.write(pattern, auto_start=False)
            self._do.start()
            self._led_started = True
        except DaqError as exc:
            raise device_error(self.name, exc, "sending the sync LED pattern") from None
        return SyncPattern(level_samples=level_samples, rate_hz=config.rate_hz)

    # -- helpers ----------------------------------------------------------------------------

    def _ring_or_fail(self) -> BlockRing:
        if self._ring is None:
            raise DeviceError(self.name, "the acquisition buffer is gone (device closed)")
        return self._ring

    def _as_device_error(self, exc: BaseException) -> DeviceError:
        if isinstance(exc, DeviceError):
            return exc
        if error_code(exc) is not None:
            return device_error(self.name, exc, "acquiring")
        return DeviceError(
            self.name,
            f"the acquisition callback failed: {type(exc).__name__}: {exc}",
            "Stop, and report this with the log file; the samples before it are kept.",
        )


def _task_name(device: str, role: str) -> str:
    """A DAQmx task name (letters, digits, dashes, spaces; no leading underscore) that NI's
    error messages show, e.g. "force-ai"."""
    safe = re.sub(r"[^A-Za-z0-9 \-]", "-", device).strip(" -") or "midstance"
    return f"{safe}-{role}"


def _pattern_samples(durations_s: Sequence[float], rate_hz: float) -> tuple[int, ...]:
    if len(durations_s) == 0:
        raise InputError("is empty", subject="sync pattern durations_s", remedy="Give durations.")
    samples = []
    for d in durations_s:
        if not (isinstance(d, int | float) and math.isfinite(d)) or round(d * rate_hz) < 1:
            raise InputError(
                f"{d!r} s is shorter than one sample at {rate_hz:g} Hz or not a number",
                subject="sync pattern durations_s",
                remedy="Use durations of at least a few milliseconds.",
            )
        samples.append(round(d * rate_hz))
    return tuple(samples)


def _terminal_configurations() -> dict[str, Any]:
    from nidaqmx.constants import TerminalConfiguration

    return {
        "differential": TerminalConfiguration.DIFF,
        "rse": TerminalConfiguration.RSE,
        "nrse": TerminalConfiguration.NRSE,
        "pseudo-differential": TerminalConfiguration.PSEUDO_DIFF,
    }


def _missing_terminals(config: NidaqSettings, device: Any) -> tuple[str, str, str] | None:
    """The first configured channel the device does not have: (key, channel, what it has)."""
    ai = list(device.ai_physical_chans.channel_names)
    for i, channel in enumerate(config.channels):
        if channel.physical not in ai:
            return f"daq.channels[{i}].physical", channel.physical, _span(ai)
    if config.camera_trigger is not None:
        counters = list(device.co_physical_chans.channel_names)
        if config.camera_trigger.counter not in counters:
            return "daq.camera_trigger.counter", config.camera_trigger.counter, _span(counters)
    if config.edge_counters:
        counters = list(device.ci_physical_chans.channel_names)
        for i, counter in enumerate(config.edge_counters):
            if counter.counter not in counters:
                return f"daq.edge_counters[{i}].counter", counter.counter, _span(counters)
    if config.sync_led_line is not None:
        lines = list(device.do_lines.channel_names)
        if config.sync_led_line not in lines:
            return "daq.sync_led.line", config.sync_led_line, _span(lines)
    return None


def _span(names: list[str]) -> str:
    if not names:
        return "none"
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)})"


def _product_type(device: str) -> str:
    from nidaqmx.system import Device as NiDevice

    return str(NiDevice(device).product_type)


def _versions() -> dict[str, str]:
    from nidaqmx.system import System

    driver = System.local().driver_version
    return {
        "nidaqmx_python": importlib.metadata.version("nidaqmx"),
        "nidaqmx_driver": f"{driver.major_version}.{driver.minor_version}.{driver.update_version}",
    }
