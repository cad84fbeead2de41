"""Multiple choice (HellaSwag, Cosmos QA, CommonsenseQA): score every (context, choice) pair, pick the best.

Example fields: ``context`` (str, may be ""), optional ``question`` (str), ``choices`` (list of at
least two strings) and ``label`` (int, index into ``choices``).

Each choice is encoded as the pair (context [+ question], choice), as in the SWAG / RACE recipes
of BERT and RoBERTa; when the pair is too long only the first segment is truncated, so a choice is
never cut (``longest_first`` is the fall-back when the choice alone does not fit). A feature holds
``input_ids`` as C lists (one per choice); batches are [B, C, L]; the head scores the first token
of each of the B*C sequences with one linear unit and reads the C scores as logits over choices.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import DataError
from harness.metrics import accuracy
from harness.formats.base import Format, Head


class MultipleChoiceHead(Head):
    """dropout-linear(hidden, 1) on the first token of each (context, choice) sequence."""

    def __init__(self, hidden_size: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(hidden_size, 1)

    def forward(self, encoder, batch):
        batch_size, num_choices = batch["input_ids"].shape[:2]
        first = self.encode(encoder, batch)[:, 0]                        # [B*C, H]
        logits = self.score(self.dropout(first)).view(batch_size, num_choices)
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = nn.functional.cross_entropy(logits.float(), batch["labels"])
        return out


def first_segment(example: dict[str, Any]) -> str:
    """The text every choice is paired with: the context, then the question when there is one."""
    parts = [example.get("context") or "", example.get("question") or ""]
    return " ".join(p.strip() for p in parts if p and p.strip())


def _encode_one(tokenizer: Any, first: str, second: str, max_length: int) -> dict[str, list[int]]:
    try:
        encoded = tokenizer(first, second, truncation="only_first", max_length=max_length)
        if len(encoded["input_ids"]) <= max_length:
            return encoded
    except Exception:  # noqa: BLE001 - fast tokenizers raise when only_first cannot reach max_length
        pass
    return tokenizer(first, second, truncation="longest_first", max_length=max_length)


def encode_pairs(tokenizer: Any, firsts: list[str], seconds: list[str], max_length: int) -> dict[str, list]:
    """Encode (first, second) pairs truncating only the first segment; pairs where that cannot
    reach ``max_length`` are re-encoded with ``longest_first``."""
    try:
        encoded = dict(tokenizer(firsts, seconds, truncation="only_first", max_length=max_length))
    except Exception:  # noqa: BLE001 - see _encode_one; redo pair by pair
        encoded = None
    if encoded is None:
        singles = [_encode_one(tokenizer, a, b, max_length) for a, b in zip(firsts, seconds)]
        return {key: [s[key] for s in singles] for key in singles[0].keys()}
    for i, ids in enumerate(encoded["input_ids"]):
        if len(ids) > max_length:
            single = _encode_one(tokenizer, firsts[i], seconds[i], max_length)
            for key in encoded:
                encoded[key][i] = single[key]
    return encoded


class MultipleChoice(Format):
    name = "multiple_choice"
    fields = {"context": str, "choices": list, "label": int}

    def check(self, example, task):
        super().check(example, task)
        question = example.get("question")
        if question is not None and not isinstance(question, str):
            raise DataError(f"expected str, got {type(question).__name__}", field="question")
        choices = example["choices"]
        if len(choices) < 2:
            raise DataError(f"expected at least 2 choices, got {len(choices)}", field="choices")
        for i, choice in enumerate(choices):
            if not isinstance(choice, str):
                raise DataError(f"choice {i}: expected str, got {type(choice).__name__}", field="choices")
            if not choice.strip():
                raise DataError(f"choice {i} is empty", field="choices")
        label = example["label"]
        if isinstance(label, bool) or not 0 <= label < len(choices):
            raise DataError(f"expected a choice index in 0..{len(choices) - 1}, got {label!r}", field="label")

    def build_head(self, hidden_size, task):
        return MultipleChoiceHead(hidden_size)

    def featurize(self, examples, tokenizer, task, max_length, train):
        firsts: list[str] = []
        seconds: list[str] = []
        for example in examples:
            first = first_segment(example)
            for choice in example["choices"]:
                firsts.append(first)
                seconds.append(choice)
        encoded = encode_pairs(tokenizer, firsts, seconds, max_length) if firsts else {"input_ids": []}
        features = []
        offset = 0
        for i, example in enumerate(examples):
            count = len(example["choices"])
            feature: dict[str, Any] = {"example_index": i,
                                       "input_ids": encoded["input_ids"][offset: offset + count],
                                       "labels": int(example["label"])}
            if "token_type_ids" in encoded:
                feature["token_type_ids"] = encoded["token_type_ids"][offset: offset + count]
            features.append(feature)
            offset += count
        return features

    def collate(self, features, pad_id):
        num_choices = len(features[0]["input_ids"])
        for feature in features:
            if len(feature["input_ids"]) != num_choices:
                raise DataError(f"every example of a task must have the same number of choices; found "
                                f"{num_choices} and {len(feature['input_ids'])} in one batch", field="choices")
        width = max(len(ids) for feature in features for ids in feature["input_ids"])
        shape = (len(features), num_choices, width)
        input_ids = torch.full(shape, pad_id, dtype=torch.long)
        attention_mask = torch.zeros(shape, dtype=torch.long)
        token_types = torch.zeros(shape, dtype=torch.long) if "token_type_ids" in features[0] else None
        for b, feature in enumerate(features):
            for c, ids in enumerate(feature["input_ids"]):
                input_ids[b, c, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention_mask[b, c, : len(ids)] = 1
                if token_types is not None:
                    types = feature["token_type_ids"][c]
                    token_types[b, c, : len(types)] = torch.tensor(types, dtype=torch.long)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_types is not None:
            batch["token_type_ids"] = token_types
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    def length(self, feature):
        """Padded tokens of the feature: choices x longest choice (what a batch slot costs)."""
        return len(feature["input_ids"]) * max(len(ids) for ids in feature["input_ids"])

    def decode(self, examples, features, logits, task):
        predictions: list[Any] = [None] * len(examples)
        for feature, row in zip(features, logits):
            predictions[feature["example_index"]] = int(np.argmax(row))
        return predictions

    def score(self, examples, predictions, task, language):
        return accuracy([e["label"] for e in examples], predictions)
