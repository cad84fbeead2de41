"""Dual-encoder retrieval (Mewsli-X, LAReQA): queries and candidates embedded by one shared encoder,
trained with in-batch negatives, evaluated by k-NN over a candidate set given as a file.

Examples: training ``{id, query, positive}`` (the text of the matching candidate); evaluation
``{id, query, relevant}`` (a list of candidate ids). Candidates ``(id, text)`` come from the task's
:meth:`DualEncoderTask.candidate_rows` (default: the JSONL file ``options.candidates`` in the
task's local directory, rows mapped by :meth:`DualEncoderTask.to_candidate`); one candidate set
serves every language of a split.

Options: ``pooling`` ("cls" as XTREME-R's ``bert.py``, or "mean"), ``scale`` (initial value of the
learnable logit scale; XTREME-R initialises it to 100), ``query_max_length`` and
``candidate_max_length`` (default: the ``max_length`` hyperparameter), ``k`` (20), ``shard_mb``
(memory budget of one shard of candidate embeddings, default 256).

Training: the embeddings are L2-normalised, ``logits = scale * Q C^T`` over the batch, cross-entropy
towards the diagonal; a column whose candidate text equals the row's positive (the same entity
twice in a batch) is masked out, so it is not taught as a negative. (XTREME-R pools BERT's
pooler output; here "cls" is the first token's last hidden state, as the encoders are loaded
without a pooler.) Evaluation: candidates are encoded once per split into shards on disk
(:mod:`harness.engine.shards`, resumable), the top ``k`` by cosine come from the blocked k-NN, and
``mrr`` / ``map`` are :func:`harness.metrics.ranking.mrr_at_k` / ``map_at_k`` (fractions).
"""
from __future__ import annotations

import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from harness.engine.encoding import POOLINGS, encode, pool
from harness.engine.batches import latency_stats
from harness.engine.memory import peak_memory
from harness.engine.shards import encode_to_shards, knn_shards, shard_rows
from harness.errors import DataError
from harness.formats.adapters import DualEncoderTask
from harness.formats.base import EvalOutput, Format, Head, encoder_batch
from harness.metrics.ranking import map_at_k, mrr_at_k
from harness.spec.tasks import Task


def candidates(task: DualEncoderTask, split: str, source: str) -> Iterator[tuple[str, str]]:
    """Validated ``(id, text)`` candidates; a bad row is a DataError naming file, row and field."""
    for where, number, row in task.candidate_rows(split, source):
        try:
            ident, text = task.to_candidate(row)
            if not isinstance(text, str) or not text.strip():
                raise DataError("expected a non-empty string", field="text")
        except DataError as exc:
            raise DataError(exc.message, file=where, row=number, field=exc.field) from None
        except KeyError as exc:
            raise DataError("missing field", file=where, row=number, field=str(exc.args[0])) from None
        yield str(ident), text


class DualEncoderHead(Head):
    """The pooling choice and the learnable logit scale; the encoder itself is shared."""

    def __init__(self, pooling: str = "cls", scale: float = 100.0):
        super().__init__()
        if pooling not in POOLINGS:
            raise DataError(f"unknown pooling {pooling!r} (use one of {', '.join(POOLINGS)})", field="options.pooling")
        self.pooling = pooling
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def embed(self, encoder, input_ids, attention_mask) -> torch.Tensor:
        hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return nn.functional.normalize(pool(hidden, attention_mask, self.pooling), dim=-1)

    def forward(self, encoder, batch):
        queries = self.embed(encoder, batch["query_input_ids"], batch["query_attention_mask"])
        cands = self.embed(encoder, batch["candidate_input_ids"], batch["candidate_attention_mask"])
        logits = self.scale * queries @ cands.T
        same = batch["positive_key"][:, None] == batch["positive_key"][None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
        labels = torch.arange(len(logits), device=logits.device)
        return {"logits": logits, "loss": nn.functional.cross_entropy(logits.float(), labels)}


def lengths(task: Task, max_length: int) -> tuple[int, int]:
    options = task.spec.options
    return (int(options.get("query_max_length") or max_length),
            int(options.get("candidate_max_length") or max_length))


class DualEncoder(Format):
    name = "dual_encoder"
    fields = {"query": str}

    def check(self, example, task):
        super().check(example, task)
        if "positive" in example:
            if not isinstance(example["positive"], str) or not example["positive"].strip():
                raise DataError("expected a non-empty string", field="positive")
            return
        relevant = example.get("relevant")
        if not isinstance(relevant, list) or not relevant or not all(isinstance(r, str) for r in relevant):
            raise DataError("expected 'positive' (training) or a non-empty list of candidate ids 'relevant'",
                            field="relevant")

    def build_head(self, hidden_size, task):
        options = task.spec.options
        return DualEncoderHead(options.get("pooling", "cls"), float(options.get("scale", 100.0)))

    def featurize(self, examples, tokenizer, task, max_length, train):
        if any("positive" not in e for e in examples):
            raise DataError(f"task '{task.name}': training examples need a 'positive' text", field="positive")
        query_length, candidate_length = lengths(task, max_length)
        queries = tokenizer([e["query"] for e in examples], truncation=True, max_length=query_length)["input_ids"]
        positives = tokenizer([e["positive"] for e in examples], truncation=True,
                              max_length=candidate_length)["input_ids"]
        return [{"example_index": i, "query_ids": q, "candidate_ids": c,
                 "positive_key": zlib.crc32(e["positive"].strip().encode("utf-8"))}
                for i, (e, q, c) in enumerate(zip(examples, queries, positives))]

    def collate(self, features, pad_id):
        query = encoder_batch([{"input_ids": f["query_ids"]} for f in features], pad_id)
        cand = encoder_batch([{"input_ids": f["candidate_ids"]} for f in features], pad_id)
        return {"query_input_ids": query["input_ids"], "query_attention_mask": query["attention_mask"],
                "candidate_input_ids": cand["input_ids"], "candidate_attention_mask": cand["attention_mask"],
                "positive_key": torch.tensor([f["positive_key"] for f in features], dtype=torch.long)}

    def length(self, feature):
        return len(feature["query_ids"]) + len(feature["candidate_ids"])

    def gold(self, example):
        return example.get("relevant")

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, model, task, examples, language, settings, **context):
        options = task.spec.options
        head = model.heads.get(task.name)
        pooling = head.pooling if head is not None else options.get("pooling", "cls")
        query_length, candidate_length = lengths(task, settings.max_length)
        k = int(options.get("k", 20))
        split, source = context.get("split", "test"), context.get("source", "auto")
        batch_seconds: list[float] = []

        def embed(texts: list[str], max_length: int):
            info: dict[str, Any] = {}
            out = encode(model, model.tokenizer, texts, layer=model.num_layers, pooling=pooling, normalize=True,
                         batch_size=settings.eval_batch_size, max_length=max_length,
                         token_budget=settings.eval_token_budget, device=model.device,
                         mixed_precision=settings.mixed_precision, stats=info)
            batch_seconds.extend(info["batch_seconds"])
            return out

        start = time.perf_counter()
        scratch = None
        cache = context.get("cache_dir")
        if cache is None:  # no run directory (API use): encode into a temporary one
            scratch = tempfile.TemporaryDirectory(prefix="candidates-")
            cache = scratch.name
        try:
            with peak_memory(model.device) as memory:
                fingerprint = {"model": context.get("model_key"), "candidates": task.candidate_fingerprint(split, source),
                               "pooling": pooling, "max_length": candidate_length}
                shards = encode_to_shards(
                    candidates(task, split, source), lambda texts: embed(texts, candidate_length),
                    Path(cache) / f"candidates-{split}", fingerprint=fingerprint,
                    rows_per_shard=shard_rows(float(options.get("shard_mb", 256)), model.hidden_size),
                    log=context.get("log"))
                queries = embed([e["query"] for e in examples], query_length)
                _, indices = knn_shards(queries, shards, min(k, len(shards)), metric="ip")
                ranked = shards.ids_at(indices).tolist()
        finally:
            if scratch is not None:
                scratch.cleanup()
        seconds = time.perf_counter() - start
        gold = {e["id"]: e["relevant"] for e in examples}
        predictions = {e["id"]: ranking for e, ranking in zip(examples, ranked)}
        metrics = {"mrr": mrr_at_k(gold, predictions, k), "map": map_at_k(gold, predictions, k), "k": float(k)}
        stats = {"seconds": seconds, "examples_per_s": len(examples) / max(seconds, 1e-9),
                 "candidates": float(len(shards)), **latency_stats(batch_seconds), **memory.stats()}
        return EvalOutput(metrics=metrics, ids=list(gold), predictions=ranked,
                          golds=[e["relevant"] for e in examples], stats=stats)
