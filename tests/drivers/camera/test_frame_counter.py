"""Raw camera frame counters to indices: gaps counted, wraps unwrapped, resets refused."""

from __future__ import annotations

import pytest

from drivers.camera.frame_counter import GIGE_BLOCK_ID_PERIOD, CounterWentBackwards, FrameCounter


def test_consecutive_numbers_give_consecutive_indices_from_zero():
    counter = FrameCounter()
    steps = [counter.observe(raw) for raw in (7, 8, 9)]
    assert [s.index for s in steps] == [0, 1, 2]
    assert [s.gap for s in steps] == [0, 0, 0]


def test_a_jump_is_a_gap_of_the_missing_frames():
    counter = FrameCounter()
    for raw in (0, 1, 2):
        counter.observe(raw)
    step = counter.observe(6)
    assert (step.index, step.gap) == (6, 3)
    assert counter.total_gap == 3


def test_gige_block_ids_wrap_past_65535_skipping_zero():
    counter = FrameCounter(period=GIGE_BLOCK_ID_PERIOD)
    counter.observe(65534)
    assert counter.observe(65535).index == 1
    step = counter.observe(1)  # 0 is never sent by a GigE Vision 1.x camera
    assert (step.index, step.gap) == (2, 0)
    step = counter.observe(3)
    assert (step.index, step.gap) == (4, 1)
    assert counter.assume_next().index == 5


def test_a_counter_that_goes_back_without_wrapping_is_a_camera_reset():
    counter = FrameCounter(period=GIGE_BLOCK_ID_PERIOD)
    counter.observe(500)
    with pytest.raises(CounterWentBackwards, match="from 500 to 3"):
        counter.observe(3)
    with pytest.raises(CounterWentBackwards, match="repeated 500"):
        counter.observe(500)
    unwrapping = FrameCounter()  # a 64-bit counter never wraps in a session
    unwrapping.observe(2**40)
    with pytest.raises(CounterWentBackwards):
        unwrapping.observe(1)


def test_with_a_known_origin_frames_lost_before_the_first_arrival_are_counted():
    counter = FrameCounter(period=GIGE_BLOCK_ID_PERIOD, origin=1)  # GigE block IDs start at 1
    step = counter.observe(3)  # block IDs 1 and 2 never arrived
    assert (step.index, step.gap) == (2, 2)
    assert counter.observe(4).index == 3
    assert counter.total_gap == 2
    usb = FrameCounter(origin=0)
    assert usb.observe(0).index == 0
    with pytest.raises(CounterWentBackwards, match="below 1"):
        FrameCounter(origin=1).observe(0)
