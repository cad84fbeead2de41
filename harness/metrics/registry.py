"""The metric registry: what a tasks.yaml ``metric`` name means. Metrics are registered through the
``harness_register_metrics`` hook (the built-in ones by ``harness.defaults``), like tasks.

A :class:`Metric` says which of its values is the primary one, on which scale, and in which
direction, so results name their ``main_score`` and tables never guess.
"""
from __future__ import annotations

from harness.errors import UnknownNameError
from harness.metrics.metric import SCALES, Metric

__all__ = ["SCALES", "Metric", "add_metric", "get_metric", "known_metrics"]

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
