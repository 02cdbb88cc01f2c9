"""PDF reports a clinician can hand to the runner, and the same numbers as JSON.

``session_report`` describes one session; ``comparison_report`` puts two sessions of one runner
side by side. Both are written with matplotlib's PdfPages on the Agg canvas (no display needed)
and carry the subject, dates, protocol, devices and their calibration status, the tables, the
pictures, the definitions used with their references, and what "within measurement error"
means. The JSON documents hold exactly the numbers printed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages

from analysis.compare import (
    EXCEEDS_SDD,
    METRICS,
    SIDES,
    WITHIN_ERROR,
    WITHIN_ERROR_MEANING,
    Comparison,
    compare_sessions,
    side_values,
)
from analysis.errors import InputError
from analysis.provenance import software_version
from analysis.statistics import BootstrapSettings, mean_interval
from app import report_figures as figs
from app.report_data import SessionReportData, load_session

SESSION_SECTIONS = (
    "Session report",
    "Stance curves",
    "Step-by-step distributions",
    "Midstance frames",
    "Definitions and references",
)
COMPARISON_SECTIONS = (
    "Before/after comparison",
    "Results per side",
    "Stance curves before and after",
    "Step-by-step distributions before and after",
    "Midstance frames before and after",
    "Left/right symmetry",
    "Definitions and references",
)
REFERENCES = (
    "Hip over ankle: d = x_ankle − x_hip along the running direction (positive: ankle ahead of "
    "the hip); greater trochanter and lateral malleolus markers. At contact: Wille et al. 2014 "
    "JOSPT 44:825; Lieberman et al. 2015 J Exp Biol 218:3406. No normative values exist; use it "
    "to follow the same runner (Souza 2016 PM&R Clin N Am 27:217).",
    "Knee valgus (FPPA): angle between thigh (mid-thigh → knee) and shank (knee → ankle) in the "
    "posterior view, positive = knee medial of the hip–ankle line, either leg (Willson & Davis "
    "2008 JOSPT 38:606; Dingenen et al. 2018). Between-session SEM ≈ 3°, SDD ≈ 8° (Munro, "
    "Herrington & Carolan 2012 J Sport Rehabil 21:7); 2D FPPA agrees only moderately with 3D "
    "knee abduction (Straub & Powers 2022).",
    "Contralateral pelvic drop: angle of the line between the PSIS markers to the horizontal at "
    "midstance of the stance leg, positive = the opposite side drops; SDD ≈ 2.8° (Dingenen 2018).",
    "Vertical loading rate: VALR = (F(t80) − F(t20)) / (t80 − t20) between 20 % and 80 % of the "
    "impact peak; VILR = the steepest sample-to-sample slope in that window (Milner 2006 MSSE "
    "38:323; Davis, Bowser & Mullineaux 2016 BJSM 50:887). Without an impact peak the force at "
    "13 % of stance is the reference and the step is flagged (Blackmore, Willy & Creaby 2016 "
    "J Biomech 49:479). VALR > 66 BW/s was associated with injury in one prospective study of "
    "female runners (Davis 2016); others found loading rate not predictive and peak braking "
    "force predictive (Napier 2018): research references, not diagnoses.",
    "Gait events: stance on above the on-threshold and off below the off-threshold of vertical "
    "force (hysteresis), contact and toe-off at the interpolated off-threshold crossings "
    "(Tirosh & Sparrow 2003 J Appl Biomech).",
    "Midstance (no single standard in running): M1 peak knee flexion (video; used for FPPA and "
    "pelvic drop), M2 lowest pelvis, M3 peak vertical force (force outputs), M4 braking-to-"
    "propulsion transition, M5 half of stance. Never 'hip over ankle', which would make the "
    "hip–ankle distance zero by construction.",
)


def _settings_lines(settings: dict[str, Any]) -> list[str]:
    force = settings.get("force") or {}
    vision = (settings.get("vision") or {}).get("metrics") or {}
    lines = []
    if force:
        lines.append(
            f"Force: stance on {force.get('threshold_on_N')} N / off "
            f"{force.get('threshold_off_N')} N, detection filter {force.get('cutoff_hz')} Hz, "
            f"metrics filter {force.get('metrics_cutoff_hz')} Hz, force midstance "
            f"{force.get('midstance')}, loading rate {force.get('loading_rate_method')}."
        )
    if vision:
        lines.append(
            f"Video: midstance {vision.get('midstance')} (M1 = knee_flexion), minimum marker "
            f"quality {vision.get('min_marker_quality')}."
        )
    return lines


def _definitions_page(pdf: PdfPages, settings_by_label: Sequence[tuple[str, dict]]) -> None:
    fig = figs.new_page("Definitions and references")
    y = figs.text_block(fig, 0.94, ["Settings that produced these numbers"], size=10, weight="bold")
    for label, settings in settings_by_label:
        y = figs.text_block(
            fig, y, [f"{label}:", *_wrap(" ".join(_settings_lines(settings)))], size=8
        )
    y = figs.text_block(fig, y, ["Definitions"], size=10, weight="bold")
    for ref in REFERENCES:
        y = figs.text_block(fig, y, _wrap("• " + ref), size=8)
    y = figs.text_block(fig, y, ["What “within measurement error” means"], size=10, weight="bold")
    y = figs.text_block(fig, y, _wrap(WITHIN_ERROR_MEANING), size=8)
    figs.text_block(
        fig, max(y, 0.05), [f"Midstance {software_version()}"], size=7, colour="#777777"
    )
    pdf.savefig(fig)


def _wrap(text: str, width: int = 118) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _header_lines(data: SessionReportData) -> list[str]:
    s = data.subject
    mass = s.get("body_mass_kg")
    speed = f"{data.speed_m_s:.2f} m/s" if data.speed_m_s is not None else "not recorded"
    leg = s.get("leg_length_m")
    leg_cm = 100 * leg if _num(leg) else None
    return [
        f"Runner: {data.subject_id}   body mass: {figs.fmt(mass, 1)} kg   leg length: "
        f"{figs.fmt(leg_cm, 0)} cm   "
        f"pain side: {s.get('pain_side') or '—'}",
        f"Date: {data.date} (recorded {data.created_utc})   protocol: {data.protocol or '—'}   "
        f"treadmill: {speed}",
        f"Operator: {data.operator or '—'}   shoes: {data.shoes or '—'}   file: {data.path.name}",
        f"Analysis: {data.revision} ({data.revision_note or 'no note'}), "
        f"{len(data.revision_history)} revision(s) in the file",
        *(
            _wrap(f"Recording {data.recording_state}: {data.recording_note}")
            if data.recording_note or data.recording_state != "complete"
            else []
        ),
    ]


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# -- one session ------------------------------------------------------------------------------


def session_summary(data: SessionReportData, bootstrap: BootstrapSettings | None = None):
    """Per side and metric: n, mean, SD and the stride-bootstrap 95 % interval of the mean."""
    bootstrap = bootstrap or BootstrapSettings()
    out = []
    for metric in METRICS:
        for side in SIDES:
            values = side_values(data.stances, metric, side)
            if not values:
                continue
            ci = mean_interval(values, bootstrap)
            out.append(
                {
                    "metric": metric.field,
                    "label": metric.label,
                    "unit": metric.unit,
                    "side": side,
                    **ci.to_dict(),
                }
            )
    return out


def session_document(data: SessionReportData) -> dict[str, Any]:
    """The numbers of the session report as one JSON-ready document."""
    bootstrap = BootstrapSettings()
    return {
        "kind": "midstance-session-report",
        "software_version": software_version(),
        "session": data.meta(),
        "settings": data.settings,
        "statistics": bootstrap.to_dict(),
        "summary": session_summary(data, bootstrap),
        "n_stances": len(data.stances),
        "flags": figs.flag_counts(data.stances),
        "stance_curves": data.curves.to_dict() if data.curves is not None else None,
    }


def write_session_pdf(data: SessionReportData, out: str | Path) -> list[str]:
    """Write the session report; return the section titles, one page each."""
    out = Path(out)
    summary = session_summary(data)
    with PdfPages(
        out,
        metadata={
            "Title": f"Midstance session report {data.subject_id}",
            "Creator": f"Midstance {software_version()}",
        },
    ) as pdf:
        fig = figs.new_page(SESSION_SECTIONS[0])
        y = figs.text_block(fig, 0.94, _header_lines(data), size=9)
        y = figs.text_block(fig, y, ["Devices and calibration"], size=10, weight="bold")
        y = figs.text_block(fig, y, data.devices, size=8)
        by_key = {(r["metric"], r["side"]): r for r in summary}
        rows = []
        for metric in METRICS:
            left, right = by_key.get((metric.field, "L")), by_key.get((metric.field, "R"))
            if left is None and right is None:
                continue
            cells = [f"{metric.label} ({metric.unit})"]
            k = figs.digits_for(metric.unit)
            for r in (left, right):
                cells.append(
                    "—"
                    if r is None
                    else f"{figs.mean_sd_text(r['mean'], r['sd'], r['n'], k)}  "
                    f"[{figs.fmt(r['low'], k)}, {figs.fmt(r['high'], k)}]"
                )
            rows.append(cells)
        y = figs.text_block(
            fig,
            y,
            ["Per side: mean ± SD (n steps) [95 % interval of the mean]"],
            size=10,
            weight="bold",
        )
        height = 0.022 * (len(rows) + 1)
        figs.table(
            fig,
            [0.06, y - height, 0.88, height],
            ["metric", "left", "right"],
            rows,
            widths=[0.4, 0.3, 0.3],
        )
        y -= height + 0.02
        flags = figs.flag_counts(data.stances)
        figs.text_block(
            fig,
            y,
            [
                f"{len(data.stances)} steps analysed. Flags: "
                + (", ".join(f"{k} ×{v}" for k, v in flags.items()) or "none"),
                *_wrap("Intervals: " + BootstrapSettings().to_dict()["description"] + "."),
            ],
            size=8,
        )
        pdf.savefig(fig)

        fig = figs.new_page(SESSION_SECTIONS[1])
        figs.draw_curves(fig, [("", data)])
        pdf.savefig(fig)
        fig = figs.new_page(SESSION_SECTIONS[2])
        figs.draw_distributions(fig, [("", data)])
        pdf.savefig(fig)
        fig = figs.new_page(SESSION_SECTIONS[3])
        figs.draw_frames(fig, [("", data)])
        pdf.savefig(fig)
        _definitions_page(pdf, [(f"{data.date} ({data.revision})", data.settings)])
    return list(SESSION_SECTIONS)


def session_report(path: str | Path, out: str | Path | None = None, *, revision: str | None = None):
    """Load ``path`` and write its PDF (when ``out`` is given); return the JSON document."""
    data = load_session(path, revision, with_frames=out is not None)
    if out is not None:
        write_session_pdf(data, out)
    return session_document(data)


# -- two sessions -----------------------------------------------------------------------------


def comparison_document(
    comparison: Comparison, before: SessionReportData, after: SessionReportData
) -> dict[str, Any]:
    doc = comparison.to_dict()
    doc["kind"] = "midstance-comparison"
    doc["software_version"] = software_version()
    doc["before"].update(before.meta())
    doc["after"].update(after.meta())
    return doc


SHORT_VERDICTS = {
    WITHIN_ERROR: "within measurement error",
    EXCEEDS_SDD: "exceeds the SDD",
}


def short_verdict(verdict: str) -> str:
    if verdict in SHORT_VERDICTS:
        return SHORT_VERDICTS[verdict]
    if verdict.startswith("changed"):
        return "changed (no SDD known)"
    if verdict.startswith("no clear change"):
        return "no clear change"
    return verdict


def _verdict_colour(verdict: str) -> str:
    if verdict == WITHIN_ERROR:
        return "#555555"
    if verdict == EXCEEDS_SDD:
        return "#c00000"
    if verdict.startswith("changed"):
        return "#b35900"
    return "black"


def write_comparison_pdf(
    comparison: Comparison, before: SessionReportData, after: SessionReportData, out: str | Path
) -> list[str]:
    """Write the before/after report; return the section titles, one page each."""
    return write_comparisons_pdf([(comparison, before, after)], out)


def write_comparisons_pdf(
    items: Sequence[tuple[Comparison, SessionReportData, SessionReportData]], out: str | Path
) -> list[str]:
    """One PDF with the pages of every comparison (a baseline against each follow-up)."""
    first = items[0][1]
    with PdfPages(
        Path(out),
        metadata={
            "Title": f"Midstance comparison {first.subject_id}",
            "Creator": f"Midstance {software_version()}",
        },
    ) as pdf:
        for comparison, before, after in items:
            _comparison_pages(pdf, comparison, before, after)
    return list(COMPARISON_SECTIONS) * len(items)


def _comparison_pages(
    pdf: PdfPages, comparison: Comparison, before: SessionReportData, after: SessionReportData
) -> None:
    fig = figs.new_page(COMPARISON_SECTIONS[0])
    y = figs.text_block(fig, 0.94, ["Before"], size=10, weight="bold")
    y = figs.text_block(fig, y, _header_lines(before) + before.devices, size=8)
    y = figs.text_block(fig, y, ["After"], size=10, weight="bold")
    y = figs.text_block(fig, y, _header_lines(after) + after.devices, size=8)
    y = figs.text_block(fig, y, ["Like with like?"], size=10, weight="bold")
    if comparison.mismatches:
        lines = [
            "WARNING — COMPARED DESPITE THESE DIFFERENCES (numbers may not be comparable):"
        ] + [f"  {m.what}: {m.detail}" for m in comparison.mismatches]
        y = figs.text_block(fig, y, lines, size=9, colour="#c00000", weight="bold")
    else:
        y = figs.text_block(
            fig,
            y,
            ["Same runner, analysis settings, treadmill speed and camera set-up in both sessions."],
            size=8,
        )
    y = figs.text_block(fig, y, ["How the intervals were computed"], size=10, weight="bold")
    stat = comparison.bootstrap
    y = figs.text_block(
        fig,
        y,
        _wrap(
            f"Steps within a session are not independent (stride-to-stride correlation, "
            "fatigue drift), so the 95 % intervals come from a "
            f"{stat.to_dict()['description']}, {stat.n_resamples} resamples, each session "
            "resampled on its own; the block length (strides) is printed in the JSON. "
            "Excluded steps: " + ", ".join(f"{k} {v}" for k, v in comparison.excluded.items()) + "."
        ),
        size=8,
    )
    figs.text_block(fig, y, _wrap(WITHIN_ERROR_MEANING), size=8)
    pdf.savefig(fig)

    fig = figs.new_page(COMPARISON_SECTIONS[1])
    rows, colours = [], []
    for r in comparison.rows:
        d, k = r.difference, figs.digits_for(r.metric.unit)
        rows.append(
            [
                r.metric.label,
                r.side,
                figs.mean_sd_text(r.before.mean, r.before.sd, r.before.n, k),
                figs.mean_sd_text(r.after.mean, r.after.sd, r.after.n, k),
                f"{figs.fmt(d.difference, k)} [{figs.fmt(d.low, k)}, {figs.fmt(d.high, k)}]",
                f"{r.metric.sdd:g}" if r.metric.sdd else "—",
                r.metric.unit,
                short_verdict(r.verdict),
            ]
        )
        colours.append(_verdict_colour(r.verdict))
    figs.table(
        fig,
        [0.02, 0.3, 0.96, 0.62],
        [
            "metric",
            "side",
            "before ± SD (n)",
            "after ± SD (n)",
            "change [95 % CI]",
            "SDD",
            "unit",
            "verdict",
        ],
        rows,
        size=6.5,
        widths=[0.27, 0.035, 0.13, 0.13, 0.15, 0.04, 0.045, 0.20],
        colours=colours,
    )
    figs.text_block(
        fig,
        0.27,
        _wrap(
            "SDD: smallest detectable difference (see Definitions). A change smaller than the "
            "SDD is within measurement error even when its interval excludes zero. Metrics "
            "without a published SDD are judged only against the step-to-step scatter of these "
            "two sessions ('changed': the 95 % interval of the change excludes zero), which "
            "does not include the error of re-placing markers and cameras "
            "on another day: read such changes with that in mind."
        ),
        size=8,
    )
    pdf.savefig(fig)

    pairs = [("before", before), ("after", after)]
    fig = figs.new_page(COMPARISON_SECTIONS[2])
    figs.draw_curves(fig, pairs)
    pdf.savefig(fig)
    fig = figs.new_page(COMPARISON_SECTIONS[3])
    figs.draw_distributions(fig, pairs)
    pdf.savefig(fig)
    fig = figs.new_page(COMPARISON_SECTIONS[4])
    figs.draw_frames(fig, pairs)
    pdf.savefig(fig)

    fig = figs.new_page(COMPARISON_SECTIONS[5])
    rows = [
        [
            s["label"],
            s["unit"],
            f"{figs.fmt(s['before_left'])} / {figs.fmt(s['before_right'])}",
            figs.fmt(s["before_left_minus_right"]),
            f"{figs.fmt(s['after_left'])} / {figs.fmt(s['after_right'])}",
            figs.fmt(s["after_left_minus_right"]),
        ]
        for s in comparison.symmetry
    ]
    figs.table(
        fig,
        [0.04, 0.45, 0.92, 0.47],
        ["metric", "unit", "before L / R", "before L − R", "after L / R", "after L − R"],
        rows,
        size=7,
        widths=[0.3, 0.08, 0.18, 0.12, 0.18, 0.12],
    )
    figs.text_block(
        fig,
        0.42,
        _wrap(
            "Left minus right of the side means. The sagittal camera sees one leg only, so "
            "hip–ankle distances exist for that side only."
        ),
        size=8,
    )
    pdf.savefig(fig)
    _definitions_page(
        pdf,
        [
            (f"before {before.date} ({before.revision})", before.settings),
            (f"after {after.date} ({after.revision})", after.settings),
        ],
    )


def comparison_report(
    before_path: str | Path,
    after_path: str | Path,
    out: str | Path | None = None,
    *,
    force: bool = False,
    bootstrap: BootstrapSettings | None = None,
) -> dict[str, Any]:
    """Compare two session files; write the PDF when ``out`` is given; return the JSON
    document. Refuses incomparable sessions unless ``force``."""
    before = load_session(before_path, with_frames=out is not None)
    after = load_session(after_path, with_frames=out is not None)
    comparison = compare_sessions(
        before.records(f"before {before.date}"),
        after.records(f"after {after.date}"),
        bootstrap=bootstrap,
        force=force,
    )
    if out is not None:
        write_comparison_pdf(comparison, before, after, out)
    return comparison_document(comparison, before, after)


def comparison_series(
    paths: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    force: bool = False,
    bootstrap: BootstrapSettings | None = None,
) -> dict[str, Any]:
    """The first session (baseline) against each later one; one PDF with every comparison.
    Refuses if any pair is incomparable, unless ``force``."""
    if len(paths) < 2:
        raise InputError("a comparison needs at least two sessions", subject="compare")
    frames = out is not None
    baseline = load_session(paths[0], with_frames=frames)
    items = []
    for path in paths[1:]:
        later = load_session(path, with_frames=frames)
        comparison = compare_sessions(
            baseline.records(f"baseline {baseline.date}"),
            later.records(f"follow-up {later.date} ({Path(path).name})"),
            bootstrap=bootstrap,
            force=force,
        )
        items.append((comparison, baseline, later))
    if out is not None:
        write_comparisons_pdf(items, out)
    return {
        "kind": "midstance-comparison-series",
        "baseline": str(paths[0]),
        "comparisons": [comparison_document(*item) for item in items],
    }
