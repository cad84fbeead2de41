"""Metrics: the scorers (ports of the official scorers) and the metric registry, filled through the
``harness_register_metrics`` hook."""
from __future__ import annotations

from harness.metrics.metric import Metric
from harness.metrics.registry import get_metric, known_metrics
from harness.metrics.ranking import average_precision, map_at_k, mrr_at_k, reciprocal_rank
from harness.metrics.scorers import (accuracy, bucc_scores, mewslix_mrr, mlqa_em_f1, mlqa_exact_match, mlqa_f1,
                                     mlqa_mixed_segmentation, mlqa_normalize_answer, normalize_answer,
                                     seqeval_chunks, seqeval_scores, squad_em_f1, squad_exact_match,
                                     squad_f1, token_accuracy)

__all__ = ["Metric", "get_metric", "known_metrics", "accuracy", "bucc_scores", "mewslix_mrr", "mlqa_em_f1",
           "mlqa_exact_match", "mlqa_f1", "mlqa_mixed_segmentation", "mlqa_normalize_answer", "normalize_answer",
           "seqeval_chunks", "seqeval_scores", "squad_em_f1", "squad_exact_match", "squad_f1", "token_accuracy",
           "average_precision", "map_at_k", "mrr_at_k", "reciprocal_rank"]
