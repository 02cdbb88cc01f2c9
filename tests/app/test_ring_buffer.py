"""Ring buffers: lossless, latest-only and sequential consumers of one producer, real threads."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from analysis.errors import InputError
from app.ring_buffer import RECORDER_BEHIND, RECORDER_DETACHED, RingBuffer
from drivers.base import (
    Chunk,
    Device,
    Health,
    HealthStatus,
    StreamDescription,
    StreamKind,
    monotonic,
)

SHAPE = (6, 5)


def item(index: int) -> np.ndarray:
    """Item content derived from its index, so a torn or misplaced item is detectable."""
    return np.full(SHAPE, index % 65521, dtype=np.uint16) + np.arange(5, dtype=np.uint16)


def test_sequential_reader_is_told_exactly_how_many_items_it_missed():
    ring = RingBuffer("force", SHAPE, np.uint16, capacity=8)
    reader = ring.sequential_reader("analysis", max_items=4)
    for k in range(20):
        assert ring.write(item(k)[None], first_index=100 + k) == 1
    batch = reader.read(timeout_s=0)
    assert (batch.missed, batch.count, batch.first_seq) == (12, 4, 12)
    np.testing.assert_array_equal(batch.index, [112, 113, 114, 115])
    np.testing.assert_array_equal(batch.data[0], item(12))
    batch = reader.read(timeout_s=0)
    assert (batch.missed, batch.count) == (0, 4)
    assert batch.index[-1] == 119
    assert reader.read(timeout_s=0).count == 0  # caught up: an empty batch on timeout
    ring.close()
    assert reader.read(timeout_s=0) is None
    assert reader.missed_total == 12


def test_latest_reader_gets_the_newest_window_and_never_waits():
    ring = RingBuffer("sagittal", SHAPE, np.uint16, capacity=8)
    latest = ring.latest_reader(max_items=3)
    assert latest.latest() is None
    ring.write(np.stack([item(k) for k in range(11)]), first_index=0, host_time_s=5.0)
    window = latest.latest()
    np.testing.assert_array_equal(window.index, [8, 9, 10])
    np.testing.assert_array_equal(window.data[-1], item(10))
    assert latest.latest(1).index.tolist() == [10]
    np.testing.assert_array_equal(window.host_time_s, 5.0)


def test_lossless_reader_holds_the_producer_and_the_ring_is_flagged():
    ring = RingBuffer("force", SHAPE, np.uint16, capacity=4)
    recorder = ring.lossless_reader("recorder")
    assert ring.write(np.stack([item(k) for k in range(6)]), timeout_s=0) == 4
    assert ring.reserve(1, timeout_s=0).shape == (0, *SHAPE)  # full: nothing overwritten
    assert ring.flags == (RECORDER_BEHIND,)
    batch = recorder.read(3)
    np.testing.assert_array_equal(batch.index, [0, 1, 2])
    assert np.shares_memory(batch.data, ring.data)  # zero copy
    with pytest.raises(InputError, match="release"):
        recorder.read(1)
    recorder.release(batch)
    assert ring.write(np.stack([item(k) for k in range(4, 6)]), timeout_s=0) == 2
    status = ring.status()
    assert status.lossless_lag == {"recorder": 3} and status.recorder_waits >= 1
    recorder.detach()
    assert ring.write(np.stack([item(k) for k in range(10)]), timeout_s=0) == 10
    assert RECORDER_DETACHED in ring.flags


def test_in_place_reads_publish_device_chunks_with_their_indices_and_drops():
    ring = RingBuffer("sagittal", SHAPE, np.uint16, capacity=8)
    recorder = ring.lossless_reader("recorder")
    view = ring.reserve(3)
    view[:] = [item(k) for k in (10, 11, 13)]
    chunk = Chunk(
        count=3,
        first_index=10,
        host_time_s=1.5,
        indices=np.array([10, 11, 13]),
        device_time_s=np.array([0.1, 0.2, 0.4]),
        dropped=1,
    )
    ring.commit_chunk(chunk, session_time_s=np.array([1.0, 1.1, 1.3]))
    batch = recorder.read(8)
    np.testing.assert_array_equal(batch.index, [10, 11, 13])
    np.testing.assert_array_equal(batch.device_time_s, [0.1, 0.2, 0.4])
    np.testing.assert_array_equal(batch.session_time_s, [1.0, 1.1, 1.3])
    assert ring.status().device_dropped == 1 and "device_dropped" in ring.flags
    with pytest.raises(InputError, match="reserved"):
        ring.commit(1)


def test_threads_lossless_exactly_once_latest_newest_sequential_exact_misses():
    n_items, capacity = 4000, 16
    ring = RingBuffer("sagittal", SHAPE, np.uint16, capacity=capacity)
    recorder = ring.lossless_reader("recorder")
    analysis = ring.sequential_reader("analysis", max_items=2)
    latest = ring.latest_reader(max_items=2)
    ring_full = threading.Event()
    producer_done = threading.Event()
    errors: list[str] = []
    recorded: list[int] = []
    seen: list[tuple[int, int]] = []  # sequential: (first index, missed) per batch
    seen_indices: list[int] = []
    latest_indices: list[int] = []

    def produce():
        rng = np.random.default_rng(0)
        k = 0
        while k < n_items:
            view = ring.reserve(int(rng.integers(1, 6)), timeout_s=0.01)
            if len(view) == 0:
                ring_full.set()  # the recorder is a whole ring behind; we waited, nothing lost
                continue
            for i in range(len(view)):
                view[i] = item(k + i)
            ring.commit(len(view), first_index=k, host_time_s=float(k))
            k += len(view)
        ring.close()
        producer_done.set()

    def record():
        ring_full.wait(timeout=10)  # start only once the producer has had to wait for us
        while (batch := recorder.read(3, timeout_s=10)) is not None:
            for i, index in enumerate(batch.index.tolist()):
                if not np.array_equal(batch.data[i], item(index)):
                    errors.append(f"recorder: item {index} torn")
                recorded.append(index)
                np.linalg.norm(batch.data[i].astype(float))  # the work that makes it slow
            recorder.release(batch)

    def analyse():
        while (batch := analysis.read(timeout_s=10)) is not None:
            seen.append((int(batch.index[0]) if batch.count else -1, batch.missed))
            for i, index in enumerate(batch.index.tolist()):
                if not np.array_equal(batch.data[i], item(index)):
                    errors.append(f"analysis: item {index} torn")
                seen_indices.append(index)
                np.linalg.svd(batch.data[i].astype(float))

    def display():
        while not producer_done.wait(timeout=0.0005):  # the display's timer tick
            window = latest.latest(1)
            if window is None:
                continue
            index = int(window.index[0])
            if not np.array_equal(window.data[0], item(index)):
                errors.append(f"display: item {index} torn")
            latest_indices.append(index)

    threads = [threading.Thread(target=f) for f in (produce, record, analyse, display)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    # lossless: every item exactly once, in order, though it started a ring behind
    assert recorded == list(range(n_items))
    assert RECORDER_BEHIND in ring.flags
    # sequential: what it saw plus what it was told it missed is exactly everything, in order
    missed_total = sum(m for _, m in seen)
    assert len(seen_indices) + missed_total == n_items
    assert seen_indices == sorted(set(seen_indices))
    gaps = np.diff(np.r_[-1, seen_indices]) - 1
    assert int(gaps.sum()) == missed_total == analysis.missed_total
    # latest-only: never went backwards, and ends on the newest item
    assert latest_indices == sorted(latest_indices)
    assert latest.latest(1).index.tolist() == [n_items - 1]


def test_the_data_path_allocates_nothing_item_sized():
    frame = np.full((480, 640), 7, dtype=np.uint8)
    ring = RingBuffer("sagittal", frame.shape, np.uint8, capacity=16)
    recorder = ring.lossless_reader("recorder")
    analysis = ring.sequential_reader("analysis", max_items=4)
    display = ring.latest_reader(1)

    def cycle(k):
        view = ring.reserve(1)
        np.copyto(view[0], frame)
        ring.commit(1, first_index=k, host_time_s=0.0)
        batch = recorder.read(4, timeout_s=0)
        recorder.release(batch)
        analysis.read(timeout_s=0)
        display.latest()

    cycle(0)  # first-call caches
    tracemalloc.start()
    for k in range(1, 200):
        cycle(k)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < frame.nbytes / 20  # views and counters only: no frame-sized copy or buffer
    assert recorder.position == 200 and display.latest().index[0] == 199


class SkippingCamera(Device):
    """Frames whose pixels are their frame counter; frames in ``settings['lost']`` never arrive."""

    kind = "test.skipping-camera"

    @classmethod
    def probe(cls, name, settings):
        return Health(HealthStatus.SIMULATED)

    def _open(self):
        self.next_counter = 0
        return StreamDescription(self.name, StreamKind.FRAMES, "test", "uint16", SHAPE, 250.0)

    def _start(self):
        pass

    def _read(self, out, timeout_s):
        lost = self.settings["lost"]
        indices = np.empty(len(out), dtype=np.int64)
        n = dropped = 0
        while n < len(out) and self.next_counter < self.settings["n_frames"]:
            if self.next_counter in lost:
                dropped += 1
            else:
                out[n] = item(self.next_counter)
                indices[n] = self.next_counter
                n += 1
            self.next_counter += 1
        first = int(indices[0]) if n else self.next_counter
        return Chunk(n, first, monotonic(), indices=indices, dropped=dropped)

    def _stop(self):
        pass

    def _close(self):
        pass


def test_a_device_reads_straight_into_the_ring_on_its_producer_thread():
    lost = {5, 6, 99, 100, 101, 640}
    camera = SkippingCamera("sagittal", {"lost": lost, "n_frames": 1000})
    description = camera.open()
    camera.start()
    ring = RingBuffer("sagittal", description.shape, description.dtype, capacity=32)
    recorder = ring.lossless_reader("recorder")
    recorded: list[int] = []
    torn: list[int] = []

    def produce():
        while camera.next_counter < 1000:
            view = ring.reserve(8, timeout_s=1.0)
            if len(view):
                ring.commit_chunk(camera.read(view))  # Device.read checks shape and dtype
        ring.close()

    def record():
        while (batch := recorder.read(5, timeout_s=10)) is not None:
            for i, index in enumerate(batch.index.tolist()):
                recorded.append(index)
                if not np.array_equal(batch.data[i], item(index)):
                    torn.append(index)
            recorder.release(batch)

    threads = [threading.Thread(target=produce), threading.Thread(target=record)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    camera.close()
    assert not any(t.is_alive() for t in threads)
    assert torn == []
    assert recorded == sorted(set(range(1000)) - lost)  # the device's own indices, not renumbered
    assert ring.status().device_dropped == len(lost)


def test_bad_ring_settings_are_clear_errors():
    with pytest.raises(InputError, match="capacity"):
        RingBuffer("force", (16,), np.float64, capacity=1)
