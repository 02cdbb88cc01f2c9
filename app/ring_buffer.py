"""Preallocated ring buffers between one device's producer thread and its consumers.

Each device's producer thread writes items of one fixed shape and dtype (a frame, or one sample of
every analog channel) with per-item metadata (device index, session time, device time, host time)
straight into the ring: :meth:`RingBuffer.reserve` hands out a view of free slots for
``Device.read(out=...)``, :meth:`RingBuffer.commit` publishes them. Nothing is allocated per item.

Consumers choose their own back-pressure (DESIGN.md "Data flow"):

- :class:`LosslessReader` (the recorder) gets every item exactly once, in order, as zero-copy
  views. The producer never overwrites slots it has not released; when it is a whole ring behind,
  the producer waits for it (at most ``timeout_s`` per call, then returns an empty reservation so
  it can check for stop) and the ring is flagged ``recorder_behind`` with the time lost. The
  device's own buffer absorbs the wait; if that overflows the driver reports the loss as
  ``Chunk.dropped``, which is counted here too. Data are never silently overwritten.
- :class:`LatestReader` (the display) copies the newest items into its own buffer; it never
  blocks the producer and never waits.
- :class:`SequentialReader` (live analysis) copies items in order into its own buffer and may fall
  behind; each batch says exactly how many items were overwritten before it could read them.

Non-lossless readers validate their copy afterwards against the producer's reservation counter
(a seqlock), so a torn item is never delivered; the lock is held only to publish counters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from analysis.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from drivers.base import Chunk

RECORDER_BEHIND = "recorder_behind"
DEVICE_DROPPED = "device_dropped"
RECORDER_DETACHED = "recorder_detached"


@dataclass(slots=True)
class ItemBatch:
    """Items ``first_seq … first_seq + count − 1`` (ring sequence numbers) and their metadata.

    For a lossless reader the arrays are views into the ring, valid until released; for the other
    readers they are views into the reader's own buffer, valid until its next read. (Not frozen:
    one is made per read, and a frozen dataclass costs several microseconds more to build.)
    """

    first_seq: int
    count: int
    data: np.ndarray
    index: np.ndarray  # int64, the device's item index (sample index, frame counter)
    session_time_s: np.ndarray
    device_time_s: np.ndarray
    host_time_s: np.ndarray
    missed: int = 0  # sequential reader: items overwritten before this batch could read them


@dataclass(frozen=True)
class RingStatus:
    name: str
    capacity: int
    written: int
    recorder_waits: int
    recorder_wait_s: float
    device_dropped: int
    lossless_lag: dict[str, int]
    flags: tuple[str, ...]


class RingBuffer:
    """One writer, many readers, fixed-size items; see the module docstring."""

    def __init__(
        self,
        name: str,
        item_shape: tuple[int, ...],
        dtype: np.dtype | str,
        capacity: int,
    ) -> None:
        if capacity < 2:
            raise InputError(
                f"capacity {capacity} is too small",
                subject=f"ring buffer '{name}'",
                remedy="Use a capacity of at least a few seconds of items.",
            )
        self.name = name
        self.capacity = int(capacity)
        self.data = np.empty((capacity, *item_shape), dtype=dtype)
        # touch every page now (np.zeros maps them lazily): the ring's memory is in use from
        # connect, and the real-time path never pays a page fault; memory growth is then growth
        self.data.fill(0)
        self.index = np.full(capacity, -1, dtype=np.int64)
        self.session_time_s = np.full(capacity, np.nan)
        self.device_time_s = np.full(capacity, np.nan)
        self.host_time_s = np.full(capacity, np.nan)
        self._ramp = np.arange(capacity, dtype=np.int64)
        self._cond = threading.Condition(threading.Lock())
        self._waiters = 0  # threads waiting on _cond; notify only when there are any
        self._written = 0  # items committed: sequence numbers 0 … written − 1 exist
        self._reserved_end = 0  # slots of sequence numbers below reserved_end − capacity are stale
        self._pending = 0  # size of the outstanding reservation
        self._closed = False
        self._lossless: list[LosslessReader] = []
        self._recorder_waits = 0
        self._recorder_wait_s = 0.0
        self._device_dropped = 0
        self._detached = False

    # -- the producer -------------------------------------------------------------------------

    @property
    def written(self) -> int:
        return self._written

    @property
    def closed(self) -> bool:
        return self._closed

    def reserve(self, max_items: int, timeout_s: float = 0.1) -> np.ndarray:
        """A writable view of up to ``max_items`` contiguous free slots (empty if none in time).

        Waits only while a lossless reader is a whole ring behind; that wait is counted and
        flags the ring ``recorder_behind``.
        """
        with self._cond:
            free = self._free()
            if free == 0:
                began = time.monotonic()
                self._recorder_waits += 1
                self._wait(lambda: self._free() > 0, timeout_s)
                self._recorder_wait_s += time.monotonic() - began
                free = self._free()
            start = self._written % self.capacity
            n = max(0, min(max_items, free, self.capacity - start))
            self._pending = n
            self._reserved_end = self._written + n
        return self.data[start : start + n]

    def commit(
        self,
        count: int,
        *,
        first_index: int | None = None,
        indices: np.ndarray | None = None,
        session_time_s: np.ndarray | float = np.nan,
        device_time_s: np.ndarray | float = np.nan,
        host_time_s: np.ndarray | float = np.nan,
        dropped: int = 0,
    ) -> None:
        """Publish the first ``count`` reserved items with their metadata.

        Give either ``first_index`` (consecutive items) or ``indices``; times are per item or
        one value for all. ``dropped`` adds to the items the device reported lost.
        """
        if not 0 <= count <= self._pending:
            raise InputError(
                f"commit of {count} items but {self._pending} were reserved",
                subject=f"ring buffer '{self.name}'",
                remedy="Commit at most what reserve() returned, once per reservation.",
            )
        start = self._written % self.capacity
        part = slice(start, start + count)
        if indices is not None:
            self.index[part] = indices[:count]
        else:
            base = self._written if first_index is None else first_index
            np.add(self._ramp[:count], base, out=self.index[part])
        for target, value in (
            (self.session_time_s, session_time_s),
            (self.device_time_s, device_time_s),
            (self.host_time_s, host_time_s),
        ):
            target[part] = value if isinstance(value, float | int) else value[:count]
        with self._cond:
            self._written += count
            self._reserved_end = self._written
            self._pending = 0
            self._device_dropped += dropped
            if self._waiters:
                self._cond.notify_all()

    def commit_chunk(self, chunk: Chunk, session_time_s: np.ndarray | float = np.nan) -> None:
        """Publish what ``Device.read(out=reserve(...))`` delivered, with its indices and drops."""
        self.commit(
            chunk.count,
            first_index=chunk.first_index,
            indices=chunk.indices,
            session_time_s=session_time_s,
            device_time_s=np.nan if chunk.device_time_s is None else chunk.device_time_s,
            host_time_s=chunk.host_time_s,
            dropped=chunk.dropped,
        )

    def write(
        self,
        items: np.ndarray,
        *,
        first_index: int | None = None,
        session_time_s: np.ndarray | float = np.nan,
        host_time_s: float = np.nan,
        timeout_s: float = 0.1,
    ) -> int:
        """Copy ``items`` in (for producers that cannot read in place); returns how many fitted.

        Fewer than ``len(items)`` only when a lossless reader stayed a full ring behind for
        ``timeout_s``; the caller keeps the rest and retries.
        """
        done = 0
        while done < len(items):
            view = self.reserve(len(items) - done, timeout_s)
            n = len(view)
            if n == 0:
                break
            view[...] = items[done : done + n]
            times = session_time_s if np.ndim(session_time_s) == 0 else session_time_s[done:]
            base = None if first_index is None else first_index + done
            self.commit(n, first_index=base, session_time_s=times, host_time_s=host_time_s)
            done += n
        return done

    def close(self) -> None:
        """End of stream: readers drain what is left and then get ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- readers ------------------------------------------------------------------------------

    def lossless_reader(self, name: str) -> LosslessReader:
        """A reader that gets every item from now on; the producer waits for it if needed."""
        with self._cond:
            reader = LosslessReader(self, name, self._written)
            self._lossless.append(reader)
            return reader

    def sequential_reader(self, name: str, max_items: int) -> SequentialReader:
        return SequentialReader(self, name, max_items)

    def latest_reader(self, max_items: int = 1) -> LatestReader:
        return LatestReader(self, max_items)

    # -- status -------------------------------------------------------------------------------

    def status(self) -> RingStatus:
        with self._cond:
            lag = {r.name: self._written - r.position for r in self._lossless}
            return RingStatus(
                name=self.name,
                capacity=self.capacity,
                written=self._written,
                recorder_waits=self._recorder_waits,
                recorder_wait_s=self._recorder_wait_s,
                device_dropped=self._device_dropped,
                lossless_lag=lag,
                flags=self._flags(),
            )

    @property
    def flags(self) -> tuple[str, ...]:
        with self._cond:
            return self._flags()

    # -- internals ----------------------------------------------------------------------------

    def _flags(self) -> tuple[str, ...]:
        flags = []
        if self._recorder_waits:
            flags.append(RECORDER_BEHIND)
        if self._device_dropped:
            flags.append(DEVICE_DROPPED)
        if self._detached:
            flags.append(RECORDER_DETACHED)
        return tuple(flags)

    def _wait(self, ready: Callable[[], bool], timeout_s: float | None) -> None:
        """Wait (holding the lock on entry and exit) until ``ready()`` or the timeout."""
        if ready():
            return
        self._waiters += 1
        try:
            self._cond.wait_for(ready, timeout_s)
        finally:
            self._waiters -= 1

    def _free(self) -> int:
        if not self._lossless:
            return self.capacity
        oldest = min(r.position for r in self._lossless)
        return self.capacity - (self._written - oldest)

    def _batch(
        self, start_seq: int, count: int, source: RingBuffer | _Arrays, offset: int, missed: int = 0
    ) -> ItemBatch:
        """A batch of views into ``source`` (the ring itself, or a reader's copy buffer)."""
        part = slice(offset, offset + count)
        return ItemBatch(
            first_seq=start_seq,
            count=count,
            data=source.data[part],
            index=source.index[part],
            session_time_s=source.session_time_s[part],
            device_time_s=source.device_time_s[part],
            host_time_s=source.host_time_s[part],
            missed=missed,
        )

    def _copy_out(self, seq: int, count: int, into: _Arrays) -> None:
        """Copy items ``seq … seq+count−1`` into ``into[0:count]``, across the wrap if needed."""
        start = seq % self.capacity
        first = min(count, self.capacity - start)
        for src, dst in zip(self._arrays(), into.all(), strict=True):
            dst[:first] = src[start : start + first]
            if first < count:
                dst[first:count] = src[: count - first]

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.data, self.index, self.session_time_s, self.device_time_s, self.host_time_s)


class _Arrays:
    """A reader's own preallocated copy buffer with the ring's layout."""

    def __init__(self, ring: RingBuffer, n: int) -> None:
        self.data = np.empty((n, *ring.data.shape[1:]), dtype=ring.data.dtype)
        self.index = np.empty(n, dtype=np.int64)
        self.session_time_s = np.empty(n)
        self.device_time_s = np.empty(n)
        self.host_time_s = np.empty(n)

    def all(self) -> tuple[np.ndarray, ...]:
        return (self.data, self.index, self.session_time_s, self.device_time_s, self.host_time_s)


class LosslessReader:
    """Every item exactly once, in order, as views into the ring (the recorder)."""

    def __init__(self, ring: RingBuffer, name: str, position: int) -> None:
        self.ring = ring
        self.name = name
        self.position = position  # next sequence number to read (everything before is released)
        self._outstanding = 0

    def read(self, max_items: int, timeout_s: float | None = None) -> ItemBatch | None:
        """The next items (contiguous, up to ``max_items``); ``None`` once closed and drained.

        Waits for at least one item up to ``timeout_s`` (an empty batch on timeout). The items
        stay untouched until :meth:`release`.
        """
        ring = self.ring
        with ring._cond:
            if self._outstanding:
                raise InputError(
                    "read() before the previous batch was released",
                    subject=f"ring buffer '{ring.name}' reader '{self.name}'",
                    remedy="Call release(batch) after each read.",
                )
            ring._wait(lambda: ring._written > self.position or ring._closed, timeout_s)
            available = ring._written - self.position
            if available == 0 and ring._closed:
                return None
        start = self.position % ring.capacity
        n = min(max_items, available, ring.capacity - start)
        self._outstanding = n
        return ring._batch(self.position, n, ring, start)

    def release(self, batch: ItemBatch) -> None:
        """Give the batch's slots back to the producer."""
        if batch.count != self._outstanding or batch.first_seq != self.position:
            raise InputError(
                "release() of a batch that is not the one outstanding",
                subject=f"ring buffer '{self.ring.name}' reader '{self.name}'",
                remedy="Release each batch once, in the order read.",
            )
        with self.ring._cond:
            self.position += batch.count
            self._outstanding = 0
            if self.ring._waiters:
                self.ring._cond.notify_all()

    def detach(self) -> None:
        """Stop holding the producer back (the recorder failed); the ring is flagged."""
        self._leave(flag=True)

    def leave(self) -> None:
        """Stop holding the producer back after reading all it wanted (no flag)."""
        self._leave(flag=False)

    def _leave(self, flag: bool) -> None:
        with self.ring._cond:
            if self in self.ring._lossless:
                self.ring._lossless.remove(self)
                self.ring._detached = self.ring._detached or flag
                self.ring._cond.notify_all()


class SequentialReader:
    """Items in order, copied out; falls behind rather than holding the producer (live analysis)."""

    def __init__(self, ring: RingBuffer, name: str, max_items: int) -> None:
        self.ring = ring
        self.name = name
        self.position = ring.written
        self.missed_total = 0
        self._buffer = _Arrays(ring, max_items)
        self._max_items = max_items

    def read(self, timeout_s: float | None = None) -> ItemBatch | None:
        """The next items and how many were overwritten before them; ``None`` when closed."""
        ring = self.ring
        with ring._cond:
            ring._wait(lambda: ring._written > self.position or ring._closed, timeout_s)
            written = ring._written
            if written == self.position and ring._closed:
                return None
        start = max(self.position, ring._reserved_end - ring.capacity)
        count = min(self._max_items, written - start)
        ring._copy_out(start, count, self._buffer)
        # seqlock check: slots the producer reserved meanwhile may have changed under the copy
        torn = min(count, max(0, ring._reserved_end - ring.capacity - start))
        if torn:
            for array in self._buffer.all():
                array[: count - torn] = array[torn:count]
        start, count = start + torn, count - torn
        missed = start - self.position
        self.position = start + count
        self.missed_total += missed
        return ring._batch(start, count, self._buffer, 0, missed)


class LatestReader:
    """The newest items, copied out; never waits and never blocks the producer (display)."""

    def __init__(self, ring: RingBuffer, max_items: int) -> None:
        self.ring = ring
        self._buffer = _Arrays(ring, max_items)
        self._max_items = max_items

    def latest(self, n: int | None = None) -> ItemBatch | None:
        """Up to ``n`` of the newest items, oldest first; ``None`` before the first item."""
        ring = self.ring
        want = self._max_items if n is None else min(n, self._max_items)
        for _ in range(8):
            written = ring._written
            if written == 0:
                return None
            start = max(written - want, ring._reserved_end - ring.capacity, 0)
            count = written - start
            ring._copy_out(start, count, self._buffer)
            if ring._reserved_end - ring.capacity <= start:
                return ring._batch(start, count, self._buffer, 0)
        # the producer lapped us eight times over (ring far too small for the window): say so
        raise InputError(
            f"the producer overwrote the newest {want} items while they were being copied",
            subject=f"ring buffer '{ring.name}'",
            remedy="Make the ring larger than the display window.",
        )
