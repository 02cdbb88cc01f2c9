"""The technician procedures end to end, on a synthetic plate with known injected faults, writing
to a real calibration log and changing what is stale."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from protocols.loader import find_procedure
from protocols.runner import Runner, State

G = 9.80665
RATE_HZ = 1000.0


def _plate_responder(lab, plate, running_noise_sd_V=0.0):
    """Answer each acquisition the way a session controller would, from the synthetic plate."""

    def respond(request):
        if request.purpose in ("zero", "warm-up", "noise-floor"):
            extra = running_noise_sd_V if request.purpose == "noise-floor" else 0.0
            volts = plate.volts(request.duration_s, extra_sd=extra)
            return lab.finished(
                request.duration_s, volts=volts, rate_hz=RATE_HZ, plate=plate.config()
            )
        placement = request.placement
        point = (*placement.position_m, 0.0)
        load_N = placement.mass_kg * G if placement.mass_kg else 300.0  # a firm pointer push
        # The force is the reaction on the mass (or pointer): upward, +z in the lab frame.
        volts = plate.volts(request.duration_s, force_lab=(0.0, 0.0, load_N), point_lab=point)
        return lab.finished(request.duration_s, volts=volts, rate_hz=RATE_HZ, plate=plate.config())

    return respond


def _run(lab, name, respond, drive_run, **kwargs):
    runner = Runner(find_procedure(name), lab, operator="T. Echnician", clock=lab.clock)
    drive_run(runner, lab, respond, **kwargs)
    return runner


def _zero(lab, plate, drive_run, running_noise_sd_V=0.0):
    lab.plate = plate
    return _run(
        lab,
        "plate-zero",
        _plate_responder(lab, plate, running_noise_sd_V),
        drive_run,
        entries={"test-speed": {"speed_m_s": 3.0}},
    )


def test_zeroing_finds_the_plate_offset_and_the_noise_floor_passes(
    logged_lab, plate_factory, drive_run
):
    plate = plate_factory()
    runner = _zero(logged_lab, plate, drive_run)
    zero = runner.results["zero"]
    # The injected offsets (0.035 V on Fz = 35 N) are found to within the mean's noise (5 µV).
    np.testing.assert_allclose(zero.values["offsets_V"], plate.offsets_V, atol=3e-5)
    assert zero.values["offset_force_N_Nm"][2] == pytest.approx(35.0, abs=0.1)
    assert zero.passed is True
    assert ("zero_plate", "belt", tuple(zero.values["offsets_V"])) in logged_lab.calls
    noise = runner.results["noise-floor"]
    # Fz noise = 1000 N/V x 0.5 mV = 0.5 N: the 20 N threshold is ~40 SD away.
    assert noise.values["sd_N"] == pytest.approx(0.5, rel=0.05)
    assert noise.values["threshold_to_sd"] > 35
    assert noise.values["mean_N"] == pytest.approx(0.0, abs=0.05)  # zero applied before it
    assert noise.passed is True
    assert runner.results["warm-up"].passed is True
    logged = [(e.kind, e.device, e.passed, e.operator) for e in logged_lab.log.entries()]
    assert logged == [
        ("warm-up", "belt", True, "T. Echnician"),
        ("zero", "belt", True, "T. Echnician"),
        ("noise-floor", "belt", True, "T. Echnician"),
    ]
    assert [c for c in logged_lab.calls if c[0] == "set_treadmill"] == [
        ("set_treadmill", 0.0, 0.0),
        ("set_treadmill", 3.0, None),
        ("set_treadmill", 0.0, None),
    ]


def test_a_noisy_running_belt_fails_the_threshold_check(logged_lab, plate_factory, drive_run):
    runner = _zero(logged_lab, plate_factory(), drive_run, running_noise_sd_V=0.005)
    noise = runner.results["noise-floor"]
    # 5 mV of belt vibration on every channel → Fz SD ≈ 5 N: 20 N is only ~4 SD away.
    assert noise.values["sd_N"] == pytest.approx(5.0, rel=0.05)
    assert noise.values["threshold_to_sd"] < 5
    assert noise.passed is False
    assert logged_lab.log.latest("noise-floor", "belt").passed is False
    stale = {(s.kind, s.device): s.reason for s in logged_lab.log.stale_items(logged_lab.now)}
    assert stale[("noise-floor", "belt")].startswith("the last noise-floor check failed")


def test_known_mass_check_passes_a_right_matrix_and_catches_a_wrong_gain(
    logged_lab, plate_factory, drive_run
):
    lab = logged_lab
    plate = plate_factory()
    _zero(lab, plate, drive_run)
    runner = _run(lab, "known-mass-check", _plate_responder(lab, plate), drive_run)
    check = runner.results["known-mass"]
    assert len(check.values["labels"]) == 10
    assert check.values["max_abs_error_percent"] < 0.02
    assert check.values["gain"] == pytest.approx(1.0, abs=1e-4)
    assert check.passed is True
    placements = [c[2] for c in lab.calls if c[0] == "start_acquisition" and c[1] == "known-mass"]
    assert placements[:2] == ["centre 25 kg", "front-left 25 kg"] and len(placements) == 10

    wrong = plate_factory(seed=8)
    wrong.config_matrix[2] *= 1.03  # the configured Fz row is 3 % too high
    _zero(lab, wrong, drive_run)
    runner = _run(lab, "known-mass-check", _plate_responder(lab, wrong), drive_run)
    check = runner.results["known-mass"]
    assert check.values["gain"] == pytest.approx(1.03, abs=2e-4)
    assert min(check.values["error_percent"]) > 2.9
    assert check.passed is False
    assert len(check.flags) == 10
    series = lab.log.trend("known-mass")
    assert series.passed == (True, False)
    assert series.values[1] == pytest.approx(3.0, abs=0.05)


def test_cop_pointer_check_catches_a_wrong_plate_origin(logged_lab, plate_factory, drive_run):
    lab = logged_lab
    plate = plate_factory()
    _zero(lab, plate, drive_run)
    runner = _run(lab, "cop-pointer-check", _plate_responder(lab, plate), drive_run)
    good = runner.results["pointer"]
    assert good.values["max_error_m"] < 0.0002
    assert good.passed is True

    biased = plate_factory(seed=9)
    biased.config_origin_m = biased.origin_m + np.array([0.008, 0.0, 0.0])  # 8 mm off in x
    _zero(lab, biased, drive_run)
    runner = _run(lab, "cop-pointer-check", _plate_responder(lab, biased), drive_run)
    bad = runner.results["pointer"]
    assert bad.values["rms_error_m"] == pytest.approx(0.008, abs=0.0002)
    assert bad.values["mean_bias_m"] == pytest.approx([0.008, 0.0], abs=0.0002)
    assert bad.passed is False
    assert lab.log.latest("cop-pointer", "belt").passed is False


def test_plate_checks_are_blocked_until_the_plate_is_zeroed_today(
    logged_lab, plate_factory, drive_run
):
    lab = logged_lab
    runner = Runner(find_procedure("known-mass-check"), lab, clock=lab.clock)
    runner.begin()
    assert runner.state is State.BLOCKED
    assert runner.check_detail == "not current: zero on *: never recorded"
    _zero(lab, plate_factory(), drive_run)
    runner.retry()
    assert runner.current_step.id == "belt-stopped"
    lab.now += timedelta(days=1)
    runner = Runner(find_procedure("known-mass-check"), lab, clock=lab.clock)
    runner.begin()
    assert runner.state is State.BLOCKED
    assert "zero on belt: not done today" in runner.check_detail


def test_sync_verification_records_offset_mean_and_sd(logged_lab, drive_run):
    lab = logged_lab
    rng = np.random.default_rng(3)
    offsets = {"sagittal": 0.0012 + rng.normal(0, 0.0004, 12), "posterior": 0.003 + np.zeros(12)}

    def respond(request):
        return lab.finished(
            request.duration_s,
            values={
                "offsets_s": offsets[request.device].tolist(),
                "frame_rate_hz": 250.0,
                "method": "led",
            },
        )

    runner = _run(lab, "sync-verification", respond, drive_run)
    sagittal = runner.results["sagittal"].values
    assert sagittal["n"] == 12
    assert sagittal["mean_s"] == pytest.approx(offsets["sagittal"].mean())
    assert sagittal["sd_s"] == pytest.approx(offsets["sagittal"].std(ddof=1))
    assert sagittal["limit_s"] == 0.002
    assert runner.results["sagittal"].passed is True
    # a 3 ms offset is more than half a 4 ms frame
    assert runner.results["posterior"].passed is False
    assert [e.device for e in lab.log.entries("sync-verification")] == ["sagittal", "posterior"]


def test_intrinsics_then_scale_and_a_lens_change_makes_both_stale(logged_lab, drive_run):
    lab = logged_lab

    def intrinsics(request):
        return lab.finished(
            request.duration_s, values={"rms_reprojection_px": 0.31, "n_images": 14}
        )

    _run(lab, "camera-intrinsics", intrinsics, drive_run, skip={"posterior"})
    assert lab.log.latest("camera-intrinsics", "sagittal").values["rms_reprojection_px"] == 0.31

    def scale(request):
        return lab.finished(
            request.duration_s, values={"length_errors_m": [0.001, -0.0005, 0.0021]}
        )

    runner = _run(lab, "scale-plane", scale, drive_run, skip={"posterior"})
    assert runner.results["sagittal"].values["max_error_m"] == pytest.approx(0.0021)
    assert runner.results["sagittal"].passed is True

    lab.now += timedelta(hours=2)
    lab.log.record("lens-change", "sagittal", "T. Echnician", passed=True, time_utc=lab.now)
    lab.now += timedelta(minutes=5)
    stale = {(s.kind, s.device) for s in lab.log.stale_items(lab.now)}
    assert {("camera-intrinsics", "sagittal"), ("scale-plane", "sagittal")} <= stale
    blocked = Runner(find_procedure("scale-plane"), lab)
    blocked.begin()
    assert blocked.state is State.BLOCKED
    assert "older than the lens-change" in blocked.check_detail


def test_poor_intrinsics_fail(lab, drive_run):
    runner = _run(
        lab,
        "camera-intrinsics",
        lambda r: lab.finished(r.duration_s, values={"rms_reprojection_px": 0.9, "n_images": 14}),
        drive_run,
        skip={"posterior"},
    )
    assert runner.results["sagittal"].passed is False
    assert runner.results["sagittal"].calibration_kind == "camera-intrinsics"
    assert runner.results["sagittal"].settings["parameters"]["max_rms_px"] == 0.5


def test_a_record_that_cannot_be_evaluated_is_a_failed_check_not_a_stuck_run(
    logged_lab, plate_factory, drive_run
):
    lab = logged_lab
    plate = plate_factory()
    _zero(lab, plate, drive_run)
    responder = _plate_responder(lab, plate)

    def respond(request):
        if request.placement.label == "rear":  # the pointer barely touched the belt
            volts = plate.volts(request.duration_s, force_lab=(0, 0, 10.0), point_lab=(-0.5, 0, 0))
            return lab.finished(
                request.duration_s, volts=volts, rate_hz=RATE_HZ, plate=plate.config()
            )
        return responder(request)

    runner = _run(lab, "cop-pointer-check", respond, drive_run)
    result = runner.results["pointer"]
    assert runner.state is State.COMPLETED
    assert (result.passed, result.flags) == (False, ("evaluation_failed",))
    assert "a position has no COP" in result.values["error"]
    assert lab.log.latest("cop-pointer", "belt").passed is False
