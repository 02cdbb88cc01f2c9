"""The streaming analyser gives the offline records, for any block size, from volts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial
from analysis.streaming_force import StreamingForceAnalyser


def _stream(analyser, volts, block):
    records, emitted_at = [], []
    for start in range(0, volts.shape[0], block):
        out = analyser.push(volts[start : start + block])
        records += out
        emitted_at += [min(start + block, volts.shape[0])] * len(out)
    tail = analyser.finish()
    return records + tail, emitted_at + [volts.shape[0]] * len(tail)


@pytest.mark.parametrize("block", [1, 7, 100, 1000, 5003])
def test_streaming_equals_offline_for_any_block_size(belt_plate, block, make_run, to_volts):
    wrench, truth = make_run(duration_s=6.0, drift_N_per_s=1.5, seed=11)
    t = np.arange(wrench.shape[0]) / 2000.0
    wrench[:, 2] += 2.5 * np.sin(2 * np.pi * 52.3 * t)  # a belt vibration, measured per stance
    volts = to_volts(belt_plate, wrench)
    offline = analyse_force_trial(
        {"belt": belt_plate.lab_wrench(volts)}, [belt_plate], 2000.0, body_weight_N=700.0
    )
    analyser = StreamingForceAnalyser(
        [belt_plate], 2000.0, channel_names=belt_plate.channels, body_weight_N=700.0
    )
    live, _ = _stream(analyser, volts, block)
    assert len(offline.stances) == len(truth.contact_s) == len(live)
    assert all(s.belt_vibration_hz == pytest.approx(52.3, abs=0.05) for s in offline.stances)
    for a, b in zip(offline.stances, live, strict=True):
        da, db = dataclasses.asdict(a), dataclasses.asdict(b)
        assert da.keys() == db.keys()
        for key in da:
            if isinstance(da[key], float):
                assert db[key] == pytest.approx(da[key], rel=1e-12, abs=1e-9), key
            else:
                assert db[key] == da[key], key


def test_streaming_emits_each_stance_shortly_after_toe_off(belt_plate, make_run, to_volts):
    wrench, _ = make_run(duration_s=5.0)
    volts = to_volts(belt_plate, wrench)
    settings = ForceSettings()
    analyser = StreamingForceAnalyser(
        [belt_plate], 2000.0, settings, channel_names=belt_plate.channels, body_weight_N=700.0
    )
    records, emitted_at = _stream(analyser, volts, 20)
    delays = [at / 2000.0 - r.toe_off_s for r, at in zip(records[:-1], emitted_at, strict=False)]
    # the padding after toe-off (30 ms) plus at most one block (10 ms) plus the sub-sample
    # crossing; the 60 ms before contact cost no delay
    assert settings.padding_after_s == 0.030
    assert max(delays) < settings.padding_after_s + 0.0105 + 0.001
    assert min(delays) >= settings.padding_after_s - 0.001


def test_streaming_memory_stays_bounded(belt_plate, make_run):
    wrench, _ = make_run(duration_s=8.0)
    analyser = StreamingForceAnalyser([belt_plate], 2000.0, body_weight_N=700.0)
    for start in range(0, wrench.shape[0], 50):
        analyser.push_forces([wrench[start : start + 50]])
    # the belt-vibration history (2 s) plus < 1 s of window kept, not the 8 s pushed
    history = round(ForceSettings().vibration_history_s * 2000.0)
    assert analyser.buffers[0].length < history + 2000


def test_volts_need_channel_names(belt_plate):
    from analysis.errors import InputError

    analyser = StreamingForceAnalyser([belt_plate], 2000.0)
    with pytest.raises(InputError, match="channel names"):
        analyser.push(np.zeros((10, 6)))


def test_the_window_after_toe_off_is_its_own_setting_and_old_results_keep_theirs():
    """The live delay is the padding after toe-off (30 ms); the 60 ms before contact cost no
    delay. Settings stored before the two had their own field meant a symmetric window."""
    settings = ForceSettings()
    assert (settings.padding_s, settings.padding_after_s) == (0.060, 0.030)
    stored = settings.to_dict()
    del stored["padding_after_s"]
    assert ForceSettings.from_dict(stored).padding_after_s == 0.060
    assert ForceSettings.from_dict({}).padding_after_s == 0.030
    from analysis.errors import InputError

    with pytest.raises(InputError, match="padding_after_s"):
        ForceSettings(padding_after_s=0.010)  # shorter than min_flight_s: toe-off unconfirmed


def test_a_stance_whose_flight_after_is_cut_by_the_end_is_flagged(belt_plate, make_run):
    """The window needs padding_after_s of flight after toe-off; a recording that ends sooner
    flags the last stance truncated_window (the end of the window is not flight data)."""
    wrench, truth = make_run(duration_s=3.0)
    settings = ForceSettings()
    last_toe_off = round(truth.toe_off_s[-1] * 2000.0)
    flagged = []
    for extra_s in (0.015, 0.040):
        cut = wrench[: last_toe_off + round(extra_s * 2000.0)]
        analyser = StreamingForceAnalyser([belt_plate], 2000.0, settings, body_weight_N=700.0)
        records = analyser.push_forces([cut]) + analyser.finish()
        flagged.append("truncated_window" in records[-1].flags)
    assert flagged == [True, False]
