"""The ``sentence_pair_regression`` format: featurize a pair, regress a score from the first token.

Examples: ``id``, ``text_a``, ``text_b``, ``score`` (a number in 0..``options.max_score``, default 5).
The head predicts ``score / max_score`` with a mean squared error loss; predictions are scaled back.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.errors import DataError
from harness.formats.base import Format, Head, encoder_batch
from harness.metrics.registry import get_metric


def max_score(task) -> float:
    return float(task.spec.options.get("max_score", 5.0))


class RegressionHead(Head):
    """dense-tanh-dropout-linear to one value on the first token."""

    def __init__(self, hidden_size: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, encoder, batch):
        first = self.encode(encoder, batch)[:, 0]
        scores = self.out(self.dropout(torch.tanh(self.dense(self.dropout(first))))).squeeze(-1)
        out = {"logits": scores}
        if "labels" in batch:
            out["loss"] = nn.functional.mse_loss(scores.float(), batch["labels"].float())
        return out


class SentencePairRegression(Format):
    name = "sentence_pair_regression"
    fields = {"text_a": str, "text_b": str, "score": (int, float)}

    def check(self, example, task):
        super().check(example, task)
        score, top = example["score"], max_score(task)
        if isinstance(score, bool) or not 0 <= score <= top:
            raise DataError(f"expected a number in 0..{top:g}, got {score!r}", field="score")

    def build_head(self, hidden_size, task):
        return RegressionHead(hidden_size)

    def featurize(self, examples, tokenizer, task, max_length, train):
        encoded = tokenizer([e["text_a"] for e in examples], [e["text_b"] for e in examples],
                            truncation=True, max_length=max_length)
        top = max_score(task)
        features = []
        for i, example in enumerate(examples):
            feature: dict[str, Any] = {"example_index": i, "input_ids": encoded["input_ids"][i],
                                       "labels": float(example["score"]) / top}
            if "token_type_ids" in encoded:
                feature["token_type_ids"] = encoded["token_type_ids"][i]
            features.append(feature)
        return features

    def collate(self, features, pad_id):
        batch = encoder_batch(features, pad_id)
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float)
        return batch

    def decode(self, examples, features, logits, task):
        predictions: list[Any] = [None] * len(examples)
        for feature, value in zip(features, logits):
            predictions[feature["example_index"]] = float(value) * max_score(task)
        return predictions

    def gold(self, example):
        return float(example["score"])

    def score(self, examples, predictions, task, language):
        return get_metric(task.spec.metric).score([self.gold(e) for e in examples], predictions, language)
