"""What a benchmark cell feeds the model: ready-made host batches (collated before the clock starts;
the device transfer is timed, as evaluation pays it).

- :func:`synthetic_workload`: ``batch_size`` rows of exactly ``length`` tokens, cut from the real
  token stream of a task's texts (first token and separator of the tokenizer around them): no
  padding, so latency against length is the model's and not the padding's.
- :func:`language_workload`: a task's real inputs in one language, featurized by the task's format
  and batched longest first at exactly ``batch_size`` features (padding within a batch, as in
  evaluation); plus the tokenizer's fertility on those texts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from harness.errors import HarnessError

#: example fields that hold input text (across the formats); labels and ids are left out
TEXT_FIELDS = ("text_a", "text_b", "question", "context", "choices", "tokens")


@dataclass
class Workload:
    """The batches of one cell, with the size of each (examples, real tokens) and its description."""

    kind: str                      # "length" or "language"
    batch_size: int
    batches: list[dict[str, torch.Tensor]]
    examples: list[int]            # examples per batch
    tokens: list[int]              # real (unpadded) tokens per batch
    padded_tokens: list[int]       # tokens the model computes per batch
    describe: dict[str, Any] = field(default_factory=dict)  # length / language, split, fertility


def texts(example: dict[str, Any]) -> list[str]:
    """The input texts of an example (a list field, e.g. tagging tokens, gives one text per item)."""
    found: list[str] = []
    for name in TEXT_FIELDS:
        value = example.get(name)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str))
    return found


def fertility(tokenizer: Any, examples: list[dict[str, Any]]) -> dict[str, float]:
    """Subword tokens per whitespace word and per character of the examples' texts (no special
    tokens). Scripts written without spaces (zh, ja, th) count a whole sentence as one word unless
    the data is word-segmented (tagging tokens are): read tokens per character there."""
    strings = [s for e in examples for s in texts(e)]
    if not strings:
        return {}
    tokens = sum(len(ids) for ids in tokenizer(strings, add_special_tokens=False)["input_ids"])
    words = sum(len(s.split()) for s in strings)
    chars = sum(len(s) for s in strings)
    return {"tokens_per_word": tokens / max(words, 1), "tokens_per_char": tokens / max(chars, 1),
            "words": words, "subword_tokens": tokens}


def max_positions(model: Any) -> int:
    """The longest input the model accepts: the tokenizer's limit when it states one, else the config's."""
    limit = getattr(model.tokenizer, "model_max_length", None)
    config = getattr(model.encoder.config, "max_position_embeddings", None)
    if isinstance(limit, int) and limit < 1_000_000:
        return min(limit, config) if config else limit
    return int(config or 512)


def synthetic_workload(model: Any, examples: list[dict[str, Any]], batch_size: int, length: int) -> Workload:
    """``batch_size`` distinct rows of exactly ``length`` tokens from the examples' real tokens."""
    tokenizer = model.tokenizer
    if length > max_positions(model):
        raise HarnessError(f"--lengths: {length} is longer than the model accepts ({max_positions(model)} tokens)")
    pool = [t for ids in tokenizer([s for e in examples for s in texts(e)], add_special_tokens=False)["input_ids"]
            for t in ids]
    if not pool:
        raise HarnessError("no text to cut synthetic inputs from")
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    ends = [t for t in (first, last) if t is not None]
    inner = length - len(ends)
    if inner < 1:
        raise HarnessError(f"--lengths: {length} leaves no room for text between the special tokens")
    rows = []
    for row in range(batch_size):
        start = row * inner
        body = [pool[(start + i) % len(pool)] for i in range(inner)]
        rows.append(([first] if first is not None else []) + body + ([last] if last is not None else []))
    ids = torch.tensor(rows, dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "token_type_ids" in getattr(tokenizer, "model_input_names", ()):
        batch["token_type_ids"] = torch.zeros_like(ids)
    tokens = batch_size * length
    return Workload("length", batch_size, [batch], [batch_size], [tokens], [tokens], {"length": length})


def language_workload(model: Any, task: Any, fmt: Any, examples: list[dict[str, Any]], batch_size: int,
                      max_length: int, describe: dict[str, Any]) -> Workload:
    """The examples featurized and batched longest first, ``batch_size`` features per batch."""
    from harness.engine.batches import length_sorted_batches
    from harness.engine.inference import feature_collate

    features = fmt.featurize(examples, model.tokenizer, task, max_length, train=False)
    if not features:
        raise HarnessError(f"task '{task.name}': no features to run")
    lengths = [fmt.length(f) for f in features]
    collate = feature_collate(fmt, features, model.tokenizer.pad_token_id or 0)
    batches, n_examples, tokens, padded = [], [], [], []
    for indices in length_sorted_batches(lengths, batch_size):
        batch = collate(indices)
        batches.append(batch)
        n_examples.append(len({features[i]["example_index"] for i in indices}))
        tokens.append(sum(lengths[i] for i in indices))
        padded.append(int(batch["input_ids"].numel()))
    stats = fertility(model.tokenizer, examples)
    return Workload("language", batch_size, batches, n_examples, tokens, padded,
                    {**describe, "n_examples": len(examples), "features": len(features), **stats})
