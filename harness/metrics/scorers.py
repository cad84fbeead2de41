"""Metrics, each matching its official scorer (the evaluation scripts of the benchmarks it serves).

Scales: ``accuracy``, ``token_accuracy``, ``seqeval_scores`` and ``pair_scores`` return fractions
(0-1); the QA scorer ``squad_em_f1`` returns percentages (0-100) as the official SQuAD v1.1 script
does. A leaderboard suite plugin multiplies the fractions by 100 where its official script reports
percentages (``x * 100`` of the same float, so digits agree). Language-aware QA normalisations and
benchmark-specific scorers live in the suite plugins that register them
(``harness_register_metrics``); :func:`qa_scores` and :func:`token_f1` are their building blocks.

Names that moved out of this module still resolve, with a DeprecationWarning naming their new home.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Sequence, Tuple, Union


def accuracy(golds: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """Share of exact matches, as XTREME's ``accuracy`` (empty input scores 0, not an error)."""
    if len(golds) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold labels")
    if not golds:
        return {"accuracy": 0.0}
    correct = sum(int(p == g) for p, g in zip(predictions, golds))
    return {"accuracy": correct / len(golds)}


def token_accuracy(golds: Sequence[Sequence[Any]], predictions: Sequence[Sequence[Any]]) -> dict[str, float]:
    """Per-token accuracy over all sentences (CCG supertagging): correct tokens / gold tokens.

    Every sentence must have as many predicted as gold tags; an empty input scores 0.
    """
    if len(golds) != len(predictions):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(golds)} gold sentences")
    correct = total = 0
    for i, (gold, pred) in enumerate(zip(golds, predictions)):
        if len(gold) != len(pred):
            raise ValueError(f"sentence {i}: {len(pred)} predicted tags for {len(gold)} gold tags")
        correct += sum(int(p == g) for p, g in zip(pred, gold))
        total += len(gold)
    return {"accuracy": correct / total if total else 0.0}


# --------------------------------------------------------------------------------- seqeval
def seqeval_chunks(sentences: Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """The chunks ``(type, first, last)`` of seqeval 0.0.12's ``get_entities`` (default, prefix mode).

    The sentences are concatenated with an ``O`` after each one, so offsets count over the whole
    corpus and no chunk crosses a sentence end. A tag's first character is its chunk tag and the text
    after its last ``-`` its type; nothing checks for a real ``B-``/``I-`` prefix. For IOB2 entity
    tags this is ordinary entity chunking; for part-of-speech tags it means: a run of one tag is one chunk
    (``NOUN NOUN`` -> one), tags starting with ``S`` (SCONJ, SYM) are one-token chunks, and the whole
    tag is the type (CCONJ and SCONJ differ, X is a chunk). seqeval >= 1.0 takes ``tag[1:]`` as the
    type instead and gives other part-of-speech numbers; XTREME's and jiant's numbers are 0.0.12's.
    """
    flat = [tag for sentence in sentences for tag in (*sentence, "O")]
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate(flat + ["O"]):
        if not label:
            raise ValueError(f"empty tag at token {i} (counting an 'O' after each sentence)")
        tag, type_ = label[0], label.split("-")[-1]
        if _chunk_ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev_tag in "ES" or (prev_tag in "BI" and tag in "BSO")
            or (prev_tag not in "O." and prev_type != type_))


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in "BS" or (prev_tag in "ESO" and tag in "EI")
            or (tag not in "O." and prev_type != type_))


def seqeval_scores(golds: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro F1/precision/recall over the chunks of :func:`seqeval_chunks`, as seqeval 0.0.12's
    ``f1_score``/``precision_score``/``recall_score`` (what XTREME's evaluate.py and jiant call for
    its tagging tasks). Returns fractions (0-1) with seqeval's types: a score with nothing to divide
    by is the int 0, and F1 is the int 0 when precision + recall is 0 (so reports print ``0``, not
    ``0.0``, where the official ones do). Sentence counts and each sentence's length must agree (the
    official scorer does not check lengths; a shorter sentence would shift every later chunk).
    """
    if len(golds) != len(predictions):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(golds)} gold sentences")
    for i, (gold, pred) in enumerate(zip(golds, predictions)):
        if len(gold) != len(pred):
            raise ValueError(f"sentence {i + 1}: {len(pred)} predicted tags for {len(gold)} gold tags")
    gold_chunks, pred_chunks = set(seqeval_chunks(golds)), set(seqeval_chunks(predictions))
    correct = len(gold_chunks & pred_chunks)
    precision = correct / len(pred_chunks) if pred_chunks else 0
    recall = correct / len(gold_chunks) if gold_chunks else 0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0
    return {"f1": f1, "precision": precision, "recall": recall}


# --------------------------------------------------------------------------------- pairs
def pair_scores(golds: Iterable[str | Sequence[str]], predictions: Iterable[str | Sequence[str]]) -> dict[str, float]:
    """Precision, recall and F1 of predicted pairs against gold pairs (bitext mining), both taken as
    sets of pairs (``"src_id\\ttrg_id"`` lines or tuples), as XTREME's evaluate.py scores mined pairs:
    no correct pair scores 0 everywhere (ints, as the official function returns). Fractions (0-1)."""
    gold_set = {_pair(p) for p in golds}
    pred_set = {_pair(p) for p in predictions}
    correct = len(gold_set & pred_set)
    if correct > 0:
        precision = correct / len(pred_set)
        recall = correct / len(gold_set)
        f1 = 2 * precision * recall / (precision + recall)
    else:
        precision = recall = f1 = 0
    return {"f1": f1, "precision": precision, "recall": recall}


def _pair(item: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(item.split("\t")) if isinstance(item, str) else tuple(item)


# --------------------------------------------------------------------------------- SQuAD v1.1
_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, drop ASCII punctuation, drop English articles
    (a/an/the as whole words), collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    text = _EN_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0
    precision = 1.0 * same / len(prediction_tokens)
    recall = 1.0 * same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_f1(prediction: str, gold: str) -> float:
    return token_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def squad_exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


QAGolds = Union[Mapping[str, Sequence[str]], Iterable[Tuple[str, Sequence[str]]]]


def qa_scores(golds: Any, predictions: Mapping[str, str],
               em_fn: Callable[[str, str], Any], f1_fn: Callable[[str, str], Any]) -> dict[str, float]:
    """The official loop: every gold question counts; an unanswered one scores 0 (the official
    scripts print "Unanswered question ... will receive score 0." and go on); predictions for unknown
    ids are ignored; each question takes the best score over its gold answers. ``golds`` is a mapping
    id -> answers or an iterable of (id, answers) pairs (repeated ids then count each time, as in
    the official loop over a dataset file)."""
    exact = f1 = total = 0
    pairs = golds.items() if isinstance(golds, Mapping) else golds
    for qid, answers in pairs:
        total += 1
        if qid not in predictions:
            continue
        answers = [answers] if isinstance(answers, str) else list(answers)
        if not answers:
            raise ValueError(f"question {qid!r} has no gold answer")
        prediction = predictions[qid]
        exact += max(em_fn(prediction, a) for a in answers)
        f1 += max(f1_fn(prediction, a) for a in answers)
    if total == 0:   # the official scripts divide by zero here; the harness scores empty input 0
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def squad_em_f1(golds: QAGolds, predictions: Mapping[str, str]) -> dict[str, float]:
    """SQuAD v1.1 official EM/F1 (0-100): ``golds`` maps question id -> gold answer texts,
    ``predictions`` maps question id -> predicted text. XTREME uses it for two of its three QA tasks."""
    return qa_scores(golds, predictions, squad_exact_match, squad_f1)


def __getattr__(name: str) -> Any:
    from harness.aliases import resolve_moved
    return resolve_moved(__name__, name)
