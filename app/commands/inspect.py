"""``midstance inspect FILE``: what a session file holds, without loading its data."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser("inspect", help="summarise a session file (subject, streams, analyses)")
    parser.add_argument("file", help="the session file (*.midstance.h5)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def summary(path: str) -> dict:
    from data import open_session

    with open_session(path) as s:
        analog = s.analog
        cameras = {}
        for name in s.camera_names:
            cam = s.camera(name)
            cameras[name] = {
                "frames": cam.n_frames, "rate_hz": cam.rate_hz, "codec": cam.codec,
                "size": [cam.width, cam.height], "dropped": len(cam.dropped_frames),
            }  # fmt: skip
        revisions = []
        for name in s.revisions:
            rev = s.analysis(name)
            revisions.append(
                {"name": name, "created_utc": rev.created_utc, "parent": rev.parent,
                 "note": rev.note, "software_version": rev.software_version,
                 "stances": len(rev.stance_array())}
            )  # fmt: skip
        return {
            "file": str(path),
            "format_version": s.format_version,
            "session_id": s.session_id,
            "created_utc": s.created_utc,
            "recording_state": s.recording_state,
            "recording_note": s.recording_note,
            "subject": s.subject,
            "session": s.session_info,
            "daq": {
                "channels": list(analog.channel_names),
                "rate_hz": analog.rate_hz,
                "samples": analog.n_samples,
                "seconds": analog.n_samples / analog.rate_hz,
                "gaps": len(s.gaps),
            },
            "cameras": cameras,
            "marks": len(s.marks()),
            "analysis": revisions,
        }


def run(args: argparse.Namespace) -> int:
    info = summary(args.file)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    subject = info["subject"]
    print(f"{info['file']}  (session {info['session_id']}, {info['recording_state']})")
    if info["recording_note"]:
        print(f"  note: {info['recording_note']}")
    print(f"  subject {subject['subject_id']}, protocol {info['session']['protocol_name']},"
          f" recorded {info['created_utc']}")  # fmt: skip
    daq = info["daq"]
    print(f"  DAQ: {len(daq['channels'])} channels at {daq['rate_hz']:g} Hz,"
          f" {daq['seconds']:.2f} s, {daq['gaps']} gaps")  # fmt: skip
    for name, cam in info["cameras"].items():
        size = f"{cam['size'][0]}x{cam['size'][1]}"
        print(f"  camera {name}: {cam['frames']} frames at {cam['rate_hz']:g} fps, {size},"
              f" {cam['codec']}, {cam['dropped']} dropped")  # fmt: skip
    for rev in info["analysis"]:
        print(f"  {rev['name']}: {rev['stances']} stances, {rev['created_utc']}, {rev['note']}")
    return 0
