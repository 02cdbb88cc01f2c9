"""The batch API: parameters, presets, determinism and random access of the analog data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analysis.errors import InputError
from drivers.sim import PRESETS, LabSetup, RunnerParams, SimulatedLab, preset


def test_unknown_preset_lists_the_names():
    with pytest.raises(InputError) as err:
        preset("sprinter")
    message = err.value.sentence()
    for name in ("healthy", "overstrider", "valgus-left", "forefoot", "crossover"):
        assert name in message
    assert set(PRESETS) == {"healthy", "overstrider", "valgus-left", "forefoot", "crossover"}


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: RunnerParams(speed_m_s=12.0), "RunnerParams.speed_m_s"),
        (lambda: RunnerParams(foot_strike="toe"), "RunnerParams.foot_strike"),
        (lambda: RunnerParams(fppa_deg=(3.0,)), "RunnerParams.fppa_deg"),
        (lambda: RunnerParams(hip_ankle_midstance_m=0.3, hip_ankle_contact_m=0.2), "midstance"),
        (lambda: LabSetup(frame_rate_hz=240.0), "LabSetup.frame_rate_hz"),
        (lambda: LabSetup(treadmill="split-belt", n_analog_channels=12), "n_analog_channels"),
        (lambda: LabSetup(dropped_frames={"front": (1,)}), "LabSetup.dropped_frames"),
        (lambda: SimulatedLab(duration_s=0.1), "duration_s"),
    ],
)
def test_bad_parameters_name_the_field(make, field):
    with pytest.raises(InputError, match=field):
        make()


def test_software_sync_allows_any_frame_rate():
    lab = SimulatedLab(setup=LabSetup(sync_mode="software", frame_rate_hz=240.0), duration_s=1.0)
    assert lab.n_frames("sagittal") > 230


def test_channels_and_plates_follow_the_architecture(healthy_lab):
    names = healthy_lab.channel_names
    assert names[:6] == ("belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz")
    assert names[6:10] == ("exposure.sagittal", "exposure.posterior", "belt_speed", "sync.led")
    assert len(names) == 16 and names[-1] == "spare.5"
    split = SimulatedLab(setup=LabSetup(treadmill="split-belt"), duration_s=1.0)
    assert split.channel_names[:12] == tuple(
        f"{p}.{c}" for p in ("left", "right") for c in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")
    )
    plate = healthy_lab.plate_configs()[0]
    assert plate["rotation"] == [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]
    assert plate["origin_m"] == [0.0, 0.0, -plate["z_surface_m"]]
    speed = healthy_lab.analog(0, 100)[:, names.index("belt_speed")].mean()
    assert speed * healthy_lab.belt_speed_scale == pytest.approx(3.3, abs=0.01)


def test_analog_random_access_equals_sequential(healthy_lab):
    lab = healthy_lab
    whole = lab.analog(0, 9000)
    pieces = np.vstack([lab.analog(s, 1000) for s in range(0, 9000, 1000)])
    np.testing.assert_array_equal(pieces, whole)
    fresh = SimulatedLab(lab.runner, lab.setup, seed=lab.seed, duration_s=lab.duration_s)
    for start, count in ((4090, 13), (8191, 2), (5, 1)):
        np.testing.assert_array_equal(fresh.analog(start, count), whole[start : start + count])
    other = SimulatedLab(lab.runner, lab.setup, seed=lab.seed + 1, duration_s=lab.duration_s)
    assert not np.array_equal(other.analog(0, 100), whole[:100])
    with pytest.raises(InputError, match="outside"):
        lab.analog(lab.n_samples - 5, 10)


def test_stances_alternate_and_are_all_inside_the_session(healthy_lab):
    stances = healthy_lab.truth.stances
    assert [s.index for s in stances] == list(range(len(stances)))
    assert all(a.side != b.side for a, b in itertools.pairwise(stances))
    assert stances[0].contact_s >= 0 and stances[-1].toe_off_s <= healthy_lab.duration_s
    cadence = 60 / np.diff([s.contact_s for s in stances]).mean()
    assert cadence == pytest.approx(170, rel=0.03)
    contact = np.mean([s.toe_off_s - s.contact_s for s in stances])
    assert contact == pytest.approx(0.25, rel=0.05)


def test_fatigue_and_asymmetry_change_what_they_say():
    runner = preset("healthy").replace(fatigue_per_min=0.1, asymmetry=0.2, variability=0.0)
    lab = SimulatedLab(runner, seed=1, duration_s=120)
    stances = lab.truth.stances
    bw = lab.truth.body_weight_N
    early = [s.valr_N_s / bw for s in stances[:20] if s.side == "L"]
    late = [s.valr_N_s / bw for s in stances[-20:] if s.side == "L"]
    assert np.mean(late) / np.mean(early) == pytest.approx(1.2, rel=0.03)  # +10 %/min for 2 min
    left = np.mean([s.toe_off_s - s.contact_s for s in stances if s.side == "L"])
    right = np.mean([s.toe_off_s - s.contact_s for s in stances if s.side == "R"])
    assert left / right == pytest.approx(1.1 / 0.9, rel=0.02)


def test_parameters_from_toml_lists_stay_hashable():
    runner = RunnerParams(fppa_deg=[3.0, 4.0])
    assert runner.fppa_deg == (3.0, 4.0) and hash(runner) == hash(runner.replace())
    setup = LabSetup(dropped_frames={"sagittal": [1, 2]})
    assert hash(setup) == hash(LabSetup())  # the drop list is not part of the hash
    assert setup.to_dict()["dropped_frames"] == {"sagittal": [1, 2]}
