"""The Basler driver through pylon's own camera emulator: the real pypylon grab path."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from drivers.base import DeviceLost, DeviceState, DeviceUnavailable, HealthStatus, LifecycleError
from drivers.camera.basler import BaslerCamera
from drivers.contract import exercise_device
from drivers.registry import create_device

pytestmark = pytest.mark.vendor_sim


def emulator_settings(serial: str, folder, frames: np.ndarray, **extra) -> dict:
    height, width = frames.shape[1:]
    return {
        "name": "sagittal",
        "kind": "basler",
        "serial": serial,
        "rate_hz": 90.0,  # the emulator delivers at most ~96 fps
        "exposure_us": 2000.0,
        "width": width,
        "height": height,
        "test_image_dir": str(folder),
        "trigger": "free-run",  # the emulator cannot take a hardware trigger
        **extra,
    }


def node_value(camera: BaslerCamera, name: str):
    return camera._camera.GetNodeMap().GetNode(name).GetValue()


def test_probe_finds_the_emulated_camera(pylon_emulator):
    health = BaslerCamera.probe("sagittal", {"serial": pylon_emulator, "rate_hz": 90.0})
    assert health.status is HealthStatus.OK
    assert pylon_emulator in health.reason


def test_an_unknown_serial_is_absent_and_the_serials_found_are_listed(pylon_emulator):
    health = BaslerCamera.probe("sagittal", {"serial": "40012345", "rate_hz": 90.0})
    assert health.status is HealthStatus.ABSENT
    assert "40012345" in health.reason
    assert "0815-0000" in health.reason and "0815-0001" in health.reason
    with pytest.raises(DeviceUnavailable, match="no Basler camera with serial 40012345"):
        BaslerCamera("sagittal", {"serial": "40012345", "rate_hz": 90.0}).open()


def test_replayed_images_arrive_pixel_exact_in_order_through_the_contract(
    pylon_emulator, disc_images
):
    folder, frames = disc_images
    camera = BaslerCamera("sagittal", emulator_settings(pylon_emulator, folder, frames))
    report = exercise_device(camera, 23, chunk_items=8)
    assert report.items == 23
    np.testing.assert_array_equal(report.indices, np.arange(23))
    assert report.dropped == 0
    expected = frames[np.arange(23) % len(frames)]
    np.testing.assert_array_equal(report.data, expected)
    assert camera.state is DeviceState.CLOSED


def test_configuration_is_written_to_the_camera_and_reported(pylon_emulator, disc_images):
    folder, frames = disc_images
    settings = emulator_settings(pylon_emulator, folder, frames, gain_db=6.0)
    with BaslerCamera("sagittal", settings) as camera:
        description = camera.describe()
        assert description.shape == (96, 128) and description.dtype == "uint8"
        assert description.rate_hz == 90.0
        applied = description.settings["applied"]
        # The emulator has both ExposureTime and ExposureTimeAbs: the SFNC name is preferred.
        assert applied["nodes_used"] == {
            "exposure": "ExposureTime",
            "gain": "Gain",
            "frame_rate": "AcquisitionFrameRate",
            "resulting_frame_rate": "ResultingFrameRateAbs",
        }
        assert applied["exposure_us"] == 2000.0
        assert applied["gain_db"] == pytest.approx(6.0, abs=0.01)  # read back: raw-gain steps
        assert applied["frame_counter_source"] == "BlockID"  # the emulator has no chunk selector
        assert applied["timestamp_source"] == "grab result TimeStamp"
        assert node_value(camera, "ExposureTime") == 2000.0
        assert node_value(camera, "PixelFormat") == "Mono8"
        assert node_value(camera, "TriggerMode") == "Off"
        assert node_value(camera, "AcquisitionFrameRate") == 90.0
        assert node_value(camera, "LineSelector") == "Line2"
        assert node_value(camera, "LineMode") == "Output"
        assert node_value(camera, "LineSource") == "ExposureActive"
        assert node_value(camera, "LineInverter") is False
        assert description.settings["frame_counter_origin"] == 0  # USB-like BlockIDs from 0


def test_the_emulator_has_no_timestamps_so_device_time_is_nan(pylon_emulator, disc_images):
    folder, frames = disc_images
    with BaslerCamera("sagittal", emulator_settings(pylon_emulator, folder, frames)) as camera:
        camera.start()
        out = camera.describe().empty_buffer(4)
        chunk = camera.read(out, timeout_s=2.0)
        assert chunk.count >= 1
        assert chunk.device_time_s is not None
        assert np.all(np.isnan(chunk.device_time_s[: chunk.count]))


def test_hardware_trigger_is_configured_and_no_pulse_means_no_frame(pylon_emulator, disc_images):
    folder, frames = disc_images
    settings = emulator_settings(pylon_emulator, folder, frames)
    del settings["trigger"]  # hardware trigger is the default
    with BaslerCamera("sagittal", settings) as camera:
        assert node_value(camera, "TriggerSelector") == "FrameStart"
        assert node_value(camera, "TriggerMode") == "On"
        assert node_value(camera, "TriggerSource") == "Line1"
        assert node_value(camera, "TriggerActivation") == "RisingEdge"
        assert node_value(camera, "AcquisitionFrameRateEnable") is False
        camera.start()
        chunk = camera.read(camera.describe().empty_buffer(2), timeout_s=0.2)
        assert chunk.count == 0


def test_each_software_trigger_gives_exactly_one_frame(pylon_emulator, disc_images):
    folder, frames = disc_images
    settings = emulator_settings(pylon_emulator, folder, frames, trigger="software")
    with BaslerCamera("sagittal", settings) as camera:
        camera.start()
        out = camera.describe().empty_buffer(3)
        for k in range(3):
            camera.execute_software_trigger()
            chunk = camera.read(out, timeout_s=2.0)
            assert chunk.count == 1
            assert chunk.first_index == k
            np.testing.assert_array_equal(out[0], frames[k])


def test_failed_buffers_are_reported_as_dropped_with_a_gap_in_the_indices(
    pylon_emulator, disc_images
):
    folder, frames = disc_images
    with BaslerCamera("sagittal", emulator_settings(pylon_emulator, folder, frames)) as camera:
        camera.start()
        nodemap = camera._camera.GetNodeMap()
        out = camera.describe().empty_buffer(1)
        indices, dropped = [], 0
        while len(indices) < 12:
            if len(indices) == 3:
                nodemap.GetNode("ForceFailedBufferCount").SetValue(2)
                nodemap.GetNode("ForceFailedBuffer").Execute()
            chunk = camera.read(out, timeout_s=2.0)
            dropped += chunk.dropped
            indices.extend(chunk.item_indices().tolist())
            if chunk.count:
                np.testing.assert_array_equal(out[0], frames[indices[-1] % len(frames)])
        camera.stop()
        assert dropped == 2
        missing = sorted(set(range(indices[-1] + 1)) - set(indices))
        assert len(missing) == 2 and missing[1] == missing[0] + 1
        assert camera.statistics["Statistic_Failed_Buffer_Count"] == 2
        assert camera.statistics["failed_buffers_seen"] == 2


def test_a_camera_that_goes_away_while_grabbing_raises_device_lost(pylon_emulator, disc_images):
    folder, frames = disc_images
    camera = BaslerCamera("sagittal", emulator_settings(pylon_emulator, folder, frames))
    with camera:
        camera.start()
        out = camera.describe().empty_buffer(4)
        assert camera.read(out, timeout_s=2.0).count >= 1
        # pylon's device object disappears under the running grab, as when the cable is pulled.
        camera._camera.DestroyDevice()
        with pytest.raises(DeviceLost, match="disconnected while grabbing"):
            camera.read(out, timeout_s=2.0)
        assert camera.state is DeviceState.FAULTED
    assert camera.state is DeviceState.CLOSED


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"width": 4097}, r"width: 4097 is not a valid Width \(range 1–4096"),
        (
            {"trigger": "hardware", "trigger_source": "Line9"},
            "TriggerSource 'Line9' is not offered",
        ),
        ({"exposure_output_line": "Line7"}, "LineSelector 'Line7' is not offered"),
        ({"offset_x": 4000}, r"offset_x: 4000 is not a valid OffsetX \(range 0–3968"),
    ],
)
def test_settings_the_camera_refuses_are_misconfigured(pylon_emulator, disc_images, extra, message):
    folder, frames = disc_images
    camera = BaslerCamera("sagittal", emulator_settings(pylon_emulator, folder, frames, **extra))
    with pytest.raises(DeviceUnavailable, match=message) as raised:
        camera.open()
    assert raised.value.health.status is HealthStatus.MISCONFIGURED
    assert camera.state is DeviceState.CLOSED
    # The camera was released: it can be opened again with good settings.
    with BaslerCamera("sagittal", emulator_settings(pylon_emulator, folder, frames)) as again:
        assert again.describe().shape == (96, 128)


def test_stop_from_another_thread_ends_a_read_waiting_for_a_trigger(pylon_emulator, disc_images):
    folder, frames = disc_images
    settings = emulator_settings(pylon_emulator, folder, frames, trigger="hardware")
    outcome: list[object] = []
    with BaslerCamera("sagittal", settings) as camera:
        camera.start()
        out = camera.describe().empty_buffer(2)
        reading = threading.Event()

        def reader() -> None:
            reading.set()
            try:
                outcome.append(camera.read(out, timeout_s=60.0).count)  # no trigger will come
            except LifecycleError as exc:  # stop() won the race before read() began
                outcome.append(exc)

        worker = threading.Thread(target=reader)
        worker.start()
        reading.wait()
        camera.stop()
        worker.join(timeout=20.0)  # far below the read's 60 s: only a hang would reach it
        assert not worker.is_alive()
    assert outcome and (outcome[0] == 0 or isinstance(outcome[0], LifecycleError))


def test_two_cameras_grab_side_by_side_each_from_its_own_images(
    pylon_emulator, disc_images, tmp_path
):
    folder, frames = disc_images
    inverted_folder = tmp_path / "inverted"
    inverted_folder.mkdir()
    inverted = 255 - frames
    for k, frame in enumerate(inverted):
        assert cv2.imwrite(str(inverted_folder / f"frame_{k:03d}.png"), frame)
    sagittal = BaslerCamera("sagittal", emulator_settings("0815-0000", folder, frames))
    posterior = BaslerCamera("posterior", emulator_settings("0815-0001", inverted_folder, frames))
    with sagittal, posterior:
        sagittal.start()
        posterior.start()
        for camera, expected in ((sagittal, frames), (posterior, inverted)):
            out = camera.describe().empty_buffer(6)
            filled = 0
            while filled < 6:
                chunk = camera.read(out[filled:], timeout_s=2.0)
                assert chunk.first_index == filled and chunk.dropped == 0
                filled += chunk.count
            np.testing.assert_array_equal(out, expected[np.arange(6) % len(expected)])


def test_basler_and_the_simulated_camera_pass_the_same_contract_with_the_same_frames(
    pylon_emulator, tmp_path
):
    """The simulated lab's sagittal frames, replayed by the emulator through the real grab path,
    arrive exactly as the simulated camera delivers them (the simulator renders 100–500 fps, the
    emulator grabs at most ~96 fps: the rates differ, the images do not)."""
    shared = {"sim.settings": {"sync_mode": "software"}}
    sim_settings = {"preset": "healthy", "seed": 2, "duration_s": 0.5, "pace": "fast"}
    simulated = create_device("sim.camera", "sagittal", {**sim_settings, "rate_hz": 100}, shared)
    n_frames = 12
    sim_report = exercise_device(simulated, n_frames, chunk_items=5)
    lab = shared["sim.lab"]
    folder = tmp_path / "sim_frames"
    folder.mkdir()
    for k in range(n_frames):
        assert cv2.imwrite(str(folder / f"frame_{k:03d}.png"), lab.frame("sagittal", k))
    basler = BaslerCamera(
        "sagittal", emulator_settings(pylon_emulator, folder, sim_report.data[:n_frames])
    )
    basler_report = exercise_device(basler, n_frames, chunk_items=5)
    assert basler.describe().shape == simulated.describe().shape == (480, 640)
    np.testing.assert_array_equal(basler_report.indices, sim_report.indices)
    np.testing.assert_array_equal(basler_report.data, sim_report.data)
    assert basler_report.dropped == sim_report.dropped == 0
