"""The built-in metrics, registered by ``harness.defaults`` through ``harness_register_metrics``."""
from __future__ import annotations

from harness.metrics import scorers
from harness.metrics.metric import Metric


def builtin_metrics() -> list[Metric]:
    return [
        Metric("accuracy", scorers.accuracy, "accuracy", 1, description="share of exact matches"),
        Metric("token_accuracy", scorers.token_accuracy, "accuracy", 1,
               description="share of correctly tagged tokens"),
        Metric("seqeval_f1", scorers.seqeval_scores, "f1", 1,
               description="entity-level micro F1 (seqeval, as XTREME)"),
        Metric("squad_em_f1", scorers.squad_em_f1, "f1", 100, description="SQuAD v1.1 EM and F1"),
        Metric("mlqa_em_f1", scorers.mlqa_em_f1, "f1", 100,
               description="MLQA EM and F1 with language-aware normalisation"),
        Metric("bucc_f1", scorers.bucc_scores, "f1", 1, description="bitext mining F1 over pairs"),
        Metric("tatoeba_accuracy", scorers.accuracy, "accuracy", 1,
               description="top-1 retrieval accuracy"),
    ]
