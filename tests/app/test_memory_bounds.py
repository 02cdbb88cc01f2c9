"""What the live pipeline keeps grows with gaps and stances, not with frames, samples or
recordings (issue #5: resident memory crept up 15–25 MB a minute at 2 × 500 fps).

What grew: the frame counters of every camera read (one small array per read, ~100 bytes of
object for 1–8 frames: ~5 MB a minute at 1000 frames/s), the whole-session reconciliation kept
between status calls (24 bytes a frame since connect), the software-sync logs (a list entry per
read), and glibc's heap, which keeps the freed per-frame write buffers resident. These tests
count the structures (and measure the one RSS effect large enough to be robust: 60 MB given
back by the heap trim), never wall time.
"""

from __future__ import annotations

import gc
import json
import os
import weakref

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.pipeline import AppendLog, CounterRuns
from app.recorder import release_free_heap
from app.session_controller import SessionController
from drivers.config import parse_config

FPS = 100.0
RECORDINGS = 4
RECORDING_S = 1.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.integers(0, 3)),  # (frames in a read, frames skipped)
        min_size=1,
        max_size=60,
    )
)
@settings(max_examples=200, deadline=None)
def test_counter_runs_give_back_every_counter_in_order_and_grow_only_with_gaps(reads):
    runs, expected, counter, gaps = CounterRuns(), [], 5, 0
    for size, skip in reads:
        counter += skip
        gaps += skip > 0
        chunk = np.arange(counter, counter + size, dtype=np.int64)
        runs.extend(chunk)
        expected.append(chunk)
        counter += size
    np.testing.assert_array_equal(runs.array(), np.concatenate(expected))
    assert len(runs) == sum(len(c) for c in expected)
    assert runs.runs == 1 + gaps - (reads[0][1] > 0)  # a skip before the first read is no gap
    assert runs.last() == counter - 1


def test_counter_runs_keep_any_order_exactly():
    """Counters that go back (a camera reset) are kept as delivered, not sorted or merged."""
    runs = CounterRuns()
    for chunk in ([3, 4, 5], [6, 2, 3], [3], [10]):
        runs.extend(np.array(chunk))
    np.testing.assert_array_equal(runs.array(), [3, 4, 5, 6, 2, 3, 3, 10])
    assert runs.runs == 4


def test_a_ten_minute_camera_at_500_fps_costs_bytes_not_megabytes():
    """301 000 frames in reads of one or two, no drops: one run (the list of arrays it replaces
    held 28 MB, measured with tracemalloc)."""
    runs = CounterRuns()
    counter = 0
    for size in np.resize([1, 2, 1, 1, 2], 215_000):
        runs.extend(np.arange(counter, counter + size))
        counter += size
    assert len(runs) == counter > 290_000
    assert runs.runs == 1 and runs.nbytes <= 256


def test_append_log_views_are_snapshots_and_cost_eight_bytes_an_item():
    log = AppendLog()
    parts = [np.full(k, float(k)) for k in (1, 3, 700, 2, 5000, 1)]
    log.extend(parts[0])
    early = log.view()
    for part in parts[1:]:
        log.extend(part)
    np.testing.assert_array_equal(log.view(), np.concatenate(parts))
    np.testing.assert_array_equal(early, [1.0])  # a view taken earlier is unchanged
    log.extend(2.5)  # a scalar is one item
    assert len(log) == sum(p.size for p in parts) + 1 and log.view()[-1] == 2.5
    assert log.nbytes <= 2 * 8 * len(log)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_release_free_heap_gives_freed_memory_back():
    """60 MB of 100 kB buffers freed between small live allocations stays resident (the heap
    can only shrink at its top); the trim gives it back."""
    if not release_free_heap():
        pytest.skip("no malloc_trim in this C library")
    big, pins = [], []
    for _ in range(600):
        buffer = np.empty(100_000, np.uint8)
        buffer.fill(1)  # resident
        big.append(buffer)
        pins.append(bytearray(2048))  # a small live allocation after each buffer
    del buffer
    held = _rss_mb()
    big.clear()
    freed = _rss_mb()
    release_free_heap()
    trimmed = _rss_mb()
    assert len(pins) == 600
    assert freed - trimmed > 30.0, (held, freed, trimmed)


@pytest.fixture(scope="module")
def many_recordings(tmp_path_factory, prerendered_camera):
    """One session at pace "fast" (two cameras at 100 fps, hardware sync with the exposure
    witness, 2 kHz DAQ) recorded as four 1 s files back to back; weak references to every
    recorder and writer, and the pipeline's histories after each stop."""
    raw = {
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": view, "kind": prerendered_camera.KIND, "view": view, "rate_hz": FPS}
            for view in ("sagittal", "posterior")
        ],
        "simulation": {
            "seed": 3,
            "duration_s": 600.0,  # at pace fast the session runs on between recordings
            "setup": {"image_width": 320, "image_height": 240},
        },
    }
    folder = tmp_path_factory.mktemp("memory")
    controller = SessionController(
        parse_config(raw), pace="fast", device_factory=prerendered_camera.factory
    )
    objects, after_each, paths = [], [], []
    controller.connect()
    try:
        for k in range(RECORDINGS):
            paths.append(folder / f"r{k}.midstance.h5")
            controller.start_recording(paths[-1], duration_s=RECORDING_S)
            recorder = controller.recorder
            assert recorder.created.wait(60.0)
            objects.append((weakref.ref(recorder), weakref.ref(recorder.writer)))
            del recorder
            start = controller.synchronised_time_s()
            assert controller.wait_for_session_time(start + RECORDING_S + 0.1, timeout_s=120)
            controller.stop_recording()
            controller.status()  # the live reconciliation, as the devices panel asks for it
            after_each.append(
                {
                    name: (s.received.runs, s.received.nbytes, len(s.received), s.items)
                    for name, s in controller.camera_streams.items()
                }
            )
        readers = {
            s.name: len(s.ring._lossless)
            for s in (controller.daq_stream, *controller.camera_streams.values())
        }
        live = {
            camera: (state.result, state.pulse, state.missing)
            for camera, state in controller._live_reconciliation.items()
        }
        witness = {
            camera: (len(edges), edges._data.nbytes)
            for camera, edges in controller.witness.edges.items()
        }
    finally:
        controller.close()
    gc.collect()
    return {
        "objects": objects,
        "after_each": after_each,
        "readers": readers,
        "live": live,
        "witness": witness,
        "paths": paths,
    }


def test_no_recorder_or_writer_outlives_its_recording(many_recordings):
    """Four recordings leave no recorder, no session writer (with its HDF5 file and buffers) and
    no ring reader behind: only the live analysis still reads the rings."""
    objects = many_recordings["objects"]
    assert len(objects) == RECORDINGS
    assert [(r() is None, w() is None) for r, w in objects] == [(True, True)] * RECORDINGS
    # pace fast: the force analysis holds the DAQ's lossless reader, each tracker its camera's
    assert many_recordings["readers"] == {"force": 1, "sagittal": 1, "posterior": 1}


def test_a_recorder_that_finished_its_streams_is_not_reported_as_failed(many_recordings):
    """Letting go of the rings at the end of a recording is not a recorder failure: no file's
    acquisition record flags a ring ``recorder_detached`` (every one did before)."""
    for path in many_recordings["paths"]:
        with h5py.File(path, "r") as f:
            acquisition = json.loads(f.attrs["acquisition_json"])
        assert all(
            "recorder_detached" not in device["ring"]["flags"]
            for device in acquisition["devices"].values()
        ), acquisition["devices"]


def test_frame_counters_since_connect_stay_one_run_whatever_the_frames(many_recordings):
    """Every frame is counted (items delivered = counters kept), yet each camera's history is a
    single run of a few bytes after one recording as after four."""
    for stop in many_recordings["after_each"]:
        for runs, nbytes, counted, items in stop.values():
            assert runs == 1 and nbytes <= 256
            assert counted == items
    first, last = many_recordings["after_each"][0], many_recordings["after_each"][-1]
    assert all(last[n][2] >= first[n][2] + (RECORDINGS - 1) * RECORDING_S * FPS for n in first)


def test_the_status_keeps_only_the_missing_frames_between_calls(many_recordings):
    """The live reconciliation's per-frame arrays (as long as the session) are not kept: only
    the missing frame indices (none here), and the pulses before the last ~2 s are settled."""
    live = many_recordings["live"]
    assert set(live) == {"sagittal", "posterior"}
    for result, settled_pulses, missing in live.values():
        assert isinstance(result, np.ndarray) and result.size == 0 and missing == []
        assert settled_pulses > (RECORDINGS - 1) * RECORDING_S * FPS


def test_exposure_witness_edges_cost_their_own_bytes(many_recordings):
    """Every exposure edge since connect is kept (the reconciliation needs them) at 8 bytes an
    edge in one buffer, not one small array per DAQ read (~100 bytes each, 100 reads a second)."""
    witness = many_recordings["witness"]
    assert set(witness) == {"sagittal", "posterior"}
    for edges, nbytes in witness.values():
        assert edges >= RECORDINGS * RECORDING_S * FPS
        assert nbytes <= 2 * 8 * edges + 8 * 1024
