"""Frame spacing of recorded videos: constant rate recognised despite rounding, VFR caught."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.video_timing import UnusableTimestamps, frame_timing


def test_millisecond_rounded_30_fps_is_a_constant_rate():
    times = np.round(np.arange(300) / 30.0, 3)  # 33 or 34 ms intervals, as MP4/MKV store them
    timing = frame_timing(times)
    assert timing.constant_rate
    assert timing.rate_hz == pytest.approx(30.0, rel=1e-4)  # not 1/median = 1/33 ms = 30.3
    assert timing.min_interval_s == pytest.approx(0.033, abs=1e-9)
    assert timing.max_interval_s == pytest.approx(0.034, abs=1e-9)


def test_one_long_interval_makes_a_variable_frame_rate():
    times = np.arange(100) / 60.0
    times[50:] += (
        0.010  # one interval of 26.7 ms among 16.7 ms ones (a dropped-and-stretched frame)
    )
    timing = frame_timing(times)
    assert not timing.constant_rate
    assert timing.worst_deviation == pytest.approx((0.010 - 0.0011) * 60.0, rel=1e-6)
    assert "16.67–26.67 ms" in timing.describe()
    assert frame_timing(times, tolerance=0.6).constant_rate  # a looser tolerance accepts it


def test_timestamps_that_do_not_increase_are_unusable():
    with pytest.raises(UnusableTimestamps, match="frame 3 is not later than frame 2"):
        frame_timing(np.array([0.0, 0.1, 0.2, 0.2, 0.3]))
    with pytest.raises(UnusableTimestamps, match="at least 2"):
        frame_timing(np.array([0.0]))
    with pytest.raises(UnusableTimestamps, match="missing"):
        frame_timing(np.array([0.0, np.nan, 0.2]))
