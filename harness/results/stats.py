"""Uncertainty of scores and of differences between configurations: seed spread, item bootstrap
confidence intervals, and paired tests (paired bootstrap, paired permutation).

Everything is seeded (``numpy.random.default_rng(seed)``) and vectorised over the resamples: the
resample indices of one test set are one ``(reps, n)`` integer matrix, and a metric that is a mean
over items is a row mean over it. A metric that is not (F1 over entities or pairs) is recomputed by
its registered scorer on every resample; :class:`ItemScores` (``harness.results.samples``) hides which.

The statistic of a cell is the mean over its parts (languages x seeds), each part a test set scored
by a metric; parts on the same items (the seeds of one language) are resampled with the same
indices, so item difficulty is shared as it is in the data.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:  # numpy is imported where it is used: ``harness report`` must start fast
    import numpy as np

DEFAULT_REPS = 1000
DEFAULT_LEVEL = 0.95


class Resamplable(Protocol):
    """One scored test set: its value on a resample of its items (see ``harness.results.samples``)."""

    n: int
    point: float

    def replicates(self, indices: np.ndarray) -> np.ndarray:
        """The metric on each row of ``indices`` (shape (reps, n), item positions) -> shape (reps,)."""

    def swapped_difference(self, other: Any, swap: np.ndarray) -> np.ndarray:
        """self - other on the same items after exchanging the two predictions of the items where
        ``swap`` (shape (reps, n), bool) is true -> shape (reps,)."""


@dataclass(frozen=True)
class Spread:
    """Seed spread: mean, sample standard deviation (n-1), min and max over seeds."""

    mean: float
    std: float | None
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"method": "seed spread", "mean": self.mean, "std": self.std, "min": self.low, "max": self.high,
                "n_seeds": self.n}


def seed_spread(values: Sequence[float]) -> Spread:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values")
    return Spread(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None,
                  min(values), max(values), len(values))


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval (and, for a difference, its two-sided p-values)."""

    point: float
    low: float
    high: float
    level: float
    reps: int
    method: str
    n_items: int
    p_bootstrap: float | None = None
    p_permutation: float | None = None
    p_holm: float | None = None          # adjusted over a family of differences (see :func:`holm`)
    family: int | None = None            # how many differences that family holds

    def includes(self, value: float = 0.0) -> bool:
        return self.low <= value <= self.high

    @property
    def p(self) -> float | None:
        """The test's p-value: the permutation test's when run, else the bootstrap's."""
        return self.p_permutation if self.p_permutation is not None else self.p_bootstrap

    def as_dict(self) -> dict[str, Any]:
        data = {"method": self.method, "point": self.point, "low": self.low, "high": self.high,
                "level": self.level, "reps": self.reps, "n_items": self.n_items}
        if self.p_bootstrap is not None:
            data["p_bootstrap"] = self.p_bootstrap
        if self.p_permutation is not None:
            data["p_permutation"] = self.p_permutation
        if self.p_holm is not None:
            data["p_holm"], data["family"] = self.p_holm, self.family
        return data


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (control of the family-wise error rate over all of
    ``p_values``), in the order given: the i-th smallest p times (m - i + 1), made monotone, capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def percentile_interval(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    import numpy as np

    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(replicates, dtype=float), [tail, 1.0 - tail])
    return float(low), float(high)


def resample_indices(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    """``reps`` bootstrap resamples of ``n`` item positions (with replacement), shape (reps, n)."""
    import numpy as np

    return rng.integers(0, n, size=(reps, n), dtype=np.int64) if n else np.zeros((reps, 0), dtype=np.int64)


#: one block: the parts scored on the same items (e.g. the seeds of one language) with their weights
Block = Sequence[tuple[Resamplable, float]]
#: one paired block: (configuration, baseline, weight) on the same items
PairedBlock = Sequence[tuple[Resamplable, Resamplable, float]]


def _check_block(parts: Sequence[Resamplable]) -> int:
    sizes = {part.n for part in parts}
    if len(sizes) != 1:
        raise ValueError(f"the parts of a block must share their items, got sizes {sorted(sizes)}")
    return sizes.pop()


def bootstrap_mean(blocks: Sequence[Block], reps: int = DEFAULT_REPS, seed: int = 0,
                   level: float = DEFAULT_LEVEL) -> Interval:
    """Item bootstrap interval of a weighted mean of scores (weights sum to 1): each block's items
    are resampled with one index matrix shared by its parts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    total = np.zeros(reps)
    point = 0.0
    items = 0
    for block in blocks:
        n = _check_block([part for part, _ in block])
        indices = resample_indices(rng, n, reps)
        items += n
        for part, weight in block:
            total += weight * part.replicates(indices)
            point += weight * part.point
    low, high = percentile_interval(total, level)
    return Interval(point, low, high, level, reps, "item bootstrap (percentile)", items)


def paired_bootstrap(blocks: Sequence[PairedBlock], reps: int = DEFAULT_REPS, seed: int = 0,
                     level: float = DEFAULT_LEVEL) -> Interval:
    """Paired item bootstrap of a weighted mean difference (configuration - baseline) on the same
    items: both sides of a pair see the same resample. The p-value is two-sided: twice the share of
    resampled differences on the far side of zero (at most 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    total = np.zeros(reps)
    point = 0.0
    items = 0
    for block in blocks:
        n = _check_block([side for a, b, _ in block for side in (a, b)])
        indices = resample_indices(rng, n, reps)
        items += n
        for a, b, weight in block:
            total += weight * (a.replicates(indices) - b.replicates(indices))
            point += weight * (a.point - b.point)
    low, high = percentile_interval(total, level)
    p_value = min(1.0, 2.0 * min(float(np.mean(total <= 0.0)), float(np.mean(total >= 0.0))))
    return Interval(point, low, high, level, reps, "paired item bootstrap (percentile)", items, p_bootstrap=p_value)


def paired_permutation(blocks: Sequence[PairedBlock], reps: int = DEFAULT_REPS, seed: int = 0) -> float:
    """Two-sided p-value of a paired permutation (randomisation) test of a weighted mean difference:
    under the null hypothesis the two predictions of an item are exchangeable, so each (pair, item)
    is swapped with probability 1/2 and the metric recomputed; p = (1 + #|d*| >= |d|) / (reps + 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    total = np.zeros(reps)
    observed = 0.0
    for block in blocks:
        _check_block([side for a, b, _ in block for side in (a, b)])
        for a, b, weight in block:
            swap = rng.random((reps, a.n)) < 0.5
            total += weight * a.swapped_difference(b, swap)
            observed += weight * (a.point - b.point)
    exceed = int(np.sum(np.abs(total) >= abs(observed) - 1e-12))
    return (1 + exceed) / (reps + 1)


def paired_test(blocks: Sequence[PairedBlock], reps: int = DEFAULT_REPS, seed: int = 0,
                level: float = DEFAULT_LEVEL, permutation: bool = True) -> Interval:
    """The paired bootstrap interval with both p-values (bootstrap and, when asked, permutation)."""
    interval = paired_bootstrap(blocks, reps, seed, level)
    if not permutation:
        return interval
    p_perm = paired_permutation(blocks, reps, seed + 1)
    return Interval(interval.point, interval.low, interval.high, interval.level, interval.reps,
                    "paired item bootstrap (percentile) + paired permutation", interval.n_items,
                    interval.p_bootstrap, p_perm)
