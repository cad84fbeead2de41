"""Metrics: the scorers (ports of the official scorers) and the metric registry, filled through the
``harness_register_metrics`` hook."""
from __future__ import annotations

from typing import Any

from harness.metrics.metric import Metric
from harness.metrics.registry import get_metric, known_metrics
from harness.metrics.ranking import average_precision, map_at_k, mrr_at_k, reciprocal_rank
from harness.metrics.scorers import (accuracy, normalize_answer, pair_scores, qa_scores, seqeval_chunks,
                                     seqeval_scores, squad_em_f1, squad_exact_match, squad_f1, token_accuracy,
                                     token_f1)

__all__ = ["Metric", "get_metric", "known_metrics", "accuracy", "normalize_answer", "pair_scores", "qa_scores",
           "seqeval_chunks", "seqeval_scores", "squad_em_f1", "squad_exact_match", "squad_f1", "token_accuracy",
           "token_f1", "average_precision", "map_at_k", "mrr_at_k", "reciprocal_rank"]


def __getattr__(name: str) -> Any:
    """Scorers that moved into the plugins that register them resolve with a DeprecationWarning."""
    from harness.aliases import resolve_moved
    return resolve_moved(__name__, name)
