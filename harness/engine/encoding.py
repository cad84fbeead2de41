"""Sentence embeddings for the retrieval tasks: mean pooling of one hidden layer (XTREME's protocol)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from harness.formats.base import pad_sequences
from harness.engine.batches import Engine, length_sorted_batches

#: encoders whose hidden_states[i] is exactly the output of the i-th block (no final norm after the
#: stack), so running only the first ``layer`` blocks gives the same numbers as the full model
_TRUNCATABLE = {"bert": "encoder.layer", "roberta": "encoder.layer", "xlm-roberta": "encoder.layer",
                "camembert": "encoder.layer", "electra": "encoder.layer", "distilbert": "transformer.layer"}


POOLINGS = ("mean", "cls")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """[B, L, H] -> [B, H] float32: the mean over the attention mask, or the first ("cls") token."""
    if pooling == "cls":
        return hidden[:, 0].float()
    weights = attention_mask.unsqueeze(-1).float()
    return (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1.0)


#: the retrieval layer of the reference setups, as an index into ``hidden_states`` (0 = embeddings)
REFERENCE_LAYERS = {
    # XTREME's retrieval scripts (scripts/run_*.sh) for mBERT and XLM-R base: ``--specific_layer 7``
    # over the last 12 of ``hidden_states`` = ``hidden_states[8]``, the output of block 8 of 12
    12: 8,
    # XTREME's sentence-retrieval script for XLM-R large (``--specific_layer 13`` of the last 24) and jiant's
    # X-STILTs retrieval setup: ``hidden_states[14]``, the output of block 14 of 24
    24: 14,
}


def default_layer(num_layers: int) -> int:
    """Hidden layer pooled for retrieval, as an index into ``hidden_states`` (0 = embedding output).

    12 and 24 blocks: the reference layer (:data:`REFERENCE_LAYERS`: 8 and 14). Other depths have no
    reference; they keep the 24-layer rule's relative depth, ``round(num_layers * 14 / 24)``
    (4 for 6 blocks, 1 for 2). A task's ``options.layer`` overrides the default.
    """
    if num_layers in REFERENCE_LAYERS:
        return REFERENCE_LAYERS[num_layers]
    return int(round(num_layers * 14 / 24))


@contextmanager
def _first_blocks(encoder: Any, layer: int) -> Iterator[bool]:
    """Temporarily keep only the first ``layer`` transformer blocks; yields False when the encoder
    is not a known post-norm stack (then the caller runs it whole and indexes hidden_states)."""
    path = _TRUNCATABLE.get(getattr(encoder.config, "model_type", ""))
    owner: Any = encoder
    if path is not None:
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part, None)
        blocks = getattr(owner, name, None) if owner is not None else None
    if path is None or not isinstance(blocks, nn.ModuleList) or len(blocks) != encoder.config.num_hidden_layers:
        yield False
        return
    setattr(owner, name, blocks[:layer])
    try:
        yield True
    finally:
        setattr(owner, name, blocks)


@torch.inference_mode()
def encode(model_or_encoder: Any, tokenizer: Any = None, sentences: Sequence[str] = (), *, layer: int | None = None,
           batch_size: int = 128, max_length: int = 512, token_budget: int = 16384,
           device: torch.device | None = None, normalize: bool = False, mixed_precision: str = "auto",
           stats: dict[str, Any] | None = None, pooling: str = "mean") -> np.ndarray:
    """Embed ``sentences``: float32 [N, H], the mean over the attention mask of ``hidden_states[layer]``.

    ``model_or_encoder`` is a :class:`harness.engine.modeling.LoadedModel` (tokenizer and device default to
    its own) or a bare transformers encoder. ``layer`` defaults to :func:`default_layer`. Sentences
    are tokenized once, truncated to ``max_length``, batched longest-first under ``batch_size`` and
    ``token_budget`` padded tokens; rows come back in input order. Only the first ``layer`` blocks
    run for BERT-style encoders. ``pooling`` "cls" takes the first token instead of the mean.
    ``normalize`` L2-normalises the rows. When ``stats`` is a dict it
    receives ``seconds``, ``sentences_per_s``, ``batches`` and ``batch_seconds`` (one per batch).
    """
    encoder: Any = model_or_encoder if isinstance(model_or_encoder, nn.Module) else model_or_encoder.encoder
    tokenizer = tokenizer if tokenizer is not None else model_or_encoder.tokenizer
    device = device or getattr(model_or_encoder, "device", None) or next(encoder.parameters()).device
    num_layers = int(encoder.config.num_hidden_layers)
    layer = default_layer(num_layers) if layer is None else int(layer)
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r} (use one of {', '.join(POOLINGS)})")
    if not 0 <= layer <= num_layers:
        raise ValueError(f"layer {layer} is out of range for a {num_layers}-layer encoder (0..{num_layers})")
    start = time.perf_counter()
    ids = tokenizer(list(sentences), truncation=True, max_length=max_length)["input_ids"] if sentences else []
    batches = length_sorted_batches([len(x) for x in ids], batch_size, token_budget)
    pad_id = tokenizer.pad_token_id or 0

    def collate(indices: list[int]) -> dict[str, torch.Tensor]:
        return {"input_ids": pad_sequences([ids[i] for i in indices], pad_id),
                "attention_mask": pad_sequences([[1] * len(ids[i]) for i in indices], 0)}

    was_training = encoder.training
    encoder.eval()
    try:
        with _first_blocks(encoder, layer) as truncated:
            def step(batch: dict[str, torch.Tensor]) -> torch.Tensor:
                output = encoder(**batch, output_hidden_states=not truncated)
                hidden = output.last_hidden_state if truncated else output.hidden_states[layer]
                return pool(hidden, batch["attention_mask"], pooling)

            run = Engine(torch.device(device), mixed_precision).run(
                step, batches, collate, len(ids), timing="off" if stats is None else "stream")
    finally:
        encoder.train(was_training)
    out = run.rows if run.rows is not None else np.zeros((0, int(encoder.config.hidden_size)), dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
    if stats is not None:
        seconds = time.perf_counter() - start  # tokenization included
        stats.update(seconds=seconds, sentences_per_s=len(sentences) / max(seconds, 1e-9),
                     batches=run.batches, batch_seconds=run.batch_seconds)
    return out
