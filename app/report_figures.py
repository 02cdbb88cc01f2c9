"""The pictures of the reports, drawn with matplotlib's object API (no pyplot state, Agg only).

Each function fills a given figure, so the PDF writer and the tests render the same drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.compare import METRIC_BY_FIELD, is_excluded
from app.report_data import MidstanceFrame, SessionReportData, display_value

A4 = (8.27, 11.69)
SIDE_COLOURS = {"L": "#1f77b4", "R": "#d62728"}
WHEN_STYLES = {"before": {"color": "#7f7f7f", "ls": "--"}, "after": {"color": "#2ca02c", "ls": "-"}}
HEADLINE = (
    "hip_ankle_midstance_m",
    "hip_ankle_contact_m",
    "fppa_midstance_deg",
    "pelvic_drop_deg",
    "valr_BW_s",
)
CURVE_PANELS = ((2, "Vertical GRF"), (0, "Anterior–posterior GRF (+ propulsive)"))


def new_page(title: str) -> Figure:
    fig = Figure(figsize=A4)
    fig.suptitle(title, fontsize=14, fontweight="bold", x=0.06, ha="left", y=0.975)
    return fig


def text_block(
    fig: Figure,
    top: float,
    lines: Sequence[str],
    *,
    size: float = 9,
    colour: str = "black",
    step: float = 0.0165,
    weight: str = "normal",
) -> float:
    """Lines of text from ``top`` (figure fraction) down; returns where the next block starts."""
    y = top
    for line in lines:
        fig.text(0.06, y, line, fontsize=size, color=colour, va="top", fontweight=weight, wrap=True)
        y -= step * (1 + line.count("\n"))
    return y - step * 0.5


def table(
    fig: Figure,
    rect: Sequence[float],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    size: float = 7.5,
    widths: Sequence[float] | None = None,
    colours: Sequence[str] | None = None,
) -> None:
    ax = fig.add_axes(rect)
    ax.axis("off")
    if not rows:
        ax.text(0, 1, "(no data)", va="top", fontsize=size)
        return
    t = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=list(header),
        loc="upper center",
        cellLoc="left",
        colLoc="left",
        colWidths=widths,
    )
    t.auto_set_font_size(False)
    t.set_fontsize(size)
    t.scale(1, 1.25)
    for (r, _c), cell in t.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if r == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_text_props(fontweight="bold")
        elif colours and colours[r - 1]:
            cell.set_text_props(color=colours[r - 1])


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def digits_for(unit: str) -> int:
    """Decimals that show a between-step difference in this unit."""
    return 2 if unit == "BW" else 1


def mean_sd_text(mean: float | None, sd: float | None, n: int, digits: int = 1) -> str:
    if mean is None:
        return "—"
    return f"{fmt(mean, digits)} ± {fmt(sd, digits)} ({n})"


# -- stance curves ----------------------------------------------------------------------------


def draw_curves(fig: Figure, sessions: Sequence[tuple[str, SessionReportData]]) -> None:
    """Mean ± SD vertical and AP GRF over stance, one panel per component and side."""
    axes = fig.subplots(
        2, 2, sharex=True, gridspec_kw={"top": 0.9, "bottom": 0.45, "hspace": 0.25, "wspace": 0.3}
    )
    unit = next((d.curves.unit for _, d in sessions if d.curves is not None), "")
    for row, (component, name) in enumerate(CURVE_PANELS):
        for col, side in enumerate(("L", "R")):
            ax: Axes = axes[row, col]
            if not unit:
                ax.text(0.5, 0.5, "no force data", ha="center", transform=ax.transAxes)
            for when, data in sessions:
                if data.curves is None:
                    continue
                mean, sd, n = data.curves.mean_sd(side)
                if n == 0:
                    continue
                style = WHEN_STYLES.get(when, {"color": SIDE_COLOURS[side], "ls": "-"})
                x = data.curves.percent
                label = f"{when} ({data.date}, n={n})" if when else f"n={n}"
                ax.plot(x, mean[:, component], label=label, lw=1.5, **style)
                ax.fill_between(
                    x,
                    mean[:, component] - sd[:, component],
                    mean[:, component] + sd[:, component],
                    color=style["color"],
                    alpha=0.18,
                    lw=0,
                )
            ax.set_title(f"{name} — {'left' if side == 'L' else 'right'}", fontsize=9)
            ax.axhline(0, color="black", lw=0.5)
            ax.set_ylabel(f"force ({unit})", fontsize=8)
            ax.tick_params(labelsize=7)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="best")
            if row == 1:
                ax.set_xlabel("% of stance (contact → toe-off)", fontsize=8)
    text_block(
        fig,
        0.41,
        [
            "Each stance is resampled to 0–100 % of its own contact time (contact and toe-off "
            "at the 20 N crossings),",
            "then averaged per side; the band is ± 1 SD between steps. Forces are the ground "
            "reaction on the runner,",
            "divided by body weight. Excluded and flagged steps are left out.",
        ],
        size=8,
    )


# -- distributions ----------------------------------------------------------------------------


def draw_distributions(
    fig: Figure,
    sessions: Sequence[tuple[str, SessionReportData]],
    metrics: Sequence[str] = HEADLINE,
) -> None:
    """Every step's value of each headline metric, per side (and session)."""
    axes = fig.subplots(len(metrics), 1, gridspec_kw={"top": 0.92, "bottom": 0.06, "hspace": 0.6})
    rng = np.random.default_rng(0)  # horizontal jitter only
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=False):
        spec = METRIC_BY_FIELD[metric]
        positions, labels = [], []
        pos = 0
        for side in ("L", "R"):
            for when, data in sessions:
                values = [
                    v
                    for s in data.stances
                    if s.get("side") == side
                    and not is_excluded(s)
                    and (v := display_value(s, metric)) is not None
                ]
                colour = WHEN_STYLES.get(when, {"color": SIDE_COLOURS[side]})["color"]
                if values:
                    ax.boxplot(
                        [values],
                        positions=[pos],
                        widths=0.5,
                        showfliers=False,
                        medianprops={"color": colour},
                    )
                    ax.scatter(
                        pos + rng.uniform(-0.15, 0.15, len(values)),
                        values,
                        s=8,
                        color=colour,
                        alpha=0.7,
                        zorder=3,
                    )
                positions.append(pos)
                count = f"n={len(values)}" if values else "not measured"
                labels.append(f"{side} {when}".strip() + f"\n({count})")
                pos += 1
            pos += 0.5
        ax.set_xticks(positions, labels, fontsize=7)
        ax.set_title(f"{spec.label} ({spec.unit})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", lw=0.3)
        if spec.sdd:
            ax.text(
                1.0,
                1.02,
                f"SDD {spec.sdd:g} {spec.unit}",
                transform=ax.transAxes,
                ha="right",
                fontsize=7,
                color="#555555",
            )


# -- midstance frames -------------------------------------------------------------------------


def draw_midstance_frame(ax: Axes, frame: MidstanceFrame, caption: str = "") -> None:
    """The image with the leg lines, the hip–ankle bracket (sagittal) or the FPPA (posterior)."""
    ax.imshow(frame.image, cmap="gray", vmin=0, vmax=255)
    ax.set_axis_off()
    m = frame.markers
    st = frame.stance
    if frame.view == "sagittal" and all(k in m for k in ("hip", "knee", "ankle")):
        (hx, hy), (kx, ky), (ax_, ay) = m["hip"], m["knee"], m["ankle"]
        ax.plot([hx, kx, ax_], [hy, ky, ay], "-o", color="#00e5ff", lw=1.2, ms=3)
        y = max(hy, ay) + 0.06 * frame.image.shape[0]
        ax.plot([hx, hx], [hy, y], ":", color="yellow", lw=0.8)
        ax.plot([ax_, ax_], [ay, y], ":", color="yellow", lw=0.8)
        ax.annotate(
            "",
            xy=(ax_, y),
            xytext=(hx, y),
            arrowprops={"arrowstyle": "<->", "color": "yellow", "lw": 1.2},
        )
        d = display_value(st, "hip_ankle_midstance_m")
        ax.text(
            (hx + ax_) / 2,
            y + 4,
            f"d = {fmt(d)} cm",
            color="yellow",
            ha="center",
            va="top",
            fontsize=8,
            fontweight="bold",
        )
    elif frame.view == "posterior":
        side = st.get("side", "R")
        names = (f"{side}_thigh", f"{side}_knee", f"{side}_ankle")
        if all(n in m for n in names):
            xs, ys = zip(*(m[n] for n in names), strict=True)
            ax.plot(xs, ys, "-o", color="#00e5ff", lw=1.2, ms=3)
            ax.plot([xs[0], xs[2]], [ys[0], ys[2]], ":", color="yellow", lw=0.8)
            ax.text(
                xs[1] + 6,
                ys[1],
                f"FPPA {fmt(display_value(st, 'fppa_midstance_deg'))}°",
                color="yellow",
                fontsize=8,
                fontweight="bold",
                va="center",
            )
        if "L_psis" in m and "R_psis" in m:
            (lx, ly), (rx, ry) = m["L_psis"], m["R_psis"]
            ax.plot([lx, rx], [ly, ry], "-", color="orange", lw=1.2)
            ax.text(
                (lx + rx) / 2,
                min(ly, ry) - 6,
                f"pelvic drop {fmt(display_value(st, 'pelvic_drop_deg'))}°",
                color="orange",
                ha="center",
                fontsize=7,
            )
    if m:  # zoom onto the runner: the markers' box with a margin of half its height
        xy = np.array(list(m.values()))
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        pad = 0.5 * max(y1 - y0, 1.0)
        h, w = frame.image.shape[:2]
        ax.set_xlim(max(0, x0 - pad), min(w, x1 + pad))
        ax.set_ylim(min(h, y1 + pad), max(0, y0 - pad))
    side_word = {"L": "left", "R": "right"}.get(st.get("side"), "?")
    title = f"{caption}{frame.view}, {side_word} stance #{st.get('index')} at {frame.time_s:.2f} s"
    ax.set_title(title, fontsize=8)


def draw_frames(fig: Figure, columns: Sequence[tuple[str, SessionReportData]]) -> None:
    """One row per (camera, side) pick, one column per session."""
    keys: list[tuple[str, str]] = []
    for _, data in columns:
        for f in data.frames:
            key = (f.camera, f.stance.get("side", ""))
            if key not in keys:
                keys.append(key)
    if not keys:
        text_block(fig, 0.9, ["No video frames with markers were recorded in these sessions."])
        return
    axes = fig.subplots(
        len(keys),
        len(columns),
        squeeze=False,
        gridspec_kw={"top": 0.9, "bottom": 0.12, "hspace": 0.25},
    )
    for r, key in enumerate(keys):
        for c, (when, data) in enumerate(columns):
            ax = axes[r, c]
            frame = next(
                (f for f in data.frames if (f.camera, f.stance.get("side", "")) == key), None
            )
            if frame is None:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no frame", ha="center", transform=ax.transAxes)
                continue
            draw_midstance_frame(ax, frame, f"{when} {data.date}: " if when else "")
    text_block(
        fig,
        0.1,
        [
            "The representative step is the one whose value is closest to the median of its side "
            "(sagittal: hip–ankle",
            "distance at midstance; posterior: FPPA). Midstance is the instant stated under "
            "Definitions.",
        ],
        size=8,
    )


def flag_counts(stances: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in stances:
        for f in s.get("flags") or ():
            counts[f] = counts.get(f, 0) + 1
    return dict(sorted(counts.items()))
