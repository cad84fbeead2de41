"""mrr@k and map@k: properties, and agreement with XTREME-R's own scorers (ported verbatim below)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from harness.metrics.ranking import average_precision, map_at_k, mrr_at_k, reciprocal_rank

ids = st.integers(0, 12)
rankings = st.lists(ids, max_size=30)
relevant_sets = st.sets(ids, min_size=1, max_size=6)
ks = st.integers(1, 25)


def official_ap(targets, ranked_predictions, k=None):
    """third_party/utils_lareqa.py average_precision_at_k."""
    if k:
        ranked_predictions = ranked_predictions[:k]
    score, hits = 0.0, 0.0
    for i, pred in enumerate(ranked_predictions):
        if pred in targets and pred not in ranked_predictions[:i]:
            hits += 1.0
            score += hits / (i + 1.0)
    divisor = min(len(targets), k) if k else len(targets)
    return score / divisor


def official_mrr(gold_data, predictions, k=20):
    """third_party/utils_mewslix.py evaluate + mean_reciprocal_rank."""
    rrs = []
    for example_id, labels in gold_data.items():
        gold = labels[0].strip()
        rr = 0.0
        for rank, p in enumerate(predictions.get(example_id, [])[:k], start=1):
            if p == gold:
                rr = 1.0 / rank
                break
        rrs.append(rr)
    return sum(rrs) / len(rrs) if rrs else 0.0


@given(relevant_sets, rankings, ks)
def test_average_precision_equals_the_official_scorer(relevant, ranking, k):
    assert average_precision(relevant, ranking, k) == official_ap(relevant, ranking, k)


@settings(max_examples=50)
@given(st.dictionaries(st.text("abc", min_size=1, max_size=3), st.sampled_from("wxyz"), max_size=8),
       st.dictionaries(st.text("abc", min_size=1, max_size=3), st.lists(st.sampled_from("wxyz"), max_size=6),
                       max_size=8), ks)
def test_mrr_equals_the_official_mewslix_scorer(gold, predictions, k):
    assert mrr_at_k({q: [e] for q, e in gold.items()}, predictions, k) == official_mrr(
        {q: [e] for q, e in gold.items()}, predictions, k)


@given(ids, rankings, ks)
def test_one_relevant_item_average_precision_is_the_reciprocal_rank(item, ranking, k):
    assert average_precision({item}, ranking, k) == reciprocal_rank({item}, ranking, k)


@given(relevant_sets, st.integers(1, 10))
def test_a_relevant_item_ranked_past_k_scores_zero(relevant, k):
    ranking = [100 + i for i in range(k)] + sorted(relevant)
    assert average_precision(relevant, ranking, k) == 0.0
    assert reciprocal_rank(relevant, ranking, k) == 0.0


def test_duplicates_count_once_but_keep_their_rank():
    # ranks 1 and 3 hold the two relevant items; the duplicate at rank 2 adds nothing
    assert average_precision({1, 2}, [1, 1, 2], 20) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision({1, 2}, [1, 1, 1], 20) == 0.5      # not 1.5 / 2


def test_the_divisor_is_min_of_relevant_and_k():
    assert average_precision({1, 2, 3, 4}, [1, 2], 2) == 1.0          # divisor 2, not 4
    assert average_precision({1, 2, 3, 4}, [1, 2, 9, 9], 20) == pytest.approx(0.5)


def test_a_missing_query_scores_zero_and_extra_queries_are_ignored():
    gold = {"a": {"x"}, "b": {"y"}}
    predictions = {"a": ["x"], "unknown": ["y"]}
    assert mrr_at_k(gold, predictions, 20) == 0.5
    assert map_at_k(gold, predictions, 20) == 0.5
    assert mrr_at_k({}, predictions) == 0.0


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError):
        average_precision(set(), [1], 20)
    with pytest.raises(ValueError):
        mrr_at_k({"a": {"x"}}, {}, 0)
