"""The session library: every session under ``sessions_dir()``, by subject and date.

Layout: ``<subject>/<YYYY-MM-DD>_<HHMMSS>_<protocol>.midstance.h5``. The date and time are the
local wall-clock start (what the clinician saw; ``created_utc`` inside the file is the exact
time). The double extension keeps ``.h5`` so any HDF5 tool opens the file, while
``.midstance.h5`` tells our sessions apart from other HDF5 files in the same folder.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from analysis.errors import InputError, MidstanceError
from data.paths import sessions_dir
from data.session_reader import open_session
from data.session_schema import FILE_SUFFIX

SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _safe_protocol(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return cleaned or "session"


def check_subject_id(subject_id: str) -> str:
    """A pseudonymous id usable as a folder name (letters, digits, '.', '_', '-')."""
    if not SUBJECT_ID.match(subject_id or ""):
        raise InputError(
            f"the subject id {subject_id!r} cannot be used",
            subject="subject id",
            remedy="Use 1-64 letters, digits, '.', '_' or '-' (a pseudonymous code, not a name).",
        )
    return subject_id


def new_session_path(
    subject_id: str, protocol: str, started: datetime | None = None, root: Path | None = None
) -> Path:
    """Where a new session goes; a suffix ``_2``, ``_3`` … if that name is taken."""
    started = started or datetime.now()
    folder = (root or sessions_dir()) / check_subject_id(subject_id)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{started:%Y-%m-%d_%H%M%S}_{_safe_protocol(protocol)}"
    path = folder / f"{stem}{FILE_SUFFIX}"
    number = 2
    while path.exists():
        path = folder / f"{stem}_{number}{FILE_SUFFIX}"
        number += 1
    return path


@dataclass(frozen=True)
class SessionEntry:
    path: str
    subject_id: str
    created_utc: str = ""
    protocol_name: str = ""
    recording_state: str = ""
    duration_s: float = 0.0
    cameras: int = 0
    stances: int = 0
    revisions: int = 0
    problem: str = ""  # why the file could not be read ('' when it could)

    def to_dict(self) -> dict:
        return asdict(self)


def _entry(path: Path) -> SessionEntry:
    folder_subject = path.parent.name
    try:
        with open_session(path) as s:
            analog = s.analog
            stances = len(s.analysis().stance_array()) if s.revisions else 0
            return SessionEntry(
                path=str(path),
                subject_id=str(s.subject.get("subject_id") or folder_subject),
                created_utc=s.created_utc,
                protocol_name=str(s.session_info.get("protocol_name", "")),
                recording_state=s.recording_state,
                duration_s=analog.n_samples / analog.rate_hz,
                cameras=len(s.camera_names),
                stances=stances,
                revisions=len(s.revisions),
            )
    except MidstanceError as exc:
        return SessionEntry(path=str(path), subject_id=folder_subject, problem=exc.problem)


def list_sessions(subject: str | None = None, root: Path | None = None) -> list[SessionEntry]:
    """Sessions in the library, oldest first; ``subject`` matches ids case-insensitively
    (a part of the id is enough). Unreadable files are listed with their problem."""
    root = root or sessions_dir()
    paths = sorted(root.glob(f"*/*{FILE_SUFFIX}"))
    wanted = (subject or "").lower()
    entries = []
    for path in paths:
        if wanted and wanted not in path.parent.name.lower():
            continue
        entry = _entry(path)
        if wanted and wanted not in entry.subject_id.lower():
            continue
        entries.append(entry)
    return sorted(entries, key=lambda e: (e.created_utc or "~", e.path))


def subjects(root: Path | None = None) -> list[str]:
    """Subject ids that have at least one session."""
    root = root or sessions_dir()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob(f"*{FILE_SUFFIX}")))
