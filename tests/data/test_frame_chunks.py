"""Frames written as finished chunks (python-blosc, ``write_direct_chunk``) read back exactly
through plain h5py + hdf5plugin, with the dataset layout any HDF5 reader expects; a frame counts
as recorded once its time row is flushed; a write failure trims the file to the last flush."""

from __future__ import annotations

import errno
import os

import cv2
import h5py
import hdf5plugin
import numpy as np
import pytest

from data import open_session, session_writer
from data.session_writer import FRAME_BATCH, CameraSpec, SessionWriteError, SessionWriter
from data.video_codecs import LOSSLESS_BLOSC, CodecChoice, jpeg_row_width

HEIGHT, WIDTH = 60, 80
BLOSC_FILTER_ID = 32001


def scene(k: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth frame with a moving blob; every fifth frame is pure noise (incompressible, so
    Blosc stores it verbatim: the other branch of its format)."""
    if k % 5 == 4:
        return rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    blob = 180.0 * np.exp(-((xx - 5 - 3 * k % WIDTH) ** 2 + (yy - 30) ** 2) / 40.0)
    return np.clip(20 + xx + blob + rng.normal(0, 2, (HEIGHT, WIDTH)), 0, 255).astype(np.uint8)


def record(path, codec: str, n_frames: int, *, close: bool = True):
    """Write n_frames of one camera (and a little DAQ); return (writer, frames given)."""
    rng = np.random.default_rng(7)
    frames = np.stack([scene(k, rng) for k in range(n_frames)])
    spec = CameraSpec("cam", HEIGHT, WIDTH, 250.0, "sagittal", CodecChoice(codec))
    writer = SessionWriter(path, channel_names=("a",), daq_rate_hz=1000.0, cameras=[spec])
    for k, frame in enumerate(frames):
        writer.append_frame("cam", frame, frame_index=100 + k, session_time_s=k / 250.0,
                            camera_time_s=7.0 + k / 250.0, host_time_s=9.0 + k / 250.0)  # fmt: skip
    if close:
        writer.close()
    return writer, frames


@pytest.mark.parametrize("n_frames", [1, FRAME_BATCH - 1, FRAME_BATCH, 3 * FRAME_BATCH + 5])
def test_lossless_frames_read_back_exactly_with_plain_h5py_and_hdf5plugin(tmp_path, n_frames):
    path = tmp_path / "lossless.midstance.h5"
    _, frames = record(path, "lossless", n_frames)
    assert hdf5plugin.Blosc  # the filter is registered for this reader, as any user would do
    with h5py.File(path, "r") as f:
        ds = f["cameras/cam/frames"]
        assert ds.shape == (n_frames, HEIGHT, WIDTH) and ds.chunks == (1, HEIGHT, WIDTH)
        plist = ds.id.get_create_plist()
        assert plist.get_nfilters() == 1
        filter_id, _flags, options, _name = plist.get_filter(0)
        assert filter_id == BLOSC_FILTER_ID
        _, clevel, shuffle = LOSSLESS_BLOSC
        assert (options[4], options[5]) == (clevel, shuffle)  # as declared to HDF5
        assert ds.id.get_num_chunks() == n_frames  # one chunk a frame, every one written
        np.testing.assert_array_equal(ds[()], frames)
        np.testing.assert_array_equal(f["cameras/cam/frame_index"][()], 100 + np.arange(n_frames))
        np.testing.assert_allclose(
            f["cameras/cam/camera_time"][()], 7.0 + np.arange(n_frames) / 250
        )
        mask, chunk = ds.id.read_direct_chunk((n_frames - 1, 0, 0))
        assert mask == 0 and len(chunk) <= HEIGHT * WIDTH + 32  # stored as Blosc's frame


def test_lossless_chunks_are_as_small_as_the_hdf5_filter_makes_them(tmp_path):
    """The peer: the same frames through h5py with the HDF5 Blosc filter (the former path)."""
    from data.video_codecs import blosc_lossless_filter

    _, frames = record(tmp_path / "direct.midstance.h5", "lossless", 20)
    with h5py.File(tmp_path / "filter.h5", "w") as f:
        f.create_dataset(
            "frames", data=frames, chunks=(1, HEIGHT, WIDTH), **blosc_lossless_filter()
        )
    sizes = {}
    for name, path in (("direct", "direct.midstance.h5"), ("filter", "filter.h5")):
        with h5py.File(tmp_path / path, "r") as f:
            ds = f["cameras/cam/frames" if name == "direct" else "frames"]
            sizes[name] = np.array([len(ds.id.read_direct_chunk((k, 0, 0))[1]) for k in range(20)])
    smooth = np.arange(20) % 5 != 4
    assert np.all(sizes["direct"][smooth] < 0.9 * HEIGHT * WIDTH)  # compressed
    assert np.all(sizes["direct"][~smooth] >= HEIGHT * WIDTH)  # noise: verbatim, still exact
    np.testing.assert_allclose(sizes["direct"], sizes["filter"], rtol=0.02)


def test_raw_frames_are_unfiltered_chunks(tmp_path):
    path = tmp_path / "raw.midstance.h5"
    _, frames = record(path, "none", FRAME_BATCH + 3)
    with h5py.File(path, "r") as f:
        ds = f["cameras/cam/frames"]
        assert ds.id.get_create_plist().get_nfilters() == 0
        np.testing.assert_array_equal(ds[()], frames)


def test_jpeg_rows_read_back_with_plain_h5py(tmp_path):
    path = tmp_path / "jpeg.midstance.h5"
    _, frames = record(path, "jpeg", FRAME_BATCH + 2)
    with h5py.File(path, "r") as f:
        g = f["cameras/cam"]
        rows, lengths = g["frames_jpeg"][()], g["jpeg_length"][()]
        assert rows.shape == (len(frames), jpeg_row_width(HEIGHT, WIDTH))
        assert g["frames_jpeg"].id.get_create_plist().get_filter(0)[0] == BLOSC_FILTER_ID
        np.testing.assert_array_equal(g["jpeg_quality"][()], 90)
    for k in (0, 3, len(frames) - 1):  # k=4 is noise: JPEG loses it, as it should
        assert rows[k, : lengths[k]][:2].tobytes() == b"\xff\xd8"  # a JPEG starts here
        assert not rows[k, lengths[k] :].any()  # zero padding after it
        image = cv2.imdecode(rows[k, : lengths[k]], cv2.IMREAD_GRAYSCALE)
        error = image.astype(float) - frames[k]
        assert 10 * np.log10(255.0**2 / np.mean(error**2)) > 35.0


def test_a_frame_counts_once_its_time_row_is_flushed(tmp_path):
    """Between flushes the frame chunks are ahead of their time rows; readers see only frames
    with times, and the next flush completes them."""
    path = tmp_path / "live.midstance.h5"
    writer, frames = record(path, "lossless", 2 * FRAME_BATCH + 3, close=False)
    writer.flush()
    rng = np.random.default_rng(1)
    extra = [scene(k, rng) for k in range(FRAME_BATCH)]
    n = len(frames)
    for k, frame in enumerate(extra):
        writer.append_frame("cam", frame, frame_index=100 + n + k, session_time_s=(n + k) / 250)
    with open_session(path) as s:
        cam = s.camera("cam")
        assert cam.h5_group["frames"].shape[0] == n + FRAME_BATCH  # chunks already written
        assert cam.n_frames == n == writer.committed["cameras/cam/session_time"]
        np.testing.assert_array_equal(cam.frame(n - 1), frames[-1])
    writer.close()
    with open_session(path) as s:
        cam = s.camera("cam")
        assert cam.n_frames == n + FRAME_BATCH
        np.testing.assert_array_equal(cam.frames(n, n + FRAME_BATCH), np.stack(extra))


def test_a_failed_chunk_write_keeps_the_file_up_to_the_last_flush(tmp_path, monkeypatch):
    path = tmp_path / "failing.midstance.h5"
    writer, frames = record(path, "lossless", FRAME_BATCH + 4, close=False)
    writer.flush()

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Dataset, "resize", no_space)
    with pytest.raises(SessionWriteError) as caught:
        for k in range(FRAME_BATCH):
            writer.append_frame("cam", frames[0], frame_index=999 + k, session_time_s=9.0)
    monkeypatch.undo()
    assert "disk is full" in caught.value.sentence()
    with open_session(path) as s:
        assert s.recording_state == "aborted"
        cam = s.camera("cam")
        assert cam.h5_group["frames"].shape[0] == cam.n_frames == len(frames)
        np.testing.assert_array_equal(cam.frames(0, len(frames)), frames)


def test_compression_is_set_to_release_the_gil_on_one_thread():
    """What keeps the trackers running while the recorder compresses (measured in
    benchmarks/bench_hdf5.py): python-blosc releases the GIL and uses no threads of its own."""
    import blosc

    from data.video_codecs import compress_chunk

    frame = np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(HEIGHT, WIDTH)
    assert blosc.decompress(compress_chunk(frame, LOSSLESS_BLOSC)) == frame.tobytes()
    assert blosc.set_releasegil(True) == 1  # returns the state it replaces
    assert blosc.set_nthreads(1) == 1


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux/Unix only")
def test_each_flush_drops_the_written_pages_of_this_file_from_the_page_cache(tmp_path, monkeypatch):
    """A recording writes ~150 MB/s nobody reads back; left in the page cache it made each write
    cost ~10x more after a few GB (issue #5). Each flush hands this file's pages back: the call
    goes to this file's own descriptor, for the whole file, and the file reads back whole."""
    calls: list[tuple[int, int, int, int]] = []
    real = os.posix_fadvise

    def remember(fd, offset, length, advice):
        calls.append((os.fstat(fd).st_ino, offset, length, advice))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(session_writer, "_FADVISE", remember)
    path = tmp_path / "paged.midstance.h5"
    writer, frames = record(path, "lossless", 2 * FRAME_BATCH + 3, close=False)
    writer.flush()
    assert calls, "a flush did not release the written pages"
    inode = path.stat().st_ino
    assert set(calls) == {(inode, 0, 0, os.POSIX_FADV_DONTNEED)}
    writer.close()
    with open_session(path) as s:
        np.testing.assert_array_equal(s.camera("cam").frames(0, len(frames)), frames)
