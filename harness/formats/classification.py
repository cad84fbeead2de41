"""Sentence and sentence-pair classification (XNLI, PAWS-X, MNLI, ANLI, QQP, SST-2)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import DataError
from harness.metrics import accuracy
from harness.formats.adapters import class_label  # noqa: F401 - re-exported for plugins
from harness.formats.base import Format, Head


class ClassificationHead(Head):
    """dense-tanh-dropout-linear on the first token, as in RoBERTa/XLM-R's classification head."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, encoder, batch):
        first = self.encode(encoder, batch)[:, 0]
        logits = self.out(self.dropout(torch.tanh(self.dense(self.dropout(first)))))
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = nn.functional.cross_entropy(logits.float(), batch["labels"])
        return out


class Classification(Format):
    name = "classification"
    fields = {"text_a": str, "label": str}

    def check(self, example, task):
        super().check(example, task)
        if example.get("text_b") is not None and not isinstance(example["text_b"], str):
            raise DataError(f"expected str, got {type(example['text_b']).__name__}", field="text_b")
        labels = task.spec.labels or []
        if example["label"] not in labels:
            raise DataError(f"label {example['label']!r} is not in the label set {labels}", field="label")

    def build_head(self, hidden_size, task):
        return ClassificationHead(hidden_size, len(task.spec.labels or []))

    def featurize(self, examples, tokenizer, task, max_length, train):
        index = {label: i for i, label in enumerate(task.spec.labels or [])}
        text_a = [e["text_a"] for e in examples]
        pairs = any(e.get("text_b") is not None for e in examples)
        text_b = [e.get("text_b") or "" for e in examples] if pairs else None
        encoded = tokenizer(text_a, text_b, truncation=True, max_length=max_length)
        features = []
        for i, example in enumerate(examples):
            feature: dict[str, Any] = {"example_index": i, "input_ids": encoded["input_ids"][i],
                                       "labels": index[example["label"]]}
            if "token_type_ids" in encoded:
                feature["token_type_ids"] = encoded["token_type_ids"][i]
            features.append(feature)
        return features

    def decode(self, examples, features, logits, task):
        labels = task.spec.labels or []
        predictions: list[Any] = [None] * len(examples)
        for feature, row in zip(features, logits):
            predictions[feature["example_index"]] = labels[int(np.argmax(row))]
        return predictions

    def score(self, examples, predictions, task, language):
        return accuracy([e["label"] for e in examples], predictions)
