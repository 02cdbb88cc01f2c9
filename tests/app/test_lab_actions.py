"""The controller-backed LabActions and the controller defects seen from the window: zeroing on
the simulated lab (the runner steps off the belt), the zero refusal sentence, the live frame and
its markers when the tracker lags, and the freeze frame of a camera that stopped delivering."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import MidstanceError
from app.live_analysis import TrackStore
from app.live_views import freeze_frame_from, zeroed_plates
from app.ring_buffer import RingBuffer
from app.session_controller import SessionController
from app.session_types import StanceResult
from drivers.config import parse_config

FPS = 250.0


@pytest.fixture(scope="module")
def controller():
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [],
        "simulation": {"duration_s": 120.0},
    }
    ctrl = SessionController(parse_config(raw), pace="fast")
    ctrl.connect()
    yield ctrl
    ctrl.close()


def test_zero_is_refused_while_running_and_succeeds_with_the_runner_off_the_belt(controller):
    with pytest.raises(MidstanceError) as refused:
        controller.zero_plates(0.5)
    sentence = refused.value.sentence()
    assert sentence.count("plate 'belt'") == 1 and "is loaded" in sentence
    start, stop = controller.step_off_belt(1.5)
    assert controller.wait_for_session_time(start + 0.1, timeout_s=60)
    result = controller.zero_plates(0.5)
    true = np.asarray(controller.shared["sim.lab"].plate_configs()[0]["offsets_V"])
    found = np.asarray(result["plates"]["belt"]["zeroing"]["offsets_V"])
    np.testing.assert_allclose(found, true, atol=5e-4)
    assert result["plates"]["belt"]["noise_floor"]["passed"] is True
    assert stop - start == pytest.approx(1.5)
    assert controller.status().plate_zero_age_s is not None


def test_offsets_from_a_procedure_are_applied_to_the_live_plate(controller):
    offsets = [0.01, -0.02, 0.03, 0.0, 0.001, -0.001]
    controller.apply_plate_offsets("belt", offsets)
    assert controller.setup.plates[0].offsets_V.tolist() == offsets
    with pytest.raises(MidstanceError, match="no plate named 'left'"):
        controller.apply_plate_offsets("left", offsets)


def test_the_refusal_of_a_loaded_plate_names_it_once(controller):
    plate = controller.setup.plates[0]
    volts = np.zeros((1000, len(controller.daq_stream.description.channel_names)))
    cols = [controller.daq_stream.description.channel_names.index(c) for c in plate.channels]
    volts[:, cols[2]] = 0.8  # about 800 N on Fz
    with pytest.raises(MidstanceError) as refused:
        zeroed_plates(volts, controller.daq_stream.description.channel_names, [plate], 2000.0, 20)
    assert refused.value.sentence().count("'belt'") == 1


def ring_of_frames(times):
    ring = RingBuffer("camera", (4, 4), np.uint8, 64)
    images = np.arange(len(times), dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    ring.write(images, first_index=0, session_time_s=np.asarray(times))
    return ring


def test_a_stance_after_the_camera_stopped_gets_no_freeze_frame():
    """The last frame before a camera failed is not the midstance of a later stance."""
    ring = ring_of_frames(np.arange(20) / FPS)  # frames up to 76 ms, then the camera failed
    stance = StanceResult(0, "L", 0.0, 0.3, {}, {}, ())
    inside = freeze_frame_from("sagittal", ring, 10.2 / FPS, None, stance, max_gap_s=1 / FPS)
    assert inside is not None and inside.index == 10
    later = freeze_frame_from("sagittal", ring, 0.5, None, stance, max_gap_s=1 / FPS)
    assert later is None


def test_the_live_frame_is_the_newest_tracked_one_with_its_markers(controller):
    """A tracker behind the camera: the image shown is the frame its markers belong to."""
    ring = ring_of_frames(np.arange(30) / FPS)
    store = TrackStore(("hip", "knee"), 64)
    for k in range(25):  # the tracker has finished frames 0..24 of 0..29
        store.add(k, k / FPS, np.array([[10.0 + k, 20.0], [11.0, 30.0]]), np.zeros(2, np.uint8))

    class Stream:
        rate_hz = FPS

    Stream.ring = ring

    class Tracker:
        pass

    Tracker.store = store

    class Reader:
        @staticmethod
        def latest(n):
            return ring.latest_reader(1).latest(1)

    controller.camera_streams["cam"] = Stream
    controller.trackers["cam"] = Tracker
    controller._display_frames["cam"] = Reader
    try:
        frame = controller.latest_frame("cam")
    finally:
        for table in (controller.camera_streams, controller.trackers, controller._display_frames):
            table.pop("cam")
    assert frame.index == 24 and int(frame.image[0, 0]) == 24
    assert frame.session_time_s == pytest.approx(24 / FPS)
    assert frame.markers == {"hip": (34.0, 20.0), "knee": (11.0, 30.0)}
