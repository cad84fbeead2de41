"""Metrics: the scorers (ports of the official scorers) and, through hooks, the metric registry."""
from __future__ import annotations

from harness.metrics.scorers import (accuracy, bucc_scores, mewslix_mrr, mlqa_em_f1, mlqa_exact_match, mlqa_f1,
                                     mlqa_mixed_segmentation, mlqa_normalize_answer, normalize_answer,
                                     qa_score, seqeval_chunks, seqeval_scores, squad_em_f1, squad_exact_match,
                                     squad_f1, token_accuracy)

__all__ = ["accuracy", "bucc_scores", "mewslix_mrr", "mlqa_em_f1", "mlqa_exact_match", "mlqa_f1",
           "mlqa_mixed_segmentation", "mlqa_normalize_answer", "normalize_answer", "qa_score", "seqeval_chunks",
           "seqeval_scores", "squad_em_f1", "squad_exact_match", "squad_f1", "token_accuracy"]
