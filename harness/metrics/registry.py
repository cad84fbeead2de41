"""The metric registry: what a tasks.yaml ``metric`` name means. Metrics are registered through the
``harness_register_metrics`` hook (the built-in ones by ``harness.defaults``), like tasks.

A :class:`Metric` says which of its values is the primary one, on which scale, and in which
direction, so results name their ``main_score`` and tables never guess.
"""
from __future__ import annotations

from harness.metrics.metric import SCALES, Metric
from harness.registry import NameTable

__all__ = ["SCALES", "Metric", "add_metric", "get_metric", "known_metrics"]


def _builtins() -> list[tuple[str, Metric]]:
    from harness.metrics.builtin import builtin_metrics
    return [(metric.name, metric) for metric in builtin_metrics()]


_METRICS: NameTable[Metric] = NameTable("metric", _builtins)


def add_metric(metric: Metric) -> Metric:
    if not isinstance(metric, Metric):
        raise TypeError(f"register() expects a harness.metrics.Metric, got {type(metric).__name__}")
    return _METRICS.add(metric.name, metric)


def get_metric(name: str) -> Metric:
    return _METRICS.get(name)


def known_metrics() -> list[str]:
    return _METRICS.known()
