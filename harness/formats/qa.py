"""Extractive question answering (SQuAD and every dataset in its schema).

Examples follow the SQuAD schema: ``id``, ``question``, ``context`` and
``answers = {"text": [str, ...], "answer_start": [int, ...]}`` (character offsets into ``context``).

Windows (task option ``windows``)
    A long context is cut into windows of ``max_length`` tokens (question and special tokens
    included); each window is one feature.

    ``xtreme`` (default), as XTREME's ``third_party/run_squad.py`` (transformers'
    ``squad_convert_examples_to_features`` of 2020) and jiant: window *k* starts at context token
    ``k * doc_stride`` and holds ``min(N - k * doc_stride, L)`` tokens (N context tokens, L the room
    left by the question and the special tokens); the last window is the first that reaches the end.
    Each context token is *max-context* in one window only: the one with the highest
    ``min(tokens left of it, tokens right of it) + 0.01 * window length`` (``_check_is_max_context``;
    on a tie the earlier window). Decoding takes a span's start only from a window in which that
    token is max-context, as ``compute_predictions_logits`` does.

    ``hf``, as Hugging Face's ``run_qa.py``: ``doc_stride`` is the *overlap* of consecutive windows
    (the tokenizer's ``stride``), and every window may start a span.

    For an 800-token context and L = 361 the ``xtreme`` windows start at tokens 0, 128, 256, 384, 512;
    the ``hf`` windows at 0, 233, 466.

Answer offsets
    Loaders that strip whitespace (the hub's ``google/xtreme`` script strips every context but keeps
    the offsets) leave offsets that miss their text. ``check`` moves such an offset to the nearest
    occurrence of the answer text in the context (the earlier of two equally near). An answer whose
    text is not in the context at all is kept for scoring (the official scorers read only the
    texts) and its row is left out of training, as XTREME's processor skips it. Both are counted
    (``describe_data``) and recorded in the result's ``data.qa_alignment`` (training rows: the
    training statistics). Only a malformed row (wrong types, lists of different lengths) is an error.

Training features carry the token positions of the first answer, or the CLS index (0) when the
answer is not inside the window. Evaluation features keep the character offsets of their context
tokens so that the best span over all windows of an example is cut out of the *original* context
string (``decode``).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import ConfigError, DataError, HarnessError
from harness.formats.adapters import squad_example  # noqa: F401 - re-exported for plugins
from harness.formats.base import Format, Head

#: defaults of the task options (tasks.yaml ``options``)
DEFAULT_DOC_STRIDE = 128
DEFAULT_MAX_ANSWER_LENGTH = 30
DEFAULT_N_BEST = 20
#: questions longer than this many tokens are cut (XTREME's max_query_length); at most half a window
DEFAULT_MAX_QUERY_LENGTH = 64
#: option ``windows``: how ``doc_stride`` cuts a long context (see the module docstring)
WINDOW_PROTOCOLS = ("xtreme", "hf")
#: example key set when an answer offset did not match its text: REALIGNED (moved to the nearest
#: occurrence of the text) or NOT_FOUND (the text is not in the context)
ALIGNMENT, REALIGNED, NOT_FOUND = "alignment", "realigned", "not_found"
#: the CLS position, target of training windows that do not contain the answer
CLS_INDEX = 0


def nearest_occurrence(context: str, text: str, start: int) -> int | None:
    """The offset of the occurrence of ``text`` in ``context`` nearest to ``start`` (the earlier of
    two equally near), or None."""
    best, position = None, context.find(text)
    while position != -1:
        if best is None or abs(position - start) < abs(best - start):
            best = position
        if position > start:
            break
        position = context.find(text, position + 1)
    return best


def window_protocol(task) -> str:
    """The task's ``windows`` option, validated (``xtreme`` when absent)."""
    value = task.spec.options.get("windows", WINDOW_PROTOCOLS[0])
    if value not in WINDOW_PROTOCOLS:
        raise ConfigError(f"task '{task.name}' ({task.spec.source_file or 'tasks.yaml'}): options.windows: "
                          f"{value!r} is not one of {', '.join(WINDOW_PROTOCOLS)}")
    return value


def xtreme_spans(n_tokens: int, room: int, doc_stride: int) -> list[tuple[int, int]]:
    """(first context token, length) of each window, as XTREME's run_squad.py cuts a context of
    ``n_tokens`` tokens into windows of at most ``room`` tokens: window k starts at k * doc_stride
    and the last one is the first that reaches the end. A stride larger than a window (a short
    ``max_length``) is cut to the window, so that no token is skipped."""
    step = max(1, min(doc_stride, room))
    spans, start = [], 0
    while True:
        spans.append((start, min(n_tokens - start, room)))
        if start + room >= n_tokens:
            return spans
        start += step


def max_context_windows(spans: list[tuple[int, int]]) -> list[int]:
    """For each context token, the window in which it has the most context (XTREME's
    ``_check_is_max_context``): the highest ``min(left, right) + 0.01 * length``, the earlier window
    on a tie."""
    n_tokens = max((start + length for start, length in spans), default=0)
    owner, best = [0] * n_tokens, [-1.0] * n_tokens
    for window, (start, length) in enumerate(spans):
        end = start + length - 1
        for position in range(start, end + 1):
            score = min(position - start, end - position) + 0.01 * length
            if score > best[position]:
                best[position], owner[position] = score, window
    return owner


@dataclass(frozen=True)
class PairTemplate:
    """The special tokens a tokenizer puts around a (question, context) pair, read off a probe
    encoding, so that windows can be assembled from token ids (any fast tokenizer, whatever its
    post-processor)."""

    prefix: list[int]
    middle: list[int]
    suffix: list[int]
    types: tuple[list[int], int, list[int], int, list[int]] | None   # prefix, question, middle, context, suffix

    @property
    def size(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def build(self, query: list[int], context: list[int]) -> dict[str, list[int]]:
        out = {"input_ids": self.prefix + query + self.middle + context + self.suffix}
        if self.types is not None:
            prefix, question, middle, second, suffix = self.types
            out["token_type_ids"] = prefix + [question] * len(query) + middle + [second] * len(context) + suffix
        return out


def _pair_template(tokenizer: Any) -> PairTemplate:
    probe_text = tokenizer.unk_token or "a"
    probe = tokenizer(probe_text, probe_text, add_special_tokens=True)
    ids, sequence = probe["input_ids"], probe.sequence_ids()
    first = [i for i, s in enumerate(sequence) if s == 0]
    second = [i for i, s in enumerate(sequence) if s == 1]
    if not first or not second:
        raise HarnessError(f"cannot read the pair layout of {type(tokenizer).__name__} "
                           f"(its encoding of {probe_text!r} has no tokens)")
    cuts = (first[0], first[-1] + 1, second[0], second[-1] + 1)
    types = probe.get("token_type_ids")
    return PairTemplate(
        prefix=ids[:cuts[0]], middle=ids[cuts[1]:cuts[2]], suffix=ids[cuts[3]:],
        types=None if types is None else (types[:cuts[0]], types[first[0]], types[cuts[1]:cuts[2]],
                                          types[second[0]], types[cuts[3]:]))


class QAHead(Head):
    """A linear layer giving a start and an end logit per token; padding positions are masked."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)

    def forward(self, encoder, batch):
        hidden = self.encode(encoder, batch)
        logits = self.qa_outputs(hidden).float()                       # [B, L, 2]
        if "attention_mask" in batch:
            pad = batch["attention_mask"].unsqueeze(-1) == 0
            logits = logits.masked_fill(pad, torch.finfo(logits.dtype).min / 2)
        out = {"logits": logits}
        if "start_positions" in batch and "end_positions" in batch:
            last = logits.shape[1] - 1
            start = batch["start_positions"].clamp(0, last)
            end = batch["end_positions"].clamp(0, last)
            loss_start = nn.functional.cross_entropy(logits[..., 0], start)
            loss_end = nn.functional.cross_entropy(logits[..., 1], end)
            out["loss"] = (loss_start + loss_end) / 2
        return out


class ExtractiveQA(Format):
    name = "qa"
    fields = {"question": str, "context": str, "answers": dict}
    per_token = True

    # -- validation ---------------------------------------------------------------------------
    def check(self, example, task):
        super().check(example, task)
        answers = example["answers"]
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list):
            raise DataError("expected an object with lists 'text' and 'answer_start'", field="answers")
        if len(texts) != len(starts):
            raise DataError(f"example {example['id']!r}: {len(texts)} answer texts but {len(starts)} "
                            f"answer_start offsets", field="answers")
        if not texts:  # nothing to score against: the EM/F1 of this row would be undefined
            raise DataError(f"example {example['id']!r}: no gold answer", field="answers")
        context, fixed, status = example["context"], list(starts), None
        for number, (text, start) in enumerate(zip(texts, starts)):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"example {example['id']!r}: answer {number} text: expected a non-empty "
                                f"string, got {text!r:.60}", field="answers")
            if isinstance(start, bool) or not isinstance(start, int):
                raise DataError(f"example {example['id']!r}: answer {number} answer_start: expected int, "
                                f"got {type(start).__name__}", field="answers")
            if start >= 0 and context[start:start + len(text)] == text:
                continue
            found = nearest_occurrence(context, text, start)
            if found is None:
                status = NOT_FOUND
            else:
                fixed[number], status = found, status or REALIGNED
        if status is not None:
            example["answers"] = {**answers, "answer_start": fixed}
            example[ALIGNMENT] = status

    def describe_data(self, examples, task, train=False):
        """How many rows had an answer offset that did not match its text (re-aligned to the nearest
        occurrence of the text) and how many had an answer that is not in the context at all: kept
        for scoring, dropped from training."""
        counts = Counter(e.get(ALIGNMENT) for e in examples)
        return {"qa_alignment": {"realigned": counts[REALIGNED],
                                 "dropped" if train else "not_found": counts[NOT_FOUND]}}

    # -- model side ---------------------------------------------------------------------------
    def build_head(self, hidden_size, task):
        return QAHead(hidden_size)

    def featurize(self, examples, tokenizer, task, max_length, train):
        if not getattr(tokenizer, "is_fast", False):
            raise HarnessError(f"task '{task.name}': extractive QA needs a fast tokenizer (offset mapping); "
                               f"{type(tokenizer).__name__} is not one")
        if not examples:
            return []
        doc_stride = int(task.spec.options.get("doc_stride", DEFAULT_DOC_STRIDE))
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        max_query = int(task.spec.options.get("max_query_length", DEFAULT_MAX_QUERY_LENGTH))
        max_query = max(1, min(max_query, (max_length - specials) // 2))
        if max_length - specials - max_query < 2:
            raise HarnessError(f"task '{task.name}': max_length {max_length} leaves no room for the context")
        if train:  # an answer that is not in its context cannot be a training target
            examples = [e for e in examples if e.get(ALIGNMENT) != NOT_FOUND]
        if window_protocol(task) == "hf":
            return self._hf_windows(examples, tokenizer, max_length, doc_stride, max_query, train)
        return self._xtreme_windows(examples, tokenizer, max_length, doc_stride, max_query, train)

    def _xtreme_windows(self, examples, tokenizer, max_length, doc_stride, max_query, train):
        """Window k starts at context token k * doc_stride (XTREME's run_squad.py); evaluation
        features mark the context tokens for which they are the max-context window."""
        template = _pair_template(tokenizer)
        questions = tokenizer([e["question"].lstrip() for e in examples], add_special_tokens=False)["input_ids"]
        contexts = tokenizer([e["context"] for e in examples], add_special_tokens=False,
                             return_offsets_mapping=True)
        features = []
        for example_index, example in enumerate(examples):
            query = questions[example_index][:max_query]
            context_ids = contexts["input_ids"][example_index]
            context_offsets = [tuple(o) for o in contexts["offset_mapping"][example_index]]
            room = max_length - template.size - len(query)
            spans = xtreme_spans(len(context_ids), room, doc_stride)
            owner = max_context_windows(spans)
            for window, (start, length) in enumerate(spans):
                feature = {"example_index": example_index,
                           **template.build(query, context_ids[start:start + length])}
                before = len(feature["input_ids"]) - len(template.suffix) - length
                offsets: list[tuple[int, int] | None] = [None] * len(feature["input_ids"])
                offsets[before:before + length] = context_offsets[start:start + length]
                if train:
                    sequence_ids = [1 if o is not None else None for o in offsets]
                    feature["start_positions"], feature["end_positions"] = self._label(example, offsets,
                                                                                       sequence_ids)
                else:
                    feature["offsets"] = offsets
                    feature["max_context"] = [before + j for j in range(length) if owner[start + j] == window]
                features.append(feature)
        return features

    def _hf_windows(self, examples, tokenizer, max_length, doc_stride, max_query, train):
        """Hugging Face run_qa.py: the tokenizer's overflowing windows, ``doc_stride`` tokens of overlap."""
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        questions, query_tokens = self._cut_questions([e["question"].lstrip() for e in examples],
                                                      tokenizer, max_query)
        room = max_length - specials - query_tokens        # context tokens per window
        stride = max(0, min(doc_stride, room // 2))        # overlap must be smaller than a window
        encoded = tokenizer(questions, [e["context"] for e in examples], truncation="only_second",
                            max_length=max_length, stride=stride, return_overflowing_tokens=True,
                            return_offsets_mapping=True, padding=False)
        sample_map = encoded["overflow_to_sample_mapping"]
        features = []
        for i, example_index in enumerate(sample_map):
            sequence_ids = encoded.sequence_ids(i)
            offsets = encoded["offset_mapping"][i]
            feature: dict[str, Any] = {"example_index": int(example_index),
                                       "input_ids": encoded["input_ids"][i]}
            if "token_type_ids" in encoded:
                feature["token_type_ids"] = encoded["token_type_ids"][i]
            if train:
                start, end = self._label(examples[example_index], offsets, sequence_ids)
                feature["start_positions"], feature["end_positions"] = start, end
            else:
                feature["offsets"] = [tuple(o) if s == 1 else None for o, s in zip(offsets, sequence_ids)]
            features.append(feature)
        return features

    @staticmethod
    def _cut_questions(questions: list[str], tokenizer: Any, max_query: int) -> tuple[list[str], int]:
        """Questions cut (at a token boundary of the original text) to ``max_query`` tokens, and the
        token count of the longest one."""
        encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        cut, longest = [], 0
        for question, ids, offsets in zip(questions, encoded["input_ids"], encoded["offset_mapping"]):
            if len(ids) > max_query:
                question = question[: offsets[max_query - 1][1]]
            cut.append(question)
            longest = max(longest, min(len(ids), max_query))
        return cut, longest

    @staticmethod
    def _label(example: dict[str, Any], offsets: list[tuple[int, int]],
               sequence_ids: list[int | None]) -> tuple[int, int]:
        """Start/end token positions of the first answer in this window, else (CLS, CLS)."""
        answers = example["answers"]
        if not answers["text"]:
            return CLS_INDEX, CLS_INDEX
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        context_tokens = [t for t, s in enumerate(sequence_ids) if s == 1]
        if not context_tokens:
            return CLS_INDEX, CLS_INDEX
        first, last = context_tokens[0], context_tokens[-1]
        if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
            return CLS_INDEX, CLS_INDEX
        start = first
        while start <= last and offsets[start][0] <= start_char:
            start += 1
        start -= 1
        end = last
        while end >= first and offsets[end][1] >= end_char:
            end -= 1
        end += 1
        return start, max(start, end)

    def collate(self, features, pad_id):
        batch = super().collate(features, pad_id)
        if "start_positions" in features[0]:
            batch["start_positions"] = torch.tensor([f["start_positions"] for f in features], dtype=torch.long)
            batch["end_positions"] = torch.tensor([f["end_positions"] for f in features], dtype=torch.long)
        return batch

    # -- evaluation side ----------------------------------------------------------------------
    def decode(self, examples, features, logits, task):
        """The best valid span (start + end logit) over all windows of each example, cut out of the
        original context; "" when no window offers a valid span."""
        options = task.spec.options or {}
        n_best = int(options.get("n_best", DEFAULT_N_BEST))
        max_answer = int(options.get("max_answer_length", DEFAULT_MAX_ANSWER_LENGTH))
        by_example: dict[int, list[int]] = defaultdict(list)
        for index, feature in enumerate(features):
            by_example[feature["example_index"]].append(index)
        predictions: list[str] = []
        for example_index, example in enumerate(examples):
            best_score, best_span = -np.inf, None
            for index in by_example.get(example_index, []):
                feature = features[index]
                span = self._best_span(np.asarray(logits[index]), feature["offsets"], example["context"],
                                       n_best, max_answer, feature.get("max_context"))
                if span is not None and span[0] > best_score:
                    best_score, best_span = span
            if best_span is None:
                predictions.append("")
            else:
                predictions.append(example["context"][best_span[0]:best_span[1]].strip())
        return predictions

    @staticmethod
    def _best_span(logits: np.ndarray, offsets: list, context: str, n_best: int, max_answer: int,
                   max_context: list[int] | None = None) -> tuple[float, tuple[int, int]] | None:
        """(score, (char start, char end)) of the best valid span of one window, or None. Valid: both
        ends are context tokens, the start is one of ``max_context`` (when given), end >= start, at
        most ``max_answer`` tokens, not only whitespace (sentencepiece tokenizers have tokens that
        cover just a space)."""
        length = min(len(offsets), logits.shape[0])
        start_logits, end_logits = logits[:length, 0], logits[:length, 1]
        # highest first, the lower position first among equal logits (the references sort stably)
        starts = np.argsort(-start_logits, kind="stable")[:n_best]
        ends = np.argsort(-end_logits, kind="stable")[:n_best]
        allowed = None if max_context is None else set(max_context)
        best: tuple[float, tuple[int, int]] | None = None
        for s in starts:
            if offsets[s] is None or (allowed is not None and s not in allowed):
                continue
            for e in ends:
                if offsets[e] is None or e < s or e - s + 1 > max_answer:
                    continue
                score = float(start_logits[s]) + float(end_logits[e])
                if (best is None or score > best[0]) and context[offsets[s][0]:offsets[e][1]].strip():
                    best = (score, (offsets[s][0], offsets[e][1]))
        return best

    def gold(self, example):
        return list(example["answers"]["text"])

    def score(self, examples, predictions, task, language):
        from harness.metrics.registry import get_metric

        ids = [e["id"] for e in examples]
        keys = ids if len(set(ids)) == len(ids) else [str(i) for i in range(len(examples))]
        golds = {k: self.gold(e) for k, e in zip(keys, examples)}
        preds = dict(zip(keys, predictions))
        result = get_metric(task.spec.metric).score(golds, preds, language)
        if not {"exact_match", "f1"} <= set(result):
            raise ConfigError(f"task '{task.name}': metric '{task.spec.metric}' is not a QA metric "
                              f"(it must give exact_match and f1, as squad_em_f1 does)")
        result = {k: float(v) for k, v in result.items()}
        result["score"] = (result["exact_match"] + result["f1"]) / 2
        return result
