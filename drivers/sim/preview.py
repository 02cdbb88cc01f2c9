"""A preview anyone can look at: both camera views at contact, midstance and toe-off with the true
markers, the force components with the true events, and the ground truth as JSON.

matplotlib (Agg backend) is imported inside the functions: it is slow to import and only the
preview needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from analysis.provenance import software_version
from drivers.sim.lab import SimulatedLab
from drivers.sim.plates import volts_to_lab
from drivers.sim.truth import StanceTruth

SAGITTAL_CHAIN = ("hip", "knee", "ankle")
POSTERIOR_CHAINS = (("L_thigh", "L_knee", "L_ankle"), ("R_thigh", "R_knee", "R_ankle"))
EVENT_STYLE = {
    "contact": ("tab:green", "--"),
    "midstance (M3, peak vertical force)": ("tab:purple", ":"),
    "toe-off": ("tab:red", "--"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def showcase_stance(lab: SimulatedLab) -> StanceTruth:
    """A stance near the middle of the trial: of the right foot (the side the sagittal camera
    sees) unless the runner's left knee or pelvis is the notable one."""
    stances = lab.truth.stances
    if not stances:
        raise ValueError("no complete stance in the session")
    fppa, drop = lab.runner.fppa_deg, lab.runner.pelvic_drop_deg
    side = "L" if fppa[0] > fppa[1] + 3 or drop[0] > drop[1] + 3 else "R"
    middle = lab.duration_s / 2
    mine = [s for s in stances if s.side == side] or stances
    return min(mine, key=lambda s: abs(s.contact_s - middle))


def nearest_frame(lab: SimulatedLab, camera: str, t: float) -> int:
    first = float(lab.frame_time(camera, 0))
    period = float(lab.frame_time(camera, 1)) - first
    return int(np.clip(round((t - first) / period), 0, lab.n_frames(camera) - 1))


def contact_sheet(lab: SimulatedLab, stance: StanceTruth, path: Path) -> None:
    """Both views (rows) at contact, M1 midstance and toe-off (columns), true markers drawn."""
    plt = _pyplot()
    instants = (
        ("contact", stance.contact_s),
        ("midstance (M1, peak knee flexion)", stance.midstance_knee_flexion_s),
        ("toe-off", stance.toe_off_s),
    )
    cameras = ("sagittal", "posterior")
    width, height = lab.cameras["sagittal"].size
    panel_h = 5 * height / width
    fig, axes = plt.subplots(
        len(cameras), len(instants), figsize=(15, len(cameras) * (panel_h + 0.6) + 0.5), dpi=110
    )
    for row, camera in enumerate(cameras):
        for col, (label, t) in enumerate(instants):
            ax = axes[row, col]
            k = nearest_frame(lab, camera, t)
            truth = lab.frame_truth(camera, k)
            ax.imshow(lab.frame(camera, k), cmap="gray", vmin=0, vmax=255)
            where = dict(zip(truth.names, truth.pixels, strict=True))
            chains = (SAGITTAL_CHAIN,) if camera == "sagittal" else POSTERIOR_CHAINS
            for chain in chains:
                xy = np.array([where[n] for n in chain])
                ax.plot(xy[:, 0], xy[:, 1], "-", color="tab:orange", lw=1.6)
            if camera == "posterior":
                xy = np.array([where["L_psis"], where["R_psis"]])
                ax.plot(xy[:, 0], xy[:, 1], "-", color="tab:cyan", lw=1.6)
            ax.scatter(
                truth.pixels[:, 0],
                truth.pixels[:, 1],
                s=60,
                facecolors="none",
                edgecolors=np.where(truth.visible, "tab:green", "tab:red"),
                linewidths=1.2,
            )
            ax.set_title(
                f"{camera} · {label}\nframe {k}, t = {truth.session_time_s:.4f} s", fontsize=9
            )
            ax.set_axis_off()
    side = {"L": "left", "R": "right"}[stance.side]
    contact_cm = stance.hip_ankle_contact_m * 100
    midstance_cm = stance.hip_ankle_midstance_m * 100
    fig.suptitle(
        f"Simulated lab — {side} stance {stance.index}: hip–ankle {contact_cm:.1f} cm at contact, "
        f"{midstance_cm:.1f} cm at midstance; FPPA {stance.fppa_midstance_deg:.1f}°, "
        f"pelvic drop {stance.pelvic_drop_deg:.1f}° (circles: true markers, lines: hip–knee–ankle)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def force_plot(lab: SimulatedLab, stance: StanceTruth, path: Path, window_s: float = 2.0) -> None:
    """Fz, Fx, Fy (lab frame, from the raw volts through each plate's calibration) around the
    showcase stance, with the true contact, midstance and toe-off of every stance marked."""
    plt = _pyplot()
    rate = lab.setup.daq_rate_hz
    t0 = max(0.0, stance.contact_s - window_s / 2)
    t1 = min(lab.duration_s, t0 + window_s)
    start, count = int(t0 * rate), int((t1 - t0) * rate)
    volts = lab.analog(start, count)
    t = (start + np.arange(count)) / rate
    bw = lab.truth.body_weight_N
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), dpi=110, sharex=True)
    components = (("Fz", 2, "vertical"), ("Fx", 0, "anterior–posterior"), ("Fy", 1, "mediolateral"))
    for plate in lab.plate_configs():
        columns = [lab.channel_names.index(c) for c in plate["channels"]]
        wrench = volts_to_lab(volts[:, columns], plate)
        for ax, (name, i, meaning) in zip(axes, components, strict=True):
            ax.plot(t, wrench[:, i] / bw, lw=0.9, label=f"plate '{plate['name']}'")
            ax.set_ylabel(f"{name} ({meaning}), BW")
    shown = [s for s in lab.truth.stances if s.toe_off_s > t0 and s.contact_s < t1]
    for s in shown:
        events = (s.contact_s, s.midstance_peak_vgrf_s, s.toe_off_s)
        for (label, (color, style)), when in zip(EVENT_STYLE.items(), events, strict=True):
            for ax in axes:
                ax.axvline(when, color=color, ls=style, lw=0.9, label=label)
        axes[0].text(
            (s.contact_s + s.toe_off_s) / 2, 0.05, s.side, ha="center", fontsize=9, color="0.3"
        )
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys(), fontsize=8, loc="upper right", ncol=2)
    for ax in axes:
        ax.axhline(0, color="0.6", lw=0.6)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("session time (s)")
    axes[0].set_title(
        f"Ground reaction force on the runner (lab frame), from the raw plate volts; "
        f"true events marked. VALR of stance {stance.index}: "
        f"{stance.valr_N_s / bw:.0f} BW/s ({stance.loading_rate_reference})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def truth_document(lab: SimulatedLab, preset_name: str) -> dict[str, Any]:
    """Everything about the session: parameters, setup, plates, cameras and every stance."""
    stances = lab.truth.stances
    summary = {}
    for side in ("L", "R"):
        mine = [s for s in stances if s.side == side]
        if not mine:
            continue
        summary[side] = {
            field: {
                "mean": float(np.mean([getattr(s, field) for s in mine])),
                "sd": float(np.std([getattr(s, field) for s in mine], ddof=1))
                if len(mine) > 1
                else None,
                "n": len(mine),
            }
            for field in (
                "valr_N_s",
                "vilr_N_s",
                "peak_vertical_N",
                "hip_ankle_contact_m",
                "hip_ankle_midstance_m",
                "fppa_midstance_deg",
                "pelvic_drop_deg",
            )
        }
    return {
        "software_version": software_version(),
        "preset": preset_name,
        **lab.to_dict(),
        "truth": lab.truth.to_dict(),
        "summary_by_side": summary,
    }


def write_preview(lab: SimulatedLab, out_dir: Path, preset_name: str) -> dict[str, Path]:
    """Write contact_sheet.png, forces.png and truth.json into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stance = showcase_stance(lab)
    paths = {
        "contact_sheet": out_dir / "contact_sheet.png",
        "forces": out_dir / "forces.png",
        "truth": out_dir / "truth.json",
    }
    contact_sheet(lab, stance, paths["contact_sheet"])
    force_plot(lab, stance, paths["forces"])
    document = truth_document(lab, preset_name)
    paths["truth"].write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    return paths
