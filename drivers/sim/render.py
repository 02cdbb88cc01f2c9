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
STRAY_RADIUS_PX = 2.0  # at 640 px wide
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


def _capsules(a: np.ndarray, b: np.ndarray, half_width: np.ndarray, n_cap: int = 5) -> np.ndarray:
    """Convex outlines (…, 2·n_cap, 2) of thick segments with round ends, for fillConvexPoly
    (a thick cv2.line costs ~10× more)."""
    d = b - a
    angle = np.arctan2(d[..., 1], d[..., 0])[..., None]
    arc = np.linspace(-np.pi / 2, np.pi / 2, n_cap)
    end_b = angle + arc  # around b, facing forward
    end_a = angle + np.pi + arc  # around a, facing backward
    hw = half_width[..., None]
    ring_b = b[..., None, :] + hw[..., None] * np.stack((np.cos(end_b), np.sin(end_b)), axis=-1)
    ring_a = a[..., None, :] + hw[..., None] * np.stack((np.cos(end_a), np.sin(end_a)), axis=-1)
    return np.concatenate((ring_b, ring_a), axis=-2)


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
        self.stray_radius = STRAY_RADIUS_PX * scale  # about a marker's size at any resolution
        self._led_px = (round(self.led_centre[0] * SHIFT), round(self.led_centre[1] * SHIFT))
        self._led_r = round(self.led_radius * SHIFT)
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
        """The patch bank for a radius (quantised to 1/4 px; the centroid does not depend on it)."""
        key = max(1, round(float(radius_px) * 4))
        if key not in self._banks:
            self._banks[key] = disc_patch_bank(key / 4, self.blur)
        return self._banks[key]

    # -- frames -------------------------------------------------------------------------------

    def _segments(self) -> list[tuple[str, str, float, int]]:
        """(from, to, width m, grey level) of the silhouette, in drawing order."""
        segments = []
        levels = {"L": 44, "R": 62} if self.view == "sagittal" else {"L": 58, "R": 58}
        for side in ("L", "R"):  # sagittal: the left side is the far side, drawn first
            for a, b, w in (*_LEG, *_FOOT, ("ankle_joint", "heel", 0.06)):
                segments.append((f"{side}_{a}", f"{side}_{b}", w, levels[side]))
            if self.view == "sagittal" and side == "L":
                segments += [(f"L_{a}", f"L_{b}", w, levels["L"]) for a, b, w in _ARM]
        if self.view == "sagittal":
            segments.append(("pelvis", "R_shoulder", 0.26, 56))
        else:
            segments.append(("L_hip_joint", "L_shoulder", 0.16, 54))
            segments.append(("R_hip_joint", "R_shoulder", 0.16, 54))
            segments.append(("pelvis", "head", 0.22, 54))
        arms = ("R",) if self.view == "sagittal" else ("L", "R")
        segments += [(f"{s}_{a}", f"{s}_{b}", w, 60) for s in arms for a, b, w in _ARM]
        return segments

    def prepare(self, points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Project everything for a batch of frames at once (numpy overhead once per batch)."""
        if not hasattr(self, "_segment_list"):
            self._segment_list = self._segments()
            self._body_keys = sorted(
                {k for a, b, _, _ in self._segment_list for k in (a, b)} | {"head"}
            )
        keys = self._body_keys
        n = len(points["pelvis"])
        where = {k: i for i, k in enumerate(keys)}
        lab = np.stack([points[k] for k in keys], axis=1)  # (n, m, 3)
        pix, _, depth = self.camera.project(lab.reshape(-1, 3))
        pix = pix.reshape(n, len(keys), 2)
        scale = self.focal / np.median(depth.reshape(n, len(keys)), axis=1)  # px per m
        a = pix[:, [where[s[0]] for s in self._segment_list]]
        b = pix[:, [where[s[1]] for s in self._segment_list]]
        widths = np.array([s[2] for s in self._segment_list])
        capsules = _capsules(a, b, widths[None, :] * scale[:, None] / 2)
        markers = np.stack([points[p] for p in self.marker_points], axis=1)
        m_pix, _, m_depth = self.camera.project(markers.reshape(-1, 3))
        m_pix = m_pix.reshape(n, -1, 2)
        m_radius = (self.focal * MARKER_RADIUS_M / m_depth).reshape(n, -1)
        ok = np.isfinite(m_pix).all(axis=-1) & (np.abs(m_pix) < 1e5).all(axis=-1)
        whole, step = _place(np.where(ok[..., None], m_pix, -1e4))
        return {
            "marker_whole": whole,
            "marker_step": step,
            "marker_key": np.maximum(1, np.round(m_radius * 4)).astype(np.int64),
            "capsules": np.round(capsules * SHIFT).astype(np.int32),
            "head": np.round(pix[:, where["head"]] * SHIFT).astype(np.int32),
            "head_radius": np.round(0.1 * scale * SHIFT).astype(np.int32),
        }

    def render(
        self,
        batch: dict[str, np.ndarray],
        row: int,
        *,
        visible: np.ndarray | None,
        strays: np.ndarray | None,
        led_level: float,
        noise_offset: int,
        draw_markers: bool = True,
        add_noise: bool = True,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Frame ``row`` of a :meth:`prepare`-d batch, into ``out`` if given."""
        if out is None:
            img = self.background.copy()
        else:
            img = out
            np.copyto(img, self.background)
        p = self.pedestal
        for (_, _, _, level), poly in zip(self._segment_list, batch["capsules"][row], strict=True):
            cv2.fillConvexPoly(img, poly, level - p, cv2.LINE_8, SHIFT_BITS)
        head = batch["head"][row]
        radius = int(batch["head_radius"][row])
        cv2.circle(img, (int(head[0]), int(head[1])), radius, 56 - p, -1, cv2.LINE_8, SHIFT_BITS)
        if draw_markers:
            whole, step = batch["marker_whole"][row], batch["marker_step"][row]
            keys = batch["marker_key"][row]
            for k in range(len(keys)) if visible is None else np.flatnonzero(visible):
                bank, half = self.bank(keys[k] / 4)
                patch = bank[step[k, 1], step[k, 0]]
                self._add_patch(img, patch, int(whole[k, 0]) - half, int(whole[k, 1]) - half)
            for pix in () if strays is None else strays:
                self._add_disc(img, pix, self.stray_radius, STRAY_LEVEL / MARKER_LEVEL)
        level = round(30 + 200 * led_level) - p
        cv2.circle(img, self._led_px, self._led_r, level, -1, cv2.LINE_AA, SHIFT_BITS)
        if add_noise and self.noise_bank is not None:
            n = self.width * self.height
            window = self.noise_bank[noise_offset : noise_offset + n].reshape(img.shape)
            cv2.add(img, window, dst=img)
        elif p:
            cv2.add(img, p, dst=img)  # the noise's mean, so noisy and clean frames agree on average
        return img

    def _add_disc(
        self, img: np.ndarray, centre: np.ndarray, radius_px: float, gain: float = 1.0
    ) -> None:
        """One disc at a sub-pixel centre (strays; markers go through :meth:`_add_patch`)."""
        (iu, iv), (qu, qv) = _place(np.asarray(centre, dtype=float))
        patch, half = self.bank(radius_px)
        patch = patch[qv, qu]
        if gain != 1.0:
            patch = np.round(patch * gain).astype(np.uint8)
        self._add_patch(img, patch, int(iu) - half, int(iv) - half)

    def _add_patch(self, img: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
        """Saturating add of ``patch`` with its top-left corner at (x0, y0), clipped."""
        size = patch.shape[0]
        x1, y1 = x0 + size, y0 + size
        if x0 >= 0 and y0 >= 0 and x1 <= self.width and y1 <= self.height:
            roi = img[y0:y1, x0:x1]
            cv2.add(roi, patch, dst=roi)
            return
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x1, self.width), min(y1, self.height)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        roi = img[cy0:cy1, cx0:cx1]
        part = np.ascontiguousarray(patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0])
        cv2.add(roi, part, dst=roi)


def _place(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel and 1/16-px sub-pixel step of centres (..., 2)."""
    whole = np.floor(centre)
    step = np.round((centre - whole) * SUBPIXEL_STEPS).astype(np.int64)
    carry = step == SUBPIXEL_STEPS
    return (whole + carry).astype(np.int64), np.where(carry, 0, step)
