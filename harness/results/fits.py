"""Scaling-law fits of a score against the amount of intermediate data N, vectorised over bootstrap
replicates (each row of ``Y`` is one replicate of the scores at the sizes ``n``):

- log-linear: ``score = a + b ln N`` (least squares);
- saturating power law on the error (Isik et al. 2024 style): ``error = E + A N^-alpha`` with
  ``error = 100 - score`` on the 0-100 scale (``score`` itself for a lower-is-better metric): E is
  the irreducible error (E >= 0), A the scale (A >= 0), alpha the rate (searched in [0.001, 3]; at
  the edge the data show no saturation, and ``Fit.at_edge`` says so). Fitted by variable projection: for each alpha
  on a log grid the linear parameters (E, A) are least squares, the alpha with the smallest squared
  error wins (then refined by golden-section search for the point estimate).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ALPHAS = np.geomspace(1e-3, 3.0, 600)


@dataclass(frozen=True)
class Fit:
    """Point estimates and percentile bootstrap intervals of a fit's parameters."""

    kind: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    rmse: float
    n_points: int
    reps: int
    at_edge: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params, "rmse": self.rmse, "n_points": self.n_points,
                "at_edge": self.at_edge,
                "reps": self.reps, "intervals": {k: list(v) for k, v in self.intervals.items()}}


def loglinear(n: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of ``y = a + b ln n`` for each row of ``y`` (shape (reps, k) or (k,))."""
    n = np.asarray(n, dtype=float)
    Y = np.atleast_2d(np.asarray(y, dtype=float))
    X = np.column_stack([np.ones_like(n), np.log(n)])
    coef = np.linalg.pinv(X) @ Y.T                       # (2, reps)
    return coef[0], coef[1]


def _power_sse(n: np.ndarray, Y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each alpha (K) and replicate (R): least-squares (E, A) and the squared error."""
    designs = np.stack([np.column_stack([np.ones_like(n), n ** -a]) for a in alphas])     # (K, k, 2)
    pinvs = np.linalg.pinv(designs)                                                      # (K, 2, k)
    coef = np.einsum("kpj,rj->krp", pinvs, Y)                                           # (K, R, 2)
    # the error floor E and the scale A are not negative: on the boundary, the other one alone
    x = designs[:, :, 1]                                                                 # (K, k)
    a_only = np.einsum("kj,rj->kr", x, Y) / (x ** 2).sum(axis=1)[:, None]
    e_only = np.broadcast_to(Y.mean(axis=1)[None], a_only.shape)
    e, a = coef[..., 0], coef[..., 1]
    e, a = np.where(e < 0, 0.0, e), np.where(e < 0, np.maximum(a_only, 0.0), a)
    e, a = np.where(a < 0, np.maximum(e_only, 0.0), e), np.where(a < 0, 0.0, a)
    fitted = e[..., None] + a[..., None] * x[:, None, :]                                # (K, R, k)
    sse = ((fitted - Y[None]) ** 2).sum(axis=2)                                         # (K, R)
    return e, a, sse


def power_law(n: np.ndarray, error: np.ndarray, refine: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E, A, alpha) of ``error = E + A n^-alpha`` for each row of ``error``."""
    n = np.asarray(n, dtype=float)
    Y = np.atleast_2d(np.asarray(error, dtype=float))
    E, A, sse = _power_sse(n, Y, ALPHAS)
    best = np.argmin(sse, axis=0)
    rows = np.arange(Y.shape[0])
    e, amp, alpha = E[best, rows], A[best, rows], ALPHAS[best].astype(float)
    if refine:
        for r in range(Y.shape[0]):
            alpha[r] = _golden(lambda a: float(_power_sse(n, Y[r:r + 1], np.array([a]))[2][0, 0]),
                               ALPHAS[max(best[r] - 1, 0)], ALPHAS[min(best[r] + 1, len(ALPHAS) - 1)])
            e_r, a_r, _ = _power_sse(n, Y[r:r + 1], np.array([alpha[r]]))
            e[r], amp[r] = e_r[0, 0], a_r[0, 0]
    return e, amp, alpha


def _golden(f, low: float, high: float, steps: int = 60) -> float:
    ratio = (np.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def fit_loglinear(n: np.ndarray, y: np.ndarray, replicates: np.ndarray | None, level: float = 0.95) -> Fit:
    """The log-linear fit of the mean scores ``y`` with intervals from the rows of ``replicates``
    (or, when there are none, from a residual bootstrap)."""
    a, b = loglinear(n, y)
    fitted = a[0] + b[0] * np.log(n)
    reps = _replicates(y, fitted, replicates)
    ra, rb = loglinear(n, reps)
    return Fit("a + b ln N", {"a": float(a[0]), "b": float(b[0])},
               {"a": _interval(ra, level), "b": _interval(rb, level)},
               float(np.sqrt(np.mean((fitted - y) ** 2))), len(n), len(reps))


def fit_power_law(n: np.ndarray, error: np.ndarray, replicates: np.ndarray | None, level: float = 0.95) -> Fit:
    """The saturating power law of the errors, intervals as :func:`fit_loglinear`."""
    e, amp, alpha = power_law(n, error, refine=True)
    fitted = e[0] + amp[0] * n ** -alpha[0]
    reps = _replicates(error, fitted, replicates)
    re, ra, ralpha = power_law(n, reps)
    return Fit("E + A N^-alpha (error)", {"E": float(e[0]), "A": float(amp[0]), "alpha": float(alpha[0])},
               {"E": _interval(re, level), "A": _interval(ra, level), "alpha": _interval(ralpha, level)},
               float(np.sqrt(np.mean((fitted - error) ** 2))), len(n), len(reps),
               at_edge=bool(alpha[0] <= ALPHAS[1] or alpha[0] >= ALPHAS[-2]))


def _replicates(y: np.ndarray, fitted: np.ndarray, replicates: np.ndarray | None, reps: int = 1000,
                seed: int = 0) -> np.ndarray:
    if replicates is not None and len(replicates):
        return np.asarray(replicates, dtype=float)
    residuals = np.asarray(y, dtype=float) - fitted
    rng = np.random.default_rng(seed)
    return fitted[None] + rng.choice(residuals, size=(reps, len(residuals)), replace=True)
