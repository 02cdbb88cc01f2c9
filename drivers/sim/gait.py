"""The step schedule and the ground reaction force of every stance, as continuous functions of time.

Each stance is drawn once from :class:`RunnerParams` (variability, asymmetry, fatigue) and then
evaluated anywhere: forces are closed-form in time, so the samples of any window, the dense truth
and the loading-rate targets all come from the same function.

Vertical force of one stance, with ``s = τ / Tc`` (τ: time since the foot met the belt)::

    Fz = A · sin(πs)^1.5 · (1 + 0.4·(0.5 − s))  +  I · sin²(π τ / 2w)   (τ < 2w)

The first term is the active (propulsive) peak near 46 % of stance; the second the heel-strike
impact (large ``I`` for rearfoot strikers, a shoulder without a peak for midfoot/forefoot). ``A``
makes the vertical impulse of every step equal body weight × step time (so mean Fz over whole
strides is body weight) and ``w`` is solved so that the loading rate of the SCIENCE.md §4 method
meets the target. Both terms are exactly zero outside the stance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, signal
from scipy.special import gammaln

from drivers.sim.params import RunnerParams

REARFOOT_POWER = 1.5
POWER_RANGE = (0.85, 2.5)  # midfoot/forefoot: the rise is shaped by the power alone
ACTIVE_SKEW = 0.4
IMPACT_AMPLITUDE_BW = {"rearfoot": 1.0, "midfoot": 0.0, "forefoot": 0.0}
FOOT_PITCH_AT_CONTACT_DEG = {"rearfoot": 14.0, "midfoot": 0.0, "forefoot": -12.0}
COP_ROLL_M = {"rearfoot": (-0.05, 0.13), "midfoot": (0.03, 0.13), "forefoot": (0.09, 0.13)}
PLANNED_MIDSTANCE_FRACTION = 0.42
CONTACT_THRESHOLD_N = 20.0
IMPACT_WINDOW_FRACTION = 0.30  # impact peak searched in the first 30 % of stance
IMPACT_MIN_PROMINENCE_BW = 0.1
REFERENCE_STANCE_FRACTION = 0.13  # no impact peak: force at 13 % of stance (Blackmore 2016)
ML_FORCE_BW = 0.06
FREE_MOMENT_NM = 3.0
FAST_GRID_S = 1e-4  # grid of the loading-rate aim (the truth uses the continuous force)


@dataclass(frozen=True)
class LoadingRate:
    """The §4 loading rate of one stance, computed on the continuous force."""

    reference: str  # "impact_peak" | "stance_13pct"
    contact_s: float  # the 20 N crossings, in stance time
    toe_off_s: float
    reference_N: float
    impact_peak_N: float | None
    impact_peak_s: float | None
    t20_s: float
    t80_s: float
    valr_N_s: float
    vilr_N_s: float


class StanceSchedule:
    """Per-stance parameter arrays (time order, sides alternating) and their force functions."""

    def __init__(self, runner: RunnerParams, duration_s: float, seed: int) -> None:
        self.runner = runner
        rng = np.random.default_rng([seed, 101])
        bw = runner.body_weight_N
        self.body_weight_N = bw
        start, stop = -1.2, duration_s + 1.2
        n = math.ceil((stop - start) / runner.step_time_s * 1.2) + 4
        cv = runner.variability
        step = runner.step_time_s * (1 + cv * np.clip(rng.standard_normal(n), -3, 3))
        onset = start + np.concatenate(([0.0], np.cumsum(step[:-1])))
        keep = onset < stop
        n = int(keep.sum())
        onset, step = onset[:n], step[:n]
        side = np.arange(n) % 2  # 0 = L, 1 = R, alternating
        sign = np.where(side == 0, 1.0, -1.0)  # +1 for the left foot
        z = rng.standard_normal((8, n)).clip(-3, 3)
        fatigue = 1 + runner.fatigue_per_min * np.clip(onset, 0, None) / 60.0
        asym = 1 + sign * runner.asymmetry / 2
        contact = runner.contact_time_s * asym * (1 + cv * z[0])
        self.n = n
        self.side = side
        self.onset_s = onset
        self.step_s = step
        self.contact_s = np.minimum(contact, 0.85 * step)
        self.loading_rate_target_bw_s = runner.loading_rate_bw_s * asym * fatigue * (1 + cv * z[1])
        self.peak_braking_N = runner.peak_braking_bw * bw * (1 + cv * z[2])
        self.braking_fraction = np.full(n, runner.braking_fraction)
        self.fppa_deg = np.take(runner.fppa_deg, side) * fatigue + runner.angle_sd_deg * z[3]
        self.pelvic_drop_deg = (
            np.take(runner.pelvic_drop_deg, side) * fatigue + runner.angle_sd_deg * z[4]
        )
        self.hip_ankle_contact_m = (
            runner.hip_ankle_contact_m * fatigue + runner.distance_sd_m * z[5]
        )
        self.hip_ankle_midstance_m = runner.hip_ankle_midstance_m + runner.distance_sd_m * z[6]
        self.hip_ankle_midstance_m = np.minimum(
            self.hip_ankle_midstance_m, self.hip_ankle_contact_m - 0.02
        )
        self.knee_flexion_contact_deg = runner.knee_flexion_contact_deg + runner.angle_sd_deg * z[7]
        self.foot_y_m = sign * runner.step_width_m / 2
        strike = runner.foot_strike
        self.impact_N = np.full(n, IMPACT_AMPLITUDE_BW[strike] * bw)
        incline = math.radians(runner.incline_deg)
        # Vertical impulse per step = BW·cos(incline)·step time; the impact term carries I·w.
        self._vertical_impulse = bw * math.cos(incline) * step
        self._ap_impulse = bw * math.sin(incline) * step
        self.power = np.full(n, REARFOOT_POWER)
        self.impact_half_width_s = np.full(n, 0.02)
        which = "w" if strike == "rearfoot" else "p"
        for side_code in (0, 1):
            own = np.flatnonzero(side == side_code)
            values = self._shape_for_targets(int(own[0]), which, self.loading_rate_target_bw_s[own])
            if which == "w":
                self.impact_half_width_s[own] = values
            else:
                self.power[own] = values
        self.active_N = self._active_amplitude(self.impact_half_width_s, self.power)
        sb = self.braking_fraction
        tc = self.contact_s
        # Net AP impulse = −Pb·2·sb·Tc/π + Pp·2·(1−sb)·Tc/π = BW·sin(incline)·step time.
        self.peak_propulsive_N = (
            self._ap_impulse * math.pi / (2 * tc) + self.peak_braking_N * sb
        ) / (1 - sb)

    # -- the vertical force and its loading-rate target -------------------------------------

    def _active_amplitude(self, w, p, i: slice | int = slice(None)):
        area = _sine_power_area(p)
        return (self._vertical_impulse[i] - self.impact_N[i] * w) / (self.contact_s[i] * area)

    def _shape(self, i: int, w: float | None, p: float | None) -> tuple[float, float, float]:
        w = float(self.impact_half_width_s[i] if w is None else w)
        p = float(self.power[i] if p is None else p)
        return float(self._active_amplitude(w, p, i)), w, p

    def vertical(
        self, i: int, tau: np.ndarray, w: float | None = None, p: float | None = None
    ) -> np.ndarray:
        """Fz (N) of stance ``i`` at ``tau`` seconds after the foot met the belt."""
        amp, w, p = self._shape(i, w, p)
        return _vertical(
            tau, amp=amp, impact=float(self.impact_N[i]), w=w, tc=float(self.contact_s[i]), power=p
        )

    def vertical_slope(
        self, i: int, tau: np.ndarray, w: float | None = None, p: float | None = None
    ) -> np.ndarray:
        """dFz/dt (N/s), analytic (used for the instantaneous loading rate)."""
        amp, w, p = self._shape(i, w, p)
        tc = float(self.contact_s[i])
        tau = np.asarray(tau, dtype=float)
        s = np.clip(tau / tc, 0, 1)
        inside = (tau > 0) & (tau < tc)
        sin = np.maximum(np.sin(np.pi * s), 1e-9)
        skew = 1 + ACTIVE_SKEW * (0.5 - s)
        d_active = (amp / tc) * (
            p * sin ** (p - 1) * np.cos(np.pi * s) * np.pi * skew - ACTIVE_SKEW * sin**p
        )
        in_impact = (tau >= 0) & (tau <= 2 * w)
        d_impact = float(self.impact_N[i]) * np.pi / (2 * w) * np.sin(np.pi * tau / w)
        return np.where(inside, d_active, 0.0) + np.where(in_impact, d_impact, 0.0)

    def loading_rate(self, i: int, grid_s: float = 1e-4) -> LoadingRate:
        """The SCIENCE.md §4 loading rate of stance ``i`` on the continuous force (stance time)."""
        tc = float(self.contact_s[i])

        def fz(tau: np.ndarray) -> np.ndarray:
            return self.vertical(i, tau)

        contact, toe_off = stance_events(fz, tc)
        stance = toe_off - contact
        tau = np.arange(contact, toe_off, grid_s)
        force = fz(tau)
        peaks, _ = signal.find_peaks(
            force, prominence=IMPACT_MIN_PROMINENCE_BW * self.body_weight_N
        )
        active_peak = int(np.argmax(force))
        early = [
            p
            for p in peaks
            if tau[p] <= contact + IMPACT_WINDOW_FRACTION * stance and p < active_peak
        ]
        if early:
            p = early[0]
            lo, hi = tau[max(p - 2, 0)], tau[min(p + 2, len(tau) - 1)]
            best = optimize.minimize_scalar(
                lambda x: -float(fz(np.array([x]))[0]),
                bounds=(lo, hi),
                method="bounded",
                options={"xatol": 1e-10},
            )
            impact_s = float(best.x)
            reference_N = float(fz(np.array([impact_s]))[0])
            kind, impact_peak, end = "impact_peak", reference_N, impact_s
        else:
            end = contact + REFERENCE_STANCE_FRACTION * stance
            reference_N = float(fz(np.array([end]))[0])
            kind, impact_peak, impact_s = "stance_13pct", None, None
        t20 = first_crossing(fz, 0.2 * reference_N, contact, end, grid_s)
        t80 = first_crossing(fz, 0.8 * reference_N, contact, end, grid_s)
        valr = 0.6 * reference_N / (t80 - t20)
        window = np.linspace(t20, t80, max(int((t80 - t20) / 2e-6), 50))
        vilr = float(np.max(self.vertical_slope(i, window)))
        return LoadingRate(
            kind, contact, toe_off, reference_N, impact_peak, impact_s, t20, t80, valr, vilr
        )

    def _fast_valr(self, i: int, w: float | None, p: float | None) -> float:
        """VALR on a 0.1 ms grid with linear crossings: only to aim at the target."""
        tc = float(self.contact_s[i])
        tau = np.arange(0, 0.35 * tc, FAST_GRID_S)
        force = self.vertical(i, tau, w, p)
        if self.impact_N[i] > 0:
            rising = np.flatnonzero(np.diff(force) < 0)
            k = int(rising[0]) if len(rising) else len(force) - 1
            reference = force[k]
        else:
            above = np.flatnonzero(force >= CONTACT_THRESHOLD_N)
            k = int(above[0] + REFERENCE_STANCE_FRACTION * (0.97 * tc) / FAST_GRID_S)
            k = min(k, len(force) - 1)
            reference = force[k]
        t20 = np.interp(0.2 * reference, force[: k + 1], tau[: k + 1])
        t80 = np.interp(0.8 * reference, force[: k + 1], tau[: k + 1])
        return 0.6 * reference / max(t80 - t20, 1e-6)

    def _solve(self, i: int, which: str, target_bw_s: float) -> float:
        """The impact half-width (rearfoot) or rise power giving stance ``i`` this loading rate."""
        target = target_bw_s * self.body_weight_N
        w0, p0 = float(self.impact_half_width_s[i]), float(self.power[i])
        lo, hi = (0.004, 0.22 * float(self.contact_s[i])) if which == "w" else POWER_RANGE

        def excess(x: float) -> float:
            w, p = (x, p0) if which == "w" else (w0, x)
            return self._fast_valr(i, w, p) - target

        f_lo, f_hi = excess(lo), excess(hi)
        if f_lo * f_hi > 0:  # out of reach for this stance: the nearest achievable shape
            return lo if abs(f_lo) < abs(f_hi) else hi
        return float(optimize.brentq(excess, lo, hi, xtol=1e-6))

    def _shape_for_targets(self, i: int, which: str, targets: np.ndarray) -> np.ndarray:
        """Shape parameters for many targets of one side: solved exactly on stance ``i`` at three
        levels around the mean and interpolated (log–log) for each stance. Stance-to-stance
        differences in contact and step time then move each stance's loading rate by ~1 %; the
        truth is measured on the result, so it stays exact. Keeps an hour of running quick."""
        mean = float(np.mean(targets))
        levels = mean * np.array([0.7, 1.0, 1.4])
        solved = np.array([self._solve(i, which, level) for level in levels])
        if np.ptp(solved) == 0:
            return np.full(len(targets), solved[0])
        order = np.argsort(levels)
        log_values = np.interp(np.log(targets), np.log(levels[order]), np.log(solved[order]))
        slope_lo = np.diff(np.log(solved[:2])) / np.diff(np.log(levels[:2]))
        slope_hi = np.diff(np.log(solved[1:])) / np.diff(np.log(levels[1:]))
        below, above = targets < levels[0], targets > levels[-1]
        log_values[below] = np.log(solved[0]) + slope_lo * np.log(targets[below] / levels[0])
        log_values[above] = np.log(solved[-1]) + slope_hi * np.log(targets[above] / levels[-1])
        values = np.exp(log_values)
        # one Newton step per stance on the log–log slope corrects for its own contact time
        slope = float(np.log(solved[-1] / solved[0]) / np.log(levels[-1] / levels[0]))
        lo, hi = POWER_RANGE if which == "p" else (0.004, np.inf)
        own = np.flatnonzero(self.side == self.side[i])
        for j, (stance, value, target) in enumerate(zip(own, values, targets, strict=True)):
            w, p = (value, None) if which == "w" else (None, value)
            reached = self._fast_valr(int(stance), w, p) / self.body_weight_N
            upper = 0.22 * self.contact_s[stance] if which == "w" else hi
            values[j] = np.clip(value * (target / reached) ** slope, lo, upper)
        return values

    # -- the other components ----------------------------------------------------------------

    def evaluate(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Every force quantity at session times ``t`` (one foot on the belt at a time).

        Returns ``stance`` (index or −1 in flight), ``tau``, ``Fx``, ``Fy``, ``Fz``, ``Tz`` (free
        moment about the vertical, N·m), all noise free, in the lab frame.
        """
        t = np.asarray(t, dtype=float)
        idx = np.searchsorted(self.onset_s, t, side="right") - 1
        idx_c = np.clip(idx, 0, self.n - 1)
        tau = t - self.onset_s[idx_c]
        tc = self.contact_s[idx_c]
        on = (idx >= 0) & (tau >= 0) & (tau <= tc)
        s = np.clip(tau / tc, 0, 1)
        w = self.impact_half_width_s[idx_c]
        fz = _vertical(
            tau,
            amp=self.active_N[idx_c],
            impact=self.impact_N[idx_c],
            w=w,
            tc=tc,
            power=self.power[idx_c],
        )
        sb = self.braking_fraction[idx_c]
        braking = -self.peak_braking_N[idx_c] * np.sin(np.pi * np.minimum(s / sb, 1))
        propulsion = self.peak_propulsive_N[idx_c] * np.sin(
            np.pi * np.clip((s - sb) / (1 - sb), 0, 1)
        )
        fx = np.where(s < sb, braking, propulsion)
        medial = np.where(self.side[idx_c] == 0, -1.0, 1.0)  # GRF pushes toward the midline
        fy = medial * ML_FORCE_BW * self.body_weight_N * np.sin(np.pi * s)
        tz = FREE_MOMENT_NM * np.sin(2 * np.pi * s) * medial
        zero = np.zeros_like(t)
        return {
            "stance": np.where(on, idx_c, -1),
            "tau": np.where(on, tau, np.nan),
            "s": np.where(on, s, np.nan),
            "Fx": np.where(on, fx, zero),
            "Fy": np.where(on, fy, zero),
            "Fz": np.where(on, fz, zero),
            "Tz": np.where(on, tz, zero),
        }


def _vertical(
    tau: np.ndarray | float,
    *,
    amp: np.ndarray | float,
    impact: np.ndarray | float,
    w: np.ndarray | float,
    tc: np.ndarray | float,
    power: np.ndarray | float,
) -> np.ndarray:
    tau = np.asarray(tau, dtype=float)
    s = np.clip(tau / tc, 0, 1)
    active = amp * np.sin(np.pi * s) ** power * (1 + ACTIVE_SKEW * (0.5 - s))
    bump = impact * np.sin(np.pi * np.clip(tau, 0, 2 * w) / (2 * w)) ** 2
    bump = np.where(tau <= 2 * w, bump, 0.0)
    return np.where((tau >= 0) & (tau <= tc), active + bump, 0.0)


def _sine_power_area(p):
    """∫₀¹ sin(πs)^p ds (the skew term integrates to zero)."""
    p = np.asarray(p, dtype=float)
    return np.exp(gammaln((p + 1) / 2) - gammaln(p / 2 + 1)) / math.sqrt(math.pi)


def first_crossing(fz, level: float, t0: float, t1: float, grid_s: float) -> float:
    """First time in [t0, t1] where the continuous ``fz`` rises through ``level``."""
    tau = np.arange(t0, t1 + grid_s, grid_s)
    above = np.flatnonzero(fz(tau) >= level)
    if len(above) == 0 or above[0] == 0:
        return float(tau[0] if len(above) else t1)
    k = above[0]
    return float(
        optimize.brentq(
            lambda x: float(fz(np.array([x]))[0]) - level, tau[k - 1], tau[k], xtol=1e-12
        )
    )


def stance_events(fz, contact_time_s: float, threshold_N: float = CONTACT_THRESHOLD_N):
    """(contact, toe-off) in stance time: where the continuous Fz crosses the threshold."""
    tau = np.linspace(0, contact_time_s, 4001)
    above = np.flatnonzero(fz(tau) >= threshold_N)
    first, last = above[0], above[-1]

    def minus(x: float) -> float:
        return float(fz(np.array([x]))[0]) - threshold_N

    contact = optimize.brentq(minus, tau[first - 1], tau[first], xtol=1e-12)
    toe_off = optimize.brentq(minus, tau[last], tau[min(last + 1, len(tau) - 1)], xtol=1e-12)
    return float(contact), float(toe_off)
