"""Batched inference shared by every trainable format: length-sorted, token-budget batches, timed."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .memory import peak_memory

if TYPE_CHECKING:  # pragma: no cover
    from .formats.base import Format
    from .hparams import Hyperparams


def length_sorted_batches(lengths: list[int], batch_size: int, token_budget: int = 0) -> list[list[int]]:
    """Indices grouped longest-first into batches of at most ``batch_size`` items and (when
    ``token_budget`` > 0) at most ``token_budget`` padded tokens. Sorting removes padding waste."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[current[0]] if current else lengths[index]
        too_many = len(current) >= batch_size
        too_wide = token_budget > 0 and current and (len(current) + 1) * width > token_budget
        if current and (too_many or too_wide):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def autocast_context(device: torch.device, mixed_precision: str):
    if device.type == "cuda" and mixed_precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cuda" and mixed_precision == "fp16":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


@torch.inference_mode()
def predict(model: Any, task_name: str, fmt: "Format", features: list[dict[str, Any]],
            settings: "Hyperparams") -> tuple[list[np.ndarray], dict[str, float]]:
    """Run ``model.heads[task_name]`` over ``features``; return per-feature logits (feature order)
    and timing stats (seconds, p50/p95 batch latency in ms, peak memory)."""
    task_model = model.task_model(task_name)
    task_model.eval()
    device = model.device
    lengths = [fmt.length(f) for f in features]
    batches = length_sorted_batches(lengths, settings.eval_batch_size, settings.eval_token_budget)
    outputs: list[np.ndarray | None] = [None] * len(features)
    latencies: list[float] = []
    pad_id = model.tokenizer.pad_token_id or 0
    start = time.perf_counter()
    with peak_memory(device) as memory:
        for indices in batches:
            t0 = time.perf_counter()
            batch = fmt.collate([features[i] for i in indices], pad_id)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
            with autocast_context(device, settings.mixed_precision):
                logits = task_model(batch, task_name)["logits"]
            logits = logits.float().cpu().numpy()
            latencies.append(time.perf_counter() - t0)
            for row, index in enumerate(indices):
                value = logits[row]
                outputs[index] = value[: lengths[index]] if fmt.per_token else value
    seconds = time.perf_counter() - start
    stats = {"seconds": seconds, "batches": len(batches), **memory.stats(),
             **latency_stats(latencies)}
    return outputs, stats  # type: ignore[return-value]


def latency_stats(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"latency_p50_ms": 0.0, "latency_p95_ms": 0.0}
    values = np.asarray(latencies) * 1000.0
    return {"latency_p50_ms": float(np.percentile(values, 50)),
            "latency_p95_ms": float(np.percentile(values, 95))}
