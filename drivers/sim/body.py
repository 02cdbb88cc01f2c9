"""The runner's body: joint and marker positions in the lab frame at any time, from the schedule.

Built to agree with the force: a foot is on the belt exactly while its stance force is non-zero,
moves backward at belt speed while it is, and lands and leaves where the hip–ankle targets put it.
The pelvis follows smooth splines through per-stance knots (the ankle ``d_c`` ahead at contact,
``d_m`` at the planned midstance; pelvis height set by the knee flexion at contact and sinking
during stance), the knees are placed by two-link inverse kinematics and pushed medially to the
planned FPPA, and the pelvis rolls to the planned contralateral drop. Everything is vectorised over
time so that dense truth and rendering use the same code.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import CubicSpline

from drivers.sim.gait import FOOT_PITCH_AT_CONTACT_DEG, PLANNED_MIDSTANCE_FRACTION, StanceSchedule

HIP_HALF_WIDTH_M = 0.085  # hip joint centre from the pelvis centre
TROCHANTER_OFFSET_M = 0.07  # greater trochanter lateral of the hip joint centre
EPICONDYLE_OFFSET_M = 0.05
MALLEOLUS_OFFSET_M = 0.035
PSIS_OFFSET_M = np.array([-0.11, 0.045, 0.08])  # from the pelvis centre (x back, ±y, z up)
THIGH_MARKER_BACK_M = 0.07  # mid-thigh marker on the back of the thigh
HEEL_FROM_ANKLE_M = np.array([-0.07, 0.0, -0.03])
TOE_FROM_ANKLE_M = np.array([0.12, 0.03, -0.05])  # 5th metatarsal head (lateral)
TOE_LEVER_M = 0.14  # ankle → ground contact under the toes, for the heel rise
FLIGHT_RISE_M = 0.025  # pelvis above its contact height at mid-flight
SWING_HEIGHT_M = 0.09
TOE_OFF_HALF_KNEE_DEG = 12.0  # half the knee flexion at toe-off (the heel rise is sized for it)
# When the foot leaves the belt its acceleration steps (the belt's push ends) and fades over
# SWING_PUSH_FADE_S: forward pull and lift of the ankle; the foot stops plantarflexing.
SWING_PULL_M_S2 = 150.0
SWING_LIFT_M_S2 = 50.0
SWING_PUSH_FADE_S = 0.02
SHOULDER_HALF_WIDTH_M = 0.18


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _push_off(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heel-rise profile 2x² − x³ on [0, 1] and its slope: starts flat, still rising at full
    speed (slope 1) at toe-off, so the foot leaves the belt moving up, as in running."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (2 - x), np.where((x > 0) & (x < 1), x * (4 - 3 * x), np.where(x >= 1, 1.0, 0))


def _swing_curve(u, start, end, *, accel, tau):
    """Hermite curve from (p0, slope m0) to (p1, slope m1) plus a push that starts with
    curvature ``accel`` at u = 0 and fades with time constant ``tau`` (all in units of u): the
    acceleration steps at toe-off and decays smoothly, while both ends keep their value and
    slope (the swing joins the stances C1)."""
    push = accel * tau * tau * (np.exp(-u / tau) - 1 + u / tau)
    push_end = accel * tau * tau * (np.exp(-1 / tau) - 1 + 1 / tau)
    slope_end = accel * tau * (1 - np.exp(-1 / tau))
    (p0, m0), (p1, m1) = start, end
    return _hermite(u, p0, m0, p1 - push_end, m1 - slope_end) + push


def _hermite(u: np.ndarray, p0, m0, p1, m1) -> np.ndarray:
    """Cubic Hermite curve: value p0 with slope m0 at u = 0, p1 with slope m1 at u = 1."""
    u2, u3 = u * u, u * u * u
    return (
        (2 * u3 - 3 * u2 + 1) * p0
        + (u3 - 2 * u2 + u) * m0
        + (-2 * u3 + 3 * u2) * p1
        + (u3 - u2) * m1
    )


class BodyModel:
    """Positions (m, lab frame) of every joint and marker at session times ``t``."""

    def __init__(self, schedule: StanceSchedule) -> None:
        self.schedule = schedule
        runner = schedule.runner
        self.speed = runner.speed_m_s
        scale = runner.leg_length_m / 0.92
        self.ankle_height = 0.075 * scale
        reach = runner.leg_length_m - self.ankle_height
        self.thigh, self.shank = 0.51 * reach, 0.49 * reach
        self.trunk = 0.58 * runner.leg_length_m
        self.lean = math.radians(runner.trunk_lean_deg)
        sch = schedule
        t0, tc = sch.onset_s, sch.contact_s
        tm = t0 + PLANNED_MIDSTANCE_FRACTION * tc
        d_c, d_m = sch.hip_ankle_contact_m, sch.hip_ankle_midstance_m
        delta = d_c - d_m - self.speed * (tm - t0)  # how far the hip travels, contact → midstance
        self.landing_x = d_c - delta / 2  # hip at −δ/2 at contact, +δ/2 at midstance
        side_sign = np.where(sch.side == 0, 1.0, -1.0)
        hip_y = side_sign * HIP_HALF_WIDTH_M
        dy = np.abs(hip_y - sch.foot_y_m)
        flex = np.radians(sch.knee_flexion_contact_deg)
        reach_c = np.sqrt(
            self.thigh**2 + self.shank**2 + 2 * self.thigh * self.shank * np.cos(flex)
        )
        z_contact = self.ankle_height + np.sqrt(np.maximum(reach_c**2 - d_c**2 - dy**2, 0.01))
        x_knots = np.column_stack((t0, tm)).ravel()
        x_vals = np.column_stack((-delta / 2, delta / 2)).ravel()
        self.pelvis_x = CubicSpline(x_knots, x_vals)
        flight_mid = np.append((t0[:-1] + tc[:-1] + t0[1:]) / 2, t0[-1] + tc[-1] + 0.05)
        z_knots = np.column_stack((t0, tm, flight_mid)).ravel()
        z_vals = np.column_stack(
            (z_contact, z_contact - sch.runner.stance_pelvis_drop_m, z_contact + FLIGHT_RISE_M)
        ).ravel()
        self.pelvis_z = CubicSpline(z_knots, z_vals)
        # Heel rise: enough that the knee is flexed ~24° at toe-off (running: 15–30°), so the
        # leg can follow the foot off the belt without over-stretching.
        t1 = t0 + tc
        to_x = self.landing_x - self.speed * tc - self.pelvis_x(t1)
        max_reach = (self.thigh + self.shank) * math.cos(math.radians(TOE_OFF_HALF_KNEE_DEG))
        needed = self.pelvis_z(t1) - np.sqrt(np.maximum(max_reach**2 - to_x**2 - dy**2, 0.01))
        self.heel_rise = np.clip(needed - self.ankle_height, 0.03, 0.12)
        self.pitch_contact = math.radians(FOOT_PITCH_AT_CONTACT_DEG[runner.foot_strike])
        self.by_side = [np.flatnonzero(sch.side == k) for k in (0, 1)]

    # -- feet ----------------------------------------------------------------------------------

    def ankle(self, side: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ankle centre (n, 3) of one side and the foot pitch (rad, + = toes up)."""
        sch = self.schedule
        own = self.by_side[side]
        t0, tc = sch.onset_s[own], sch.contact_s[own]
        j = np.clip(np.searchsorted(t0, t, side="right") - 1, 0, len(own) - 1)
        tau = t - t0[j]
        in_stance = (tau >= 0) & (tau <= tc[j])
        s = np.clip(tau / tc[j], 0, 1)
        land = self.landing_x[own]
        rise_all = self.heel_rise[own]
        # stance: the heel rises from 55 % of stance and is still rising at toe-off, the foot
        # pivoting about the ground under the toes
        xs = land[j] - self.speed * tau
        shape, _ = _push_off((s - 0.55) / 0.45)
        rise = rise_all[j] * shape
        zs = self.ankle_height + rise
        pitch_rise = -np.arcsin(np.clip(rise / TOE_LEVER_M, 0, 0.95))
        ps = self.pitch_contact * (1 - _smoothstep(s / 0.15)) + pitch_rise
        # swing: from toe-off of stance j to contact of stance j+1 (or before the first contact)
        before_first = tau < 0
        jn = np.where(before_first, j, np.minimum(j + 1, len(own) - 1))
        jp = np.where(before_first, np.maximum(j - 1, 0), j)
        start = t0[jp] + tc[jp]
        end = t0[jn]
        duration = np.maximum(end - start, 1e-3)
        u = np.clip((t - start) / duration, 0, 1)
        # swing starts with the position and velocity the foot left the belt with (C1 at
        # toe-off: only the acceleration changes when the belt stops pushing)
        x0 = land[jp] - self.speed * tc[jp]
        x1 = land[jn]
        v = -self.speed * duration
        # once free, the foot is pulled forward and up and stops plantarflexing at once (the
        # belt's push ends: an acceleration step, the toe's jerk peak at toe-off, Handsaker 2016)
        d2 = duration**2
        tau = SWING_PUSH_FADE_S / duration
        xw = _swing_curve(u, (x0, v), (x1, v), accel=SWING_PULL_M_S2 * d2, tau=tau)
        z0 = self.ankle_height + rise_all[jp]
        rise_rate = rise_all[jp] / (0.45 * tc[jp])  # d(rise)/dt at toe-off (slope 1 above)
        zw = _swing_curve(
            u,
            (z0, rise_rate * duration),
            (self.ankle_height, 0.0),
            accel=SWING_LIFT_M_S2 * d2,
            tau=tau,
        )
        zw = zw + SWING_HEIGHT_M * 6.75 * u**2 * (1 - u)
        lever = np.clip(rise_all[jp] / TOE_LEVER_M, 0, 0.95)
        pitch_off = -np.arcsin(lever)
        pitch_rate = -rise_rate / (TOE_LEVER_M * np.sqrt(1 - lever**2))
        # the foot stops plantarflexing within SWING_PUSH_FADE_S of leaving the belt
        toe_up = -pitch_rate / SWING_PUSH_FADE_S * d2
        pw = _swing_curve(
            u, (pitch_off, pitch_rate * duration), (self.pitch_contact, 0.0), accel=toe_up, tau=tau
        )
        x = np.where(in_stance, xs, xw)
        z = np.where(in_stance, zs, zw)
        pitch = np.where(in_stance, ps, pw)
        y = np.full_like(t, sch.foot_y_m[own[0]])
        return np.column_stack((x, y, z)), pitch

    # -- stance-dependent profiles ------------------------------------------------------------

    def _stance_profile(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stance index or −1, stance fraction, bell profile peaking at planned midstance)."""
        sch = self.schedule
        i = np.clip(np.searchsorted(sch.onset_s, t, side="right") - 1, 0, sch.n - 1)
        tau = t - sch.onset_s[i]
        on = (tau >= 0) & (tau <= sch.contact_s[i])
        s = np.clip(tau / sch.contact_s[i], 0, 1)
        q = math.log(0.5) / math.log(PLANNED_MIDSTANCE_FRACTION)
        bell = np.where(on, np.sin(np.pi * s**q) ** 2, 0.0)
        return np.where(on, i, -1), s, bell

    # -- everything ----------------------------------------------------------------------------

    def points(self, t: np.ndarray | float) -> dict[str, np.ndarray]:
        """Every joint and marker, each (n, 3), at session times ``t``."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        sch = self.schedule
        n = len(t)
        stance, _, bell = self._stance_profile(t)
        idx = np.clip(stance, 0, sch.n - 1)
        stance_side = np.where(stance >= 0, sch.side[idx], -1)
        # roll about x, + lifts the left side: contralateral drop lowers the swing side
        roll = np.radians(sch.pelvic_drop_deg[idx]) * bell * np.where(stance_side == 0, 1.0, -1.0)
        pelvis = np.column_stack((self.pelvis_x(t), np.zeros(n), self.pelvis_z(t)))
        cos_r, sin_r = np.cos(roll)[:, None], np.sin(roll)[:, None]

        def pelvic(offset: np.ndarray) -> np.ndarray:
            off = np.broadcast_to(offset, (n, 3))
            y = off[:, 1:2] * cos_r - off[:, 2:3] * sin_r
            z = off[:, 1:2] * sin_r + off[:, 2:3] * cos_r
            return pelvis + np.column_stack((off[:, 0], y[:, 0], z[:, 0]))

        out: dict[str, np.ndarray] = {"pelvis": pelvis}
        for side, name in ((0, "L"), (1, "R")):
            sign = 1.0 if side == 0 else -1.0
            lateral = np.array([0.0, sign, 0.0])
            hjc = pelvic(np.array([0.0, sign * HIP_HALF_WIDTH_M, 0.0]))
            ankle, pitch = self.ankle(side, t)
            fppa = np.where(stance_side == side, sch.fppa_deg[idx] * bell, 0.0)
            knee = self._knee(hjc, ankle, fppa, medial_y=-sign)
            cp, sp = np.cos(pitch)[:, None], np.sin(pitch)[:, None]

            def foot(offset: np.ndarray, cp=cp, sp=sp, ankle=ankle, sign=sign) -> np.ndarray:
                x = offset[0] * cp - offset[2] * sp
                z = offset[0] * sp + offset[2] * cp
                y = np.full_like(x, -sign * offset[1])
                return ankle + np.column_stack((x[:, 0], y[:, 0], z[:, 0]))

            out[f"{name}_hip_joint"] = hjc
            out[f"{name}_knee_joint"] = knee
            out[f"{name}_ankle_joint"] = ankle
            out[f"{name}_trochanter"] = hjc + TROCHANTER_OFFSET_M * lateral
            out[f"{name}_epicondyle"] = knee + EPICONDYLE_OFFSET_M * lateral
            out[f"{name}_malleolus"] = ankle + MALLEOLUS_OFFSET_M * lateral
            out[f"{name}_heel"] = foot(HEEL_FROM_ANKLE_M)
            out[f"{name}_toe"] = foot(TOE_FROM_ANKLE_M)
            out[f"{name}_psis"] = pelvic(PSIS_OFFSET_M * np.array([1.0, sign, 1.0]))
            out[f"{name}_thigh"] = (hjc + knee) / 2 - np.array([THIGH_MARKER_BACK_M, 0, 0])
            trunk = np.array(
                [self.trunk * math.sin(self.lean), 0, self.trunk * math.cos(self.lean)]
            )
            shoulder = pelvis + trunk + SHOULDER_HALF_WIDTH_M * lateral
            out[f"{name}_shoulder"] = shoulder
            # arms swing opposite to the leg of the same side
            thigh_angle = np.arctan2(knee[:, 0] - hjc[:, 0], hjc[:, 2] - knee[:, 2])
            swing = -0.8 * thigh_angle
            upper = 0.3 * self.trunk / 0.53
            elbow = shoulder + upper * np.column_stack((np.sin(swing), np.zeros(n), -np.cos(swing)))
            fore = swing + math.radians(80)
            out[f"{name}_elbow"] = elbow
            out[f"{name}_hand"] = elbow + 0.9 * upper * np.column_stack(
                (np.sin(fore), np.zeros(n), -np.cos(fore))
            )
        neck = pelvis + np.array(
            [
                (self.trunk + 0.12) * math.sin(self.lean),
                0,
                (self.trunk + 0.12) * math.cos(self.lean),
            ]
        )
        out["head"] = neck + np.array([0.02, 0, 0.12])
        return out

    def _knee(
        self, hip: np.ndarray, ankle: np.ndarray, fppa_deg: np.ndarray, medial_y: float
    ) -> np.ndarray:
        """Two-link IK with the knee forward, then pushed medially to the planned FPPA."""
        lt, ls = self.thigh, self.shank
        vec = ankle - hip
        dist = np.linalg.norm(vec, axis=1)
        dist_c = np.minimum(dist, 0.9999 * (lt + ls))
        u = vec / dist[:, None]
        a = (lt**2 - ls**2 + dist_c**2) / (2 * dist_c)
        h = np.sqrt(np.maximum(lt**2 - a**2, 0))
        forward = np.array([1.0, 0.0, 0.0]) - u[:, 0:1] * u
        forward /= np.linalg.norm(forward, axis=1)[:, None]
        medial = np.cross(u, forward)
        flip = np.sign(medial[:, 1] * medial_y)
        medial *= np.where(flip == 0, 1.0, flip)[:, None]
        b = dist_c - a
        m = np.tan(np.radians(fppa_deg)) * a * b / (a + b)
        m = np.clip(m, -0.95 * h, 0.95 * h)
        f = np.sqrt(np.maximum(h**2 - m**2, 0))
        return hip + a[:, None] * u + f[:, None] * forward + m[:, None] * medial
