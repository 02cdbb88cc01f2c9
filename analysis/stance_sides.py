"""Putting stances in sequence: which foot, step and flight time, wrong-belt steps (SCIENCE §2).

Single belt: the side comes from alternation with the previous step, checked against the mean
mediolateral COP of the stance relative to the runner's midline (y is left, so a left foot lands
at positive y). The midline is the mean COP of the previous steps (an even number, up to
``MIDLINE_STEPS``, so left and right balance), because runners rarely run on the belt's centre
line; ``belt_midline_y_m`` fixes it instead. The first step has no previous steps: its side comes
from the plate's centre line and is flagged ``side_unconfirmed``. A step whose COP lies within
``side_ambiguity_m`` of the midline is flagged ``ambiguous_side`` (a cross-over runner lands near
the midline) and takes its side from alternation alone; one whose COP side contradicts
alternation is flagged ``ambiguous_side`` and ``side_conflict``, takes the COP's side, and is
left out of per-side summaries (as is ``side_unconfirmed``) rather than silently mislabelled.

Split belt: each belt carries one foot. Two consecutive steps on the same belt mean a foot landed
on the wrong belt (flag ``wrong_belt``); contacts overlapping in time on two plates are flagged
``overlapping_contact`` (running has no double support).

The sequencer sees stances one by one in the order they complete, which is the same offline and
live, so both give the same records.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.force_metrics import StanceRecord
from analysis.force_settings import ForceSettings
from analysis.forceplate import PlateConfig

OTHER = {"L": "R", "R": "L"}
MIDLINE_STEPS = 8


class StanceSequencer:
    """Numbers stances and fills in side, step time, flight time and step length."""

    def __init__(
        self,
        plates: Sequence[PlateConfig],
        settings: ForceSettings,
        belt_speed_m_s: float | None = None,
    ) -> None:
        self.plates = {p.name: p for p in plates}
        self.settings = settings
        self.belt_speed_m_s = belt_speed_m_s
        self.count = 0
        self._previous: StanceRecord | None = None
        self._previous_foot: str | None = None
        self._recent_cop_y: dict[str, list[float]] = {}
        self._recent_offsets: dict[str, list[float]] = {}

    def midline(self, plate: PlateConfig, cop_y: float) -> tuple[float, bool]:
        """The mediolateral reference for a step at ``cop_y`` on ``plate``, and whether it comes
        from the runner's own steps (with one previous step: halfway between the two)."""
        if self.settings.belt_midline_y_m is not None:
            return self.settings.belt_midline_y_m, True
        recent = self._recent_cop_y.get(plate.name, [])
        if len(recent) >= 2:
            even = recent[len(recent) % 2 :]
            return sum(even) / len(even), True
        if len(recent) == 1:
            return 0.5 * (recent[0] + cop_y), True
        return plate.midline_y_m, False

    def step(self, record: StanceRecord) -> StanceRecord:
        plate = self.plates[record.plate]
        flags = list(record.flags)
        changes: dict = {"index": self.count}
        self.count += 1
        if plate.belt == "overground":
            return record.with_changes(**changes)
        prev = self._previous
        consecutive = (
            prev is not None
            and record.contact_s - prev.toe_off_s <= self.settings.max_step_gap_s
            and record.contact_s > prev.contact_s
        )
        expected = OTHER.get(self._previous_foot) if consecutive else None
        if consecutive:
            step_time = record.contact_s - prev.contact_s
            changes["step_time_s"] = step_time
            if record.contact_s >= prev.toe_off_s:
                changes["flight_time_s"] = record.contact_s - prev.toe_off_s
            elif prev.plate != record.plate:
                flags.append("overlapping_contact")
            if self.belt_speed_m_s is not None:
                changes["step_length_m"] = self.belt_speed_m_s * step_time
        if plate.belt in ("left", "right"):
            belt_side = "L" if plate.belt == "left" else "R"
            foot = belt_side
            if expected is not None and expected != belt_side:
                flags.append("wrong_belt")
                foot = expected
            changes["side"] = foot
        else:
            foot = self._single_belt_side(record, plate, expected, flags)
            changes["side"] = foot
        changes["flags"] = tuple(dict.fromkeys(flags))
        self._previous = record
        self._previous_foot = foot
        return record.with_changes(**changes)

    def _single_belt_side(
        self, record: StanceRecord, plate: PlateConfig, expected: str | None, flags: list[str]
    ) -> str | None:
        by_cop = None
        band = self.settings.side_ambiguity_m
        if record.cop_mean_y_m is not None:
            midline, from_steps = self.midline(plate, record.cop_mean_y_m)
            if not from_steps:
                flags.append("side_unconfirmed")
            offset = record.cop_mean_y_m - midline
            widths = self._recent_offsets.setdefault(plate.name, [])
            if from_steps:
                widths.append(abs(offset))
                del widths[:-MIDLINE_STEPS]
            # a runner whose feet land within the band of the midline *typically* (narrow or
            # cross-over gait) cannot have sides told from the COP at all, however one step looks
            typical = sum(widths) / len(widths) if widths else abs(offset)
            if typical > band and offset > band:
                by_cop = "L"
            elif typical > band and offset < -band:
                by_cop = "R"
            recent = self._recent_cop_y.setdefault(plate.name, [])
            recent.append(record.cop_mean_y_m)
            del recent[:-MIDLINE_STEPS]
        if by_cop is not None and (expected is None or expected == by_cop):
            return by_cop
        flags.append("ambiguous_side")
        if by_cop is not None and expected is not None:
            flags.append("side_conflict")
        if by_cop is None and expected is None:
            return None
        return by_cop or expected
