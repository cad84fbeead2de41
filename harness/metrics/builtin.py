"""The built-in metrics, registered by ``harness.defaults`` through ``harness_register_metrics``."""
from __future__ import annotations

from typing import Any, Sequence

from harness.metrics import scorers
from harness.metrics.metric import Metric


def ranking_scores(golds: Any, predictions: Any, k: int = 20) -> dict[str, float]:
    """MRR@k and MAP@k of ranked predictions (query -> candidate ids) against the relevant ids."""
    from harness.metrics.ranking import map_at_k, mrr_at_k
    return {"mrr": mrr_at_k(golds, predictions, k), "map": map_at_k(golds, predictions, k)}


def recall_scores(golds: Sequence[int], predictions: Any) -> dict[str, float]:
    """Image-caption recall@1/5/10 both ways and their mean, from a caption x image similarity matrix."""
    from harness.metrics.recall import retrieval_recall
    return retrieval_recall(predictions, golds)


def builtin_metrics() -> list[Metric]:
    return [
        Metric("accuracy", scorers.accuracy, "accuracy", 1, description="share of exact matches"),
        Metric("token_accuracy", scorers.token_accuracy, "accuracy", 1,
               description="share of correctly tagged tokens"),
        Metric("seqeval_f1", scorers.seqeval_scores, "f1", 1,
               description="entity-level micro F1 (seqeval, as XTREME)"),
        Metric("squad_em_f1", scorers.squad_em_f1, "f1", 100, description="SQuAD v1.1 EM and F1"),
        Metric("pair_f1", scorers.pair_scores, "f1", 1, description="F1 of predicted pairs (bitext mining)"),
        Metric("mrr_at_k", ranking_scores, "mrr", 1, description="mean reciprocal rank at k"),
        Metric("map_at_k", ranking_scores, "map", 1, description="mean average precision at k"),
        Metric("recall_at_k", recall_scores, "mean_recall", 1, description="image-text recall@1/5/10, mean"),
    ]
