"""Ranking metrics of retrieval tasks (entity linking, answer-sentence retrieval), ported from XTREME-R's scorers.

* :func:`reciprocal_rank` / :func:`mrr_at_k`: ``third_party/utils_mewslix.py`` ``evaluate``: the
  ranking is cut to its first ``k`` ids, the reciprocal of the 1-based rank of the first relevant
  id counts (0 when none), averaged over every *gold* query (a query without predictions scores 0,
  predictions for unknown queries are ignored). XTREME-R's entity-linking "map@20" is this MRR@20.
* :func:`average_precision` / :func:`map_at_k`: ``third_party/utils_lareqa.py``
  ``average_precision_at_k``: over the first ``k`` ranked ids, each relevant id seen for the first
  time adds (relevant ids so far) / (1-based rank); a repeated id counts once but keeps its rank;
  the sum is divided by ``min(|relevant|, k)``. XTREME-R averages it over all questions pooled.

Values are fractions in [0, 1] (XTREME-R prints them x100).
"""
from __future__ import annotations

from typing import Collection, Hashable, Mapping, Sequence


def reciprocal_rank(relevant: Collection[Hashable], ranking: Sequence[Hashable], k: int) -> float:
    for rank, item in enumerate(ranking[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def average_precision(relevant: Collection[Hashable], ranking: Sequence[Hashable], k: int) -> float:
    if not relevant:
        raise ValueError("average precision needs at least one relevant item")
    score, hits, seen = 0.0, 0, set()
    for rank, item in enumerate(ranking[:k], start=1):
        if item in relevant and item not in seen:
            hits += 1
            score += hits / rank
        seen.add(item)
    return score / min(len(relevant), k)


def _mean_over_gold(metric, gold: Mapping[Hashable, Collection[Hashable]],
                    predictions: Mapping[Hashable, Sequence[Hashable]], k: int) -> float:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    scores = [metric(set(relevant), list(predictions.get(query, ())), k) for query, relevant in gold.items()]
    return sum(scores) / len(scores) if scores else 0.0


def mrr_at_k(gold: Mapping[Hashable, Collection[Hashable]], predictions: Mapping[Hashable, Sequence[Hashable]],
             k: int = 20) -> float:
    """Mean reciprocal rank at ``k`` over the gold queries (query -> relevant ids)."""
    return _mean_over_gold(reciprocal_rank, gold, predictions, k)


def map_at_k(gold: Mapping[Hashable, Collection[Hashable]], predictions: Mapping[Hashable, Sequence[Hashable]],
             k: int = 20) -> float:
    """Mean average precision at ``k`` over the gold queries (query -> relevant ids)."""
    return _mean_over_gold(average_precision, gold, predictions, k)
