"""The session library: paths by subject and date, listing and searching, the sessions command."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from analysis.errors import InputError
from app.cli import main as cli_main
from data.library import list_sessions, new_session_path, subjects
from data.paths import sessions_dir


def _record(synth, subject_id: str, protocol: str, started: datetime):
    path = new_session_path(subject_id, protocol, started)
    synth.write_session(path, seconds=0.2, with_analysis=False)
    from h5py import File

    with File(path, "r+") as f:  # the fixture writes P-007; give each file its own subject
        f["subject"].attrs["subject_id"] = subject_id
    return path


def test_paths_follow_subject_and_date(synth):
    path = new_session_path("P-007", "standard run", datetime(2026, 3, 4, 9, 5, 7))
    assert path == sessions_dir() / "P-007" / "2026-03-04_090507_standard-run.midstance.h5"
    path.touch()
    again = new_session_path("P-007", "standard run", datetime(2026, 3, 4, 9, 5, 7))
    assert again.name == "2026-03-04_090507_standard-run_2.midstance.h5"


@pytest.mark.parametrize("bad", ["", "../x", "Jane Doe", "a/b", "x" * 65])
def test_unusable_subject_ids_are_refused(bad):
    with pytest.raises(InputError, match="subject id"):
        new_session_path(bad, "run")


def test_listing_and_searching(synth, capsys):
    _record(synth, "P-007", "baseline", datetime(2026, 1, 5, 10, 0, 0))
    _record(synth, "P-007", "week6", datetime(2026, 2, 16, 10, 0, 0))
    _record(synth, "Q-100", "baseline", datetime(2026, 1, 6, 11, 0, 0))
    (sessions_dir() / "Q-100" / "2026-01-07_000000_broken.midstance.h5").write_text("not hdf5")
    assert subjects() == ["P-007", "Q-100"]
    everyone = list_sessions()
    assert len(everyone) == 4
    broken = [e for e in everyone if e.problem]
    assert len(broken) == 1 and "not an HDF5 file" in broken[0].problem
    mine = list_sessions("p-007")
    assert [e.path.rsplit("/", 1)[-1][:10] for e in mine] == ["2026-01-05", "2026-02-16"]
    assert all(e.subject_id == "P-007" and e.duration_s == pytest.approx(0.2) for e in mine)
    assert cli_main(["sessions", "--subject", "Q-100", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["subject_id"] for e in listed] == ["Q-100", "Q-100"]
    assert cli_main(["sessions"]) == 0
    out = capsys.readouterr().out
    assert out.count("P-007") >= 2 and "unreadable" in out
    assert cli_main(["sessions", "--subject", "nobody"]) == 0
    assert "no sessions for subject 'nobody'" in capsys.readouterr().out
