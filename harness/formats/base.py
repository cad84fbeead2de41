"""The format contract: everything a task family shares (preprocessing, head, batching, decoding, scoring).

A task plugin only maps raw rows to a format's *example* fields; the format does the rest once:

    examples --featurize--> features --collate--> batches --TaskModel--> logits --decode--> predictions
                                                                                   --score--> metrics

Examples are plain dicts with an ``id`` plus the fields listed in ``Format.fields``.
Features are plain dicts holding python lists (``input_ids`` ...) plus ``example_index``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from harness.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from harness.spec.tasks import Task

ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class EvalOutput:
    """What evaluating one (task, language, split) produces."""

    metrics: dict[str, float]
    ids: list[str] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    golds: list[Any] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)   # examples/s, latency p50/p95, memory
    data: dict[str, Any] = field(default_factory=dict)      # Format.describe_data of the examples


class Head(nn.Module):
    """A task head: ``forward(encoder, batch) -> {"logits": ..., "loss": ... (when labels given)}``."""

    def encode(self, encoder: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Last hidden state for the encoder inputs of ``batch``; inputs of shape [B, C, L] (multiple
        choice) are flattened to [B*C, L] and the result has shape [B*C, L, H]."""
        inputs = {k: batch[k] for k in ENCODER_INPUTS if k in batch}
        if inputs["input_ids"].dim() == 3:
            inputs = {k: v.reshape(-1, v.shape[-1]) for k, v in inputs.items()}
        return encoder(**inputs).last_hidden_state


class TaskModel(nn.Module):
    """A shared encoder plus one head per task (one head for single-task training)."""

    def __init__(self, encoder: nn.Module, heads: dict[str, Head]):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)

    def forward(self, batch: dict[str, torch.Tensor], task: str | None = None) -> dict[str, torch.Tensor]:
        head = self.heads[task] if task is not None else next(iter(self.heads.values()))
        return head(self.encoder, batch)


def pad_sequences(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def encoder_batch(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """The padded encoder inputs (input_ids, attention_mask, token_type_ids) of flat features."""
    batch = {"input_ids": pad_sequences([f["input_ids"] for f in features], pad_id)}
    batch["attention_mask"] = pad_sequences([[1] * len(f["input_ids"]) for f in features], 0)
    if "token_type_ids" in features[0]:
        batch["token_type_ids"] = pad_sequences([f["token_type_ids"] for f in features], 0)
    return batch


class Format:
    """Base class of the task formats. Subclasses set ``name``/``fields`` and implement the hooks."""

    name: ClassVar[str]
    #: example field -> python type(s) every example must carry (``id`` is always required)
    fields: ClassVar[dict[str, type | tuple[type, ...]]] = {}
    #: False for formats scored without training (retrieval)
    trainable: ClassVar[bool] = True
    #: per-token logits (trimmed to each feature's length when collected)
    per_token: ClassVar[bool] = False

    # -- validation ---------------------------------------------------------------------------
    def check(self, example: dict[str, Any], task: "Task") -> None:
        """Raise DataError(field=...) when an example is malformed. Called once per row on read."""
        for name, kind in {"id": str, **self.fields}.items():
            if name not in example or example[name] is None:
                raise DataError("missing value", field=name)
            if not isinstance(example[name], kind):
                raise DataError(f"expected {_type_name(kind)}, got {type(example[name]).__name__}",
                                field=name)

    # -- model side ---------------------------------------------------------------------------
    def build_head(self, hidden_size: int, task: "Task") -> Head:
        raise NotImplementedError

    def featurize(self, examples: list[dict[str, Any]], tokenizer: Any, task: "Task",
                  max_length: int, train: bool) -> list[dict[str, Any]]:
        raise NotImplementedError

    def collate(self, features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
        """Default: pad the encoder inputs, stack ``labels`` when present."""
        batch = encoder_batch(features, pad_id)
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    def length(self, feature: dict[str, Any]) -> int:
        """Token count used for length-grouped batching."""
        return len(feature["input_ids"])

    # -- evaluation side ----------------------------------------------------------------------
    def decode(self, examples: list[dict[str, Any]], features: list[dict[str, Any]],
               logits: list[Any], task: "Task") -> list[Any]:
        """One prediction per example from the per-feature logits (numpy arrays, feature order)."""
        raise NotImplementedError

    def gold(self, example: dict[str, Any]) -> Any:
        return example.get("label")

    def describe_data(self, examples: list[dict[str, Any]], task: "Task", train: bool = False) -> dict[str, Any]:
        """Facts about the examples that a result records beside its metrics (rows repaired or left
        out of training, how words were segmented, ...): merged into the record's ``data``."""
        return {}

    def score(self, examples: list[dict[str, Any]], predictions: list[Any], task: "Task",
              language: str) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self, model: Any, task: "Task", examples: list[dict[str, Any]], language: str,
                 settings: Any, **context: Any) -> EvalOutput:
        """Default evaluation: featurize, batched inference, decode, score."""
        from harness.engine.inference import predict

        features = self.featurize(examples, model.tokenizer, task, settings.max_length, train=False)
        logits, stats = predict(model, task.name, self, features, settings)
        predictions = self.decode(examples, features, logits, task)
        metrics = self.score(examples, predictions, task, language)
        stats["examples_per_s"] = len(examples) / max(stats.get("seconds", 0.0), 1e-9)
        return EvalOutput(metrics=metrics, ids=[e["id"] for e in examples], predictions=predictions,
                          golds=[self.gold(e) for e in examples], stats=stats,
                          data=self.describe_data(examples, task))


def _type_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    _FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> Format:
    from harness.errors import UnknownNameError

    if name not in _FORMATS:
        from harness.formats import load_builtin_formats
        load_builtin_formats()
    if name not in _FORMATS:
        raise UnknownNameError("format", name, _FORMATS)
    return _FORMATS[name]


def known_formats() -> list[str]:
    from harness.formats import load_builtin_formats
    load_builtin_formats()
    return sorted(_FORMATS)
