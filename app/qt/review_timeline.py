"""Qt-free state of a reviewed session: the open file, the shown revision, the time cursor,
stance navigation and the analyst's pending corrections. The window only draws it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import InputError
from app.session_analysis import Correction, plate_wrenches, stored_setup
from data.session_reader import Session, open_session

NAVIGATION = {  # what "next"/"previous" jumps between → the stance field holding its time
    "stance": "contact_s",
    "contact": "contact_s",
    "toe-off": "toe_off_s",
    "midstance": "midstance_s",
}


@dataclass
class ForceTrace:
    """Summed lab force of all plates for display: time (n,), Fz and Fx (n,)."""

    t: np.ndarray
    fz: np.ndarray
    fx: np.ndarray
    source: str


@dataclass
class ReviewState:
    path: Path
    session: Session
    revision: str = ""
    stances: list[dict[str, Any]] = field(default_factory=list)
    time_s: float = 0.0
    pending: list[Correction] = field(default_factory=list)
    selected: int | None = None  # the stance corrections apply to (table row)
    _times: dict[str, np.ndarray] = field(default_factory=dict)  # camera → frame times
    _marker_rows: dict[str, dict[int, int]] = field(default_factory=dict)  # frame row → marker row

    @classmethod
    def open(cls, path: str | Path) -> ReviewState:
        session = open_session(path)
        state = cls(Path(path), session)
        state.show_revision(session.revisions[-1] if session.revisions else "")
        return state

    def close(self) -> None:
        self.session.close()

    # -- revisions
    def show_revision(self, name: str) -> None:
        self.revision = name
        if name:
            self.stances = self.session.analysis(name).stances()
        else:  # not analysed yet (e.g. still recording): the stances found live
            self.stances = [s for s in self.session.live_stances() if "contact_s" in s]
            for s in self.stances:
                s.setdefault("toe_off_s", s["contact_s"])
        self.selected = None

    def frame_times(self, camera: str) -> np.ndarray:
        """Session time of every frame (read once; refreshed while recording)."""
        if camera not in self._times or self.session.recording_state == "recording":
            self._times[camera] = self.session.camera(camera).session_time
        return self._times[camera]

    def reload(self) -> None:
        """Re-open after a revision was added (another handle wrote to the file)."""
        self._times.clear()
        self._marker_rows.clear()
        self.session.close()
        self.session = open_session(self.path)
        self.show_revision(self.session.revisions[-1] if self.session.revisions else "")

    def history(self) -> list[tuple[str, str]]:
        out = []
        for name in self.session.revisions:
            rev = self.session.analysis(name)
            out.append((name, f"{name} — {rev.note or 'no note'} ({rev.created_utc[:16]})"))
        return out

    # -- time
    @property
    def duration_s(self) -> float:
        a = self.session.analog
        return (a.start_index + a.n_samples) / a.rate_hz

    def seek(self, time_s: float) -> float:
        """Move the cursor; a cursor inside a stance selects it, one in flight keeps the
        selection (so an event can be moved outside its stance)."""
        self.time_s = float(min(max(time_s, 0.0), self.duration_s))
        for i, s in enumerate(self.stances):
            if s["contact_s"] <= self.time_s <= s["toe_off_s"]:
                self.selected = i
                break
        return self.time_s

    def select(self, row: int) -> None:
        if 0 <= row < len(self.stances):
            self.selected = row

    def frame_index(self, camera: str) -> int | None:
        times = self.frame_times(camera)
        if len(times) == 0:
            return None
        k = int(np.searchsorted(times, self.time_s))
        if k >= len(times) or (k > 0 and self.time_s - times[k - 1] < times[k] - self.time_s):
            k -= 1
        return max(0, k)

    def step_frames(self, camera: str, n: int) -> float:
        """Move the cursor ``n`` frames of ``camera`` (negative: back)."""
        k = self.frame_index(camera)
        if k is None:
            return self.time_s
        times = self.frame_times(camera)
        return self.seek(float(times[int(np.clip(k + n, 0, len(times) - 1))]))

    def jump(self, what: str, direction: int) -> float:
        """To the next (direction +1) or previous (-1) stance, contact, toe-off or midstance."""
        name = NAVIGATION[what]
        times = sorted(
            float(s[name])
            for s in self.stances
            if s.get(name) is not None and math.isfinite(s[name])
        )
        eps = 1e-6
        if direction > 0:
            later = [t for t in times if t > self.time_s + eps]
            return self.seek(later[0]) if later else self.time_s
        earlier = [t for t in times if t < self.time_s - eps]
        return self.seek(earlier[-1]) if earlier else self.time_s

    def stance_at(self, time_s: float | None = None) -> dict[str, Any] | None:
        """The stance under the cursor (or the last one that started before it)."""
        t = self.time_s if time_s is None else time_s
        before = [s for s in self.stances if s["contact_s"] <= t + 1e-9]
        return before[-1] if before else None

    def midstance_of(self, stance: dict[str, Any]) -> float:
        for name in ("midstance_used_s", "midstance_s", "midstance_half_s"):
            value = stance.get(name)
            if value is not None and math.isfinite(value):
                return float(value)
        return float(stance["contact_s"])

    # -- data for the views
    def force_trace(self) -> ForceTrace:
        """From the shown revision's derived forces, else from the raw volts."""
        f = self.session.h5
        group = f.get(f"analysis/{self.revision}/forces") if self.revision else None
        rate = self.session.analog.rate_hz
        if group is not None and len(group):
            parts = [group[p] for p in group]
            start = int(parts[0].attrs["start_index"])
            total = sum(np.nan_to_num(p["force"][:]) for p in parts)
            source = f"derived forces of {self.revision}"
        else:
            setup = stored_setup(self.session, self.revision or None)
            wrenches = plate_wrenches(self.session, setup.plates)
            total = sum(np.nan_to_num(w[:, :3]) for w in wrenches.values())
            start, source = (
                self.session.analog.start_index,
                "raw volts through the plate calibration",
            )
        t = (start + np.arange(len(total))) / rate
        return ForceTrace(t, total[:, 2], total[:, 0], source)

    def markers(self, camera: str, k: int) -> dict[str, tuple[float, float]]:
        """The recorded markers (image px) of frame row ``k``; only that row is read."""
        cam = self.session.camera(camera)
        if "markers" not in cam.h5_group:
            return {}
        m = cam.h5_group["markers"]
        rows = self._marker_rows.get(camera)
        if rows is None or self.session.recording_state == "recording":
            by_counter = {int(c): i for i, c in enumerate(m["frame_index"][:])}
            rows = {i: by_counter[int(c)] for i, c in enumerate(cam.frame_index)
                    if int(c) in by_counter}  # fmt: skip
            self._marker_rows[camera] = rows
        if k not in rows:
            return {}
        labels = [v.decode() if isinstance(v, bytes) else str(v) for v in m.attrs["labels"]]
        xy = m["xy"][rows[k]]
        return {n: (float(xy[i, 0]), float(xy[i, 1])) for i, n in enumerate(labels)
                if np.isfinite(xy[i]).all()}  # fmt: skip

    # -- corrections
    def _current(self) -> dict[str, Any]:
        stance = self.stances[self.selected] if self.selected is not None else self.stance_at()
        if stance is None:
            raise InputError(
                "no stance is selected",
                subject="correction",
                remedy="Select a stance in the table first.",
            )
        return stance

    def move_event(self, event: str) -> Correction:
        """Move ``event`` of the stance under the cursor to the cursor time."""
        stance = self._current()
        return self._add(
            Correction("move_event", stance["contact_s"], event=event, time_s=self.time_s)
        )

    def delete_stance(self) -> Correction:
        return self._add(Correction("delete", self._current()["contact_s"]))

    def exclude_stance(self) -> Correction:
        return self._add(Correction("exclude", self._current()["contact_s"]))

    def relabel_stance(self) -> Correction:
        stance = self._current()
        side = "L" if stance.get("side") == "R" else "R"
        return self._add(Correction("relabel", stance["contact_s"], side=side))

    def swap_markers(self, camera: str, first: str, second: str) -> Correction:
        """Swap two marker labels of ``camera`` over the stance under the cursor."""
        stance = self._current()
        return self._add(
            Correction("swap_markers", camera=camera, markers=(first, second),
                       start_s=stance["contact_s"], stop_s=stance["toe_off_s"])
        )  # fmt: skip

    def _add(self, correction: Correction) -> Correction:
        self.pending.append(correction)
        return correction

    def corrections_for_rerun(self) -> list[Correction]:
        """The shown revision's stored corrections plus the pending ones."""
        stored = stored_setup(self.session, self.revision or None).corrections
        return [*stored, *self.pending]
