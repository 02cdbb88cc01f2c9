"""Clipped (saturated) force channels are flagged per stance, live and offline, and left out of
summaries; unclipped simulated and real recordings get no flag."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plates
from analysis.saturation import SATURATED, channel_signals, longest_run
from analysis.streaming_force import StreamingForceAnalyser

RATE = 2000.0


def _lab(seed: int, treadmill: str, duration_s: float = 6.0):
    from drivers.sim import LabSetup, SimulatedLab, preset

    lab = SimulatedLab(preset("healthy"), LabSetup(treadmill=treadmill), seed=seed,
                       duration_s=duration_s)  # fmt: skip
    return lab, parse_plates(lab.plate_configs()), lab.analog(0, lab.n_samples)


def _analyse(lab, plates, volts, settings=None):
    wrenches = plate_wrenches(plates, volts, lab.channel_names)
    return analyse_force_trial(
        wrenches, plates, RATE, settings, body_weight_N=lab.truth.body_weight_N
    )


def _clip_fz(lab, plates, volts, fraction=0.7):
    """Each plate's Fz volts clipped at ``fraction`` of its loaded extreme (either polarity),
    as a too-small DAQ range does; returns the volts and {plate: (column, level)}."""
    clipped = volts.copy()
    levels = {}
    for plate in plates:
        k = lab.channel_names.index(plate.channels[2])
        x = clipped[:, k]
        top = fraction * (x.max() if abs(x.max()) > abs(x.min()) else x.min())
        clipped[:, k] = np.minimum(x, top) if top > 0 else np.maximum(x, top)
        levels[plate.name] = (k, top)
    return clipped, levels


def _samples_at_level(record, volts, column, level):
    """How many samples of this stance sit at the clip level (the ground truth of clipping)."""
    a, b = round(record.contact_s * RATE), round(record.toe_off_s * RATE) + 1
    return int(np.sum(volts[a:b, column] == level))


@pytest.mark.parametrize("treadmill", ["single-belt", "split-belt"])
def test_every_clipped_stance_is_flagged_named_and_left_out_of_summaries(treadmill):
    lab, plates, volts = _lab(1, treadmill)
    clipped, levels = _clip_fz(lab, plates, volts)
    result = _analyse(lab, plates, clipped)
    assert len(result.stances) == len(lab.truth.stances)
    clipped_stances = 0
    for r in result.stances:
        column, level = levels[r.plate]
        n = _samples_at_level(r, clipped, column, level)
        if n >= 4:
            clipped_stances += 1
            assert SATURATED in r.flags and not r.usable, (r.contact_s, n)
            assert r.saturated_channels == (lab.channel_names[column],)
        elif n == 0:
            assert SATURATED not in r.flags and r.saturated_channels == (), r.contact_s
    assert clipped_stances >= 0.9 * len(result.stances)  # 0.7 of the maximum clips nearly all
    note = next(n for n in result.notes if "saturated" in n)
    assert all(p.channels[2] in note for p in plates)
    summary = result.summary()
    flagged = sum(SATURATED in r.flags for r in result.stances)
    assert summary["L"]["n_stances"] + summary["R"]["n_stances"] <= len(result.stances) - flagged
    assert sum(summary["n_excluded"].values()) >= flagged
    assert result.to_dict()["stances"][0]["saturated_channels"] in ([], [plates[0].channels[2]])


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("treadmill", ["single-belt", "split-belt"])
def test_no_flag_on_unclipped_simulated_running(seed, treadmill):
    lab, plates, volts = _lab(seed, treadmill)
    result = _analyse(lab, plates, volts)
    assert len(result.stances) == len(lab.truth.stances) > 10
    assert not [r.contact_s for r in result.stances if SATURATED in r.flags]
    assert not [n for n in result.notes if "saturated" in n]


def test_a_known_input_range_flags_even_a_brief_touch_of_the_limit():
    """With the DAQ range known, one sample at full scale is enough; the plateau rule alone
    needs four. The range is set at the second-highest sample of the weakest stance, so that
    stance touches it with exactly two samples."""
    lab, plates, volts = _lab(2, "single-belt")
    column = lab.channel_names.index("belt.Fz")
    sign = 1.0 if volts[:, column].max() > -volts[:, column].min() else -1.0
    unclipped = _analyse(lab, plates, volts, ForceSettings(saturation_range_V=[-10, 10]))
    assert not [r for r in unclipped.stances if SATURATED in r.flags]

    def loaded(r):
        return sign * volts[round(r.contact_s * RATE) : round(r.toe_off_s * RATE) + 1, column]

    weakest = min(unclipped.stances[1:-1], key=lambda r: loaded(r).max())
    limit = float(np.sort(loaded(weakest))[-2])  # |volts| of full scale
    clipped = volts.copy()
    clipped[:, column] = sign * np.minimum(sign * volts[:, column], limit)
    plateau_only = _analyse(lab, plates, clipped)
    with_range = _analyse(lab, plates, clipped, ForceSettings(saturation_range_V=limit))
    level = sign * limit
    counts = [_samples_at_level(r, clipped, column, level) for r in with_range.stances]
    for r, n in zip(with_range.stances, counts, strict=True):
        assert (SATURATED in r.flags) == (n > 0), (r.contact_s, n)
    touched = next(r for r in with_range.stances if r.contact_s == weakest.contact_s)
    assert SATURATED in touched.flags and touched.saturated_channels == ("belt.Fz",)
    same = next(r for r in plateau_only.stances if r.contact_s == weakest.contact_s)
    assert SATURATED not in same.flags  # two samples: not a plateau
    assert f"{-limit:g}..{limit:g} V" in next(n for n in with_range.notes if "saturated" in n)


@pytest.mark.parametrize("block", [7, 100])
def test_streaming_flags_the_same_stances_and_channels_as_offline(block):
    lab, plates, volts = _lab(3, "split-belt")
    clipped, _ = _clip_fz(lab, plates, volts, fraction=0.8)
    offline = _analyse(lab, plates, clipped)
    analyser = StreamingForceAnalyser(plates, RATE, channel_names=lab.channel_names,
                                      body_weight_N=lab.truth.body_weight_N)  # fmt: skip
    live = []
    for start in range(0, clipped.shape[0], block):
        live += analyser.push(clipped[start : start + block])
    live += analyser.finish()
    assert len(live) == len(offline.stances)
    assert sum(SATURATED in r.flags for r in live) >= len(live) // 2
    for a, b in zip(offline.stances, live, strict=True):
        assert (a.flags, a.saturated_channels) == (b.flags, b.saturated_channels)
        assert b.peak_vertical_N == pytest.approx(a.peak_vertical_N, rel=1e-12)


def test_channel_signals_recover_the_raw_volts_of_a_six_channel_plate():
    lab, plates, volts = _lab(1, "single-belt", duration_s=2.0)
    plate = plates[0]
    columns = [lab.channel_names.index(c) for c in plate.channels]
    signals = channel_signals(plate, plate.lab_wrench(volts[:, columns]))
    assert signals.volts and signals.names == plate.channels
    assert np.max(np.abs(signals.values - volts[:, columns])) < 1e-12


def test_saturation_settings_are_checked_and_survive_a_json_round_trip():
    settings = ForceSettings(saturation_range_V=[0, 10], saturation_min_run=5)
    assert settings.saturation_range_V == (0.0, 10.0)
    again = ForceSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert again == settings
    assert ForceSettings(saturation_range_V=5).saturation_range_V == (-5.0, 5.0)
    for bad in ({"saturation_min_run": 1}, {"saturation_range_V": [3, 1]},
                {"saturation_range_V": "5 V"}, {"saturation_margin_V": -0.1}):  # fmt: skip
        with pytest.raises(InputError, match="saturation"):
            ForceSettings(**bad)


REAL_FILES = [
    "fukuchi2017/RBDS001runT35.c3d",
    "pyorerun/Running_0002.c3d",
    "opensim-core/walking2.c3d",
    "kineticstoolkit/walk.c3d.zip",
    "omcs/exampleOverground.c3d",
    "fukuchi2017/RBDS001runT25forces.txt",
]


@pytest.mark.real_data
@pytest.mark.parametrize("name", REAL_FILES)
def test_no_flag_on_real_recordings(real_data, tmp_path, name):
    """Real ADCs quantise: the longest run at a stance's extreme in these files is 2 samples
    (measured), so the default of 4 leaves a margin and no real stance is flagged."""
    from data.c3d_import import read_c3d_forces
    from data.grf_text import read_grf_text

    path = real_data / name
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp_path)
        path = tmp_path / path.stem
    imported = read_grf_text(path) if path.suffix == ".txt" else read_c3d_forces(path)
    running = "run" in name.lower()
    settings, _ = ForceSettings(max_stance_s=0.45 if running else 2.0).adapted_to(imported.rate_hz)
    wrenches = imported.wrenches()
    result = analyse_force_trial(wrenches, imported.plates, imported.rate_hz, settings)
    assert result.stances
    assert not [r.contact_s for r in result.stances if SATURATED in r.flags]
    longest = 0
    for r in result.stances:
        plate = next(p for p in imported.plates if p.name == r.plate)
        a, b = round(r.contact_s * imported.rate_hz), round(r.toe_off_s * imported.rate_hz)
        window = wrenches[plate.name][a:b]
        loaded = window[:, 2] >= settings.threshold_on_N
        signals = channel_signals(plate, window).values
        for x in signals.T:
            for extreme in (x[loaded].max(), x[loaded].min()):
                longest = max(longest, longest_run(loaded & (x == extreme)))
    assert longest < settings.saturation_min_run
