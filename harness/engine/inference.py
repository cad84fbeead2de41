"""Prediction of every trainable format: a task head over featurized inputs, run by the batched
engine (:mod:`harness.engine.batches`): length-sorted, token-budget batches, timed, one host copy;
with several processes, each runs its share of the batches and the outputs are gathered."""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from harness.engine import distributed
from harness.engine.batches import Engine, Run, Step, latency_stats, length_sorted_batches
from harness.engine.memory import peak_memory

if TYPE_CHECKING:  # pragma: no cover
    from harness.spec.hparams import Hyperparams


def feature_collate(fmt: Any, features: list[dict[str, Any]], pad_id: int) -> Callable[[list[int]], dict[str, Any]]:
    """``indices -> batch``: the format's collation of those features, without the labels."""
    def collate(indices: list[int]) -> dict[str, Any]:
        batch = fmt.collate([features[i] for i in indices], pad_id)
        batch.pop("labels", None)
        return batch
    return collate


def predict_features(engine: Engine, step: Step, fmt: Any, features: list[dict[str, Any]], pad_id: int, *,
                     batch_size: int, token_budget: int = 0, timing: str = "off",
                     shard: bool = False) -> tuple[list[np.ndarray], Run]:
    """``step`` (batch -> logits) over ``features``, batched longest first: per-feature logits in
    feature order (per-token logits trimmed to each feature's length) and the engine's run.
    ``shard``: when several processes run, each computes its share of the batches and every
    process gets all outputs (and all batch timings) back."""
    lengths = [fmt.length(f) for f in features]
    batches = length_sorted_batches(lengths, batch_size, token_budget)
    total = len(batches)
    if shard:
        batches = [b for number, b in enumerate(batches) if distributed.share(number, total)]
    run = engine.run(step, batches, feature_collate(fmt, features, pad_id), len(features), timing=timing)
    outputs: list[Any] = [None] * len(features)
    if run.rows is not None:
        for indices in batches:
            for i in indices:
                outputs[i] = run.rows[i][: lengths[i]] if fmt.per_token else run.rows[i]
    if shard and distributed.world_size() > 1:   # each process computed a share: gather them
        mine = {index: value for index, value in enumerate(outputs) if value is not None}
        latencies: list[float] = []
        for part, theirs in distributed.gather((mine, run.batch_seconds or [])):
            for index, value in part.items():
                outputs[index] = value
            latencies.extend(theirs)
        run = dataclasses.replace(run, batches=total, batch_seconds=latencies if timing != "off" else None)
    return outputs, run


def predict(model: Any, task_name: str, fmt: Any, features: list[dict[str, Any]],
            settings: "Hyperparams") -> tuple[list[np.ndarray], dict[str, float]]:
    """Run ``model.heads[task_name]`` over ``features``; return per-feature logits (feature order)
    and timing stats (seconds, p50/p95 batch latency in ms, peak memory). On CUDA the logits stay
    on the device until the end: no host sync inside the loop. Several processes share the batches."""
    task_model = model.task_model(task_name)
    task_model.eval()
    engine = Engine(model.device, settings.mixed_precision)

    def step(batch: dict[str, Any]) -> Any:
        return task_model(batch, task_name)["logits"].float()

    start = time.perf_counter()
    with peak_memory(model.device) as memory:
        outputs, run = predict_features(engine, step, fmt, features, model.tokenizer.pad_token_id or 0,
                                        batch_size=settings.eval_batch_size,
                                        token_budget=settings.eval_token_budget, timing="stream", shard=True)
    stats = {"seconds": time.perf_counter() - start, "batches": run.batches, **memory.stats(),
             **latency_stats(run.batch_seconds or [])}
    return outputs, stats
