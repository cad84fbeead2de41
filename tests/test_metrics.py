"""Metrics against hand-computed values (the arithmetic is in the comments)."""
from __future__ import annotations

import pytest

from harness.metrics import (accuracy, normalize_answer, pair_scores, seqeval_chunks, seqeval_scores, squad_em_f1,
                             token_accuracy)
from harness_plugins.xtreme.mlqa import mlqa_em_f1, mlqa_mixed_segmentation, mlqa_normalize_answer
from harness_plugins.xtreme.scoring import mewslix_mrr


# ----------------------------------------------------------------------------- accuracy
def test_accuracy_fraction_and_empty():
    assert accuracy(["a", "b", "c", "d"], ["a", "x", "c", "d"]) == {"accuracy": 0.75}   # 3/4
    assert accuracy([], []) == {"accuracy": 0.0}
    with pytest.raises(ValueError):
        accuracy(["a"], [])


def test_token_accuracy_counts_tokens_not_sentences():
    # sentence 1: 2 of 3 right, sentence 2: 1 of 1 -> 3/4 (a per-sentence mean would be 5/6)
    golds = [["NP", "S\\NP", "."], ["N"]]
    preds = [["NP", "(S\\NP)/NP", "."], ["N"]]
    assert token_accuracy(golds, preds) == {"accuracy": 0.75}
    assert token_accuracy([], []) == {"accuracy": 0.0}
    with pytest.raises(ValueError):
        token_accuracy([["a", "b"]], [["a"]])


# ----------------------------------------------------------------------------- seqeval
def test_seqeval_ner_non_strict():
    # gold entities PER(0,1) LOC(3,3) | ORG in sentence 2; predicted PER(0,1) (I-PER opens a chunk in
    # the default, non-strict mode) ORG(3,3) | ORG -> 2 correct of 3 predicted, 3 gold
    golds = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    preds = [["I-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG"]]
    scores = seqeval_scores(golds, preds)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)


def test_seqeval_pos_tags_chunk_as_seqeval_0_0_12():
    # The first letter is the chunk tag, the whole tag the type: a run of one tag is ONE chunk.
    # gold NOUN NOUN VERB DET -> (NOUN,0,1) (VERB,2,2) (DET,3,3)
    # pred NOUN VERB VERB DET -> (NOUN,0,0) (VERB,1,2) (DET,3,3)  -> 1 correct: P = R = F1 = 1/3
    # (token accuracy would be 3/4)
    scores = seqeval_scores([["NOUN", "NOUN", "VERB", "DET"]], [["NOUN", "VERB", "VERB", "DET"]])
    assert scores == pytest.approx({"f1": 1 / 3, "precision": 1 / 3, "recall": 1 / 3})
    assert seqeval_chunks([["X", "X", "INTJ"], ["SYM", "SYM"]]) == [("X", 0, 1), ("INTJ", 2, 2),
                                                                  ("SYM", 4, 4), ("SYM", 5, 5)]


def test_seqeval_cconj_sconj_confusion_is_an_error():
    # seqeval >= 1.0 takes tag[1:] as the type, so CCONJ and SCONJ were both "CONJ" and this
    # confusion counted as correct; 0.0.12 (XTREME's and jiant's numbers) keeps them apart.
    # gold (CCONJ,0,0) (SCONJ,1,1); pred (SCONJ,0,0) (SCONJ,1,1): 1 of 2 right
    scores = seqeval_scores([["CCONJ", "SCONJ"]], [["SCONJ", "SCONJ"]])
    assert scores == pytest.approx({"f1": 0.5, "precision": 0.5, "recall": 0.5})
    # X alone is a chunk (seqeval >= 1.0 gives it no type and drops it)
    assert seqeval_scores([["X", "NOUN"]], [["X", "VERB"]]) == pytest.approx({"f1": 0.5, "precision": 0.5,
                                                                              "recall": 0.5})


def test_seqeval_iob2_and_offsets_over_the_corpus():
    # sentences are joined with an "O" after each: offsets run over the corpus; I- opens a chunk
    assert seqeval_chunks([["B-PER", "I-PER"], ["I-LOC", "O", "B-ORG"]]) == [
        ("PER", 0, 1), ("LOC", 3, 3), ("ORG", 5, 5)]
    assert seqeval_chunks([["I-PER", "I-PER", "B-PER", "E-PER", "S-LOC"]]) == [
        ("PER", 0, 1), ("PER", 2, 3), ("LOC", 4, 4)]


def test_seqeval_scores_keep_the_official_types():
    # nothing predicted: precision is the int 0 (no division), F1 the int 0 -> a report prints 0
    scores = seqeval_scores([["B-PER", "O"]], [["O", "O"]])
    assert scores == {"f1": 0, "precision": 0, "recall": 0.0}
    assert type(scores["f1"]) is int and type(scores["recall"]) is float
    assert seqeval_scores([], []) == {"f1": 0, "precision": 0, "recall": 0}
    with pytest.raises(ValueError, match="empty tag"):
        seqeval_scores([["O", ""]], [["O", "O"]])


def test_seqeval_length_mismatch():
    with pytest.raises(ValueError):
        seqeval_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError):
        seqeval_scores([["O"]], [])


# ----------------------------------------------------------------------------- BUCC
def test_pair_scores():
    # 1 of 2 predicted pairs correct, 3 gold pairs: P = 1/2, R = 1/3, F1 = 2PR/(P+R) = (1/3)/(5/6) = 0.4
    golds = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3"]
    preds = ["de-1\ten-1", "de-2\ten-7", "de-1\ten-1"]   # duplicates collapse (sets)
    scores = pair_scores(golds, preds)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(0.4)
    assert pair_scores(golds, [("de-1", "en-1")])["precision"] == 1.0
    assert pair_scores(golds, ["de-9\ten-9"]) == {"f1": 0, "precision": 0, "recall": 0}


# ----------------------------------------------------------------------------- SQuAD v1.1
def test_squad_normalize_answer():
    # lower, drop ASCII punctuation, drop whole-word a/an/the, collapse whitespace
    assert normalize_answer("The  Cat's hat!") == "cats hat"
    assert normalize_answer("An apple, a day") == "apple day"
    assert normalize_answer("Anne theory") == "anne theory"      # articles only as whole words
    assert normalize_answer("«cat»") == "«cat»"                  # SQuAD keeps non-ASCII punctuation
    assert normalize_answer("the") == ""


def test_squad_em_f1_hand_values():
    # q1: "the big red dog" vs "a red dog": tokens [big red dog] / [red dog], common 2,
    #     P = 2/3, R = 1, F1 = 0.8; EM 0
    # q2: max over golds: "big dog" vs "red dog" F1 = 0.5, vs "dog" F1 = 2*(1/2*1)/(3/2) = 2/3; EM 0
    # q3: exact after normalisation ("Paris." == "paris")
    # q4: unanswered -> 0;  "q9" is not a gold question -> ignored
    golds = {"q1": ["a red dog"], "q2": ["red dog", "dog"], "q3": ["paris"], "q4": ["x"]}
    preds = {"q1": "the big red dog", "q2": "big dog", "q3": "Paris.", "q9": "x"}
    scores = squad_em_f1(golds, preds)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 4)
    assert scores["f1"] == pytest.approx(100 * (0.8 + 2 / 3 + 1) / 4)


def test_squad_empty_prediction_and_article_only_gold():
    # an empty prediction against a gold that normalises to "" is an exact match but has F1 0
    # (no common tokens), as in the official script
    assert squad_em_f1({"q": ["The"]}, {"q": ""}) == {"exact_match": 100.0, "f1": 0.0}
    assert squad_em_f1({"q": ["cat"]}, {"q": ""}) == {"exact_match": 0.0, "f1": 0.0}
    assert squad_em_f1({}, {}) == {"exact_match": 0.0, "f1": 0.0}


def test_squad_repeated_ids_count_each_time_as_pairs():
    # pairs: q counted twice (right both times), r unanswered -> EM 2/3
    scores = squad_em_f1([("q", ["a cat"]), ("q", ["cat"]), ("r", ["dog"])], {"q": "cat"})
    assert scores["exact_match"] == pytest.approx(200 / 3)


def test_squad_tie_on_equal_golds():
    # two golds give the same F1 (1/2 each: one shared token of 2 predicted, 2 gold) -> 1/2, not 1
    scores = squad_em_f1({"q": ["red dog", "big cat"]}, {"q": "red cat"})
    assert scores["f1"] == pytest.approx(50.0)
    assert scores["exact_match"] == 0.0


def test_mlqa_unicode_punctuation_and_articles():
    assert mlqa_normalize_answer("«Hola»,", "es") == "hola"
    assert mlqa_normalize_answer("¿Qué es la casa?", "es") == "qué es casa"
    assert mlqa_normalize_answer("“The cat”", "en") == "cat"
    assert mlqa_normalize_answer("उत्तर पूर्व।", "hi") == "उत्तर पूर्व"   # danda U+0964 is punctuation
    assert mlqa_normalize_answer("của tôi", "vi") == "tôi"


def test_mlqa_german_articles_whole_words_only():
    assert mlqa_normalize_answer("Der Hund und die Katze", "de") == "hund und katze"
    assert mlqa_normalize_answer("Dieses Denkmal", "de") == "dieses denkmal"


def test_mlqa_arabic_removes_every_al():
    # the official pattern replaces every "ال" by a space, inside words too
    assert mlqa_normalize_answer("الكتاب", "ar") == "كتاب"
    assert mlqa_normalize_answer("مالك", "ar") == "م ك"


def test_mlqa_chinese_mixed_segmentation():
    # punctuation is removed first; each CJK ideograph becomes a token, other runs split on spaces
    assert mlqa_normalize_answer("北京大学，是中国的", "zh") == "北 京 大 学 是 中 国 的"
    assert mlqa_mixed_segmentation("abc北京 de f") == ["abc", "北", "京", "de", "f"]
    # "北京" vs "北京大学": common 2 chars, P = 2/2, R = 2/4, F1 = 2/3; EM 0
    scores = mlqa_em_f1({"q": ["北京大学"]}, {"q": "北京"}, "zh")
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(200 / 3)
    # with whitespace tokenisation the same strings would share no token
    assert mlqa_em_f1({"q": ["北京大学"]}, {"q": "北京"}, "en")["f1"] == 0.0


def test_mlqa_differs_from_squad_on_unicode_quotes():
    golds, preds = {"q": ["cat"]}, {"q": "“cat”"}
    assert mlqa_em_f1(golds, preds, "en")["exact_match"] == 100.0
    assert squad_em_f1(golds, preds)["exact_match"] == 0.0


def test_mlqa_unknown_language():
    with pytest.raises(ValueError):
        mlqa_em_f1({"q": ["x"]}, {"q": "x"}, "fr")
    with pytest.raises(ValueError):
        mlqa_normalize_answer("x", "ja")


# ----------------------------------------------------------------------------- Mewsli-X
def test_mewslix_mrr():
    # k = 20: a and c gold at rank 2 -> 1/2 each; b: the first match counts, gold stripped -> 1;
    # d: unpredicted -> 0; the prediction for "zz" (no gold) is ignored -> (0.5 + 1 + 0.5 + 0) / 4
    # k = 1: rank 2 is beyond k -> only b counts -> 1 / 4
    golds = {"a": ["Q1"], "b": [" Q2 "], "c": ["Q3"], "d": ["Q4"]}
    predictions = {"a": ["Q9", "Q1"], "b": ["Q2", "Q2"], "c": ["Q8", "Q3"], "zz": ["Q5"]}
    assert mewslix_mrr(golds, predictions, k=1) == pytest.approx(1 / 4)
    assert mewslix_mrr(golds, predictions) == pytest.approx(2 / 4)
    assert mewslix_mrr({}, predictions) == 0.0
