"""``SimulatedLab``: the batch API of the simulated lab (docs/architecture.md, "The simulated lab
API").

One shared timeline (session time = DAQ sample index / rate) for the raw DAQ voltages, both camera
views and the ground truth. Everything is a deterministic function of (runner, setup, seed,
duration): any window of samples and any frame can be generated in any order and equals what
sequential generation gives, because every random draw is keyed by its block or frame index.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from analysis.errors import InputError
from drivers.sim.body import BodyModel
from drivers.sim.cameras import CameraModel, default_cameras
from drivers.sim.gait import COP_ROLL_M, StanceSchedule
from drivers.sim.params import LabSetup, RunnerParams
from drivers.sim.plates import BELT_SPEED_SCALE, lab_to_volts, plate_layout, wrench_about_origin
from drivers.sim.render import MARKER_RADIUS_M, FrameRenderer
from drivers.sim.static_loads import static_wrenches
from drivers.sim.truth import FrameTruth, LabTruth, stance_truth

NOISE_BLOCK = 4096  # samples per independently seeded noise block
HIGH_V = 5.0
CAMERA_IDS = {"sagittal": 1, "posterior": 2}
MAX_DURATION_S = 7200.0
POINTS_BLOCK = 64  # frames whose body points are computed together


class SimulatedLab:
    """A runner on an instrumented treadmill, rendered into DAQ volts and camera frames."""

    def __init__(
        self,
        runner: RunnerParams | None = None,
        setup: LabSetup | None = None,
        *,
        seed: int = 1,
        duration_s: float = 30.0,
    ) -> None:
        self.runner = runner if runner is not None else RunnerParams()
        self.setup = setup if setup is not None else LabSetup()
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"must be a non-negative integer, not {seed!r}", subject="seed")
        if not isinstance(duration_s, int | float) or not 0.5 <= duration_s <= MAX_DURATION_S:
            raise InputError(
                f"{duration_s!r} s is outside 0.5–{MAX_DURATION_S:g} s", subject="duration_s"
            )
        self.seed = seed
        self.duration_s = float(duration_s)
        setup = self.setup
        self.schedule = StanceSchedule(self.runner, self.duration_s, seed)
        self.body = BodyModel(self.schedule)
        self.cameras: dict[str, CameraModel] = default_cameras(
            setup.image_width, setup.image_height
        )
        self._plates = plate_layout(setup.treadmill)
        channels = [c for p in self._plates for c in p["channels"]]
        channels += ["exposure.sagittal", "exposure.posterior", "belt_speed", "sync.led"]
        channels += [f"spare.{i}" for i in range(setup.n_analog_channels - len(channels))]
        self.channel_names: tuple[str, ...] = tuple(channels)
        self.n_samples = round(self.duration_s * setup.daq_rate_hz)
        self.belt_speed_scale = BELT_SPEED_SCALE
        rng = np.random.default_rng([seed, 303])
        n_led = math.ceil(self.duration_s / (0.8 * setup.led_period_s)) + 2
        gaps = setup.led_period_s * rng.uniform(0.8, 1.2, n_led)
        onsets = 0.3 + np.concatenate(([0.0], np.cumsum(gaps[:-1])))
        self._led_on = onsets[onsets + setup.led_on_s < self.duration_s]
        self._led_off = self._led_on + setup.led_on_s
        self._dropped = {name: self._drop_mask(name) for name in self.cameras}
        self._missed = {name: self._missed_mask(name) for name in self.cameras}
        self._renderers: dict[str, FrameRenderer] = {}
        self._noise_cache: dict[int, np.ndarray] = {}
        self._noise_lock = threading.Lock()
        self._points_blocks: dict[int, dict[str, np.ndarray]] = {}
        self._points_lock = threading.Lock()
        roll = COP_ROLL_M[self.runner.foot_strike]
        self._cop_roll = roll

    # -- description ---------------------------------------------------------------------------

    def plate_configs(self) -> list[dict[str, Any]]:
        """The plates in the ``[[plates]]`` shape of docs/architecture.md (copies)."""
        return copy.deepcopy(self._plates)

    def to_dict(self) -> dict[str, Any]:
        """Everything that produced this lab's data (stored with derived numbers)."""
        return {
            "runner": self.runner.to_dict(),
            "setup": self.setup.to_dict(),
            "seed": self.seed,
            "duration_s": self.duration_s,
            "channel_names": list(self.channel_names),
            "belt_speed_scale": self.belt_speed_scale,
            "plates": self.plate_configs(),
            "cameras": {name: cam.to_dict() for name, cam in self.cameras.items()},
        }

    @cached_property
    def truth(self) -> LabTruth:
        """Ground truth of every stance entirely inside the session, in time order."""
        sch = self.schedule
        inside = (sch.onset_s >= 0) & (sch.onset_s + sch.contact_s <= self.duration_s)
        for start, stop in self.setup.off_belt_s:  # no stance while off the belt
            inside &= (sch.onset_s + sch.contact_s <= start) | (sch.onset_s >= stop)
        inside = np.flatnonzero(inside)
        posterior = self.cameras["posterior"]
        stances = [
            stance_truth(
                i,
                n,
                schedule=sch,
                body=self.body,
                posterior=posterior,
                plate=self._plate_of_side(int(sch.side[i])),
            )
            for n, i in enumerate(inside)
        ]
        return LabTruth(stances, sch.body_weight_N, self._led_on.copy(), self._led_off.copy())

    def _on_belt(self, t: np.ndarray) -> np.ndarray:
        """False while the runner stands off the belt (``LabSetup.off_belt_s``)."""
        on = np.ones(np.shape(t), dtype=bool)
        for start, stop in self.setup.off_belt_s:
            on &= ~((t >= start) & (t < stop))
        return on

    def _plate_of_side(self, side: int) -> str:
        if self.setup.treadmill == "split-belt":
            return ("left", "right")[side]
        return "belt"

    def points(self, t: np.ndarray | float) -> dict[str, np.ndarray]:
        """Every joint and marker of the body model (lab frame, m) at session times ``t``."""
        return self.body.points(t)

    # -- analog --------------------------------------------------------------------------------

    def _check_window(self, start: int, count: int) -> np.ndarray:
        if start < 0 or count < 0 or start + count > self.n_samples:
            raise InputError(
                f"samples {start}–{start + count} are outside 0–{self.n_samples}",
                subject="simulated DAQ",
                remedy="Ask for a window inside the session or simulate a longer duration.",
            )
        return (start + np.arange(count)) / self.setup.daq_rate_hz

    def true_cop(self, start: int, count: int) -> np.ndarray:
        """(count, 3) centre of pressure in the lab frame (on the belt surface); NaN in flight."""
        t = self._check_window(start, count)
        return self._cop(t, self.schedule.evaluate(t))

    def _cop(self, t: np.ndarray, forces: dict[str, np.ndarray]) -> np.ndarray:
        i = forces["stance"]
        on = (i >= 0) & self._on_belt(t)
        ic = np.clip(i, 0, None)
        s = forces["s"]
        c0, c1 = self._cop_roll
        x = self.body.landing_x[ic] - self.runner.speed_m_s * forces["tau"] + c0 + (c1 - c0) * s
        y = self.schedule.foot_y_m[ic]
        cop = np.column_stack((x, y, np.zeros_like(t)))
        cop[~on] = np.nan
        return cop

    def _wrenches(self, t: np.ndarray) -> dict[str, np.ndarray]:
        forces = self.schedule.evaluate(t)
        cop = self._cop(t, forces)
        force = np.column_stack((forces["Fx"], forces["Fy"], forces["Fz"]))
        side = np.where(
            forces["stance"] >= 0, self.schedule.side[np.clip(forces["stance"], 0, None)], -1
        )
        side = np.where(self._on_belt(t), side, -1)
        out = {}
        for plate in self._plates:
            if plate["belt"] == "both":
                mine = side >= 0
            else:
                mine = side == (0 if plate["belt"] == "left" else 1)
            f = np.where(mine[:, None], force, 0.0)
            tz = np.where(mine, forces["Tz"], 0.0)
            out[plate["name"]] = wrench_about_origin(f, cop, tz, np.asarray(plate["origin_m"]))
        for name, wrench in static_wrenches(self.setup.static_loads, t, self._plates).items():
            out[name] += wrench  # a known mass or a pointer (LabSetup.static_loads)
        return out

    def true_forces(self, start: int, count: int) -> dict[str, np.ndarray]:
        """Plate name → (count, 6) [Fx Fy Fz Mx My Mz]: GRF on the runner in the LAB frame and its
        moment about the plate origin, noise free."""
        return self._wrenches(self._check_window(start, count))

    def _noise(self, start: int, count: int) -> np.ndarray:
        """Standard normal (count, n_channels), keyed by fixed blocks (random-access exact)."""
        first, last = start // NOISE_BLOCK, (start + count - 1) // NOISE_BLOCK
        blocks = []
        with self._noise_lock:
            for b in range(first, last + 1):
                if b not in self._noise_cache:
                    rng = np.random.default_rng([self.seed, 7, b])
                    if len(self._noise_cache) > 8:
                        self._noise_cache.pop(next(iter(self._noise_cache)))
                    shape = (NOISE_BLOCK, len(self.channel_names))
                    self._noise_cache[b] = rng.standard_normal(shape)
                blocks.append(self._noise_cache[b])
        joined = np.vstack(blocks) if len(blocks) > 1 else blocks[0]
        offset = start - first * NOISE_BLOCK
        return joined[offset : offset + count]

    def analog(self, start: int, count: int) -> np.ndarray:
        """(count, n_channels) float64 volts of samples ``start`` … ``start + count − 1``."""
        t = self._check_window(start, count)
        out = np.empty((count, len(self.channel_names)))
        if count == 0:
            return out
        setup = self.setup
        noise = self._noise(start, count)
        vibration = setup.belt_vibration_N * np.sin(2 * np.pi * setup.belt_vibration_hz * t)
        wrenches = self._wrenches(t)
        column = 0
        for plate in self._plates:
            wrench = wrenches[plate["name"]]
            wrench[:, 2] += vibration
            wrench[:, 0] += 0.3 * vibration
            wrench[:, :3] += setup.force_noise_N * noise[:, column : column + 3]
            wrench[:, 3:] += setup.moment_noise_Nm * noise[:, column + 3 : column + 6]
            out[:, column : column + 6] = lab_to_volts(wrench, plate)
            column += 6
        out[:, column] = HIGH_V * self._exposure_active("sagittal", t)
        out[:, column + 1] = HIGH_V * self._exposure_active("posterior", t)
        out[:, column + 2] = self.runner.speed_m_s / self.belt_speed_scale
        out[:, column + 3] = HIGH_V * self._led_active(t)
        out[:, column + 4 :] = 0.0
        out[:, column:] += setup.voltage_noise_V * noise[:, column:]
        return out

    # -- cameras and time ----------------------------------------------------------------------

    def _camera(self, camera: str) -> CameraModel:
        try:
            return self.cameras[camera]
        except KeyError:
            raise InputError(
                f"unknown camera '{camera}'",
                subject="simulated lab",
                remedy=f"Use one of: {', '.join(self.cameras)}.",
            ) from None

    def _frame_clock(self) -> tuple[float, float]:
        """(session time of frame 0, frame period) for both cameras."""
        setup = self.setup
        if setup.sync_mode == "hardware":
            return setup.trigger_delay_s, 1.0 / setup.frame_rate_hz
        drift = 1 + setup.camera_drift_ppm * 1e-6
        return setup.camera_clock_offset_s, 1.0 / (setup.frame_rate_hz * drift)

    def n_frames(self, camera: str) -> int:
        self._camera(camera)
        first, period = self._frame_clock()
        return math.floor((self.duration_s - self.setup.exposure_s - first) / period) + 1

    def frame_time(self, camera: str, k: int | np.ndarray) -> float | np.ndarray:
        """Session time of frame ``k``'s exposure start."""
        self._camera(camera)
        first, period = self._frame_clock()
        if np.ndim(k):
            return first + np.asarray(k) * period
        return first + int(k) * period

    def camera_time(self, session_time_s: float | np.ndarray) -> float | np.ndarray:
        """The camera clock (offset + drift) at a session time; both cameras share the model."""
        setup = self.setup
        return (np.asarray(session_time_s) - setup.camera_clock_offset_s) * (
            1 + setup.camera_drift_ppm * 1e-6
        )

    def dropped_frames(self, camera: str) -> np.ndarray:
        """Indices of frames exposed but never delivered."""
        return np.flatnonzero(self._dropped[self._camera(camera).name])

    def missed_triggers(self, camera: str) -> np.ndarray:
        """Indices of trigger pulses the camera ignored: never exposed, never counted."""
        return np.flatnonzero(self._missed[self._camera(camera).name])

    def frame_counters(self, camera: str, k: np.ndarray) -> np.ndarray:
        """The camera's own frame counter of the exposures at pulses ``k``: it counts
        exposures, so after a missed trigger it runs behind the pulse index."""
        missed = self.missed_triggers(camera)
        k = np.asarray(k, dtype=np.int64)
        return k - np.searchsorted(missed, k, side="left")

    def _missed_mask(self, camera: str) -> np.ndarray:
        mask = np.zeros(self.n_frames(camera), dtype=bool)
        explicit = [k for k in dict(self.setup.missed_triggers).get(camera, ()) if k < mask.size]
        mask[explicit] = True
        return mask

    def _drop_mask(self, camera: str) -> np.ndarray:
        n = self.n_frames(camera)
        rng = np.random.default_rng([self.seed, 55, CAMERA_IDS[camera]])
        mask = rng.random(n) < self.setup.drop_probability
        explicit = [k for k in dict(self.setup.dropped_frames).get(camera, ()) if k < n]
        mask[explicit] = True
        return mask

    def _exposure_active(self, camera: str, t: np.ndarray) -> np.ndarray:
        first, period = self._frame_clock()
        k = np.floor((t - first) / period)
        since = t - (first + k * period)
        n = self.n_frames(camera)
        active = (k >= 0) & (k < n) & (since < self.setup.exposure_s)
        missed = self._missed[self._camera(camera).name]
        if missed.any():
            active[active] = ~missed[k[active].astype(np.int64)]
        return active

    def _led_active(self, t: np.ndarray) -> np.ndarray:
        j = np.searchsorted(self._led_on, t, side="right") - 1
        jc = np.clip(j, 0, None)
        return (j >= 0) & (t < self._led_off[jc])

    def _led_level(self, t0: float) -> float:
        return float(self._led_levels(np.array([t0]))[0])

    def _led_levels(self, starts: np.ndarray) -> np.ndarray:
        """Fraction of each exposure (starting at ``starts``) during which the LED was on."""
        exposure = self.setup.exposure_s
        j = np.clip(np.searchsorted(self._led_on, starts + exposure) - 1, 0, None)
        if len(self._led_on) == 0:
            return np.zeros(len(starts))
        # an exposure (≤ 0.8 frame) overlaps at most one flash (≥ 5 ms apart)
        on, off = self._led_on[j], self._led_off[j]
        overlap = np.clip(np.minimum(off, starts + exposure) - np.maximum(on, starts), 0, None)
        return np.clip(overlap / exposure, 0.0, 1.0)

    def _check_frame(self, camera: str, k: int) -> None:
        n = self.n_frames(camera)
        if not 0 <= k < n:
            raise InputError(
                f"frame {k} is outside 0–{n - 1}",
                subject=f"simulated camera '{camera}'",
                remedy="Ask for a frame inside the session.",
            )

    def _frame_draws(self, camera: str, k: int) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        """(marker visibility, stray pixels, noise offset) of frame k, keyed by the frame so that
        any frame can be drawn alone; None when occlusions/strays are switched off."""
        offset = _mix(self.seed, CAMERA_IDS[camera], k) % 65536
        setup = self.setup
        if setup.marker_occlusion_probability == 0 and setup.stray_reflections_per_frame == 0:
            return None, None, offset
        rng = np.random.default_rng([self.seed, 21, CAMERA_IDS[camera], k])
        n_markers = len(self.renderer(camera).marker_names)
        visible = rng.random(n_markers) >= setup.marker_occlusion_probability
        n_strays = rng.poisson(setup.stray_reflections_per_frame)
        w, h = self.cameras[camera].size
        strays = rng.uniform((0.12 * w, 0.05 * h), (0.95 * w, 0.95 * h), (n_strays, 2))
        return visible, strays, offset

    def renderer(self, camera: str) -> FrameRenderer:
        if camera not in self._renderers:
            self._renderers[camera] = FrameRenderer(
                self._camera(camera), self.setup.blur_sigma_px, self.setup.image_noise_dn, self.seed
            )
        return self._renderers[camera]

    def frame_truth(self, camera: str, k: int) -> FrameTruth:
        """What frame ``k`` shows: marker names, pixels, lab positions, visibility, times."""
        cam = self._camera(camera)
        self._check_frame(camera, k)
        t = float(self.frame_time(camera, k))
        renderer = self.renderer(camera)
        pts = self.body.points(np.array([t]))
        lab = np.vstack([pts[p][0] for p in renderer.marker_points])
        pixels, ideal, depth = cam.project(lab)
        visible, strays, _ = self._frame_draws(camera, k)
        if visible is None:
            visible, strays = np.ones(len(renderer.marker_names), bool), np.zeros((0, 2))
        return FrameTruth(
            camera=camera,
            index=k,
            names=renderer.marker_names,
            pixels=pixels,
            pixels_undistorted=ideal,
            lab_m=lab,
            visible=visible,
            radius_px=float(cam.K[0, 0]) * MARKER_RADIUS_M / depth,
            stray_pixels=strays,
            led_level=self._led_level(t),
            session_time_s=t,
            camera_time_s=float(self.camera_time(t)),
            dropped=bool(self._dropped[camera][k]),
        )

    def frame(self, camera: str, k: int, *, markers: bool = True, noise: bool = True) -> np.ndarray:
        """uint8 (height, width) frame ``k``. ``markers``/``noise`` False give the same frame
        without markers or without image noise (for checking a detector against the truth)."""
        return self.frames(camera, [k], markers=markers, noise=noise)[0]

    def frames(
        self,
        camera: str,
        ks: Sequence[int] | np.ndarray,
        *,
        markers: bool = True,
        noise: bool = True,
    ) -> np.ndarray:
        """uint8 (len(ks), height, width): several frames, the body evaluated for all at once."""
        cam = self._camera(camera)
        out = np.empty((len(ks), cam.size[1], cam.size[0]), dtype=np.uint8)
        self.render_into(camera, ks, out, markers=markers, noise=noise)
        return out

    def _frame_points(self, ks: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
        """Body points at the exposure starts of frames ``ks``. Both cameras share the frame
        clock, so points are computed per block of frames and cached: a device reading a few
        frames at a time pays the body model's numpy overhead once per block, not per read."""
        blocks = np.unique(ks // POINTS_BLOCK)
        if len(blocks) > 1:
            return self.body.points(times)
        block = int(blocks[0])
        with self._points_lock:
            points = self._points_blocks.get(block)
        if points is None:
            first = block * POINTS_BLOCK
            frames = np.arange(first, min(first + POINTS_BLOCK, self.n_frames("sagittal")))
            points = self.body.points(np.asarray(self.frame_time("sagittal", frames), dtype=float))
            with self._points_lock:
                if len(self._points_blocks) >= 8:
                    self._points_blocks.pop(next(iter(self._points_blocks)))
                self._points_blocks[block] = points
        rows = ks - block * POINTS_BLOCK
        return {name: value[rows] for name, value in points.items()}

    def render_into(
        self,
        camera: str,
        ks: Sequence[int] | np.ndarray,
        out: np.ndarray,
        *,
        markers: bool = True,
        noise: bool = True,
    ) -> None:
        """Render frames ``ks`` into ``out[:len(ks)]`` (a streaming device's buffer)."""
        self._camera(camera)
        ks = np.asarray(ks, dtype=np.int64)
        if len(ks) == 0:
            return
        n = self.n_frames(camera)
        if ks.min() < 0 or ks.max() >= n:
            self._check_frame(camera, int(ks.min() if ks.min() < 0 else ks.max()))
        times = np.asarray(self.frame_time(camera, ks), dtype=float)
        renderer = self.renderer(camera)
        batch = renderer.prepare(self._frame_points(ks, times))
        led = self._led_levels(times)
        for row, k in enumerate(ks.tolist()):
            visible, strays, offset = self._frame_draws(camera, k)
            renderer.render(
                batch,
                row,
                visible=visible,
                strays=strays,
                led_level=float(led[row]),
                noise_offset=offset,
                draw_markers=markers,
                add_noise=noise,
                out=out[row],
            )


def _mix(*values: int) -> int:
    """A splitmix64-style hash of small integers: a per-frame random number in ~1 µs."""
    h = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for v in values:
        h = (h ^ (v & mask)) * 0xBF58476D1CE4E5B9 & mask
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & mask
        h ^= h >> 31
    return h
