"""X-STILTs evaluation harness: English intermediate-task training and zero-shot cross-lingual transfer.

Plugin authors need only :data:`hookimpl` and :class:`Task` (and :class:`Option`, :class:`Metric` for
formats and metrics; see PLUGINS.md). The retrieval engine
(``encode``, ``default_layer``, ``knn``, ``margin_scores``, ``mine``, ``optimize_threshold``,
``pair_f1``, ``top1_accuracy``) is importable from here too; it loads torch on first use. Names
that moved into plugins resolve with a DeprecationWarning naming their new home (:mod:`harness.aliases`).
"""
from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.metrics.registry import Metric
from harness.spec.options import Option
from harness.spec.tasks import Task

__version__ = "0.1.0"

_LAZY = {"encode": "encoding", "default_layer": "encoding", "knn": "retrieval", "margin_scores": "retrieval",
         "mine": "retrieval", "optimize_threshold": "retrieval", "pair_f1": "retrieval",
         "top1_accuracy": "retrieval", "normalize_rows": "retrieval"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"harness.engine.{_LAZY[name]}"), name)
    from harness.aliases import resolve_moved
    return resolve_moved(__name__, name)


__all__ = ["hookimpl", "Metric", "Option", "Task", "__version__", *_LAZY]
