"""Mono8 frames of the simulated cameras, fast enough for two 500 fps cameras on one core.

Per frame: copy a precomputed background, draw the body silhouette with OpenCV (anti-aliased,
sub-pixel ``shift``), add each marker as a patch from a precomputed bank of blurred anti-aliased
discs (1/16 px sub-pixel steps, so the rendered centroid is within 1/32 px of the truth), add the
sync LED, and add image noise as a window into a precomputed noise bank at a random offset
(generating 300 k normal samples per frame would cost ~5 ms).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

from drivers.sim.cameras import CameraModel

MARKER_RADIUS_M = 0.0125
MARKER_LEVEL = 190.0  # peak grey level added by a marker (limbs are ≤ 60, so no saturation)
STRAY_LEVEL = 170.0
STRAY_RADIUS_PX = 2.0
SUBPIXEL_STEPS = 16
SHIFT_BITS = 4
SHIFT = 1 << SHIFT_BITS
BACKDROP_LEVEL = 22
LED_RADIUS_PX = 5.0

# Marker sets (docs/architecture.md): drawn name → body-model point.
SAGITTAL_MARKERS = {
    "shoulder": "R_shoulder",
    "hip": "R_trochanter",
    "knee": "R_epicondyle",
    "ankle": "R_malleolus",
    "heel": "R_heel",
    "toe": "R_toe",
}
POSTERIOR_MARKERS = {
    "L_psis": "L_psis",
    "R_psis": "R_psis",
    "L_thigh": "L_thigh",
    "R_thigh": "R_thigh",
    "L_knee": "L_knee_joint",
    "R_knee": "R_knee_joint",
    "L_ankle": "L_ankle_joint",
    "R_ankle": "R_ankle_joint",
}
MARKER_SETS = {"sagittal": SAGITTAL_MARKERS, "posterior": POSTERIOR_MARKERS}

# Silhouette: (from, to, width m, level) drawn in order; "far"/"near" legs depend on the view.
_LEG = (("hip_joint", "knee_joint", 0.13), ("knee_joint", "ankle_joint", 0.09))
_FOOT = (("heel", "toe", 0.06),)
_ARM = (("shoulder", "elbow", 0.075), ("elbow", "hand", 0.06))


def disc_patch_bank(radius_px: float, blur_sigma_px: float) -> tuple[np.ndarray, int]:
    """Patches (steps, steps, size, size) uint8 of a blurred disc at every 1/16-px offset;
    returns (bank, centre index)."""
    half = math.ceil(radius_px + 3 * blur_sigma_px + 1.5)
    size = 2 * half + 1
    oversample = 8
    sub = (np.arange(size * oversample) + 0.5) / oversample - 0.5  # pixel-centre coordinates
    offsets = np.arange(SUBPIXEL_STEPS) / SUBPIXEL_STEPS
    bank = np.empty((SUBPIXEL_STEPS, SUBPIXEL_STEPS, size, size), dtype=np.float32)
    for iy, oy in enumerate(offsets):
        dy2 = (sub - half - oy) ** 2
        for ix, ox in enumerate(offsets):
            dx2 = (sub - half - ox) ** 2
            inside = (dy2[:, None] + dx2[None, :]) <= radius_px**2
            bank[iy, ix] = inside.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    if blur_sigma_px > 0:
        bank = ndimage.gaussian_filter(bank, sigma=(0, 0, blur_sigma_px, blur_sigma_px))
    peak = bank.max()
    return np.round(bank * (MARKER_LEVEL / max(peak, 1e-9))).astype(np.uint8), half


class FrameRenderer:
    """Renders one camera's frames from body points; stateless per frame (random access)."""

    def __init__(
        self, camera: CameraModel, blur_sigma_px: float, noise_dn: float, seed: int
    ) -> None:
        self.camera = camera
        self.view = camera.view
        self.width, self.height = camera.size
        self.blur = blur_sigma_px
        self.focal = float(camera.K[0, 0])
        self.pedestal = math.ceil(3 * noise_dn) if noise_dn > 0 else 0
        self._banks: dict[int, tuple[np.ndarray, int]] = {}
        self.background = self._background()
        n_pixels = self.width * self.height
        if noise_dn > 0:
            rng = np.random.default_rng([seed, 77, 1 if self.view == "sagittal" else 2])
            noise = rng.normal(self.pedestal, noise_dn, n_pixels + 65536)
            self.noise_bank = np.clip(np.round(noise), 0, 2 * self.pedestal).astype(np.uint8)
        else:
            self.noise_bank = None
        scale = self.width / 640
        self.led_centre = (0.06 * self.width, 0.08 * self.height)
        self.led_radius = LED_RADIUS_PX * scale
        self.marker_names = tuple(MARKER_SETS[self.view])
        self.marker_points = tuple(MARKER_SETS[self.view].values())

    # -- static parts --------------------------------------------------------------------------

    def _px(self, points: np.ndarray) -> np.ndarray:
        return self.camera.project(points)[0]

    def _background(self) -> np.ndarray:
        img = np.full((self.height, self.width), BACKDROP_LEVEL - self.pedestal, np.uint8)
        if self.view == "sagittal":
            deck = np.array(
                [[0.8, -0.3, 0.0], [-0.8, -0.3, 0.0], [-0.8, -0.3, -0.12], [0.8, -0.3, -0.12]]
            )
            belt = np.array(
                [[0.8, -0.25, 0.0], [-0.8, -0.25, 0.0], [-0.8, 0.25, 0.0], [0.8, 0.25, 0.0]]
            )
            rail = np.array([[0.75, -0.3, 0.95], [-0.1, -0.3, 0.95]])
        else:
            deck = np.array(
                [[-0.8, 0.3, -0.12], [-0.8, -0.3, -0.12], [-0.8, -0.3, 0.0], [-0.8, 0.3, 0.0]]
            )
            belt = np.array(
                [[-0.8, 0.25, 0.0], [0.8, 0.25, 0.0], [0.8, -0.25, 0.0], [-0.8, -0.25, 0.0]]
            )
            rail = np.array([[0.6, 0.33, 0.95], [0.6, -0.33, 0.95]])
        for poly, level in ((belt, 34), (deck, 48)):
            pts = np.round(self._px(poly) * SHIFT).astype(np.int32)
            cv2.fillConvexPoly(img, pts, level - self.pedestal, cv2.LINE_AA, SHIFT_BITS)
        a, b = np.round(self._px(rail) * SHIFT).astype(np.int32)
        cv2.line(img, tuple(a), tuple(b), 40 - self.pedestal, 4, cv2.LINE_AA, SHIFT_BITS)
        return img

    def bank(self, radius_px: float) -> tuple[np.ndarray, int]:
        key = max(1, round(radius_px * 4))
        if key not in self._banks:
            self._banks[key] = disc_patch_bank(key / 4, self.blur)
        return self._banks[key]

    # -- one frame -----------------------------------------------------------------------------

    def render(
        self,
        points: dict[str, np.ndarray],
        row: int,
        *,
        visible: np.ndarray,
        strays: np.ndarray,
        led_level: float,
        noise_offset: int,
        draw_markers: bool = True,
        add_noise: bool = True,
    ) -> np.ndarray:
        """Frame from row ``row`` of batched ``points`` (each (n, 3))."""
        img = self.background.copy()
        self._draw_body(img, points, row)
        if draw_markers:
            lab = np.vstack([points[p][row] for p in self.marker_points])
            pix, _, depth = self.camera.project(lab)
            radius = self.focal * MARKER_RADIUS_M / depth
            for k in np.flatnonzero(visible):
                self._add_disc(img, pix[k], radius[k], self.blur)
            for pix in strays:
                self._add_disc(img, pix, STRAY_RADIUS_PX, self.blur, STRAY_LEVEL / MARKER_LEVEL)
        level = round(30 + 200 * led_level) - self.pedestal
        centre = (round(self.led_centre[0] * SHIFT), round(self.led_centre[1] * SHIFT))
        cv2.circle(img, centre, round(self.led_radius * SHIFT), level, -1, cv2.LINE_AA, SHIFT_BITS)
        if add_noise and self.noise_bank is not None:
            n = self.width * self.height
            window = self.noise_bank[noise_offset : noise_offset + n].reshape(img.shape)
            cv2.add(img, window, dst=img)
        elif self.pedestal:
            cv2.add(
                img, self.pedestal, dst=img
            )  # the noise's mean, so both frames agree on average
        return img

    def _draw_body(self, img: np.ndarray, points: dict[str, np.ndarray], row: int) -> None:
        names = (
            "hip_joint",
            "knee_joint",
            "ankle_joint",
            "heel",
            "toe",
            "shoulder",
            "elbow",
            "hand",
        )
        keys = [f"{s}_{n}" for s in "LR" for n in names] + ["pelvis", "head"]
        lab = np.vstack([points[k][row] for k in keys])
        pix, _, depth = self.camera.project(lab)
        where = {k: i for i, k in enumerate(keys)}
        scale = self.focal / float(np.median(depth))
        p = self.pedestal

        def seg(a: str, b: str, width_m: float, level: int) -> None:
            pa = np.round(pix[where[a]] * SHIFT).astype(np.int32)
            pb = np.round(pix[where[b]] * SHIFT).astype(np.int32)
            thick = max(1, round(width_m * scale))
            cv2.line(img, tuple(pa), tuple(pb), level - p, thick, cv2.LINE_AA, SHIFT_BITS)

        sides = ("L", "R")  # sagittal: the left side is the far side and drawn first
        levels = {"L": 44, "R": 62} if self.view == "sagittal" else {"L": 58, "R": 58}
        for side in sides:
            lvl = levels[side]
            for a, b, w in _LEG + _FOOT:
                seg(f"{side}_{a}", f"{side}_{b}", w, lvl)
            seg(f"{side}_ankle_joint", f"{side}_heel", 0.06, lvl)
            if self.view == "sagittal" and side == "L":
                for a, b, w in _ARM:
                    seg(f"L_{a}", f"L_{b}", w, lvl)
        trunk = np.array(
            [
                pix[where["L_hip_joint"]],
                pix[where["R_hip_joint"]],
                pix[where["R_shoulder"]],
                pix[where["L_shoulder"]],
            ]
        )
        if self.view == "sagittal":
            seg("pelvis", "R_shoulder", 0.26, 56)
        else:
            hull = cv2.convexHull(np.round(trunk * SHIFT).astype(np.int32))
            cv2.fillConvexPoly(img, hull, 54 - p, cv2.LINE_AA, SHIFT_BITS)
        head = np.round(pix[where["head"]] * SHIFT).astype(np.int32)
        cv2.circle(
            img, tuple(head), round(0.1 * scale * SHIFT), 56 - p, -1, cv2.LINE_AA, SHIFT_BITS
        )
        arms = ("R",) if self.view == "sagittal" else ("L", "R")
        for side in arms:
            for a, b, w in _ARM:
                seg(f"{side}_{a}", f"{side}_{b}", w, 60)

    def _add_disc(
        self, img: np.ndarray, centre: np.ndarray, radius_px: float, blur: float, gain: float = 1.0
    ) -> None:
        bank, half = self.bank(radius_px)
        u, v = float(centre[0]), float(centre[1])
        if not (np.isfinite(u) and np.isfinite(v)):
            return
        iu, iv = math.floor(u), math.floor(v)
        qu = round((u - iu) * SUBPIXEL_STEPS)
        qv = round((v - iv) * SUBPIXEL_STEPS)
        if qu == SUBPIXEL_STEPS:
            iu, qu = iu + 1, 0
        if qv == SUBPIXEL_STEPS:
            iv, qv = iv + 1, 0
        patch = bank[qv, qu]
        if gain != 1.0:
            patch = np.round(patch * gain).astype(np.uint8)
        size = patch.shape[0]
        x0, y0 = iu - half, iv - half
        x1, y1 = x0 + size, y0 + size
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x1, self.width), min(y1, self.height)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        roi = img[cy0:cy1, cx0:cx1]
        part = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        total = roi.astype(np.uint16) + part
        np.minimum(total, 255, out=total)
        roi[...] = total
