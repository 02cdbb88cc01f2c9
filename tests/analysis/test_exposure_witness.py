"""Exposure witness: edges to a fraction of a sample, and every missing frame named by its index."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.exposure_witness import (
    EdgeCountDecoder,
    EdgeDecoder,
    PulseTrain,
    WitnessSettings,
    edges_from_counts,
    reconcile,
    rising_edges,
)
from drivers.sim import LabSetup, SimulatedLab, preset

RATE = 1000.0
RATIO = 4  # 250 fps
DELAY = 37e-6


def witness(onsets_s, n_samples, *, exposure_s=0.002, rise_s=0.0, noise_V=0.0, seed=0):
    """A 0/5 V exposure-active line sampled at RATE: high from each onset for ``exposure_s``."""
    t = np.arange(n_samples) / RATE
    v = np.zeros(n_samples)
    for on in onsets_s:
        if rise_s:
            up = np.clip((t - on) / rise_s, 0, 1)
            down = np.clip((t - on - exposure_s) / rise_s, 0, 1)
            v += 5.0 * (up - down)
        else:
            v += 5.0 * ((t >= on) & (t < on + exposure_s))
    return v + np.random.default_rng(seed).normal(0, noise_V, n_samples)


def test_ramped_edges_are_timed_to_a_fraction_of_a_sample():
    onsets = np.array([0.0101, 0.0223, 0.03456, 0.1])
    v = witness(onsets, 200, exposure_s=0.008, rise_s=0.003)
    edges = rising_edges(v, RATE)
    # a linear ramp crosses mid-level (2.5 V) half-way up: interpolation recovers it exactly
    np.testing.assert_allclose(edges, onsets + 0.0015, atol=1e-9)


def test_square_edges_land_within_one_sample_and_ringing_is_ignored():
    onsets = np.arange(10) * 0.004 + 0.0013
    v = witness(onsets, 60, noise_V=0.3, seed=2)
    edges = rising_edges(v, RATE)
    assert edges.size == onsets.size
    assert np.all(edges <= onsets + 1 / RATE) and np.all(edges >= onsets - 1 / RATE)
    # ringing between the hysteresis levels (1 V .. 4 V) does not make extra edges
    ringing = np.array([0, 0, 3.0, 0.8, 3.5, 2.0, 5, 5, 3.2, 4.5, 5, 0, 0])
    assert rising_edges(ringing, RATE).size == 1


def test_streaming_blocks_give_the_same_edges_as_the_whole_recording():
    onsets = np.arange(500) * 0.004 + DELAY
    v = witness(onsets, 2000, rise_s=0.0012, noise_V=0.2, seed=5)
    whole = rising_edges(v, RATE)
    decoder = EdgeDecoder()
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, v.size), size=300, replace=False))
    parts = [decoder.feed(block) for block in np.split(v, cuts)]
    np.testing.assert_array_equal(np.concatenate(parts) / RATE, whole)
    assert whole.size == 500


def test_an_edge_split_across_any_block_boundary_is_found_once_at_the_same_time():
    v = np.array([0, 0, 2.0, 3.0, 3.5, 2.0, 4.5, 5, 0.5, 0, 1.5, 2.5, 4.2, 0])
    whole = rising_edges(v, 1.0)
    # the dip to 2 V stays inside the band: the edge is the last mid-level (2.5 V) crossing
    np.testing.assert_allclose(whole, [5.2, 11.0])
    for cut in range(1, v.size):
        decoder = EdgeDecoder()
        parts = np.concatenate([decoder.feed(v[:cut]), decoder.feed(v[cut:])])
        np.testing.assert_array_equal(parts, whole, err_msg=f"cut at {cut}")


def test_a_recording_starting_mid_exposure_has_no_false_edge():
    v = np.r_[np.full(3, 5.0), np.zeros(3), np.full(3, 5.0)]
    np.testing.assert_allclose(rising_edges(v, RATE), [5.5 / RATE])


def test_a_counter_witness_gives_each_edge_to_half_a_sample_in_any_blocks():
    onsets = np.arange(200) * 0.004 + DELAY  # 250 fps at 1 kHz
    ticks = np.arange(1000) / RATE
    counts = np.searchsorted(onsets, ticks, side="right").astype(np.float64)  # latched per tick
    edges = edges_from_counts(counts, RATE)
    assert edges.size == 200
    assert np.all(np.abs(edges - onsets) <= 0.5 / RATE)
    decoder = EdgeCountDecoder()
    parts = [decoder.feed(b) for b in np.array_split(counts, 37)]
    np.testing.assert_array_equal(np.concatenate(parts) / RATE, edges)
    wrapping = EdgeCountDecoder(first_sample=5000, first_count=2**32 - 2)
    np.testing.assert_array_equal(
        wrapping.feed(np.array([2.0**32 - 1, 0, 0, 1])), [4999.5, 5000.5, 5002.5]
    )
    with pytest.raises(InputError, match="edge count jumps"):
        edges_from_counts(np.array([0, 5.0, 0.0]), RATE)


def test_every_missing_frame_is_reported_by_index():
    pulses = PulseTrain(
        daq_rate_hz=RATE, samples_per_frame=RATIO, first_sample=1, trigger_delay_s=DELAY
    )
    n_samples = 4000  # 1000 pulses
    all_frames = np.arange(1000)
    missed_trigger = np.array([17, 500, 501])  # camera never exposed these
    dropped = np.array([0, 3, 250, 777, 998])  # exposed, lost in transfer
    exposed = np.setdiff1d(all_frames, missed_trigger)
    onsets = pulses.session_time(exposed)
    v = witness(onsets, n_samples, rise_s=0.0008, noise_V=0.05)
    edges = rising_edges(v, RATE)
    # the camera numbers its exposures; dropped ones are exposed (counted) but never delivered
    counter_of = dict(zip(exposed.tolist(), range(100, 100 + exposed.size), strict=True))
    received = np.setdiff1d(exposed, dropped)
    counters = np.array([counter_of[k] for k in received.tolist()])

    result = reconcile("sagittal", pulses, n_samples, edges, counters, first_counter=100)

    assert (result.pulses_sent, result.edges_recorded, result.frames_received) == (1000, 997, 992)
    np.testing.assert_array_equal(result.missed_trigger, missed_trigger)
    np.testing.assert_array_equal(result.dropped_in_transfer, dropped)
    np.testing.assert_array_equal(result.missing, np.union1d(missed_trigger, dropped))
    np.testing.assert_array_equal(result.frame_index, received)  # never renumbered
    np.testing.assert_allclose(result.session_time_s, (1 + received * RATIO) / RATE + DELAY)
    # the witness agrees with the exact pulse time to within the ramp's half-rise
    np.testing.assert_allclose(result.witness_time_s - result.session_time_s, 0.0004, atol=1e-4)
    assert not result.consistent
    assert result.flags == ("missed_triggers", "dropped_frames")
    assert "missing frames 0, 3, 17, 250" in result.summary()
    assert result.to_dict()["dropped_in_transfer"] == dropped.tolist()


def test_complete_recording_is_consistent_and_stray_edges_are_flagged():
    pulses = PulseTrain(daq_rate_hz=1200.0, samples_per_frame=5)  # 240 fps
    n_samples = 1200
    onsets = pulses.session_time(np.arange(240))
    stray = 0.5 + 2.1 / 240  # half-way between two exposures: not any pulse's exposure
    edges = np.sort(np.r_[onsets + 1e-4, stray])
    result = reconcile("posterior", pulses, n_samples, edges, np.arange(240))
    assert result.consistent and result.missing.size == 0
    np.testing.assert_allclose(result.unmatched_edges_s, [stray])
    assert result.flags == ("unmatched_witness_edges",)
    assert result.max_edge_error_s == pytest.approx(1e-4)


def test_edges_after_the_end_of_a_recording_are_not_unmatched():
    """The witness is decoded past a recording's stop: the edges of later pulses belong to
    them, not to this recording, so a clean recording is not flagged (every file was)."""
    pulses = PulseTrain(daq_rate_hz=1200.0, samples_per_frame=5)  # 240 fps
    onsets = pulses.session_time(np.arange(300))  # 60 exposures after the stop at 1 s
    stray = 0.5 + 2.1 / 240
    edges = np.sort(np.r_[onsets + 1e-4, stray])
    result = reconcile("posterior", pulses, 1200, edges, np.arange(240))
    assert result.consistent and result.pulses_sent == 240
    np.testing.assert_allclose(result.unmatched_edges_s, [stray])  # a stray inside still is


def test_frames_without_witness_edges_are_a_clear_error():
    pulses = PulseTrain(daq_rate_hz=RATE, samples_per_frame=RATIO)
    edges = pulses.session_time(np.arange(10))
    with pytest.raises(InputError, match="exposure-active output"):
        reconcile("sagittal", pulses, 400, edges, np.arange(12))
    with pytest.raises(InputError, match="strictly increasing"):
        reconcile("sagittal", pulses, 400, edges, np.array([1, 1, 2]))
    with pytest.raises(InputError, match="low_V below high_V"):
        WitnessSettings(low_V=3, high_V=2)


def test_simulated_lab_dropped_frames_are_all_reported_by_index():
    dropped = (3, 50, 51, 400)
    setup = LabSetup(dropped_frames={"sagittal": dropped})
    lab = SimulatedLab(preset("overstrider"), setup, seed=2, duration_s=5.0)
    rate = setup.daq_rate_hz
    witness = lab.analog(0, lab.n_samples)[:, lab.channel_names.index("exposure.sagittal")]
    decoder = EdgeDecoder()  # live: block by block as the DAQ delivers
    edges = np.concatenate([decoder.feed(b) for b in np.array_split(witness, 97)]) / rate
    np.testing.assert_array_equal(edges, rising_edges(witness, rate))
    n_frames = lab.n_frames("sagittal")
    received = np.setdiff1d(np.arange(n_frames), lab.dropped_frames("sagittal"))
    pulses = PulseTrain(rate, round(rate / setup.frame_rate_hz), 0, setup.trigger_delay_s)

    result = reconcile("sagittal", pulses, lab.n_samples, edges, received)

    np.testing.assert_array_equal(result.dropped_in_transfer, dropped)
    assert result.missed_trigger.size == 0 and result.unmatched_edges_s.size == 0
    assert result.pulses_sent == result.edges_recorded == n_frames == 1250
    assert result.frames_received == 1246
    np.testing.assert_allclose(
        result.session_time_s, lab.frame_time("sagittal", received), atol=1e-12
    )
    assert result.max_edge_error_s <= 0.5 / rate  # a square simulated edge: half a sample
