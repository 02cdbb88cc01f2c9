"""Camera intrinsics from checkerboard photos (Zhang's method, OpenCV), and the Qualisys reader
used to compare them with a lab's own calibration.

Each photo is either used or rejected with a reason a technician can act on (unreadable, wrong
size, no board found, blurred). Corners come from ``findChessboardCorners`` + ``cornerSubPix``,
falling back to the sector-based ``findChessboardCornersSB`` on photos the classic detector misses;
sharpness is OpenCV's ``estimateChessboardSharpness`` (average black-to-white edge width, pixels).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analysis.errors import AnalysisError, InputError
from analysis.provenance import software_version

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
QUALISYS_SUBPIXELS = 64  # Qualisys stores image coordinates in 1/64 pixel


@dataclass(frozen=True)
class CalibrationImage:
    """What happened to one photo."""

    path: str
    used: bool
    reason: str = ""  # why it was rejected
    sharpness_px: float | None = None  # mean edge width; smaller is sharper
    reprojection_rms_px: float | None = None


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole + Brown–Conrady distortion (OpenCV order k1, k2, p1, p2, k3), in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple[float, float, float, float, float]
    image_size: tuple[int, int]  # width, height

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def to_dict(self) -> dict[str, Any]:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "dist": list(self.dist),
            "image_size": list(self.image_size),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraIntrinsics:
        return cls(
            fx=float(data["fx"]),
            fy=float(data["fy"]),
            cx=float(data["cx"]),
            cy=float(data["cy"]),
            dist=tuple(float(v) for v in data["dist"]),
            image_size=tuple(int(v) for v in data["image_size"]),
        )


@dataclass(frozen=True)
class CameraCalibration:
    """The result of a checkerboard calibration, with everything needed to judge and redo it."""

    intrinsics: CameraIntrinsics
    rms_px: float  # RMS reprojection error over all used corners
    std_dev: dict[str, float]  # one-sigma uncertainty of fx, fy, cx, cy, k1, k2, p1, p2, k3
    images: tuple[CalibrationImage, ...]
    board: tuple[int, int]  # inner corners (columns, rows)
    square_mm: float
    max_edge_width_px: float
    software_version: str = field(default_factory=software_version)

    @property
    def used(self) -> list[CalibrationImage]:
        return [im for im in self.images if im.used]

    @property
    def rejected(self) -> list[CalibrationImage]:
        return [im for im in self.images if not im.used]

    def to_dict(self) -> dict[str, Any]:
        return {
            "intrinsics": self.intrinsics.to_dict(),
            "rms_px": self.rms_px,
            "std_dev": dict(self.std_dev),
            "images": [im.__dict__ for im in self.images],
            "board": list(self.board),
            "square_mm": self.square_mm,
            "max_edge_width_px": self.max_edge_width_px,
            "software_version": self.software_version,
        }


def _board_points(board: tuple[int, int], square_mm: float) -> np.ndarray:
    cols, rows = board
    grid = np.zeros((cols * rows, 3), np.float32)
    grid[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_mm
    return grid


def find_board(image: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Sub-pixel inner corners of the checkerboard, or None if it is not found."""
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, corners = cv2.findChessboardCorners(image, board, flags)
    if found:
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
        return cv2.cornerSubPix(image, corners, (11, 11), (-1, -1), criteria)
    flags_sb = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
    found, corners = cv2.findChessboardCornersSB(image, board, flags_sb)
    return corners if found else None


def calibrate_camera(
    paths: list[Path],
    board: tuple[int, int],
    square_mm: float,
    *,
    max_edge_width_px: float = 7.0,
    min_images: int = 3,
) -> CameraCalibration:
    """Calibrate one camera from checkerboard photos; every photo is reported used or rejected."""
    if board[0] < 2 or board[1] < 2 or square_mm <= 0:
        raise InputError(
            f"board {board[0]}x{board[1]} with {square_mm} mm squares is not a checkerboard",
            subject="--board/--square-mm",
            remedy="give the INNER corners (e.g. 4x7) and the square size in mm",
        )
    template = _board_points(board, square_mm)
    reports: list[CalibrationImage] = []
    object_points, image_points, used_paths = [], [], []
    size: tuple[int, int] | None = None
    for path in sorted(Path(p) for p in paths):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            reports.append(CalibrationImage(str(path), False, "not a readable image"))
            continue
        this_size = (image.shape[1], image.shape[0])
        if size is not None and this_size != size:
            reason = f"size {this_size[0]}x{this_size[1]} differs from {size[0]}x{size[1]}"
            reports.append(CalibrationImage(str(path), False, reason))
            continue
        corners = find_board(image, board)
        if corners is None:
            reason = f"no {board[0]}x{board[1]} board found"
            reports.append(CalibrationImage(str(path), False, reason))
            continue
        sharpness = float(cv2.estimateChessboardSharpness(image, board, corners)[0][0])
        if sharpness > max_edge_width_px:
            reason = f"blurred (edge width {sharpness:.1f} px > {max_edge_width_px:g} px)"
            reports.append(CalibrationImage(str(path), False, reason, sharpness))
            continue
        size = this_size
        object_points.append(template)
        image_points.append(corners.astype(np.float32))
        used_paths.append((str(path), sharpness))
    if len(image_points) < min_images:
        why = "; ".join(f"{Path(r.path).name}: {r.reason}" for r in reports) or "no images"
        raise AnalysisError(
            f"only {len(image_points)} usable checkerboard photo(s), at least {min_images}"
            f" needed ({why})",
            subject="camera calibration",
            remedy="take 10-20 sharp photos of the whole board at varied angles and distances",
        )
    rms, K, dist, _r, _t, sd_intr, _sd_extr, per_view = cv2.calibrateCameraExtended(
        object_points, image_points, size, None, None
    )
    per_view = per_view.ravel()
    for (path, sharp), err in zip(used_paths, per_view, strict=True):
        reports.append(CalibrationImage(path, True, "", sharp, float(err)))
    reports.sort(key=lambda r: r.path)
    d = dist.ravel()
    d5 = tuple(float(d[i]) if i < len(d) else 0.0 for i in range(5))
    names = ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3")
    sd = sd_intr.ravel()
    intrinsics = CameraIntrinsics(
        float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), d5, size
    )
    return CameraCalibration(
        intrinsics=intrinsics,
        rms_px=float(rms),
        std_dev={n: float(sd[i]) for i, n in enumerate(names)},
        images=tuple(reports),
        board=board,
        square_mm=float(square_mm),
        max_edge_width_px=max_edge_width_px,
    )


def image_files(folder: Path) -> list[Path]:
    """The image files in a folder (by suffix), or a clear error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            "not a folder", subject=str(folder), remedy="give the folder holding the photos"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder",
            subject=str(folder),
            remedy="put the checkerboard photos there",
        )
    return files


def read_qualisys_intrinsics(path: Path) -> dict[str, CameraIntrinsics]:
    """Intrinsics per camera serial from a Qualisys ``.qca`` calibration file.

    Qualisys stores focal lengths and principal points in 1/64 pixel on the sensor
    (``focalLengthU`` / 64 = fx in pixels) relative to the video field of view's top-left corner,
    and the distortion coefficients in OpenCV's k1, k2, k3, p1, p2 meaning (as Pose2Sim reads
    them). The image size is the video field of view.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(
            f"cannot read the Qualisys calibration ({exc})",
            subject=str(path),
            remedy="give a .qca(.txt) file exported by QTM",
        ) from None
    cameras = {}
    for cam in root.iter("camera"):
        intr, fov = cam.find("intrinsic"), cam.find("fov_video")
        if intr is None or fov is None:
            continue
        a = {k: float(v) for k, v in intr.attrib.items()}
        left, top = float(fov.attrib["left"]), float(fov.attrib["top"])
        width = int(fov.attrib["right"]) - int(left) + 1
        height = int(fov.attrib["bottom"]) - int(top) + 1
        cameras[cam.attrib.get("serial", str(len(cameras)))] = CameraIntrinsics(
            fx=a["focalLengthU"] / QUALISYS_SUBPIXELS,
            fy=a["focalLengthV"] / QUALISYS_SUBPIXELS,
            cx=a["centerPointU"] / QUALISYS_SUBPIXELS - left,
            cy=a["centerPointV"] / QUALISYS_SUBPIXELS - top,
            dist=(
                a.get("radialDistortion1", 0.0),
                a.get("radialDistortion2", 0.0),
                a.get("tangentalDistortion1", 0.0),
                a.get("tangentalDistortion2", 0.0),
                a.get("radialDistortion3", 0.0),
            ),
            image_size=(width, height),
        )
    if not cameras:
        raise InputError(
            "no <camera> with <intrinsic> and <fov_video> found",
            subject=str(path),
            remedy="give a Qualisys calibration export",
        )
    return cameras


def field_of_view_deg(intrinsics: CameraIntrinsics) -> tuple[float, float]:
    """Horizontal and vertical field of view, for a readable comparison of focal lengths."""
    w, h = intrinsics.image_size
    return (
        math.degrees(2 * math.atan(w / (2 * intrinsics.fx))),
        math.degrees(2 * math.atan(h / (2 * intrinsics.fy))),
    )
