"""Crash safety: SIGKILL mid-recording, a full disk, and a second process reading live (SWMR)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.errors import InputError
from app.cli import main as cli_main
from data import open_session
from data.repair import repair_session
from data.session_writer import SessionWriteError, SessionWriter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _python(script: str, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


@pytest.fixture
def killed_recording(tmp_path):
    """A file whose recording process was SIGKILLed after 6 flushes; (path, samples, frames)."""
    path = tmp_path / "killed.midstance.h5"
    proc = _python("recorder_process.py", str(path))
    lines = [proc.stdout.readline() for _ in range(6)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    samples, frames = (int(v) for v in lines[-1].split())
    return path, samples, frames


def test_a_killed_recording_opens_and_holds_everything_up_to_the_last_flush(killed_recording):
    path, flushed_samples, flushed_frames = killed_recording
    assert flushed_samples == 6 * 25 * 40
    with open_session(path) as s:
        assert s.recording_state == "recording" and not s.is_complete
        assert not s.being_recorded  # the recording process is gone: a crash, not a live file
        analog = s.analog.read()
        assert len(analog) >= flushed_samples
        kept = analog[:flushed_samples]
        np.testing.assert_array_equal(kept[:, 1], np.arange(flushed_samples))
        post = s.camera("posterior")
        assert post.n_frames >= flushed_frames
        assert post.frame(flushed_frames - 1).mean() == pytest.approx(
            (flushed_frames - 1) % 256, abs=1
        )
        assert len(s.live_stances()) >= 6


def test_repair_closes_a_killed_recording(killed_recording):
    path, flushed_samples, flushed_frames = killed_recording
    report = repair_session(path)
    assert report.state_before == "recording" and report.state_after == "repaired"
    with h5py.File(path, "r") as f:  # plain open works again: status flags are clean
        assert f.attrs["recording_state"] == "repaired"
    with open_session(path) as s:
        assert s.is_complete and "interrupted" in s.recording_note
        analog = s.analog.read()
        assert len(analog) >= flushed_samples and not np.isnan(analog).any()
        np.testing.assert_array_equal(analog[:, 0], np.arange(len(analog)))
        for cam in ("sagittal", "posterior"):
            c = s.camera(cam)
            assert c.n_frames >= flushed_frames
            assert not np.isnan(c.session_time).any()
            np.testing.assert_array_equal(c.frame_index, np.arange(c.n_frames))
            assert c.frame(c.n_frames - 1).mean() == pytest.approx((c.n_frames - 1) % 256, abs=1)
        rev = s.analysis()
        assert rev.settings == {"source": "crash test"} and len(rev.stances()) >= 6
    assert repair_session(path).note == "the file was already closed properly"


def test_repair_command(killed_recording, capsys):
    path, _, _ = killed_recording
    assert cli_main(["repair", str(path)]) == 0
    assert "repaired" in capsys.readouterr().out
    with open_session(path) as s:
        assert s.recording_state == "repaired"


def test_a_full_disk_stops_the_recording_cleanly(tmp_path, synth, monkeypatch):
    path = tmp_path / "full-disk.midstance.h5"
    writer = SessionWriter(path, channel_names=synth.CHANNELS, daq_rate_hz=1000.0)
    writer.append_analog(synth.analog_volts(300))
    writer.flush()

    def no_space(self, key, value):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Dataset, "__setitem__", no_space)
    writer.append_analog(synth.analog_volts(100))
    with pytest.raises(SessionWriteError) as caught:
        writer.flush()
    message = caught.value.sentence()
    assert "disk is full" in message and "0.3 s" in message and str(path) in message
    with pytest.raises(SessionWriteError):  # the writer stays stopped
        writer.append_analog(synth.analog_volts(10))
    monkeypatch.undo()
    with open_session(path) as s:
        assert s.recording_state == "aborted" and "disk is full" in s.recording_note
        np.testing.assert_array_equal(s.analog.read(), synth.analog_volts(300))


def test_a_reader_process_sees_the_recording_grow(tmp_path, synth):
    path = tmp_path / "live.midstance.h5"
    from data.session_writer import CameraSpec

    camera = CameraSpec("sagittal", synth.HEIGHT, synth.WIDTH, 250.0)
    writer = SessionWriter(path, channel_names=synth.CHANNELS, daq_rate_hz=1000.0, cameras=[camera])
    writer.append_analog(synth.analog_volts(500))
    for k in range(10):
        writer.append_frame("sagittal", synth.frame_image(k), frame_index=k, session_time_s=k / 250)
    writer.flush()
    with open_session(path) as live:
        assert live.being_recorded and not live.is_complete
    with pytest.raises(InputError, match="still being recorded"):
        repair_session(path)
    reader = _python("swmr_follower.py", str(path), stdin=subprocess.PIPE)
    try:
        reader.stdin.write("\n")
        reader.stdin.flush()
        first = reader.stdout.readline().split()
        writer.append_analog(synth.analog_volts(700))
        for k in range(10, 30):
            writer.append_frame(
                "sagittal", synth.frame_image(k), frame_index=k, session_time_s=k / 250
            )
        writer.flush()
        reader.stdin.write("\n")
        reader.stdin.flush()
        second = reader.stdout.readline().split()
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
        writer.close()
    assert first == ["500", "10"], reader.stderr.read()
    assert second == ["1200", "30"]
    with open_session(path) as done:
        assert done.recording_state == "complete" and not done.being_recorded


def test_at_most_half_a_second_of_samples_waits_for_a_flush(tmp_path, synth, monkeypatch):
    import data.session_writer

    monkeypatch.setattr(data.session_writer, "_clock", lambda: 0.0)  # count samples only
    path = tmp_path / "periodic.midstance.h5"
    writer = SessionWriter(path, channel_names=synth.CHANNELS, daq_rate_hz=1000.0)
    writer.append_analog(synth.analog_volts(400))
    assert writer.committed["daq/analog"] == 0  # 0.4 s buffered
    writer.append_analog(synth.analog_volts(200))
    assert writer.committed["daq/analog"] == 600  # 0.6 s ≥ flush interval: on disk
    with open_session(path) as reader:  # another handle sees it (SWMR)
        assert reader.analog.n_samples == 600
    writer.close()
