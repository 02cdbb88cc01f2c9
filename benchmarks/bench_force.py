"""Force analysis throughput and live latency on a 10-minute, 2 kHz simulated running trial.

Plain script: ``python benchmarks/bench_force.py [--minutes M] [--block N]`` (the default block,
20 samples, is the live pipeline's 10 ms DAQ read at 2 kHz). Prints figures and ratios against
peers measured in the same process on the same data:
- offline analysis (stances/s, samples/s) vs a naive threshold detector (numpy, no filtering,
  no interpolation, no metrics) — the floor any detector pays for touching the data once;
- the same analysis without the per-stance belt-vibration estimate (``belt_vibration_auto``
  off), i.e. what measuring the vibration before every stance costs;
- the streaming analyser's delay from toe-off to the stance record: the data delay (the stance
  waits for ``padding_after_s`` of samples after its last loaded one, delivered in whole blocks)
  plus the CPU time of that push (``time.thread_time``, so other processes on a shared machine
  do not inflate it), median and p95, split into its parts; the same with the padding of the
  previous version (60 ms after toe-off, 50 ms blocks) as the peer; and the per-block CPU cost
  vs the block's real-time budget.
It does not pass or fail on time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.forceplate import parse_plates
from analysis.streaming_force import StreamingForceAnalyser
from drivers.sim import LabSetup, SimulatedLab, preset


def naive_threshold_stances(fz: np.ndarray, level_N: float = 20.0) -> int:
    """The baseline: runs of Fz above a level, nothing else."""
    loaded = fz > level_N
    return int(np.count_nonzero(loaded[1:] & ~loaded[:-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--block", type=int, default=20, help="samples per streaming block")
    args = parser.parse_args()

    t0 = time.perf_counter()
    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=1, duration_s=60.0 * args.minutes)
    volts = lab.analog(0, lab.n_samples)
    rate = lab.setup.daq_rate_hz
    plates = parse_plates(lab.plate_configs())
    print(
        f"trial: {args.minutes:g} min at {rate:g} Hz = {lab.n_samples} samples x "
        f"{volts.shape[1]} channels, {len(lab.truth.stances)} true stances "
        f"(simulated in {time.perf_counter() - t0:.1f} s)"
    )
    bw = lab.truth.body_weight_N
    settings = ForceSettings()

    t0 = time.perf_counter()
    wrenches = plate_wrenches(plates, volts, lab.channel_names)
    t_cal = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = analyse_force_trial(wrenches, plates, rate, settings, body_weight_N=bw)
    t_offline = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = naive_threshold_stances(wrenches["belt"][:, 2])
    t_naive = time.perf_counter() - t0
    n = len(result.stances)
    t0 = time.perf_counter()
    analyse_force_trial(
        wrenches, plates, rate, ForceSettings(belt_vibration_auto=False), body_weight_N=bw
    )
    t_plain = time.perf_counter() - t0
    print(f"volts -> lab wrench (calibration): {t_cal * 1e3:.1f} ms")
    print(
        f"offline analysis: {t_offline:.2f} s for {n} stances -> {n / t_offline:.0f} stances/s, "
        f"{lab.n_samples / t_offline / 1e6:.2f} M samples/s "
        f"({lab.n_samples / rate / t_offline:.0f}x real time)"
    )
    print(
        f"peer, same analysis without the belt-vibration estimate: {t_plain:.2f} s -> the "
        f"estimate costs {(t_offline - t_plain) / n * 1e3:.2f} ms per stance "
        f"({t_offline / t_plain:.2f}x); measured {_vibration_range(result.stances)}"
    )
    print(
        f"peer, naive threshold detector: {t_naive * 1e3:.1f} ms for {naive} runs -> "
        f"offline analysis costs {t_offline / t_naive:.0f}x the naive pass "
        f"({t_offline / n * 1e3:.2f} ms per stance for filtering, events, midstance, loading rate)"
    )

    block = args.block
    live, costs, parts = _stream(volts, plates, rate, settings, lab=lab, bw=bw, block=block)
    same = [a.to_dict() for a in live] == [b.to_dict() for b in result.stances]
    costs_ms = np.array(costs) * 1e3
    budget_ms = block / rate * 1e3
    print(
        f"streaming, blocks of {block} samples ({budget_ms:.0f} ms of data): CPU per block median "
        f"{np.median(costs_ms):.3f} ms, p95 {np.percentile(costs_ms, 95):.3f} ms, max "
        f"{costs_ms.max():.2f} ms -> p95 uses {np.percentile(costs_ms, 95) / budget_ms:.1%} "
        "of the real-time budget"
    )
    _print_delay(parts, f"padding after toe-off {settings.padding_after_s * 1e3:.0f} ms")
    old = ForceSettings(padding_after_s=settings.padding_s)
    _, _, old_parts = _stream(volts, plates, rate, old, lab=lab, bw=bw, block=round(0.05 * rate))
    _print_delay(old_parts, "peer: previous version, 60 ms after toe-off and 50 ms blocks")
    print(f"streaming records identical to offline: {same} ({len(live)} vs {n})")


def _stream(volts, plates, rate, settings, *, lab, bw, block):
    """Push the trial block by block; per record (data delay, CPU of the push) in seconds."""
    analyser = StreamingForceAnalyser(
        plates, rate, settings, channel_names=lab.channel_names, body_weight_N=bw
    )
    costs, parts, live = [], [], []
    for start in range(0, volts.shape[0], block):
        chunk = volts[start : start + block]
        t0 = time.thread_time()
        records = analyser.push(chunk)
        cost = time.thread_time() - t0
        costs.append(cost)
        end_s = (start + chunk.shape[0]) / rate
        parts.extend((end_s - r.toe_off_s, cost) for r in records)
        live.extend(records)
    live.extend(analyser.finish())
    return live, costs, np.array(parts)


def _print_delay(parts: np.ndarray, what: str) -> None:
    data_ms, cpu_ms = parts[:, 0] * 1e3, parts[:, 1] * 1e3
    total = data_ms + cpu_ms
    print(
        f"toe-off -> record delay ({what}): median {np.median(total):.1f} ms, p95 "
        f"{np.percentile(total, 95):.1f} ms = data (padding + rest of the block) median "
        f"{np.median(data_ms):.1f} / p95 {np.percentile(data_ms, 95):.1f} ms + CPU of the "
        f"push median {np.median(cpu_ms):.1f} / p95 {np.percentile(cpu_ms, 95):.1f} ms"
    )


def _vibration_range(stances) -> str:
    hz = [s.belt_vibration_hz for s in stances if s.belt_vibration_N is not None]
    amp = [s.belt_vibration_N for s in stances if s.belt_vibration_N is not None]
    if not hz:
        return "no belt vibration"
    return (
        f"{min(hz):.2f}-{max(hz):.2f} Hz, {min(amp):.2f}-{max(amp):.2f} N "
        f"in {len(hz)} of {len(stances)} stances"
    )


if __name__ == "__main__":
    main()
