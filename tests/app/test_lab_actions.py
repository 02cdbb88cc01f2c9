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
    result = controller.zero_plates(0.5, start_s=start + 0.1)
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


def test_video_covers_a_stance_only_without_long_holes():
    from app.stance_video import MAX_VIDEO_GAP_FRAMES, video_covers

    period = 1 / FPS
    times = np.arange(0.0, 0.5, period)
    assert video_covers(times, 0.1, 0.35, period)
    dropped = np.delete(times, [40, 41])  # two dropped frames: interpolated, still covered
    assert video_covers(dropped, 0.1, 0.35, period)
    hole = np.delete(times, range(40, 40 + MAX_VIDEO_GAP_FRAMES + 1))
    assert not video_covers(hole, 0.1, 0.35, period)
    stopped = times[times < 0.3]  # the camera failed before toe-off
    assert not video_covers(stopped, 0.1, 0.35, period)


SAGITTAL_NAMES = ("shoulder", "hip", "knee", "ankle", "heel", "toe")


def _sagittal_calibration(**kwargs):
    """A sagittal plane seen at 1 px per mm (image y down, plane b up), optionally with a
    camera model (needed for marker depth offsets)."""
    from analysis.marker_sets import ImageOrientation
    from analysis.plane_calibration import from_points

    plane = np.array([[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]])
    image = np.column_stack([100 + plane[:, 0] * 1000, 1100 - plane[:, 1] * 1000])
    return from_points(image, plane, view="sagittal", orientation=ImageOrientation(), **kwargs)


def _sagittal_pixels(n: int) -> np.ndarray:
    ab = np.zeros((n, len(SAGITTAL_NAMES), 2))
    for name, point in {
        "shoulder": [-0.05, 1.4], "hip": [0.0, 0.9], "knee": [0.05, 0.5], "ankle": [0.1, 0.1],
        "heel": [0.08, 0.03], "toe": [0.25, 0.02],
    }.items():  # fmt: skip
        ab[:, SAGITTAL_NAMES.index(name)] = point
    return np.stack([100 + ab[..., 0] * 1000, 1100 - ab[..., 1] * 1000], axis=-1)


def test_a_stance_whose_video_stops_has_no_video_metric_and_is_flagged():
    """The ~17 cm hip–ankle spike next to a camera fault: the stance is flagged instead."""
    from analysis.vision_settings import VisionSettings
    from app.stance_video import CameraWindow, StanceVideoRequest

    times = np.arange(0.0, 0.6, 1 / FPS)
    calibration = _sagittal_calibration()

    def request(until_s):
        kept = times[times < until_s]
        xy = _sagittal_pixels(kept.size)
        flags = np.ones(xy.shape[:2], np.uint8)
        window = CameraWindow(calibration, SAGITTAL_NAMES, kept, xy, flags, 1 / FPS)
        return StanceVideoRequest("R", 0.2, 0.45, ("force_flag",), [window], VisionSettings(), 0.9)

    video, flags = request(1.0).compute()
    assert video["hip_ankle_contact_m"] == pytest.approx(0.1, abs=1e-6)
    assert flags[0] == "force_flag" and "video_incomplete_sagittal" not in flags
    video, flags = request(0.3).compute()  # the camera failed at 0.3 s
    assert flags[0] == "force_flag" and "video_incomplete_sagittal" in flags
    assert video.get("hip_ankle_contact_m") is None
    assert video.get("hip_ankle_midstance_m") is None


def test_live_video_windows_apply_marker_depth_offsets_as_the_offline_analysis_does():
    """A PSIS/hip marker stands off the calibrated plane: live and offline both intersect its
    rays with its own parallel plane (the live join once used the calibrated plane for all)."""
    from analysis.camera_calibration import CameraIntrinsics
    from analysis.tracking import MarkerTracks
    from analysis.video_metrics import plane_tracks
    from app.stance_video import CameraWindow

    intrinsics = CameraIntrinsics(1500.0, 1500.0, 250.0, 600.0, (0.0,) * 5, (500, 1200))
    calibration = _sagittal_calibration(intrinsics=intrinsics, marker_offsets_m={"hip": 0.12})
    xy = _sagittal_pixels(5)
    flags = np.zeros(xy.shape[:2], np.uint8)
    times = np.arange(5) / FPS
    live = CameraWindow(calibration, SAGITTAL_NAMES, times, xy, flags, 1 / FPS).plane_tracks()
    offline = plane_tracks(MarkerTracks(SAGITTAL_NAMES, xy, flags), times, calibration)
    np.testing.assert_array_equal(live.ab_m, offline.ab_m)
    hip = SAGITTAL_NAMES.index("hip")
    on_plane = calibration.to_plane(xy[:, hip])
    # nearer the camera, the hip's pixels are a smaller plane distance from the image centre
    assert np.abs(live.ab_m[:, hip] - on_plane).max() > 0.005
    knee = SAGITTAL_NAMES.index("knee")
    np.testing.assert_array_equal(live.ab_m[:, knee], calibration.to_plane(xy[:, knee]))
