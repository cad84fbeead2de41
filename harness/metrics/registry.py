"""The metric registry: what a tasks.yaml ``metric`` name means. Metrics are registered through the
``harness_register_metrics`` hook (the built-in ones by ``harness.defaults``), like tasks.

A :class:`Metric` says which of its values is the primary one, on which scale, and in which
direction, so results name their ``main_score`` and tables never guess.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from harness.errors import UnknownNameError

SCALES = (1, 100)


@dataclass(frozen=True)
class Metric:
    """``scorer(golds, predictions[, language=...])`` returns a dict of named values; ``primary``
    names the one shown in tables and averaged; ``scale`` is 1 (fractions) or 100 (percentages)."""

    name: str
    scorer: Callable[..., dict[str, float]]
    primary: str
    scale: int = 1
    higher_is_better: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"metric '{self.name}': scale must be 1 or 100, got {self.scale!r}")

    def score(self, golds: Any, predictions: Any, language: str | None = None) -> dict[str, float]:
        """Call the scorer; it gets ``language`` only when it takes one (MLQA's normalisation)."""
        if "language" in inspect.signature(self.scorer).parameters:
            return self.scorer(golds, predictions, language=language)
        return self.scorer(golds, predictions)

    def main_score(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The ``main_score`` field of a result record."""
        value = metrics.get(self.primary)
        return {"name": self.primary, "value": value, "scale": self.scale,
                "higher_is_better": self.higher_is_better}


_METRICS: dict[str, Metric] = {}


def add_metric(metric: Metric) -> Metric:
    if not isinstance(metric, Metric):
        raise TypeError(f"register() expects a harness.metrics.Metric, got {type(metric).__name__}")
    _METRICS[metric.name] = metric
    return metric


def _builtins() -> None:
    from harness.metrics.builtin import builtin_metrics
    for metric in builtin_metrics():
        _METRICS.setdefault(metric.name, metric)


def get_metric(name: str) -> Metric:
    if name not in _METRICS:
        _builtins()
    if name not in _METRICS:
        raise UnknownNameError("metric", name, _METRICS)
    return _METRICS[name]


def known_metrics() -> list[str]:
    _builtins()
    return sorted(_METRICS)
