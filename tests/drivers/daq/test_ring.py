"""The block ring between the NI-DAQmx callback thread and read()."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from drivers.base import DeviceLost
from drivers.daq.ring import BlockRing


def put(ring: BlockRing, first: int, dropped: int = 0) -> None:
    n = ring.block_samples
    ring.slot()[:] = np.arange(first, first + n)[:, None] + [0.0, 0.5]
    ring.commit(first, n, dropped, host_time_s=float(first))


def test_pieces_are_consecutive_and_never_span_a_gap():
    ring = BlockRing(n_blocks=4, block_samples=10, n_channels=2)
    put(ring, 0)
    put(ring, 10)
    put(ring, 50, dropped=30)  # samples 20..49 were lost
    out = np.empty((15, 2))
    first = ring.take(out, 0)
    assert (first.count, first.first_index, first.dropped) == (15, 0, 0)
    second = ring.take(out, 0)
    assert (second.count, second.first_index, second.dropped) == (5, 15, 0)  # stops at the gap
    np.testing.assert_array_equal(out[:5, 0], np.arange(15, 20))
    third = ring.take(out, 0)
    assert (third.count, third.first_index, third.dropped) == (10, 50, 30)
    np.testing.assert_array_equal(out[:10, 1], np.arange(50, 60) + 0.5)
    assert ring.take(out, 0) is None


def test_full_ring_refuses_more_until_read_and_then_reuses_slots():
    ring = BlockRing(n_blocks=2, block_samples=4, n_channels=2)
    put(ring, 0)
    put(ring, 4)
    assert ring.free_blocks() == 0
    out = np.empty((4, 2))
    assert ring.take(out, 0).first_index == 0
    assert ring.free_blocks() == 1
    put(ring, 8)
    assert [ring.take(out, 0).first_index for _ in range(2)] == [4, 8]
    np.testing.assert_array_equal(out[:, 0], [8, 9, 10, 11])


def test_an_error_is_raised_after_the_data_before_it():
    ring = BlockRing(n_blocks=2, block_samples=4, n_channels=2)
    put(ring, 0)
    ring.fail(DeviceLost("force", "gone"))
    out = np.empty((8, 2))
    assert ring.take(out, 0).count == 4
    with pytest.raises(DeviceLost):
        ring.take(out, 0)


def test_wake_releases_a_waiting_reader():
    ring = BlockRing(n_blocks=2, block_samples=4, n_channels=2)
    results = []
    reader = threading.Thread(target=lambda: results.append(ring.take(np.empty((4, 2)), 30.0)))
    reader.start()
    ring.wake()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert results == [None]
