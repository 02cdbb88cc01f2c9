"""Confidence intervals for per-step means that respect stride-to-stride dependence.

Steps of one runner in one session are not independent: consecutive strides are correlated and a
runner drifts as they tire. A plain (i.i.d.) bootstrap treats every step as a new draw and gives
intervals that are too narrow. Here the steps of one side are resampled as a **moving-block
bootstrap** (Künsch 1989; Lahiri 2003): overlapping blocks of ``block_length`` consecutive strides
are drawn with replacement and joined, so the dependence inside a block is kept. Sessions are
independent of each other, so a difference between two sessions resamples each session on its own.

The block length is ``max(ceil(n^(1/3)), the lag where the autocorrelation first falls inside its
±2/√n noise band)``, capped at ``n // 4`` so there are still several blocks to draw; it is
returned with every interval. Every call is deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.errors import InputError

METHODS = ("moving_block", "iid")
METHOD_TEXT = {
    "moving_block": "moving-block bootstrap over consecutive strides within each session "
    "(Künsch 1989), percentile interval",
    "iid": "ordinary bootstrap of single steps (assumes independent steps), percentile interval",
}
FEW_STEPS = 7  # Dingenen 2018: at least 7 steps for reliable running values


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are computed; stored with every comparison."""

    method: str = "moving_block"
    confidence: float = 0.95
    n_resamples: int = 4000
    block_length: int | None = None  # None: chosen from the data (see module docstring)
    seed: int = 20261121

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(
                f"unknown bootstrap method {self.method!r}",
                subject="bootstrap settings: method",
                remedy=f"Use one of: {', '.join(METHODS)}.",
            )
        if not 0.5 < self.confidence < 1.0:
            raise InputError(
                f"confidence {self.confidence!r} must be between 0.5 and 1",
                subject="bootstrap settings: confidence",
            )
        if self.n_resamples < 200:
            raise InputError(
                f"{self.n_resamples} resamples are too few for a percentile interval",
                subject="bootstrap settings: n_resamples",
                remedy="Use at least 200 (default 4000).",
            )
        if self.block_length is not None and self.block_length < 1:
            raise InputError(
                "block_length must be at least 1", subject="bootstrap settings: block_length"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["description"] = METHOD_TEXT[self.method]
        return out


@dataclass(frozen=True)
class MeanInterval:
    """Mean of one session's steps with its bootstrap interval (None where n is too small)."""

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    block_length: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DifferenceInterval:
    """after − before, with the interval of the difference of the two bootstrap means."""

    difference: float | None
    low: float | None
    high: float | None
    block_length_before: int | None
    block_length_after: int | None

    @property
    def excludes_zero(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["excludes_zero"] = self.excludes_zero
        return out


def finite_values(values: Sequence[float | None]) -> np.ndarray:
    """The numbers that exist, in their original (time) order."""
    return np.array(
        [float(v) for v in values if v is not None and math.isfinite(float(v))], dtype=float
    )


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 0..max_lag (biased estimator, as in most texts)."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    denom = float(np.dot(x, x))
    if denom == 0.0:
        return np.r_[1.0, np.zeros(max_lag)]
    return np.array([np.dot(x[: len(x) - k], x[k:]) / denom for k in range(max_lag + 1)])


def block_length_for(x: Sequence[float]) -> int:
    """Block length for a series of strides (see the module docstring)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 4:
        return 1
    cap = max(1, n // 4)
    base = math.ceil(n ** (1.0 / 3.0))
    acf = autocorrelation(x, min(cap, n - 1))
    band = 2.0 / math.sqrt(n)
    inside = np.nonzero(np.abs(acf[1:]) < band)[0]
    decorrelated = int(inside[0]) + 1 if inside.size else cap
    return int(min(cap, max(base, decorrelated)))


def resampled_means(x: np.ndarray, settings: BootstrapSettings, rng: np.random.Generator):
    """(n_resamples,) bootstrap means of ``x``, and the block length used."""
    n = len(x)
    if settings.method == "iid":
        idx = rng.integers(0, n, size=(settings.n_resamples, n))
        return x[idx].mean(axis=1), 1
    length = settings.block_length or block_length_for(x)
    length = min(length, n)
    n_blocks = math.ceil(n / length)
    starts = rng.integers(0, n - length + 1, size=(settings.n_resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(length)).reshape(settings.n_resamples, -1)[:, :n]
    return x[idx].mean(axis=1), length


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def mean_interval(
    values: Sequence[float | None], settings: BootstrapSettings | None = None
) -> MeanInterval:
    """Mean, SD and bootstrap interval of one session's steps (in time order)."""
    settings = settings or BootstrapSettings()
    x = finite_values(values)
    n = len(x)
    if n == 0:
        return MeanInterval(0, None, None, None, None, None)
    sd = float(x.std(ddof=1)) if n > 1 else None
    if n < 3:
        return MeanInterval(n, float(x.mean()), sd, None, None, None)
    rng = np.random.default_rng(settings.seed)
    means, length = resampled_means(x, settings, rng)
    low, high = _percentiles(means, settings.confidence)
    return MeanInterval(n, float(x.mean()), sd, low, high, length)


def difference_interval(
    before: Sequence[float | None],
    after: Sequence[float | None],
    settings: BootstrapSettings | None = None,
) -> DifferenceInterval:
    """after − before of the session means, each session resampled on its own."""
    settings = settings or BootstrapSettings()
    a, b = finite_values(before), finite_values(after)
    if len(a) == 0 or len(b) == 0:
        return DifferenceInterval(None, None, None, None, None)
    difference = float(b.mean() - a.mean())
    if len(a) < 3 or len(b) < 3:
        return DifferenceInterval(difference, None, None, None, None)
    rng = np.random.default_rng(settings.seed)
    means_a, length_a = resampled_means(a, settings, rng)
    means_b, length_b = resampled_means(b, settings, rng)
    low, high = _percentiles(means_b - means_a, settings.confidence)
    return DifferenceInterval(difference, low, high, length_a, length_b)
