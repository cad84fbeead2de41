"""The statistics of a latency benchmark: percentiles, bootstrap intervals, interleaved turns and an
equivalence verdict. Pure numpy, so every figure can be checked against numpy on fixed samples.

Timings of one cell come as *rounds*: in round r every arm (model x variant) runs one chunk of
iterations, in the order :func:`turn_order` gives (A B, then B A, ...), so a burst of load from
elsewhere lands on every arm alike. Intervals resample whole rounds (a block bootstrap), which keeps
that pairing and the drift between rounds in the interval.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

PERCENTILES = (50, 90, 95, 99)
BOOTSTRAP_SAMPLES = 2000
VERDICTS = ("equivalent", "faster", "slower", "undecided")


def turn_order(arms: int, rounds: int) -> list[int]:
    """Which arm runs each turn: 0 1 ... k-1, then k-1 ... 1 0, and so on (A B B A A B ...)."""
    forward = list(range(arms))
    return [arm for r in range(rounds) for arm in (forward if r % 2 == 0 else forward[::-1])]


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p90/p95/p99 (numpy's linear interpolation), mean, min and max of the timings."""
    values = np.asarray(values_ms, dtype=float)
    figures = {f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES}
    figures.update(mean=float(values.mean()), min=float(values.min()), max=float(values.max()))
    return figures


def _resampled_rounds(rounds: int, samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, rounds, size=(samples, rounds))


def _pooled(chunks: Sequence[Sequence[float]], picks: np.ndarray) -> np.ndarray:
    """One row per bootstrap sample: the timings of the picked rounds, concatenated. Chunks of
    unequal size are padded with NaN (ignored by the nan-percentiles)."""
    width = max(len(c) for c in chunks)
    table = np.full((len(chunks), width), np.nan)
    for i, chunk in enumerate(chunks):
        table[i, : len(chunk)] = chunk
    return table[picks].reshape(picks.shape[0], -1)


def percentile_ci(chunks: Sequence[Sequence[float]], q: float, level: float = 0.95,
                  samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the q-th percentile, resampling rounds (``chunks``: one list
    of timings per round). With a single round the timings themselves are resampled."""
    chunks = _as_rounds(chunks)
    picks = _resampled_rounds(len(chunks), samples, seed)
    estimates = np.nanpercentile(_pooled(chunks, picks), q, axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def ratio_ci(base: Sequence[Sequence[float]], other: Sequence[Sequence[float]], q: float = 50,
             level: float = 0.95, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of percentile_q(other) / percentile_q(base); both lists hold one chunk per
    round of the same interleaved run, and a resample picks the same rounds for both."""
    base, other = _as_rounds(base), _as_rounds(other)
    if len(base) != len(other):
        raise ValueError("ratio_ci needs the chunks of the same rounds for both arms")
    picks = _resampled_rounds(len(base), samples, seed)
    estimates = (np.nanpercentile(_pooled(other, picks), q, axis=1)
                 / np.nanpercentile(_pooled(base, picks), q, axis=1))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def _as_rounds(chunks: Sequence[Sequence[float]]) -> list[list[float]]:
    rounds = [list(c) for c in chunks if len(c)]
    if not rounds:
        raise ValueError("no timings")
    if len(rounds) == 1:  # one round: resample single timings instead
        return [[value] for value in rounds[0]]
    return rounds


def verdict(ci90: tuple[float, float], margin: float) -> str:
    """Two one-sided tests at ``margin`` (a fraction) on the time ratio other / base: "equivalent"
    when the 90% interval (both tests at 5%) lies inside (1 - margin, 1 + margin); otherwise
    "faster" or "slower" when the interval excludes 1 (a difference shown, equivalence not);
    otherwise "undecided" (more iterations needed)."""
    low, high = ci90
    if 1 - margin < low and high < 1 + margin:
        return "equivalent"
    if high < 1:
        return "faster"
    if low > 1:
        return "slower"
    return "undecided"


def compare(base: Sequence[Sequence[float]], other: Sequence[Sequence[float]], margin: float,
            seed: int = 0) -> dict[str, object]:
    """Median time ratio other / base with its 95% interval, the 90% interval of the TOST and the verdict."""
    ratio = float(np.median(np.concatenate([np.asarray(c, float) for c in other]))
                  / np.median(np.concatenate([np.asarray(c, float) for c in base])))
    ci90 = ratio_ci(base, other, level=0.90, seed=seed)
    return {"statistic": "p50 latency ratio", "ratio": ratio, "ci95": list(ratio_ci(base, other, seed=seed)),
            "ci90": list(ci90), "margin": margin, "verdict": verdict(ci90, margin)}
