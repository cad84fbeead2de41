"""MLQA's official EM/F1 (``mlqa_evaluation_v1.py`` as XTREME vendors it): language-aware answer
normalisation (Unicode punctuation, the language's articles, zh mixed segmentation). Registered as
the ``mlqa_em_f1`` metric by the XTREME suite plugin."""
from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from typing import Mapping

from harness.metrics.scorers import QAGolds, qa_scores, token_f1

_ASCII_PUNCT = frozenset(string.punctuation)


@functools.lru_cache(maxsize=1)
def mlqa_punct() -> frozenset[str]:
    """Every character of a Unicode "P*" category below sys.maxunicode, plus ASCII punctuation
    (built on first use: scanning every code point takes a noticeable part of a second)."""
    return frozenset(ch for ch in map(chr, range(sys.maxunicode))
                     if unicodedata.category(ch).startswith("P")) | _ASCII_PUNCT
MLQA_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
MLQA_MIXED_SEGMENTATION_LANGS = ("zh",)
_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # The official pattern is '\sال^|ال': its first branch can never match ('^' after two
    # characters), so every occurrence of the letters "ال" becomes a space, even inside words.
    "ar": re.compile("\\sال^|ال"),
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def mlqa_mixed_segmentation(text: str) -> list[str]:
    """MLQA's zh tokenisation: each CJK ideograph (U+4E00-U+9FA5) and each punctuation character is
    a token of its own; the runs between them are split on whitespace."""
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.search(ch) or ch in mlqa_punct():
            if run:
                tokens.extend(run.split())
                run = ""
            tokens.append(ch)
        else:
            run += ch
    if run:
        tokens.extend(run.split())
    return tokens


def mlqa_normalize_answer(text: str, language: str) -> str:
    """MLQA normalisation: lower case, drop Unicode punctuation, drop the language's articles
    (en/es/vi/de/ar; none for hi/zh), then whitespace (or, for zh, mixed) tokenisation re-joined by
    single spaces. Unknown languages raise ValueError (the official script raises too)."""
    if language not in MLQA_WHITESPACE_LANGS and language not in MLQA_MIXED_SEGMENTATION_LANGS:
        raise ValueError(f"Unknown Language {language}")
    text = text.lower()
    punct = mlqa_punct()
    text = "".join(ch for ch in text if ch not in punct)
    if language in _MLQA_ARTICLES:
        text = _MLQA_ARTICLES[language].sub(" ", text)
    tokens = text.split() if language in MLQA_WHITESPACE_LANGS else mlqa_mixed_segmentation(text)
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa_f1(prediction: str, gold: str, language: str) -> float:
    return token_f1(mlqa_normalize_answer(prediction, language).split(),
                     mlqa_normalize_answer(gold, language).split())


def mlqa_exact_match(prediction: str, gold: str, language: str) -> bool:
    return mlqa_normalize_answer(prediction, language) == mlqa_normalize_answer(gold, language)


def mlqa_em_f1(golds: QAGolds, predictions: Mapping[str, str],
               language: str) -> dict[str, float]:
    """MLQA official EM/F1 (0-100) for answers in ``language`` (en, es, de, ar, hi, vi, zh)."""
    if language not in MLQA_WHITESPACE_LANGS and language not in MLQA_MIXED_SEGMENTATION_LANGS:
        raise ValueError(f"Unknown Language {language}")
    return qa_scores(golds, predictions,
                      lambda p, g: mlqa_exact_match(p, g, language),
                      lambda p, g: mlqa_f1(p, g, language))
