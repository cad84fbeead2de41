"""Metrics against hand-computed values (the arithmetic is in the comments)."""
from __future__ import annotations

import warnings

import pytest

from harness.metrics import (accuracy, bucc_scores, mlqa_em_f1, mlqa_mixed_segmentation,
                             mlqa_normalize_answer, normalize_answer, seqeval_scores,
                             squad_em_f1, token_accuracy)


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


def test_seqeval_pos_tags_without_prefix_use_legacy_chunking():
    # seqeval reads "NOUN" as chunk tag "N" of type "OUN": consecutive equal tags form ONE chunk.
    # gold NOUN NOUN VERB DET -> (OUN,0,1) (ERB,2,2) (ET,3,3)
    # pred NOUN VERB VERB DET -> (OUN,0,0) (ERB,1,2) (ET,3,3)  -> 1 correct: P = R = F1 = 1/3
    # (token accuracy would be 3/4)
    scores = seqeval_scores([["NOUN", "NOUN", "VERB", "DET"]], [["NOUN", "VERB", "VERB", "DET"]])
    assert scores == pytest.approx({"f1": 1 / 3, "precision": 1 / 3, "recall": 1 / 3})


def test_seqeval_pos_prefix_letters_b_i_s_are_read_as_bio():
    # CCONJ -> tag "C", type "CONJ"; SCONJ -> tag "S" (a single-token chunk), type "CONJ".
    # gold CCONJ SCONJ: the S restarts the chunk without closing the C one -> only (CONJ,1,1)
    # pred SCONJ SCONJ: (CONJ,0,0) (CONJ,1,1)  -> 1 correct: P = 1/2, R = 1/1, F1 = 2/3
    scores = seqeval_scores([["CCONJ", "SCONJ"]], [["SCONJ", "SCONJ"]])
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["f1"] == pytest.approx(2 / 3)


def test_seqeval_no_predicted_entities_scores_zero_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # seqeval's warnings must not leak
        scores = seqeval_scores([["B-PER", "O"]], [["O", "O"]])
        assert scores == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
        seqeval_scores([["NOUN"]], [["VERB"]])
    assert seqeval_scores([], []) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_seqeval_length_mismatch():
    with pytest.raises(ValueError):
        seqeval_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError):
        seqeval_scores([["O"]], [])


# ----------------------------------------------------------------------------- BUCC
def test_bucc_scores():
    # 1 of 2 predicted pairs correct, 3 gold pairs: P = 1/2, R = 1/3, F1 = 2PR/(P+R) = (1/3)/(5/6) = 0.4
    golds = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3"]
    preds = ["de-1\ten-1", "de-2\ten-7", "de-1\ten-1"]   # duplicates collapse (sets)
    scores = bucc_scores(golds, preds)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(0.4)
    assert bucc_scores(golds, [("de-1", "en-1")])["precision"] == 1.0
    assert bucc_scores(golds, ["de-9\ten-9"]) == {"f1": 0, "precision": 0, "recall": 0}


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
