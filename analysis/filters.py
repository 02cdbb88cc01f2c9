"""Zero-lag low-pass filtering of force signals (SCIENCE.md §2).

A Butterworth run forwards and backwards has no phase lag, so event times are not shifted; the
effective order is twice the design order. Designs are cached because the streaming analyser
filters one window per stance, thousands of times per session.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from analysis.errors import InputError


@lru_cache(maxsize=32)
def butterworth_sos(order: int, cutoff_hz: float, rate_hz: float) -> np.ndarray:
    """Second-order sections of a low-pass Butterworth; refuses a cut-off at or above Nyquist."""
    nyquist = rate_hz / 2.0
    if not 0 < cutoff_hz < nyquist:
        raise InputError(
            f"the filter cut-off {cutoff_hz:g} Hz is not below the Nyquist frequency "
            f"{nyquist:g} Hz of a {rate_hz:g} Hz recording",
            subject="force settings: cutoff_hz",
            remedy=f"Choose a cut-off below {nyquist:g} Hz.",
        )
    sos = signal.butter(order, cutoff_hz, btype="low", fs=rate_hz, output="sos")
    return sos


def lowpass_zero_lag(x: np.ndarray, rate_hz: float, cutoff_hz: float, order: int) -> np.ndarray:
    """Forward-backward Butterworth along axis 0 (effective order ``2 * order``)."""
    sos = butterworth_sos(order, float(cutoff_hz), float(rate_hz))
    x = np.asarray(x, dtype=float)
    padlen = min(3 * (2 * len(sos) + 1), x.shape[0] - 1)
    if padlen < 1:
        return x.copy()
    return signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)
