"""Prediction of every trainable format: a task head over featurized inputs, run by the batched
engine (:mod:`harness.engine.batches`): length-sorted, token-budget batches, timed, one host copy."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

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
                     batch_size: int, token_budget: int = 0, timing: str = "off") -> tuple[list[np.ndarray], Run]:
    """``step`` (batch -> logits) over ``features``, batched longest first: per-feature logits in
    feature order (per-token logits trimmed to each feature's length) and the engine's run."""
    lengths = [fmt.length(f) for f in features]
    batches = length_sorted_batches(lengths, batch_size, token_budget)
    run = engine.run(step, batches, feature_collate(fmt, features, pad_id), len(features), timing=timing)
    rows = run.rows
    if rows is None:
        return [], run
    if fmt.per_token:
        return [rows[i][: lengths[i]] for i in range(len(features))], run
    return list(rows), run


def predict(model: Any, task_name: str, fmt: Any, features: list[dict[str, Any]],
            settings: "Hyperparams") -> tuple[list[np.ndarray], dict[str, float]]:
    """Run ``model.heads[task_name]`` over ``features``; return per-feature logits (feature order)
    and timing stats (seconds, p50/p95 batch latency in ms, peak memory). On CUDA the logits stay
    on the device until the end: no host sync inside the loop."""
    task_model = model.task_model(task_name)
    task_model.eval()
    engine = Engine(model.device, settings.mixed_precision)

    def step(batch: dict[str, Any]) -> Any:
        return task_model(batch, task_name)["logits"].float()

    with peak_memory(model.device) as memory:
        outputs, run = predict_features(engine, step, fmt, features, model.tokenizer.pad_token_id or 0,
                                        batch_size=settings.eval_batch_size,
                                        token_budget=settings.eval_token_budget, timing="stream")
    stats = {"seconds": run.seconds, "batches": run.batches, **memory.stats(),
             **latency_stats(run.batch_seconds or [])}
    return outputs, stats
