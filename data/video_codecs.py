"""How camera frames are stored in a session file: raw, lossless Blosc/LZ4, or JPEG.

Every layout keeps one frame per HDF5 chunk (random access to frame k reads one chunk) and uses
only fixed-size types, so frames can be appended while a reader follows the file with SWMR.

JPEG frames are variable in size, which SWMR cannot append as variable-length data. They are
stored instead as zero-padded rows of a fixed-width ``uint8`` dataset (``frames_jpeg``, width =
the raw frame size plus a small margin) with their true byte counts in ``jpeg_length``; the chunk
is Blosc/LZ4-compressed, so the padding costs almost nothing on disk (measured in
``benchmarks/bench_hdf5.py``). Any HDF5 tool with the Blosc filter (h5py + hdf5plugin) reads the
bytes back; any JPEG decoder turns them into the image.

The writer compresses chunks itself with python-blosc (:func:`compress_chunk`) and hands them to
HDF5 as finished chunks, rather than letting HDF5 run the Blosc filter: python-blosc releases the
GIL while it compresses, the HDF5 filter runs with it held (the trackers wait). The bytes are the
same Blosc frames the filter writes, so every reader with the filter decodes them unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from analysis.errors import InputError

CODECS = ("none", "lossless", "jpeg")
DEFAULT_CODEC = "lossless"
DEFAULT_JPEG_QUALITY = 90
# A JPEG of a grey frame at q<=95 is far below the raw size; the margin covers headers.
JPEG_MARGIN_BYTES = 4096
# Qualities tried in turn if a (pathological, noise-like) frame does not fit the fixed row.
JPEG_FALLBACK_QUALITIES = (75, 50, 25)


@dataclass(frozen=True)
class CodecChoice:
    """A camera's storage codec; ``quality`` only matters for JPEG."""

    name: str = DEFAULT_CODEC
    quality: int = DEFAULT_JPEG_QUALITY

    def __post_init__(self) -> None:
        if self.name not in CODECS:
            raise InputError(
                f"unknown video codec {self.name!r}",
                subject="video codec",
                remedy=f"Use one of {', '.join(CODECS)}.",
            )
        if not 1 <= int(self.quality) <= 100:
            raise InputError(
                f"JPEG quality {self.quality} is outside 1..100",
                subject="video codec",
                remedy="Use a quality between 1 and 100 (90 is the default).",
            )


# (compressor, level, shuffle) of the two Blosc layouts; shuffle codes are Blosc's own
# (0 none, 2 bit-shuffle), the same numbers in hdf5plugin and python-blosc.
LOSSLESS_BLOSC = ("lz4", 5, 2)  # grey frames: bit-shuffle finds the shared high bits
PADDING_BLOSC = ("lz4", 1, 0)  # JPEG rows: only the zero padding is compressible


def blosc_lossless_filter() -> dict:
    """h5py keyword arguments for Blosc LZ4 with bit-shuffle (lossless, fast)."""
    return _blosc_filter(LOSSLESS_BLOSC)


def blosc_padding_filter() -> dict:
    """h5py keyword arguments for Blosc LZ4 without shuffle (squeezes JPEG zero padding)."""
    return _blosc_filter(PADDING_BLOSC)


def _blosc_filter(layout: tuple[str, int, int]) -> dict:
    import hdf5plugin

    cname, clevel, shuffle = layout
    return dict(hdf5plugin.Blosc(cname=cname, clevel=clevel, shuffle=shuffle))


@functools.cache
def _blosc_compress():
    """python-blosc's compressor, set up once: GIL released while compressing, one compression
    thread (the recorder is one of several busy threads on a small machine; a second Blosc
    thread cost more CPU than it saved in wall time, see benchmarks/bench_hdf5.py).

    The public ``blosc.compress`` re-checks its arguments on every call (parsing version
    strings, listing compressors: ~18 us a frame at 1000 frames/s); our two layouts are checked
    through it once here, then the extension's own ``compress`` (same function, same bytes) is
    called directly."""
    import blosc

    blosc.set_releasegil(True)
    blosc.set_nthreads(1)
    for cname, clevel, shuffle in (LOSSLESS_BLOSC, PADDING_BLOSC):
        blosc.compress(b"check", typesize=1, clevel=clevel, shuffle=shuffle, cname=cname)
    return blosc.blosc_extension.compress


def compress_chunk(data: np.ndarray | bytes, layout: tuple[str, int, int]) -> bytes:
    """One HDF5 chunk of bytes, compressed as the Blosc filter declared with ``layout`` would
    (HDF5 filter 32001 decodes it), with the GIL released. ``data`` must be C-contiguous."""
    cname, clevel, shuffle = layout
    return _blosc_compress()(data, 1, clevel, shuffle, cname)


def jpeg_row_width(height: int, width: int) -> int:
    """Bytes reserved per JPEG frame row."""
    return int(height) * int(width) + JPEG_MARGIN_BYTES


def encode_jpeg(image: np.ndarray, quality: int, row_width: int) -> tuple[bytes, int]:
    """Encode a grey frame; return (bytes, quality used) that fit in ``row_width`` bytes."""
    import simplejpeg

    grey = np.ascontiguousarray(image, dtype=np.uint8)[:, :, np.newaxis]
    for q in (int(quality), *(q for q in JPEG_FALLBACK_QUALITIES if q < quality)):
        data = simplejpeg.encode_jpeg(grey, quality=q, colorspace="GRAY")
        if len(data) <= row_width:
            return data, q
    raise InputError(
        f"a {image.shape[1]}x{image.shape[0]} frame does not fit its JPEG row even at quality"
        f" {JPEG_FALLBACK_QUALITIES[-1]}",
        subject="video codec",
        remedy="Record this camera with the lossless codec.",
    )


def decode_jpeg(data: bytes | np.ndarray) -> np.ndarray:
    """Decode JPEG bytes to a grey (height, width) uint8 frame."""
    import simplejpeg

    buffer = np.asarray(data, dtype=np.uint8).tobytes() if isinstance(data, np.ndarray) else data
    try:
        return simplejpeg.decode_jpeg(buffer, colorspace="GRAY")[:, :, 0]
    except ValueError as exc:  # simplejpeg's only error for data that is not a decodable JPEG
        raise InputError(
            f"the JPEG frame cannot be decoded ({exc})",
            subject="JPEG frame",
            remedy="The stored frame is damaged; use a backup copy of the file.",
        ) from None
