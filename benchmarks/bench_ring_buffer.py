"""Throughput of the ring buffer vs ``queue.Queue`` of copies, one producer, one or three consumers.

Run: ``python benchmarks/bench_ring_buffer.py [--repeats 3]``. Prints items/s for 640×480 uint8
frames and for 100-sample blocks of 16 analog channels, each measured in the same process against
the baseline most acquisition code starts with: the device reads into its own buffer, the producer
puts a copy on a queue per consumer, each consumer gets it. The ring's recorder takes everything
available in one view (what a recorder does); a queue's consumer takes one write at a time. With
three consumers the ring serves the pipeline's recorder (lossless), live analysis (sequential) and
display (latest) from one copy; the baseline needs a queue and a copy per consumer. Every consumer
touches every item it gets. These are figures, not pass/fail; the machine is shared, so run it
twice.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from typing import NamedTuple

import numpy as np

from app.ring_buffer import RingBuffer


class Case(NamedTuple):
    label: str
    item_shape: tuple[int, ...]
    dtype: type
    per_write: int  # items per device read
    capacity: int  # ring items; the baseline's queues hold as many in writes


def ring_run(case: Case, n_writes: int, consumers: int) -> float:
    """Producer reads in place (copyto stands for Device.read) and commits; readers consume."""
    _, item_shape, dtype, per_write, capacity = case
    source = np.ones((per_write, *item_shape), dtype=dtype)
    ring = RingBuffer("bench", item_shape, dtype, capacity)
    recorder = ring.lossless_reader("recorder")
    total = per_write * n_writes
    recorded = [0]
    done_event = threading.Event()

    def record():
        while (batch := recorder.read(capacity, timeout_s=5)) is not None:
            recorded[0] += int(batch.data[:, 0].sum())
            recorder.release(batch)

    def analyse():
        reader = ring.sequential_reader("analysis", max(per_write, capacity // 4))
        while (batch := reader.read(timeout_s=5)) is not None:
            batch.data[:, 0].sum()

    def display():
        reader = ring.latest_reader(per_write)
        while not done_event.wait(timeout=1 / 60):  # the display's 60 Hz timer
            reader.latest()

    threads = [threading.Thread(target=f) for f in (record, analyse, display)[:consumers]]
    began = time.perf_counter()
    for t in threads:
        t.start()
    done = 0
    while done < total:
        view = ring.reserve(min(per_write, total - done), timeout_s=1.0)
        np.copyto(view, source[: len(view)])
        ring.commit(len(view), first_index=done, host_time_s=0.0)
        done += len(view)
    ring.close()
    done_event.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    assert recorded[0] == total * int(np.prod(item_shape[1:], dtype=np.int64)), "lost items"
    return total / elapsed


def queue_run(case: Case, n_writes: int, consumers: int) -> float:
    """Baseline: device buffer, then one copy per consumer put on its bounded queue."""
    _, item_shape, dtype, per_write, capacity = case
    source = np.ones((per_write, *item_shape), dtype=dtype)
    device_buffer = np.empty_like(source)
    queues = [queue.Queue(maxsize=max(1, capacity // per_write)) for _ in range(consumers)]
    total = per_write * n_writes
    recorded = [0]

    def consume(q, count):
        while (block := q.get()) is not None:
            total_seen = int(block[:, 0].sum())
            if count:
                recorded[0] += total_seen

    threads = [threading.Thread(target=consume, args=(q, i == 0)) for i, q in enumerate(queues)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for _ in range(n_writes):
        np.copyto(device_buffer, source)
        for q in queues:
            q.put(device_buffer.copy())
    for q in queues:
        q.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    assert recorded[0] == total * int(np.prod(item_shape[1:], dtype=np.int64)), "lost items"
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (median printed)")
    args = parser.parse_args()
    cases = [
        (Case("frames 640x480 uint8, ring of 8", (480, 640), np.uint8, 1, 8), 2000),
        (Case("frames 640x480 uint8, ring of 64", (480, 640), np.uint8, 1, 64), 2000),
        (Case("analog 16 ch float64, 100-sample blocks", (16,), np.float64, 100, 10000), 10000),
    ]
    print(
        f"{'case':42s} {'consumers':>9s} {'ring items/s':>13s} {'queue items/s':>14s} {'ratio':>6s}"
    )
    for case, n_writes in cases:
        for consumers in (1, 3):
            ring_run(case, n_writes // 10, consumers)  # warm-up
            queue_run(case, n_writes // 10, consumers)
            ring_rate = np.median(
                [ring_run(case, n_writes, consumers) for _ in range(args.repeats)]
            )
            queue_rate = np.median(
                [queue_run(case, n_writes, consumers) for _ in range(args.repeats)]
            )
            print(
                f"{case.label:42s} {consumers:9d} {ring_rate:13,.0f} {queue_rate:14,.0f}"
                f" {ring_rate / queue_rate:6.2f}"
            )


if __name__ == "__main__":
    main()
