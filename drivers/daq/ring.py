"""A preallocated ring of sample blocks between the NI-DAQmx callback thread and ``read()``.

The every-N-samples callback runs on a thread of the NI driver; it must return quickly and
must not allocate per block (at 10 kHz with 20 blocks a second it runs for hours). It writes
each block straight into a slot of this ring (:meth:`BlockRing.slot` then
:meth:`BlockRing.commit`); ``Device.read`` copies out of it on the producer thread of the
pipeline (:meth:`BlockRing.take`). Every block keeps its first sample index, so a gap (samples
the hardware overwrote) travels with the data: the chunk after a gap starts at the jumped index
and carries the number of samples lost. The producer never waits for the consumer: when the ring
is full it stops taking blocks and the samples wait in the (larger) NI-DAQmx buffer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Taken:
    """What one :meth:`BlockRing.take` copied into the caller's buffer."""

    count: int
    first_index: int
    dropped: int  # samples lost immediately before ``first_index``
    host_time_s: float  # when the first block of this piece arrived


class BlockRing:
    """Single producer (the driver callback), single consumer (``read``), fixed-size blocks."""

    def __init__(self, n_blocks: int, block_samples: int, n_channels: int) -> None:
        if n_blocks < 1 or block_samples < 1 or n_channels < 1:
            raise ValueError("a ring needs at least one block, sample and channel")
        self.block_samples = block_samples
        self._data = np.zeros((n_blocks, block_samples, n_channels), dtype=np.float64)
        self._first = np.zeros(n_blocks, dtype=np.int64)
        self._count = np.zeros(n_blocks, dtype=np.int64)
        self._dropped = np.zeros(n_blocks, dtype=np.int64)
        self._host_time = np.zeros(n_blocks, dtype=np.float64)
        self._n_blocks = n_blocks
        self._written = 0  # blocks committed since reset
        self._read = 0  # blocks fully consumed since reset
        self._offset = 0  # samples already consumed from the oldest unread block
        self._error: BaseException | None = None
        self._woken = False
        self._cond = threading.Condition()

    @property
    def n_blocks(self) -> int:
        return self._n_blocks

    def reset(self) -> None:
        """Empty the ring for a new acquisition (not while one runs)."""
        with self._cond:
            self._written = self._read = self._offset = 0
            self._error = None
            self._woken = False

    # -- producer side (driver callback thread) ---------------------------------------------

    def free_blocks(self) -> int:
        with self._cond:
            return self._n_blocks - (self._written - self._read)

    def slot(self) -> np.ndarray:
        """The (block_samples, n_channels) array the next block is written into.

        Only valid while :meth:`free_blocks` is positive; the consumer never touches it then.
        """
        return self._data[self._written % self._n_blocks]

    def commit(self, first_index: int, count: int, dropped: int, host_time_s: float) -> None:
        """Publish the block just written into :meth:`slot`."""
        with self._cond:
            i = self._written % self._n_blocks
            self._first[i] = first_index
            self._count[i] = count
            self._dropped[i] = dropped
            self._host_time[i] = host_time_s
            self._written += 1
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        """Hand an acquisition error to the consumer; raised after the data before it."""
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    def wake(self) -> None:
        """Make a waiting :meth:`take` return now (the acquisition is stopping)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    # -- consumer side (``read``) -----------------------------------------------------------

    def take(self, out: np.ndarray, timeout_s: float) -> Taken | None:
        """Copy consecutive samples into ``out``; ``None`` on timeout or wake with nothing.

        A piece never spans a gap: samples after a gap start the next piece, whose ``dropped``
        says how many were lost. Raises the producer's error once the data before it is taken.
        """
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._written > self._read or self._error is not None or self._woken,
                timeout=max(0.0, timeout_s),
            ):
                return None
            available = self._written - self._read
            if available == 0:
                if self._error is not None:
                    raise self._error
                self._woken = False
                return None
            start_block, offset = self._read, self._offset
        # Copy outside the lock: the producer never writes a slot that has not been consumed.
        filled = 0
        block = start_block
        first_index = -1
        dropped = 0
        host_time = 0.0
        end_block = start_block + available
        while filled < len(out) and block < end_block:
            i = block % self._n_blocks
            if filled == 0:
                first_index = int(self._first[i]) + offset
                dropped = int(self._dropped[i]) if offset == 0 else 0
                host_time = float(self._host_time[i])
            elif self._first[i] != first_index + filled or self._dropped[i] != 0:
                break  # a gap: the samples after it start the next piece
            n = min(int(self._count[i]) - offset, len(out) - filled)
            out[filled : filled + n] = self._data[i, offset : offset + n]
            filled += n
            offset += n
            if offset == self._count[i]:
                block += 1
                offset = 0
        with self._cond:
            self._read, self._offset = block, offset
        return Taken(filled, first_index, dropped, host_time)
