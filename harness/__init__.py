"""X-STILTs evaluation harness: English intermediate-task training and zero-shot cross-lingual transfer.

Plugin authors need only :data:`hookimpl` and :class:`Task` (and :class:`Option`, :class:`Metric` for
formats and metrics; see PLUGINS.md). The retrieval engine
(``encode``, ``default_layer``, ``knn``, ``margin_scores``, ``mine``, ``optimize_threshold``,
``bucc_f1``, ``tatoeba_accuracy``) is importable from here too; it loads torch on first use.
"""
from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.metrics.registry import Metric
from harness.spec.options import Option
from harness.spec.tasks import Task

__version__ = "0.1.0"

_LAZY = {"encode": "encoding", "default_layer": "encoding", "knn": "retrieval", "margin_scores": "retrieval",
         "mine": "retrieval", "optimize_threshold": "retrieval", "bucc_f1": "retrieval",
         "tatoeba_accuracy": "retrieval", "normalize_rows": "retrieval"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"harness.engine.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


__all__ = ["hookimpl", "Metric", "Option", "Task", "__version__", *_LAZY]
