"""Extractive question answering (SQuAD, XQuAD, MLQA, TyDiQA-GoldP).

Examples follow the SQuAD schema: ``id``, ``question``, ``context`` and
``answers = {"text": [str, ...], "answer_start": [int, ...]}`` (character offsets into ``context``).

Long contexts are split into overlapping windows (``doc_stride`` tokens of overlap, as in Hugging Face's
``run_qa.py``); each window is one feature. Training features carry the token positions of the first
answer, or the CLS index (0) when the answer is not inside the window. Evaluation features keep the
character offsets of their context tokens so that the best span over all windows of an example is
cut out of the *original* context string (``decode``).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import ConfigError, DataError, HarnessError
from harness.formats.base import Format, Head, register_format

#: defaults of the task options (tasks.yaml ``options``)
DEFAULT_DOC_STRIDE = 128
DEFAULT_MAX_ANSWER_LENGTH = 30
DEFAULT_N_BEST = 20
#: questions longer than this many tokens are cut (XTREME's max_query_length); at most half a window
DEFAULT_MAX_QUERY_LENGTH = 64
#: the CLS position, target of training windows that do not contain the answer
CLS_INDEX = 0


def squad_example(row: dict[str, Any]) -> dict[str, Any]:
    """A hub/local row in the SQuAD schema -> the format's example fields (for the QA plugins)."""
    answers = row["answers"]
    if not isinstance(answers, dict):
        raise TypeError(f"answers: expected an object with 'text' and 'answer_start', "
                        f"got {type(answers).__name__}")
    example = {"id": str(row["id"]), "question": row["question"], "context": row["context"],
               "answers": {"text": list(answers["text"]), "answer_start": list(answers["answer_start"])}}
    if row.get("title") is not None:
        example["title"] = row["title"]
    return example


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
        context = example["context"]
        for number, (text, start) in enumerate(zip(texts, starts)):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"example {example['id']!r}: answer {number} text: expected a non-empty "
                                f"string, got {text!r:.60}", field="answers")
            if isinstance(start, bool) or not isinstance(start, int):
                raise DataError(f"example {example['id']!r}: answer {number} answer_start: expected int, "
                                f"got {type(start).__name__}", field="answers")
            found = context[start:start + len(text)] if 0 <= start <= len(context) else ""
            if found != text:
                raise DataError(f"example {example['id']!r}: answer {number} offset {start} does not match "
                                f"its text: context[{start}:{start + len(text)}] is {found!r}, answer text "
                                f"is {text!r}", field="answers")

    # -- model side ---------------------------------------------------------------------------
    def build_head(self, hidden_size, task):
        return QAHead(hidden_size)

    def featurize(self, examples, tokenizer, task, max_length, train):
        if not getattr(tokenizer, "is_fast", False):
            raise HarnessError(f"task '{task.name}': extractive QA needs a fast tokenizer (offset mapping); "
                               f"{type(tokenizer).__name__} is not one")
        if not examples:
            return []
        options = task.spec.options or {}
        doc_stride = int(options.get("doc_stride", DEFAULT_DOC_STRIDE))
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        max_query = int(options.get("max_query_length", DEFAULT_MAX_QUERY_LENGTH))
        max_query = max(1, min(max_query, (max_length - specials) // 2))
        if max_length - specials - max_query < 2:
            raise HarnessError(f"task '{task.name}': max_length {max_length} leaves no room for the context")

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
                span = self._best_span(np.asarray(logits[index]), features[index]["offsets"], example["context"],
                                       n_best, max_answer)
                if span is not None and span[0] > best_score:
                    best_score, best_span = span
            if best_span is None:
                predictions.append("")
            else:
                predictions.append(example["context"][best_span[0]:best_span[1]].strip())
        return predictions

    @staticmethod
    def _best_span(logits: np.ndarray, offsets: list, context: str, n_best: int,
                   max_answer: int) -> tuple[float, tuple[int, int]] | None:
        """(score, (char start, char end)) of the best valid span of one window, or None. Valid: both
        ends are context tokens, end >= start, at most ``max_answer`` tokens, not only whitespace
        (sentencepiece tokenizers have tokens that cover just a space)."""
        length = min(len(offsets), logits.shape[0])
        start_logits, end_logits = logits[:length, 0], logits[:length, 1]
        starts = np.argsort(start_logits)[::-1][:n_best]
        ends = np.argsort(end_logits)[::-1][:n_best]
        best: tuple[float, tuple[int, int]] | None = None
        for s in starts:
            if offsets[s] is None:
                continue
            for e in ends:
                if offsets[e] is None or e < s or e - s + 1 > max_answer:
                    continue
                score = float(start_logits[s] + end_logits[e])
                if (best is None or score > best[0]) and context[offsets[s][0]:offsets[e][1]].strip():
                    best = (score, (offsets[s][0], offsets[e][1]))
        return best

    def gold(self, example):
        return list(example["answers"]["text"])

    def score(self, examples, predictions, task, language):
        from harness.metrics import scorers as metrics

        ids = [e["id"] for e in examples]
        keys = ids if len(set(ids)) == len(ids) else [str(i) for i in range(len(examples))]
        golds = {k: self.gold(e) for k, e in zip(keys, examples)}
        preds = dict(zip(keys, predictions))
        metric = task.spec.metric
        if metric == "squad_em_f1":
            result = metrics.squad_em_f1(golds, preds)
        elif metric == "mlqa_em_f1":
            result = metrics.mlqa_em_f1(golds, preds, language)
        else:
            raise ConfigError(f"task '{task.name}': metric '{metric}' is not a QA metric "
                              f"(squad_em_f1, mlqa_em_f1)")
        result = {k: float(v) for k, v in result.items()}
        result["score"] = (result["exact_match"] + result["f1"]) / 2
        return result


register_format(ExtractiveQA())
